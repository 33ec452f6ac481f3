/**
 * What a notification says: the generic webhook's JSON document (schema version 1, exact), the
 * presets' bodies (hostile log lines cannot mention, link or break out), the email text with the log
 * lines, and templates that only substitute documented fields.
 */
import { describe, expect, it } from 'vitest';
import type { Ban } from '../../../src/decide/ban-book.js';
import { payloadOf, textOf, type AgentInfo, type BanNotice, type DigestNotice } from '../../../src/notify/event.js';
import { renderTemplate, sampleNotices, templateProblem, TEMPLATE_FIELDS } from '../../../src/notify/template.js';
import { headerSafe, renderWebhook } from '../../../src/notify/webhook.js';
import { renderEmail } from '../../../src/notify/smtp.js';

const agent: AgentInfo = { instance: 'web-1', host: 'host-a', version: '0.1.0' };
const T = Date.UTC(2026, 11, 2, 10, 0, 0);
const line = (n: number) => `198.18.0.5 - - [02/Dec/2026:10:00:0${n} +0000] "GET /forbidden/ HTTP/1.1" 403 199 "-" "curl/8"`;
const ban: Ban = {
  ip: '198.18.0.5',
  family: 4,
  rule: 'forbidden',
  at: T,
  until: T + 3_600_000,
  failures: 2,
  nth: 1,
  manual: false,
  evidence: [
    { line: line(1), file: '/var/log/apache2/access.log', at: T - 2000 },
    { line: line(2), file: '/var/log/apache2/access.log', at: T - 1000 },
  ],
};
const banned: BanNotice = { kind: 'ban', ban, time: T + 5 };

describe('the generic webhook document (schema version 1)', () => {
  it('is exactly this for a ban', () => {
    expect(payloadOf(banned, agent, T + 7)).toEqual({
      version: 1,
      event: 'ban',
      time: '2026-12-02T10:00:00.005Z',
      address: '198.18.0.5',
      family: 4,
      rule: 'forbidden',
      manual: false,
      container: null,
      banned_at: '2026-12-02T10:00:00.000Z',
      until: '2026-12-02T11:00:00.000Z',
      failures: 2,
      nth: 1,
      reason: null,
      evidence: [
        { line: line(1), file: '/var/log/apache2/access.log', at: '2026-12-02T09:59:58.000Z' },
        { line: line(2), file: '/var/log/apache2/access.log', at: '2026-12-02T09:59:59.000Z' },
      ],
      evidence_omitted: 0,
      agent: { instance: 'web-1', host: 'host-a', version: '0.1.0' },
      summary: '198.18.0.5 banned by rule forbidden after 2 failures on web-1, until 2026-12-02T11:00:00.000Z',
    });
  });

  it('an unban carries its reason; a permanent ban has until null; host mode names the container', () => {
    const p = payloadOf({ kind: 'unban', ban: { ...ban, until: null, scope: 'abcdef0123456789', scopeName: 'shop' }, reason: 'expired', time: T }, agent, T);
    expect(p).toMatchObject({ event: 'unban', reason: 'expired', until: null, container: { name: 'shop', id: 'abcdef0123456789' } });
  });

  it('a digest lists counts and the top rules and addresses', () => {
    const d: DigestNotice = { kind: 'digest', from: T, to: T + 60_000, bans: 1200, unbans: 0, topRules: [{ rule: 'forbidden', count: 1200 }], topAddresses: [{ address: '198.18.0.5', count: 1 }], distinctAddresses: 1200 };
    expect(payloadOf(d, agent, T + 60_000)).toEqual({
      version: 1,
      event: 'digest',
      time: '2026-12-02T10:01:00.000Z',
      from: '2026-12-02T10:00:00.000Z',
      to: '2026-12-02T10:01:00.000Z',
      bans: 1200,
      unbans: 0,
      distinct_addresses: 1200,
      top_rules: [{ rule: 'forbidden', count: 1200 }],
      top_addresses: [{ address: '198.18.0.5', count: 1 }],
      agent: { instance: 'web-1', host: 'host-a', version: '0.1.0' },
      summary: '1,200 bans in the last minute on web-1',
    });
  });

  it('cleans control characters out of hostile evidence and bounds it', () => {
    const evil = { ...ban, evidence: Array.from({ length: 80 }, (_, i) => ({ line: `a\u0000b\nc\u2028${'x'.repeat(5000)}`, at: T + i })) };
    const p = payloadOf({ kind: 'ban', ban: evil, time: T }, agent, T) as unknown as { evidence: { line: string }[]; evidence_omitted: number };
    expect(p.evidence).toHaveLength(50);
    expect(p.evidence_omitted).toBe(30);
    for (const e of p.evidence) {
      expect(e.line).not.toMatch(/[\u0000-\u001f\u2028]/);
      expect(e.line.length).toBeLessThanOrEqual(2000);
    }
  });
});

describe('presets', () => {
  const hostile: BanNotice = { kind: 'ban', ban: { ...ban, evidence: [{ line: 'GET /<!channel> <@everyone> @everyone ``` & <https://evil|click>', at: T }] }, time: T };

  it('slack: {"text"} with &, < and > escaped (no mention, no forged link)', () => {
    const m = renderWebhook('slack', hostile, agent, T);
    expect(m.contentType).toBe('application/json');
    const body = JSON.parse(m.body) as { text: string };
    expect(Object.keys(body)).toEqual(['text']);
    expect(body.text).toContain('198.18.0.5 banned by rule forbidden');
    expect(body.text).not.toMatch(/[<>]/);
    expect(body.text).toContain('&lt;!channel&gt;');
  });

  it('discord: mentions disabled, at most 2,000 characters', () => {
    const big: BanNotice = { kind: 'ban', ban: { ...ban, evidence: Array.from({ length: 50 }, () => ({ line: 'y'.repeat(1500), at: T })) }, time: T };
    for (const n of [hostile, big]) {
      const body = JSON.parse(renderWebhook('discord', n, agent, T).body) as { content: string; allowed_mentions: unknown };
      expect(body.allowed_mentions).toEqual({ parse: [] });
      expect(body.content.length).toBeLessThanOrEqual(2000);
    }
  });

  it('ntfy: plain text with the log lines, a header-safe title and tags', () => {
    const m = renderWebhook('ntfy', { ...hostile, ban: { ...hostile.ban, scope: 'c1', scopeName: 'x\r\nInjected: 1' } }, agent, T);
    expect(m.contentType).toBe('text/plain; charset=utf-8');
    expect(m.body).toContain('Matching log lines (1):');
    expect(m.headers.Title).toMatch(/^[\x20-\x7e]+$/);
    expect(m.headers.Tags).toBe('no_entry,banhammer');
    expect(Buffer.byteLength(m.body)).toBeLessThanOrEqual(4096);
  });

  it('headerSafe keeps visible ASCII only', () => {
    expect(headerSafe('a\r\nb: c\u00e9')).toBe('a??b: c?');
  });
});

describe('email', () => {
  it('has the summary as subject and the log lines in the body, as fail2ban mails them', () => {
    const m = renderEmail(banned, agent, '[banhammer] ');
    expect(m.subject).toBe('[banhammer] 198.18.0.5 banned by rule forbidden after 2 failures on web-1, until 2026-12-02T11:00:00.000Z');
    expect(m.text).toBe(textOf(banned, agent));
    expect(m.text).toContain(`Matching log lines (2):\n/var/log/apache2/access.log: ${line(1)}\n/var/log/apache2/access.log: ${line(2)}`);
  });
  it('a subject never carries CR or LF', () => {
    const m = renderEmail({ kind: 'ban', ban: { ...ban, scope: 'c1', scopeName: 'a\r\nBcc: x@evil' }, time: T }, agent, '');
    expect(m.subject).not.toMatch(/[\r\n]/);
  });
});

describe('templates', () => {
  const samples = sampleNotices(T);

  it('substitute documented fields, JSON-escaped inside strings', () => {
    const t = { source: '{"msg": "{{ summary }}", "ip": "{{address}}", "n": {{failures}}, "log": "{{evidence}}"}', json: true };
    for (const n of samples) expect(() => JSON.parse(renderTemplate(t, n, agent))).not.toThrow();
    const out = JSON.parse(renderTemplate(t, { kind: 'ban', ban: { ...ban, evidence: [{ line: 'a"b\\c\n"}, "x": "{{address}}', at: T }] }, time: T }, agent)) as Record<string, unknown>;
    expect(out).toEqual({ msg: expect.any(String), ip: '198.18.0.5', n: 2, log: 'a"b\\c "}, "x": "{{address}}' });
  });

  it('a value is never interpreted again (no template injection) and nothing but the field list is reachable', () => {
    const out = renderTemplate({ source: 'x={{evidence}}', json: false }, { kind: 'ban', ban: { ...ban, evidence: [{ line: '{{address}} {{constructor}}', at: T }] }, time: T }, agent);
    expect(out).toBe('x={{address}} {{constructor}}');
    expect(templateProblem('{{constructor}} {{__proto__}} {{toString}}', false, samples, agent)).toMatch(/unknown template fields \{\{constructor\}\}, \{\{__proto__\}\}, \{\{toString\}\}/);
    expect(templateProblem('{{ address.length }} ${process.exit()}', false, samples, agent)).toBeNull(); // not placeholders: literal text
    expect(renderTemplate({ source: '{{ address.length }} ${process.exit()}', json: false }, samples[0]!, agent)).toBe('{{ address.length }} ${process.exit()}');
  });

  it('a JSON template with a text field outside quotes is refused before the agent starts', () => {
    expect(templateProblem('{"ip": {{address}}}', true, samples, agent)).toMatch(/does not render JSON for a ban/);
    expect(templateProblem('{"ip": "{{address}}", "n": {{nth}}}', true, samples, agent)).toBeNull();
  });

  it('every documented field renders for every kind of notice', () => {
    const src = Object.keys(TEMPLATE_FIELDS).map((f) => `"${f}": "{{${f}}}"`).join(', ');
    expect(templateProblem(`{${src}}`, true, samples, agent)).toBeNull();
  });
});
