/**
 * Round 5 (issue 14): what a client can put into a notification through its request line or
 * User-Agent, and what the agent says about a webhook URL at start.
 * - The slack preset (advertised for Mattermost and Rocket.Chat too) put the log lines in a code
 *   block with `@` untouched: receivers whose mention parser does not skip code blocks (Rocket.Chat
 *   issues 7759 and 16510, Mattermost 7923) pinged the whole channel for a User-Agent `@all`.
 * - A webhook URL naming a link-local (cloud metadata) address, or sending credentials over plain
 *   http:// to another machine, is warned about once at start, without quoting the secret.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../fakes/manual-clock.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import type { AgentInfo, BanNotice } from '../../../src/notify/event.js';
import { createNotifier, templateOf, webhookWarnings } from '../../../src/notify/notifier.js';
import type { NotifyConfig } from '../../../src/notify/settings.js';
import { TARGET_DEFAULTS, type NotifyTarget } from '../../../src/notify/target-schema.js';
import { renderWebhook } from '../../../src/notify/webhook.js';

const agent: AgentInfo = { instance: 'web-1', host: 'host-a', version: '0.1.0' };
const T = Date.UTC(2026, 11, 5, 10, 0, 0);
const UA = '198.18.0.5 - - [05/Dec/2026:10:00:00 +0000] "GET /@here HTTP/1.1" 403 1 "-" "@channel @all @everyone <!channel> <!here> <@U123> ```\n@here"';
const notice = (line: string): BanNotice => {
  const ban: Ban = { ip: '198.18.0.5', family: 4, rule: 'forbidden', at: T, until: T + 3_600_000, failures: 1, nth: 1, manual: false, evidence: [{ line, at: T }] };
  return { kind: 'ban', ban, time: T };
};

describe('slack preset: log lines cannot mention anyone', () => {
  it('no @channel, @all, @here or @everyone, no <!…> command, no way out of the code block', () => {
    const body = JSON.parse(renderWebhook('slack', notice(UA), agent, T).body) as { text: string };
    expect(body.text).not.toMatch(/@(channel|all|here|everyone)\b/);
    expect(body.text).not.toMatch(/<[!@]/);
    expect(body.text).toContain('&lt;!channel&gt;');
    // One code block: its opening and closing fences only.
    expect(body.text.match(/```/g)).toHaveLength(2);
    // The line is still there to read (a zero-width space is invisible).
    expect(body.text.replace(/\u200b/g, '')).toContain('"@channel @all @everyone');
  });

  it('discord preset: mentions are disabled for the whole message', () => {
    const body = JSON.parse(renderWebhook('discord', notice(UA), agent, T).body) as { content: string; allowed_mentions: { parse: unknown[] } };
    expect(body.allowed_mentions).toEqual({ parse: [] });
    expect(body.content.match(/```/g)).toHaveLength(2);
  });
});

const hook = (url: string, over: Partial<NotifyTarget> = {}): NotifyTarget => ({
  type: 'webhook',
  events: null,
  url,
  urlFile: null,
  preset: 'generic',
  header: null,
  token: null,
  tokenFile: null,
  template: null,
  contentType: null,
  passwordFile: null,
  from: null,
  to: [],
  starttls: 'required',
  caFile: null,
  timeoutMs: TARGET_DEFAULTS.timeoutMs,
  connectTimeoutMs: TARGET_DEFAULTS.connectTimeoutMs,
  queueSize: TARGET_DEFAULTS.queueSize,
  attempts: TARGET_DEFAULTS.attempts,
  ...over,
});

function config(targets: Record<string, NotifyTarget>): NotifyConfig {
  return {
    events: ['ban'],
    digestThreshold: 10,
    digestInterval: 60_000,
    targets,
    webhookUrl: null,
    webhookUrlFile: null,
    webhookPreset: 'generic',
    webhookHeader: 'Authorization',
    webhookToken: null,
    webhookTokenFile: null,
    smtpUrl: null,
    smtpUrlFile: null,
    smtpPasswordFile: null,
    smtpFrom: null,
    smtpTo: [],
    smtpStarttls: 'required',
  };
}

async function warningsAtStart(targets: Record<string, NotifyTarget>): Promise<string[]> {
  const warns: string[] = [];
  const n = createNotifier(config(targets), { clock: new ManualClock(T), log: { info: () => {}, warn: (_o, m) => warns.push(m ?? '') }, instance: 'web-1', version: '0.1.0' });
  await n?.close(0);
  return warns;
}

describe('target URLs worth a warning at start', () => {
  it('a link-local (metadata) address in the URL is said once, naming the target', async () => {
    for (const url of ['http://169.254.169.254/latest/hook', 'http://[fe80::1]:8080/hook', 'https://[fd00:ec2::254]/hook', 'http://[::ffff:169.254.169.254]/', 'http://2852039166/hook', 'http://0xa9.0xfe.0xa9.0xfe/hook']) {
      const w = await warningsAtStart({ meta: hook(url) });
      expect(w, url).toHaveLength(1);
      expect(w[0]).toMatch(/notification target meta: .*link-local/);
    }
  });

  it('credentials over plain http:// to another machine are said, the secrets never quoted', async () => {
    const w = await warningsAtStart({ a: hook('http://alice:pa55w0rd@198.18.0.9/hook'), b: hook('http://198.18.0.9/hook', { token: 'Bearer t0ken-xyz' }) });
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/target a: a user and password in the URL go over plain http:\/\/ to 198\.18\.0\.9/);
    expect(w[1]).toMatch(/target b: its token goes over plain http:\/\//);
    expect(w.join('\n')).not.toMatch(/pa55w0rd|t0ken-xyz|alice/);
  });

  it('https, loopback, and http without credentials are not warned about', async () => {
    const w = await warningsAtStart({
      a: hook('https://alice:pw@hooks.example/x', { token: 'Bearer t' }),
      b: hook('http://127.0.0.1:8080/x', { token: 'Bearer t' }),
      c: hook('http://localhost/x', { token: 'Bearer t' }),
      d: hook('http://[::1]/x', { token: 'Bearer t' }),
      e: hook('http://198.18.0.9/x'),
    });
    expect(w).toEqual([]);
    expect(webhookWarnings('x', new URL('http://198.18.0.9/'), false)).toEqual([]);
  });

  it('smtp: a login with starttls off to another machine, or a link-local server, is said; TLS or loopback is not', async () => {
    const mail = (url: string, starttls: NotifyTarget['starttls']): NotifyTarget => hook(url, { type: 'smtp', preset: 'generic', from: 'agent@example.com', to: ['ops@example.com'], starttls });
    const w = await warningsAtStart({
      clear: mail('smtp://agent:s3cret-pw@198.18.0.9:25', 'off'),
      meta: mail('smtp://169.254.169.254:25', 'required'),
      tls: mail('smtp://agent:pw@198.18.0.9', 'required'),
      implicit: mail('smtps://agent:pw@198.18.0.9', 'off'),
      local: mail('smtp://agent:pw@127.0.0.1:25', 'off'),
      anon: mail('smtp://198.18.0.9:25', 'off'),
    });
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/target clear: it logs in to 198\.18\.0\.9 with starttls: off, so the password goes over the network in the clear/);
    expect(w[1]).toMatch(/target meta: .*link-local/);
    expect(w.join('\n')).not.toContain('s3cret-pw');
  });
});


describe('slack preset: long log lines cannot silence the notification of their own ban', () => {
  // Rocket.Chat refuses a webhook message past its Message_MaxAllowedSize (5,000 characters by
  // default): a 4xx, dropped without retry. Each kept line is up to 2,000 characters, 50 are kept.
  const long = Array.from({ length: 50 }, (_, i) => ({ line: `198.18.0.5 - - "GET /${'A&<@'.repeat(480)}${i} HTTP/1.1" 404 1 "-" "x"`, at: T }));
  const ban: Ban = { ip: '198.18.0.5', family: 4, rule: 'forbidden', at: T, until: T + 3_600_000, failures: 50, nth: 1, manual: false, evidence: long };
  const n: BanNotice = { kind: 'ban', ban, time: T };

  it('the preset text is at most 4,000 characters, starts with the summary and closes its code block', () => {
    const body = JSON.parse(renderWebhook('slack', n, agent, T).body) as { text: string };
    expect(body.text.length).toBeLessThanOrEqual(4000);
    expect(body.text.startsWith('*198.18.0.5 banned by rule forbidden')).toBe(true);
    expect(body.text.endsWith('…\n```')).toBe(true);
    expect(body.text.match(/```/g)).toHaveLength(2);
    expect(body.text).not.toMatch(/[<>]/);
  });

  it('a slack template\'s JSON `text` is cut the same way (the rest of the document kept)', () => {
    const t = templateOf({ template: '{"text": "{{evidence}}", "username": "banhammer"}', contentType: null, preset: 'slack' })!;
    const body = JSON.parse(renderWebhook('slack', n, agent, T, t).body) as { text: string; username: string };
    expect(body.text.length).toBeLessThanOrEqual(4000);
    expect(body.username).toBe('banhammer');
  });

  it('a short message is not touched', () => {
    const body = JSON.parse(renderWebhook('slack', notice('GET /x'), agent, T).body) as { text: string };
    expect(body.text).not.toContain('…');
    expect(body.text).toContain('-- banhammer 0.1.0 on host-a');
  });
});
