/**
 * Audit (issue 14, evidence): "Each ban keeps the log lines that caused it … each as written in the
 * file — Docker or syslog wrapper included" (README, Why was it banned). Docker's json-file driver
 * writes a line longer than 16 KiB as several records, and the parser counts the line once, from
 * the record where its outcome (the status) became known: the last one. The evidence kept that
 * record alone: `{"log":"b0 HTTP/1.1\" 403 10 \"-\" \"curl/8\"\n",…}` — no address, no time, no
 * request. A ban of five such requests showed five tails that say nothing about who asked for what.
 * The kept line must show the line from its start (the record with the address and the request).
 * Docker's syslog driver cuts such a line into messages the same way: the same holds for the
 * message that completed the join.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile } from '../../../src/replay/replay.js';
import { agent, A, cleanup, settle } from '../seams-variants/harness.js';
import { clf } from '../../support/clf.js';

afterEach(cleanup);

describe('a line split over records or messages (over 16 KiB)', () => {
  it('the ban keeps each line from its start: address, time and request are in its evidence', async () => {
    const d = agent({ host: true });
    await d.daemon.start();
    for (let i = 0; i < 5; i++) {
      const t = d.clock.now();
      const time = new Date(t).toISOString();
      d.emit(JSON.stringify({ log: `198.18.3.3 - - [${clf(t)}] "GET /q${i}/${'a'.repeat(16 * 1024)}`, stream: 'stdout', time }), A);
      d.emit(JSON.stringify({ log: `tail${i} HTTP/1.1" 403 10 "-" "curl/8"\n`, stream: 'stdout', time }), A);
    }
    await settle();
    const why = d.daemon.why('198.18.3.3');
    expect(why.active).toHaveLength(1);
    const lines = why.active[0]!.evidence.map((l) => l.line);
    expect(lines).toHaveLength(5);
    lines.forEach((l, i) => {
      expect(l, l.slice(0, 120)).toContain('198.18.3.3');
      expect(l, l.slice(0, 120)).toContain(`GET /q${i}/`);
    });
    await d.daemon.stop();
  });

  it('syslog: a line Docker\'s syslog driver sent as several messages is kept from its start too', async () => {
    const d = agent();
    await d.daemon.start();
    const hdr = '<30>Nov 23 10:00:00 web[812]: ';
    for (let i = 0; i < 5; i++) {
      const line = `198.18.3.4 - - [${clf(d.clock.now())}] "GET /s${i}/${'a'.repeat(16 * 1024)} HTTP/1.1" 403 10 "-" "curl/8"`;
      for (let at = 0; at < line.length; at += 16 * 1024) d.emit(hdr + line.slice(at, at + 16 * 1024));
    }
    await settle();
    const why = d.daemon.why('198.18.3.4');
    expect(why.active).toHaveLength(1);
    const lines = why.active[0]!.evidence.map((l) => l.line);
    expect(lines).toHaveLength(5);
    lines.forEach((l, i) => {
      expect(l, l.slice(0, 120)).toContain('198.18.3.4');
      expect(l, l.slice(0, 120)).toContain(`GET /s${i}/`);
    });
    await d.daemon.stop();
  });

  it('replay --explain keeps the same lines as the agent: from their start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-h2-split-'));
    try {
      const file = join(dir, 'web-json.log');
      let text = '';
      for (let i = 0; i < 5; i++) {
        const time = `2026-12-02T10:00:0${i}.000Z`;
        text += `${JSON.stringify({ log: `198.18.3.5 - - [02/Dec/2026:10:00:0${i} +0000] "GET /r${i}/${'a'.repeat(16 * 1024)}`, stream: 'stdout', time })}\n`;
        text += `${JSON.stringify({ log: `t${i} HTTP/1.1" 403 10 "-" "curl/8"\n`, stream: 'stdout', time })}\n`;
      }
      writeFileSync(file, text);
      const report = await replayFile(file, loadConfig({ env: {}, hostname: 'unit' }), { explain: true });
      expect(report.bans).toHaveLength(1);
      const lines = (report.bans[0]!.evidence ?? []).map((l) => l.line);
      expect(lines).toHaveLength(5);
      lines.forEach((l, i) => {
        expect(l, l.slice(0, 120)).toContain('198.18.3.5');
        expect(l, l.slice(0, 120)).toContain(`GET /r${i}/`);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
