/**
 * Notification settings: the env form (one webhook, one SMTP target), YAML targets, validation of
 * URLs, header values and combinations, secret files (`…_FILE`), and check-config's round trip.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig, resolveConfig } from '../../../src/config/load.js';
import { describeConfig } from '../../../src/config/describe.js';
import { isBanhammerError } from '../../../src/errors.js';
import { configuredTargets } from '../../../src/notify/targets-config.js';
import { createNotifier, readSecret } from '../../../src/notify/notifier.js';
import { ManualClock } from '../../fakes/manual-clock.js';

const load = (env: Record<string, string>, files: Record<string, string> = {}) =>
  loadConfig({ env, hostname: 'h', readFile: (p) => {
    if (!(p in files)) throw new Error(`ENOENT: ${p}`);
    return files[p]!;
  } });

function problems(env: Record<string, string>, files: Record<string, string> = {}): string {
  try {
    load(env, files);
    return '';
  } catch (e) {
    return (e as Error).message;
  }
}

const deps = (files: Record<string, string> = {}) => ({
  clock: new ManualClock(),
  log: { info: () => {}, warn: () => {} },
  instance: 'web-1',
  version: '0.1.0',
  host: 'h',
  readFile: (p: string) => {
    if (!(p in files)) throw new Error(`ENOENT: no such file, open '${p}'`);
    return files[p]!;
  },
});

describe('notification settings', () => {
  it('default: no target, events ban, digest above 10 per minute', () => {
    const c = load({});
    expect(c.notify).toMatchObject({ events: ['ban'], digestThreshold: 10, digestInterval: 60_000, targets: {} });
    expect(configuredTargets(c.notify).targets).toEqual({});
    expect(createNotifier(c.notify, deps())).toBeNull();
  });

  it('the env form makes a target named webhook and one named smtp', () => {
    const c = load({
      BANHAMMER_NOTIFY_WEBHOOK_URL: 'https://hooks.example.com/x',
      BANHAMMER_NOTIFY_WEBHOOK_PRESET: 'slack',
      BANHAMMER_NOTIFY_WEBHOOK_TOKEN_FILE: '/run/secrets/token',
      BANHAMMER_NOTIFY_SMTP_URL_FILE: '/run/secrets/smtp',
      BANHAMMER_NOTIFY_SMTP_FROM: 'banhammer@example.com',
      BANHAMMER_NOTIFY_SMTP_TO: 'ops@example.com, sec@example.com',
      BANHAMMER_NOTIFY_EVENTS: 'ban,unban',
    });
    const t = configuredTargets(c.notify).targets;
    expect(Object.keys(t)).toEqual(['webhook', 'smtp']);
    expect(t.webhook).toMatchObject({ type: 'webhook', url: 'https://hooks.example.com/x', preset: 'slack', header: 'Authorization', tokenFile: '/run/secrets/token' });
    expect(t.smtp).toMatchObject({ type: 'smtp', urlFile: '/run/secrets/smtp', from: 'banhammer@example.com', to: ['ops@example.com', 'sec@example.com'], starttls: 'required' });
    expect(c.notify.events).toEqual(['ban', 'unban']);
  });

  it('BANHAMMER_NOTIFY_TARGETS holds named targets as one JSON object', () => {
    const c = load({ BANHAMMER_NOTIFY_TARGETS: JSON.stringify({ ops: { type: 'webhook', preset: 'discord', url_file: '/run/secrets/discord' } }) });
    expect(c.notify.targets.ops).toMatchObject({ type: 'webhook', preset: 'discord', urlFile: '/run/secrets/discord', queueSize: 100, attempts: 5 });
    expect(problems({ BANHAMMER_NOTIFY_TARGETS: 'ops: {type: webhook}' })).toMatch(/notify\.targets/);
  });

  it('refuses URLs that are not http(s) for webhooks or smtp(s) for mail', () => {
    for (const u of ['ftp://x/y', 'file:///etc/passwd', 'javascript:alert(1)', 'http://', 'not a url', 'http://a b/']) {
      expect(problems({ BANHAMMER_NOTIFY_WEBHOOK_URL: u }), u).toMatch(/notify\.webhook_url/);
    }
    expect(problems({ BANHAMMER_NOTIFY_SMTP_URL: 'http://mail.example.com', BANHAMMER_NOTIFY_SMTP_FROM: 'a@b.example', BANHAMMER_NOTIFY_SMTP_TO: 'c@d.example' })).toMatch(/smtp:\/\/ \(STARTTLS\) or smtps:\/\//);
  });

  it('refuses a header value with CR or LF, and a header banhammer sets itself', () => {
    expect(problems({ BANHAMMER_NOTIFY_WEBHOOK_URL: 'https://h.example/x', BANHAMMER_NOTIFY_WEBHOOK_TOKEN: 'Bearer a\r\nX-Evil: 1' })).toMatch(/no CR, LF/);
    expect(problems({ BANHAMMER_NOTIFY_WEBHOOK_URL: 'https://h.example/x', BANHAMMER_NOTIFY_WEBHOOK_HEADER: 'Host', BANHAMMER_NOTIFY_WEBHOOK_TOKEN: 'x' })).toMatch(/set by banhammer itself/);
  });

  it('reports incomplete combinations', () => {
    expect(problems({ BANHAMMER_NOTIFY_WEBHOOK_TOKEN: 'x' })).toMatch(/token without BANHAMMER_NOTIFY_WEBHOOK_URL/);
    expect(problems({ BANHAMMER_NOTIFY_SMTP_URL: 'smtp://mail.example.com' })).toMatch(/needs from.*\n?.*needs to|needs from/s);
    expect(problems({ BANHAMMER_NOTIFY_WEBHOOK_URL: 'https://h.example/x', BANHAMMER_NOTIFY_WEBHOOK_URL_FILE: '/run/secrets/u' })).toMatch(/exactly one of url and url_file/);
  });

  it('YAML: named targets, each checked; unknown keys and bad names refused', () => {
    const yaml = (body: string) => ({ '/c.yaml': body });
    const ok = load({ BANHAMMER_CONFIG: '/c.yaml' }, yaml(`
notify:
  events: [ban, unban]
  digest_threshold: 20
  digest_interval: 5m
  targets:
    ops-slack: { type: webhook, preset: slack, url_file: /run/secrets/slack, events: [ban] }
    audit: { type: webhook, url: 'https://audit.example/hook', header: X-Token, token_file: /run/secrets/t, template: '{"ip": "{{address}}"}', timeout: 5s, attempts: 3 }
    mail: { type: smtp, url: 'smtps://alerts@mail.example.com', password_file: /run/secrets/pw, from: alerts@example.com, to: [ops@example.com] }
`));
    expect(Object.keys(ok.notify.targets)).toEqual(['ops-slack', 'audit', 'mail']);
    expect(ok.notify.targets.audit).toMatchObject({ timeoutMs: 5000, attempts: 3, header: 'X-Token' });
    expect(ok.notify.digestInterval).toBe(300_000);
    expect(problems({ BANHAMMER_CONFIG: '/c.yaml' }, yaml('notify:\n  targets:\n    a: { type: webhook, url: "https://x.example", colour: red }\n'))).toMatch(/unknown key; allowed here: type, events/);
    expect(problems({ BANHAMMER_CONFIG: '/c.yaml' }, yaml('notify:\n  targets:\n    "Bad Name": { type: webhook, url: "https://x.example" }\n'))).toMatch(/a target name is 1–32/);
    expect(problems({ BANHAMMER_CONFIG: '/c.yaml' }, yaml('notify:\n  targets:\n    m: { type: smtp, url: "smtp://x.example", from: a@b.example, to: [c@d.example], template: "x" }\n'))).toMatch(/template is for webhook targets/);
  });

  it('check-config prints notification settings that load back to the same Config', () => {
    const files: Record<string, string> = {
      '/c.yaml': 'notify:\n  digest_interval: 90s\n  targets:\n    audit: { type: webhook, url: "https://audit.example/hook", timeout: 5s, events: [unban] }\n',
    };
    const readFile = (p: string) => files[p]!;
    const first = resolveConfig({ env: { BANHAMMER_CONFIG: '/c.yaml', BANHAMMER_NOTIFY_SMTP_URL: 'smtp://mail.example.com:25', BANHAMMER_NOTIFY_SMTP_FROM: 'a@b.example', BANHAMMER_NOTIFY_SMTP_TO: 'c@d.example', BANHAMMER_NOTIFY_SMTP_STARTTLS: 'off' }, hostname: 'h', readFile });
    files['/d.yaml'] = describeConfig(first.config);
    const again = loadConfig({ env: { BANHAMMER_CONFIG: '/d.yaml' }, hostname: 'h', readFile });
    // Except the secret: a webhook URL's path (a Slack or Discord URL is the credential) is masked.
    expect(again.notify).toEqual({ ...first.config.notify, targets: { audit: { ...first.config.notify.targets.audit!, url: 'https://audit.example/***' } } });
    expect(files['/d.yaml']).toContain('digest_interval: 1m30s');
  });
});

describe('secrets from files', () => {
  it('readSecret drops one trailing newline; empty or missing files are clear errors', () => {
    const read = (p: string) => ({ '/a': 'tok\n', '/b': '\n', '/c': 'x\r\n' })[p] ?? (() => { throw new Error('ENOENT'); })();
    expect(readSecret('/a', 'the token', read)).toBe('tok');
    expect(readSecret('/c', 'the token', read)).toBe('x');
    expect(() => readSecret('/b', 'the token', read)).toThrow(/the token file \/b is empty/);
    expect(() => readSecret('/nope', 'the token', read)).toThrow(/cannot read the token from \/nope/);
  });

  it('createNotifier reads the URL, token and password files at start', () => {
    const c = load({
      BANHAMMER_NOTIFY_WEBHOOK_URL_FILE: '/run/secrets/url',
      BANHAMMER_NOTIFY_WEBHOOK_TOKEN_FILE: '/run/secrets/token',
      BANHAMMER_NOTIFY_SMTP_URL: 'smtp://alerts@mail.example.com',
      BANHAMMER_NOTIFY_SMTP_PASSWORD_FILE: '/run/secrets/pw',
      BANHAMMER_NOTIFY_SMTP_FROM: 'a@b.example',
      BANHAMMER_NOTIFY_SMTP_TO: 'c@d.example',
    });
    const n = createNotifier(c.notify, deps({ '/run/secrets/url': 'https://hooks.example.com/T0/B0/xyz\n', '/run/secrets/token': 'Bearer abc\n', '/run/secrets/pw': 's3cret\n' }));
    expect(n?.names).toEqual(['webhook', 'smtp']);
    // A missing secret stops the start with the file named.
    let err: unknown;
    try {
      createNotifier(c.notify, deps({ '/run/secrets/url': 'https://hooks.example.com/x' }));
    } catch (e) {
      err = e;
    }
    expect(isBanhammerError(err) && err.code).toBe('BH_ERR_FILE');
    expect((err as Error).message).toMatch(/\/run\/secrets\/token/);
  });

  it('a URL file must hold an http(s) URL; a token file must hold a header-safe value', () => {
    const c = load({ BANHAMMER_NOTIFY_WEBHOOK_URL_FILE: '/u', BANHAMMER_NOTIFY_WEBHOOK_TOKEN_FILE: '/t' });
    expect(() => createNotifier(c.notify, deps({ '/u': 'file:///etc/shadow', '/t': 'x' }))).toThrow(/expected an http:\/\/ or https:\/\/ URL/);
    expect(() => createNotifier(c.notify, deps({ '/u': 'https://x.example/', '/t': 'a\nX-Evil: 1' }))).toThrow(/a header cannot carry/);
  });

  it('a template naming an unknown field stops the start', () => {
    const c = load({ BANHAMMER_CONFIG: '/c.yaml' }, { '/c.yaml': 'notify:\n  targets:\n    t: { type: webhook, url: "https://x.example", template: \'{"a": "{{process}}"}\' }\n' });
    expect(() => createNotifier(c.notify, deps())).toThrow(/unknown template field \{\{process\}\}/);
  });
});

describe('replica groups', () => {
  it('the replica that made a ban notifies its ban and its end (also when another replica lifted it); adopted bans are silent', () => {
    const heard: string[] = [];
    const c = load({ BANHAMMER_NOTIFY_WEBHOOK_URL: 'https://h.example/x', BANHAMMER_NOTIFY_EVENTS: 'ban,unban' });
    const n = createNotifier(c.notify, deps())!;
    const ch = (n as unknown as { targets: { channel: { offer(x: { kind: string; ban: { ip: string } }): void } }[] }).targets[0]!.channel;
    ch.offer = (x) => void heard.push(`${x.kind} ${x.ban.ip}`);
    const own = { ip: '198.18.0.1', family: 4 as const, rule: 'forbidden', at: 0, until: 1, failures: 5, nth: 1, manual: false };
    const adopted = { ...own, ip: '198.18.0.2', from: 'replica-b' };
    n.banned(own);
    n.banned(adopted);
    n.unbanned(own, 'group');
    n.unbanned(adopted, 'manual');
    expect(heard).toEqual(['ban 198.18.0.1', 'unban 198.18.0.1']);
  });
});
