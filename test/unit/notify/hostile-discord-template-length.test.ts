/**
 * The discord preset cuts its content to Discord's
 * 2,000 characters, but a discord target with a template sends whatever the template renders.
 * Discord answered 400 to longer content, and a 400 is dropped without retry, so a client that
 * writes long request lines (or gets 50 of them kept) silenced every ban notification of it: its
 * content is now cut like the preset's.
 */
import { describe, expect, it } from 'vitest';
import type { AgentInfo, BanNotice } from '../../../src/notify/event.js';
import { templateOf } from '../../../src/notify/notifier.js';
import { renderWebhook } from '../../../src/notify/webhook.js';

const agent: AgentInfo = { instance: 'web-1', host: 'host-a', version: '0.1.0' };
const T = Date.UTC(2026, 11, 2, 10, 0, 0);

describe('a discord target with a template', () => {
  it('sends content Discord accepts (at most 2,000 characters)', () => {
    const evidence = Array.from({ length: 50 }, (_, i) => ({ line: `198.18.0.5 - - "GET /${'x'.repeat(1900)}${i} HTTP/1.1" 403 1`, at: T }));
    const n: BanNotice = { kind: 'ban', ban: { ip: '198.18.0.5', family: 4, rule: 'forbidden', at: T, until: T + 3_600_000, failures: 50, nth: 1, manual: false, evidence }, time: T };
    const t = templateOf({ template: '{"content": "{{summary}}\\n{{evidence}}"}', contentType: null, preset: 'discord' })!;
    const body = JSON.parse(renderWebhook('discord', n, agent, T, t).body) as { content: string };
    expect(body.content.length).toBeLessThanOrEqual(2000);
  });
});

describe('a text template that starts with a field', () => {
  it('is text, not JSON (a template is JSON when it opens with [ or {, not with {{)', () => {
    expect(templateOf({ template: '{{summary}}\n{{evidence}}', contentType: null, preset: 'generic' })!.json).toBe(false);
    expect(templateOf({ template: '  {"text": "{{summary}}"}', contentType: null, preset: 'generic' })!.json).toBe(true);
    expect(templateOf({ template: '[{{failures}}]', contentType: null, preset: 'generic' })!.json).toBe(true);
  });
});
