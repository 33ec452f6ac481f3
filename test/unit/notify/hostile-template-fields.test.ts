/**
 * What a template substitutes must be as clean and bounded as what the presets send.
 * - {{container}} / {{container_id}} were the raw container name and id, while the JSON document,
 *   the summary and the email clean and bound them (clean(…, 128)): a name with a line break or a
 *   bidi control reached a text body as is, at any length.
 * - The ntfy preset cuts its body to ntfy's 4,096-byte message limit, but an ntfy target with a text
 *   template ({{text}}, {{evidence}}: 50 lines of up to 2,000 characters a client writes) sent it
 *   whole; ntfy turns a longer body into an attachment, or refuses it where attachments are off
 *   (the ban notification is then dropped without retry).
 */
import { describe, expect, it } from 'vitest';
import type { Ban } from '../../../src/decide/ban-book.js';
import type { AgentInfo, BanNotice } from '../../../src/notify/event.js';
import { templateOf } from '../../../src/notify/notifier.js';
import { renderTemplate } from '../../../src/notify/template.js';
import { renderWebhook } from '../../../src/notify/webhook.js';

const agent: AgentInfo = { instance: 'web-1', host: 'host-a', version: '0.1.0' };
const T = Date.UTC(2026, 11, 2, 10, 0, 0);
const base: Ban = { ip: '198.18.0.5', family: 4, rule: 'forbidden', at: T, until: T + 3_600_000, failures: 1, nth: 1, manual: false };

describe('template fields', () => {
  it('{{container}} and {{container_id}} are cleaned and bounded like everywhere else', () => {
    const name = `shop\u202e\nX-Injected: 1${'n'.repeat(5000)}`;
    const n: BanNotice = { kind: 'ban', ban: { ...base, scope: `c0ffee\n${'i'.repeat(5000)}`, scopeName: name }, time: T };
    const t = templateOf({ template: '{{container}}|{{container_id}}', contentType: 'text/plain', preset: 'generic' })!;
    const [c, id] = renderTemplate(t, n, agent).split('|');
    expect(c).not.toMatch(/[\n\u202e]/);
    expect(c!.length).toBeLessThanOrEqual(128);
    expect(id).not.toMatch(/\n/);
    expect(id!.length).toBeLessThanOrEqual(128);
  });
});

describe('an ntfy target with a text template', () => {
  it('cuts the body to ntfy\'s 4,096-byte message limit, like the preset', () => {
    const evidence = Array.from({ length: 50 }, (_, i) => ({ line: `198.18.0.5 - - "GET /${'x'.repeat(1900)}${i} HTTP/1.1" 403 1`, at: T }));
    const n: BanNotice = { kind: 'ban', ban: { ...base, evidence }, time: T };
    const t = templateOf({ template: 'Ban: {{text}}', contentType: null, preset: 'ntfy' })!;
    const msg = renderWebhook('ntfy', n, agent, T, t);
    expect(Buffer.byteLength(msg.body)).toBeLessThanOrEqual(4096);
    expect(msg.body.startsWith('Ban: 198.18.0.5 banned')).toBe(true);
  });
});
