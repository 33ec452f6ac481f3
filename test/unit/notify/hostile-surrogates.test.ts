/**
 * Every cut of hostile text (clean()'s bound on a log line, a container name, the
 * subject; the discord preset's 2,000 characters) counts UTF-16 units, so a client that pads its
 * request line to put an emoji across the cut leaves a lone surrogate. JSON.stringify writes it as
 * `\ud83d`, which strict JSON parsers refuse (serde_json: "lone leading surrogate in hex escape"),
 * so the receiver answers 400 and the ban notification is dropped without retry.
 */
import { describe, expect, it } from 'vitest';
import type { AgentInfo, BanNotice } from '../../../src/notify/event.js';
import { clean, MAX_EVIDENCE_CHARS, payloadOf } from '../../../src/notify/event.js';
import { renderWebhook } from '../../../src/notify/webhook.js';

const agent: AgentInfo = { instance: 'web-1', host: 'host-a', version: '0.1.0' };
const T = Date.UTC(2026, 11, 2, 10, 0, 0);
const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_ESCAPE = /\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}/i;
const notice = (line: string): BanNotice => ({
  kind: 'ban',
  ban: { ip: '198.18.0.5', family: 4, rule: 'forbidden', at: T, until: T + 3_600_000, failures: 1, nth: 1, manual: false, evidence: [{ line, at: T }] },
  time: T,
});

describe('cuts never split a surrogate pair', () => {
  it('clean() at its bound', () => {
    const s = clean(`${'a'.repeat(MAX_EVIDENCE_CHARS - 2)}\u{1F600}tail`, MAX_EVIDENCE_CHARS);
    expect(s.length).toBeLessThanOrEqual(MAX_EVIDENCE_CHARS);
    expect(s).not.toMatch(LONE);
  });

  it('the generic document carries no lone surrogate escape', () => {
    const body = renderWebhook('generic', notice(`${'a'.repeat(MAX_EVIDENCE_CHARS - 2)}\u{1F600}tail`), agent, T).body;
    expect(body).not.toMatch(LONE_ESCAPE);
    expect(JSON.stringify(payloadOf(notice('x'), agent, T))).not.toMatch(LONE_ESCAPE);
  });

  it('the discord preset, cut to 2,000 characters, neither', () => {
    for (let pad = 0; pad < 8; pad++) {
      const body = renderWebhook('discord', notice('b'.repeat(pad) + '\u{1F600}'.repeat(1500)), agent, T).body;
      expect(body, `pad ${pad}`).not.toMatch(LONE_ESCAPE);
    }
  });
});
