/**
 * Found with real nginx (lab.ts, `large_client_header_buffers 4 16k`, a usual setting for sites with
 * big cookies): behind a trusted proxy, nginx main's trailing `"$http_x_forwarded_for"` names the
 * client, and it comes after the referer and User-Agent, which the client fills. Padded with bytes
 * nginx writes as `\xHH` (four characters each), they pushed the field past the head the scanner
 * reads (128 Ki characters), and the line was 'too-long': every 403 of that client went uncounted,
 * a ban escape. Now a trusted peer's line longer than the head is read on to its end for that field.
 * The same padding from an untrusted peer, and the same line cut anywhere before its end (the
 * splitter's cap), never name anyone else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_HEAD_LENGTH } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { LOGS, PORTS, TRUSTED, createHostileLab, labUnavailable, type HostileLab } from './lab.js';

const skip = labUnavailable();
const PROXY = '198.18.39.7';
const CLIENT = '198.18.40.7';
const DIRECT = '198.18.38.7';

describe.skipIf(skip !== null)(`nginx main behind a trusted proxy, padded headers, real nginx${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: HostileLab;
  let lines: string[] = [];

  beforeAll(async () => {
    lab = await createHostileLab({ nginxLargeHeaders: '4 16k' });
    await lab.addClients([PROXY, DIRECT]);
    const ff = (n: number): string => '\u00ff'.repeat(n);
    // What a proxy forwards: its X-Forwarded-For (the client it appended), then the client's headers.
    const padded = (n: number): Buffer =>
      Buffer.from(`GET /forbidden/${ff(n)} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.18.9.9, ${CLIENT}\r\nReferer: ${ff(n)}\r\nUser-Agent: ${ff(n)}\r\nConnection: close\r\n\r\n`, 'latin1');
    const answers = await lab.send([
      { from: PROXY, port: PORTS.nginx, data: padded(100) },
      { from: PROXY, port: PORTS.nginx, data: padded(12_000) },
      { from: PROXY, port: PORTS.nginx, data: padded(16_000) },
      { from: DIRECT, port: PORTS.nginx, data: padded(16_000) },
    ]);
    expect(answers.map((a) => a.status)).toEqual([403, 403, 403, 403]);
    for (let i = 0; i < 50 && lines.length < 4; i++) {
      lines = (await lab.lines(LOGS.nginx.main)).map((l) => l.toString('latin1'));
      if (lines.length < 4) await new Promise((r) => setTimeout(r, 100));
    }
  }, 30_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  it('every line counts for the client the proxy appended, however long (nginx-main and auto)', () => {
    expect(lines).toHaveLength(4);
    expect(lines.filter((l) => l.length > MAX_HEAD_LENGTH)).toHaveLength(3); // the padding does reach past the head
    for (const format of ['nginx-main', 'auto'] as const) {
      for (const latin1 of [false, true]) {
        const parse = createLineParser(format, { trustedProxies: TRUSTED, latin1 });
        const got = lines.map((l) => parse(l)).map((o) => (typeof o === 'string' ? o : `${o.ip} ${o.status}`)).sort();
        expect(got, `${format}${latin1 ? ' (replay)' : ''}`).toEqual([`${CLIENT} 403`, `${CLIENT} 403`, `${CLIENT} 403`, `${DIRECT} 403`].sort());
      }
    }
  });

  it('the same line cut anywhere after its head (a capped line) is too-long, never another address', () => {
    const long = lines.find((l) => l.startsWith(`${PROXY} `) && l.length > MAX_HEAD_LENGTH)!;
    const parse = createLineParser('nginx-main', { trustedProxies: TRUSTED });
    const outs = new Set<string>();
    for (let n = MAX_HEAD_LENGTH + 1; n < long.length; n += 997) {
      const o = parse(long.slice(0, n));
      outs.add(typeof o === 'string' ? o : o.ip);
    }
    // Cut inside the XFF field's last entry, a shorter address of the same digits may stand.
    for (let n = long.length - 14; n < long.length; n++) {
      const o = parse(long.slice(0, n));
      outs.add(typeof o === 'string' ? o : o.ip);
    }
    expect([...outs]).toEqual(['too-long']);
  });
});
