/**
 * Hostile review: a log line substituted into a template cannot add or override a form parameter
 * (application/x-www-form-urlencoded bodies) nor mention a channel or forge a link through the slack
 * preset's template (Slack-compatible mrkdwn).
 */
import { describe, expect, it } from 'vitest';
import type { Ban } from '../../../src/decide/ban-book.js';
import type { AgentInfo, BanNotice } from '../../../src/notify/event.js';
import { templateOf } from '../../../src/notify/notifier.js';
import { renderTemplate } from '../../../src/notify/template.js';

const agent: AgentInfo = { instance: 'web-1', host: 'host-a', version: '0.1.0' };
const T = Date.UTC(2026, 11, 2, 10, 0, 0);
const ban = (line: string): Ban => ({ ip: '198.18.0.5', family: 4, rule: 'forbidden', at: T, until: T + 3_600_000, failures: 1, nth: 1, manual: false, evidence: [{ line, at: T }] });
const notice = (line: string): BanNotice => ({ kind: 'ban', ban: ban(line), time: T });

describe('form templates (application/x-www-form-urlencoded)', () => {
  const t = templateOf({ template: 'token=SECRET&user=U&priority=0&message={{evidence}}', contentType: 'application/x-www-form-urlencoded', preset: 'generic' })!;

  it('percent-encode every value, so a log line cannot add or override a parameter', () => {
    const body = renderTemplate(t, notice('GET /x?a=1&priority=2&url=https://evil.example/#&token=X HTTP/1.1'), agent);
    const p = new URLSearchParams(body);
    expect([...p.keys()]).toEqual(['token', 'user', 'priority', 'message']);
    expect(p.get('priority')).toBe('0');
    expect(p.get('token')).toBe('SECRET');
    expect(p.get('message')).toBe('GET /x?a=1&priority=2&url=https://evil.example/#&token=X HTTP/1.1');
  });

  it('a lone surrogate or a control character does not make rendering throw', () => {
    const body = renderTemplate(t, notice('a\ud800b\u0007c + %41'), agent);
    expect(new URLSearchParams(body).get('message')).toBe('a\ufffdb c + %41');
  });

  it('a JSON or text template is not percent-encoded', () => {
    expect(templateOf({ template: '{"m": "{{evidence}}"}', contentType: null, preset: 'generic' })!.form).toBe(false);
    expect(renderTemplate(templateOf({ template: 'm={{evidence}}', contentType: 'text/plain', preset: 'generic' })!, notice('a&b'), agent)).toBe('m=a&b');
  });
});

describe('the slack preset with a template', () => {
  it('writes &, < and > in values as entities (no <!channel>, no forged link); the template itself is kept', () => {
    const t = templateOf({ template: '{"text": "<!here> {{summary}}\\n{{evidence}}"}', contentType: null, preset: 'slack' })!;
    const out = JSON.parse(renderTemplate(t, notice('GET /<!channel> <https://evil.example|click here> & more'), agent)) as { text: string };
    expect(out.text.startsWith('<!here> 198.18.0.5 banned')).toBe(true);
    expect(out.text).toContain('GET /&lt;!channel&gt; &lt;https://evil.example|click here&gt; &amp; more');
    expect(out.text.slice('<!here>'.length)).not.toMatch(/[<>]/);
  });

  it('other presets leave values as they are', () => {
    const t = templateOf({ template: '{"text": "{{evidence}}"}', contentType: null, preset: 'generic' })!;
    expect((JSON.parse(renderTemplate(t, notice('<a>&'), agent)) as { text: string }).text).toBe('<a>&');
  });
});

describe('the discord preset with a template', () => {
  it('breaks every @ in values with a zero-width space (no @everyone, no role or user mention); the template itself is kept', () => {
    const t = templateOf({ template: '{"content": "@here {{evidence}}"}', contentType: null, preset: 'discord' })!;
    const out = JSON.parse(renderTemplate(t, notice('GET /@everyone <@&123> <@456>'), agent)) as { content: string };
    expect(out.content).toBe('@here GET /@\u200beveryone <@\u200b&123> <@\u200b456>');
  });
});
