/**
 * Found by an audit (issue 14, evidence + notifications): the 1,000-character cut of an evidence line
 * (evidenceText, src/decide/evidence.ts, was `s.slice(0, max)`) split a surrogate pair when a client
 * pads its line so that an emoji straddles the cut (nginx `escape=json`, which the README recommends,
 * writes UTF-8 as it is). The ban then holds a lone high surrogate: `why --json` prints it and the
 * generic webhook document carries `\ud83d`, which strict JSON parsers refuse (serde_json: "lone
 * leading surrogate in hex escape"), so the receiver answers 400 and the notification is dropped
 * without retry: the very defect test/unit/notify/hostile-surrogates.test.ts closed for the notify
 * cuts, reached through the evidence keeper's own cut instead.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BanBook } from '../../../src/decide/ban-book.js';
import { evidenceText } from '../../../src/decide/evidence.js';
import { payloadOf } from '../../../src/notify/event.js';
import { clf } from '../../support/clf.js';
import { agent, cleanup, settle } from '../seams-variants/harness.js';

const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_ESCAPE = /\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}/i;

afterEach(cleanup);

describe('an emoji across the evidence cut', () => {
  it('evidenceText never leaves half a surrogate pair, at any padding', () => {
    for (let pad = 995; pad <= 1001; pad++) {
      const s = evidenceText(`${'a'.repeat(pad)}\u{1F600}tail`);
      expect(s, `pad ${pad}`).not.toMatch(LONE);
    }
    // The second cut, after control characters were escaped (`\x01` is 4 units for 1).
    for (let pad = 985; pad <= 1001; pad++) {
      const s = evidenceText(`\u0001\u0002\u0003${'a'.repeat(pad - 12)}\u{1F600}${'b'.repeat(10)}`);
      expect(s, `escaped, pad ${pad}`).not.toMatch(LONE);
    }
  });

  it('through the live pipeline: neither `why` nor the generic webhook document carries a lone surrogate', async () => {
    const d = agent();
    await d.daemon.start();
    const head = `198.18.0.7 - - [${clf(d.clock.now())}] "GET /private HTTP/1.1" 403 10 "-" "`;
    // The emoji's high surrogate is the 1,000th unit of the line, its low one the 1,001st.
    const line = `${head}${'a'.repeat(999 - head.length)}\u{1F600}tail"`;
    for (let i = 0; i < 5; i++) d.emit(line);
    await settle();
    const why = d.daemon.why('198.18.0.7');
    expect(why.active).toHaveLength(1);
    expect(JSON.stringify(why)).not.toMatch(LONE_ESCAPE);
    const { book } = (d.daemon as unknown as { pipeline: { book: BanBook } }).pipeline;
    const held = book.about({ ip: '198.18.0.7', family: 4, prefix: 32 }, d.clock.now()).active[0]!;
    const body = JSON.stringify(payloadOf({ kind: 'ban', ban: held, time: d.clock.now() }, { instance: 'i', host: 'h', version: 'v' }, d.clock.now()));
    expect(body).not.toMatch(LONE_ESCAPE);
    await d.daemon.stop();
  });
});
