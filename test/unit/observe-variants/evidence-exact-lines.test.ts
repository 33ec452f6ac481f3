/**
 * Audit (issue 14, evidence): "Each ban keeps the log lines that caused it (the failures in the
 * window …)". Variants through the real daemon: the lines a ban keeps are the failures its window
 * counted, never failures a reload or an unban made the detector forget, and never another rule's,
 * another address's or another window's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { agent, cleanup, line, settle } from '../seams-variants/harness.js';

afterEach(cleanup);

const paths = (d: ReturnType<typeof agent>, ip: string): string[] =>
  d.daemon.why(ip).active.flatMap((b) => b.evidence.map((l) => /GET (\S+)/.exec(l.line)?.[1] ?? '?'));

describe('the lines a ban keeps', () => {
  it('a reload that changes the rule restarts its window: the ban keeps only the failures counted after it', async () => {
    const d = agent();
    await d.daemon.start();
    for (let i = 0; i < 3; i++) d.emit(line('198.18.0.20', d.clock.now(), `/old-${i}`));
    await settle();
    await d.reloadWith({ BANHAMMER_RULE_FORBIDDEN_MAXRETRY: '4' });
    expect(d.daemon.why('198.18.0.20').failing).toEqual([]);
    for (let i = 0; i < 4; i++) d.emit(line('198.18.0.20', d.clock.now(), `/new-${i}`));
    await settle();
    expect(paths(d, '198.18.0.20')).toEqual(['/new-0', '/new-1', '/new-2', '/new-3']);
    const ban = d.daemon.why('198.18.0.20').active[0]!;
    expect(ban.failures).toBe(4);
    expect(ban.evidenceOmitted).toBe(0);
    await d.daemon.stop();
  });

  it('a reload that leaves the rule alone keeps its window: the ban keeps the failures from before and after', async () => {
    const d = agent();
    await d.daemon.start();
    for (let i = 0; i < 3; i++) d.emit(line('198.18.0.21', d.clock.now(), `/before-${i}`));
    await settle();
    await d.reloadWith({ BANHAMMER_RULE_EXPLOIT_PROBES_BANTIME: '2d' });
    for (let i = 0; i < 2; i++) d.emit(line('198.18.0.21', d.clock.now(), `/after-${i}`));
    await settle();
    expect(paths(d, '198.18.0.21')).toEqual(['/before-0', '/before-1', '/before-2', '/after-0', '/after-1']);
    await d.daemon.stop();
  });

  it('after an unban the next ban keeps only its own failures, and the history keeps the first ban’s', async () => {
    const d = agent();
    await d.daemon.start();
    for (let i = 0; i < 5; i++) d.emit(line('198.18.0.22', d.clock.now(), `/first-${i}`));
    await settle();
    await d.daemon.unban('198.18.0.22');
    await settle();
    for (let i = 0; i < 5; i++) d.emit(line('198.18.0.22', d.clock.now(), `/second-${i}`));
    await settle();
    expect(paths(d, '198.18.0.22')).toEqual(['/second-0', '/second-1', '/second-2', '/second-3', '/second-4']);
    const ended = d.daemon.why('198.18.0.22').ended;
    expect(ended).toHaveLength(1);
    expect(ended[0]!.evidence.map((l) => /GET (\S+)/.exec(l.line)?.[1])).toEqual(['/first-0', '/first-1', '/first-2', '/first-3', '/first-4']);
    await d.daemon.stop();
  });

  it('failures older than the window are not among a ban’s lines', async () => {
    const d = agent();
    await d.daemon.start();
    for (let i = 0; i < 4; i++) d.emit(line('198.18.0.23', d.clock.now(), `/stale-${i}`));
    await settle();
    d.clock.advance(61_000);
    await settle();
    for (let i = 0; i < 5; i++) d.emit(line('198.18.0.23', d.clock.now(), `/fresh-${i}`));
    await settle();
    expect(paths(d, '198.18.0.23')).toEqual(['/fresh-0', '/fresh-1', '/fresh-2', '/fresh-3', '/fresh-4']);
    await d.daemon.stop();
  });

  it('another address’s lines in between never join a ban', async () => {
    const d = agent();
    await d.daemon.start();
    for (let i = 0; i < 5; i++) {
      d.emit(line('198.18.0.24', d.clock.now(), `/a-${i}`));
      d.emit(line('2001:db8::24', d.clock.now(), `/b-${i}`));
    }
    await settle();
    expect(paths(d, '198.18.0.24')).toEqual(['/a-0', '/a-1', '/a-2', '/a-3', '/a-4']);
    expect(paths(d, '2001:db8::24')).toEqual(['/b-0', '/b-1', '/b-2', '/b-3', '/b-4']);
    await d.daemon.stop();
  });
});
