import { describe, expect, it } from 'vitest';
import { LogEnforcer, type LogRecord } from '../../../src/enforce/dry-run.js';
import { ManualClock } from '../../fakes/manual-clock.js';

describe('LogEnforcer', () => {
  it('logs what it would do and holds what a kernel would hold', async () => {
    const records: LogRecord[] = [];
    const clock = new ManualClock();
    const enf = new LogEnforcer((r) => records.push(r), clock);
    await enf.init();
    await enf.apply({
      ban: [
        { ip: '198.18.0.1', family: 4, until: clock.now() + 1000 },
        { ip: '2001:DB8::1', family: 6, until: null },
      ],
      unban: [],
    });
    expect(records.map((r) => r.text)).toEqual([
      'dry run: no firewall changes will be made',
      'would ban 198.18.0.1 until 2026-01-01T00:00:01.000Z',
      'would ban 2001:db8::1 permanently',
    ]);
    expect(enf.active().map((a) => a.ip)).toEqual(['198.18.0.1', '2001:db8::1']);
    clock.advance(1000);
    expect(enf.active().map((a) => a.ip)).toEqual(['2001:db8::1']);
    await enf.apply({ ban: [], unban: [{ ip: '2001:db8::1', family: 6 }] });
    expect(enf.active()).toEqual([]);
    expect(await enf.check()).toEqual([]);
    await enf.shutdown();
    expect(records.at(-1)?.action).toBe('shutdown');
  });

  it('host mode: one address banned for two containers is held twice and named per container', async () => {
    const records: LogRecord[] = [];
    const enf = new LogEnforcer((r) => records.push(r), new ManualClock());
    const x = 'a'.repeat(64);
    const y = 'b'.repeat(64);
    await enf.apply({
      ban: [
        { ip: '198.18.0.1', family: 4, until: null, scope: x },
        { ip: '198.18.0.1', family: 4, until: null, scope: y },
      ],
      unban: [],
    });
    expect(records.map((r) => r.text)).toEqual([
      'would ban 198.18.0.1 for container aaaaaaaaaaaa permanently',
      'would ban 198.18.0.1 for container bbbbbbbbbbbb permanently',
    ]);
    expect(enf.active().map((a) => a.scope)).toEqual([x, y]);
    await enf.apply({ ban: [], unban: [{ ip: '198.18.0.1', family: 4, scope: x }] });
    expect(records.at(-1)).toMatchObject({ action: 'unban', scope: x, text: 'would unban 198.18.0.1 for container aaaaaaaaaaaa' });
    expect(enf.active()).toEqual([{ ip: '198.18.0.1', family: 4, until: null, scope: y }]);
  });

  it('refuses bad and non-client addresses like the real enforcers, after applying the rest', async () => {
    const records: LogRecord[] = [];
    const enf = new LogEnforcer((r) => records.push(r), new ManualClock());
    const r = await enf.apply({
      ban: [{ ip: 'not-an-ip', family: 4, until: null }, { ip: '198.18.0.2', family: 4, until: null }, { ip: '0.0.0.0', family: 4, until: null }],
      unban: [],
    });
    expect(r.refused).toEqual([
      { ip: 'not-an-ip', family: 4, reason: 'not a valid IP address' },
      { ip: '0.0.0.0', family: 4, reason: 'an unspecified address cannot be a client' },
    ]);
    expect(enf.active().map((a) => a.ip)).toEqual(['198.18.0.2']);
    expect(records.map((x) => x.action)).toEqual(['ban', 'reject', 'reject']);
    expect(records.at(-1)?.text).toBe('would reject "0.0.0.0": an unspecified address cannot be a client');
  });
});
