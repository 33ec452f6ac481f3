/**
 * Issue 10 audit, round 2: replay reads every byte as one Latin-1 character (read-lines.ts), the live
 * agent decodes lines as UTF-8 (source/line-splitter.ts). A line with raw UTF-8 (a Docker json-file
 * log, a proxy that does not escape bytes above 0x7F) is matched on different text: a rule written
 * with a non-ASCII pattern bans live and not in replay, and replay --explain shows other lines than
 * `why` does (mojibake). Percent-encoded and \xHH-escaped text agree (controls).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { replayFile } from '../../../src/replay/replay.js';
import { clf } from '../../support/clf.js';
import { cleanupTmp, tmp, writeLog } from './gen.js';

afterAll(cleanupTmp);
const T = Date.UTC(2026, 10, 23, 10, 0, 0);

function setup() {
  const dir = tmp();
  writeFileSync(join(dir, 'uni.yaml'), 'name: uni\ndescription: x\nmatch:\n  any_of:\n    - paths: ["/caf\u00e9"]\n    - user_agents: ["Gr\u00fc\u00dfe"]\nmaxretry: 2\nfindtime: 1m\nbantime: 1h\n');
  return loadConfig({ env: { BANHAMMER_RULES_DIR: dir, BANHAMMER_RULES: 'uni,forbidden' }, hostname: 'h4' });
}
const L = (ip: string, s: number, path: string, ua: string, status = 200) => `${ip} - - [${clf(T + s * 1000)}] "GET ${path} HTTP/1.1" ${status} 1 "-" "${ua}"`;

function live(config: ReturnType<typeof loadConfig>, lines: readonly string[]) {
  const out: { ip: string; rule: string; failures: number; evidence: string[] }[] = [];
  const p = new Pipeline({ config, mode: 'live', onBan: (b) => out.push({ ip: b.ip, rule: b.rule, failures: b.failures, evidence: (b.evidence ?? []).map((e) => e.line) }) });
  for (const l of lines) {
    const ev = p.parse(l);
    if (ev !== null) p.observe(ev, ev.time, undefined, undefined, l);
  }
  return out;
}

describe('raw UTF-8 in a log line: replay and live read the same text', () => {
  it('controls: percent-encoded and \\xHH-escaped lines agree already', async () => {
    const config = setup();
    const lines = [L('198.18.60.3', 0, '/caf%C3%A9', 'c'), L('198.18.60.3', 1, '/caf%c3%a9', 'c'), L('198.18.60.6', 0, '/caf\\xc3\\xa9', 'c'), L('198.18.60.6', 1, '/caf\\xc3\\xa9', 'c')];
    const rep = await replayFile(writeLog(lines), config, { threads: 1 });
    expect(rep.bans.map((b) => `${b.ip} ${b.rule}`)).toEqual(live(config, lines).map((b) => `${b.ip} ${b.rule}`));
  });

  it('a non-ASCII path and User-Agent written raw: the same bans', async () => {
    const config = setup();
    const lines = [L('198.18.60.1', 0, '/caf\u00e9', 'c'), L('198.18.60.1', 1, '/caf\u00e9', 'c'), L('198.18.60.2', 0, '/', 'Gr\u00fc\u00dfe'), L('198.18.60.2', 1, '/', 'Gr\u00fc\u00dfe')];
    const want = live(config, lines).map((b) => `${b.ip} ${b.rule} ${b.failures}`);
    expect(want).toEqual(['198.18.60.1 uni 2', '198.18.60.2 uni 2']);
    const rep = await replayFile(writeLog(lines), config, { threads: 1 });
    expect(rep.bans.map((b) => `${b.ip} ${b.rule} ${b.failures}`)).toEqual(want);
  });

  it('replay --explain shows the lines as the agent keeps them (why), not re-decoded', async () => {
    const config = setup();
    const lines = [0, 1, 2, 3, 4].map((s) => L('198.18.60.4', s, '/private', 'Mozilla/5.0 (caf\u00e9 \u00fcber)', 403));
    const want = live(config, lines).map((b) => b.evidence);
    expect(want[0]![0]).toContain('caf\u00e9 \u00fcber');
    const rep = await replayFile(writeLog(lines), config, { explain: true });
    expect(rep.bans.map((b) => (b.evidence ?? []).map((e) => e.line))).toEqual(want);
  });
});

const haveBuild = existsSync(new URL('../../../dist/replay/replay-worker.js', import.meta.url));
describe.skipIf(!haveBuild)('raw UTF-8 on several threads (built code)', () => {
  it('threads 1, 2 and 3 give the live bans; a BOM, invalid UTF-8 and Docker records around them', async () => {
    const config = setup();
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const ip = `198.18.61.${i % 50}`;
      const k = i % 7;
      if (k === 0) lines.push(L(ip, i, '/caf\u00e9', 'c'));
      else if (k === 1) lines.push(L(ip, i, '/', 'Gr\u00fc\u00dfe \ud83d\ude00'));
      else if (k === 2) lines.push(`\ufeff${L(ip, i, '/private', 'x', 403)}`);
      else if (k === 3) lines.push(JSON.stringify({ log: `${L(ip, i, '/private', '\u00e9', 403)}\n`, stream: 'stdout', time: new Date(T + i * 1000).toISOString() }));
      else lines.push(L(ip, i, '/a', 'c', 403));
    }
    const f = writeLog(lines);
    // an invalid UTF-8 byte on a line of its own: U+FFFD live, never a Latin-1 character
    writeFileSync(f, Buffer.concat([Buffer.from(`${lines.join('\n')}\n`, 'utf8'), Buffer.from([0x31, 0x39, 0x38, 0xff, 0x0a])]));
    const want = live(config, [...lines, '198\ufffd']).map((b) => `${b.ip} ${b.rule} ${b.failures}`);
    expect(want.filter((b) => b.includes(' uni ')).length).toBeGreaterThan(10);
    const dist = (await import(new URL('../../../dist/replay/replay.js', import.meta.url).href)) as typeof import('../../../src/replay/replay.js');
    for (const threads of [1, 2, 3]) {
      const rep = await dist.replayFile(f, config, { threads });
      expect(rep.bans.map((b) => `${b.ip} ${b.rule} ${b.failures}`), `threads ${threads}`).toEqual(want);
    }
  });
});
