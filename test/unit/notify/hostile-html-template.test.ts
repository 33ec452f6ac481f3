/**
 * template.ts promised values "escaped for the body's content type", but only JSON,
 * form and (control-character-only) text are known. A target whose receiver renders HTML or XML
 * (content_type: text/html, application/xml: an HTML-mail gateway, a Matrix bridge, a SOAP hook)
 * gets a client's request line as markup: `<img src=x onerror=…>` or a forged link in the message.
 */
import { describe, expect, it } from 'vitest';
import type { AgentInfo, BanNotice } from '../../../src/notify/event.js';
import { templateOf } from '../../../src/notify/notifier.js';
import { renderTemplate } from '../../../src/notify/template.js';
import { renderWebhook } from '../../../src/notify/webhook.js';

const agent: AgentInfo = { instance: 'web-1', host: 'host-a', version: '0.1.0' };
const T = Date.UTC(2026, 11, 2, 10, 0, 0);
const hostile = '198.18.0.5 - - "GET /<img src=x onerror=alert(1)><a href=\'https://evil.example\'>reset password</a> HTTP/1.1" 403 1 "-" "x&amp;"';
const notice: BanNotice = {
  kind: 'ban',
  ban: { ip: '198.18.0.5', family: 4, rule: 'forbidden', at: T, until: T + 3_600_000, failures: 1, nth: 1, manual: false, evidence: [{ line: hostile, at: T }] },
  time: T,
};

describe('a template whose content type is HTML or XML', () => {
  for (const contentType of ['text/html; charset=utf-8', 'application/xhtml+xml', 'application/xml', 'text/xml']) {
    it(`escapes markup in values (${contentType}); the template's own markup stays`, () => {
      const t = templateOf({ template: '<p><b>{{summary}}</b></p><pre>{{evidence}}</pre>', contentType, preset: 'generic' })!;
      const msg = renderWebhook('generic', notice, agent, T, t, contentType);
      expect(msg.body.startsWith('<p><b>198.18.0.5 banned')).toBe(true);
      const inner = msg.body.slice(msg.body.indexOf('<pre>') + 5, msg.body.lastIndexOf('</pre>'));
      expect(inner).not.toMatch(/[<>]/);
      expect(inner).toContain('&lt;img src=x onerror=alert(1)&gt;');
      expect(inner).toContain('x&amp;amp;');
    });
  }

  it('text/plain is unchanged (no entities)', () => {
    const t = templateOf({ template: '{{evidence}}', contentType: 'text/plain', preset: 'generic' })!;
    expect(renderTemplate(t, notice, agent)).toBe(hostile);
  });
});
