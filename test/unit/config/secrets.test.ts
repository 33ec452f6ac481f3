/**
 * check-config (text and --json) and config problems never print a secret: SMTP and Redis passwords,
 * webhook URLs (a Slack or Discord URL is the credential, an ntfy topic too, `?token=`), header
 * tokens, whether given in the environment, in the YAML file or in BANHAMMER_NOTIFY_TARGETS; a
 * `*_FILE` setting shows its path, never the file's content. What identifies the target (scheme,
 * host, port) still shows. The agent's Config keeps the real values.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';
import { loadConfig } from '../../../src/config/load.js';
import { MASK, maskCredentialUrls, maskUrl } from '../../../src/config/mask.js';
import { SETTING_KEYS, SETTINGS, type SettingSpec } from '../../../src/config/schema.js';
import { redactedConfig, redactProblem } from '../../../src/config/settings.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bh-secrets-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function checkConfig(env: Record<string, string>, json: boolean): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (s) => out.push(s), stderr: (s) => err.push(s), env, hostname: 'test' };
  const code = await main(['check-config', ...(json ? ['--json'] : [])], io);
  return { code, out: out.join(''), err: err.join('') };
}

/** Both forms succeed, name every `shown` text and hold no `secret` text. */
async function expectMasked(env: Record<string, string>, secrets: readonly string[], shown: readonly string[], inline = true): Promise<void> {
  for (const json of [false, true]) {
    const r = await checkConfig(env, json);
    expect(r.err, `check-config${json ? ' --json' : ''} stderr`).toBe('');
    expect(r.code).toBe(0);
    for (const s of secrets) expect(r.out, `${json ? 'json' : 'text'} shows ${s}`).not.toContain(s);
    for (const s of shown) expect(r.out, `${json ? 'json' : 'text'} hides ${s}`).toContain(s);
    if (inline) expect(r.out).toContain(MASK);
    if (json) JSON.parse(r.out);
  }
}

const SMTP_REST = { BANHAMMER_NOTIFY_SMTP_FROM: 'banhammer@example.com', BANHAMMER_NOTIFY_SMTP_TO: 'ops@example.com' };

describe('check-config masks secrets given in the environment', () => {
  it.each([
    ['a Redis password', { BANHAMMER_REDIS_URL: 'redis://:RedisPw1@redis.example.com:6380/2', BANHAMMER_SHARE_GROUP: 'web' }, ['RedisPw1'], ['redis://', 'redis.example.com:6380']],
    ['a Redis user and password (rediss)', { BANHAMMER_REDIS_URL: 'rediss://bh-user:RedisPw2@10.0.0.5', BANHAMMER_SHARE_GROUP: 'web' }, ['RedisPw2'], ['rediss://', '10.0.0.5']],
    ['a Slack webhook URL', { BANHAMMER_NOTIFY_WEBHOOK_URL: 'https://hooks.slack.com/services/T0SLACK1/B0SLACK2/SlackTok3', BANHAMMER_NOTIFY_WEBHOOK_PRESET: 'slack' }, ['T0SLACK1', 'B0SLACK2', 'SlackTok3'], ['https://hooks.slack.com']],
    ['a Discord webhook URL', { BANHAMMER_NOTIFY_WEBHOOK_URL: 'https://discord.com/api/webhooks/1234567/DiscordTok4', BANHAMMER_NOTIFY_WEBHOOK_PRESET: 'discord' }, ['DiscordTok4', '1234567'], ['https://discord.com']],
    ['an ntfy topic and ?auth= token', { BANHAMMER_NOTIFY_WEBHOOK_URL: 'https://ntfy.example.com:8443/NtfyTopic5?auth=NtfyAuth6', BANHAMMER_NOTIFY_WEBHOOK_PRESET: 'ntfy' }, ['NtfyTopic5', 'NtfyAuth6'], ['ntfy.example.com:8443']],
    ['user:password in a webhook URL', { BANHAMMER_NOTIFY_WEBHOOK_URL: 'https://WhUser7:WhPass8@hook.example.com/#frag9' }, ['WhUser7', 'WhPass8', 'frag9'], ['hook.example.com']],
    ['an Authorization token', { BANHAMMER_NOTIFY_WEBHOOK_URL: 'https://hook.example.com', BANHAMMER_NOTIFY_WEBHOOK_TOKEN: 'Bearer AuthTok10' }, ['AuthTok10'], ['https://hook.example.com', 'Authorization']],
    ['a token in another header', { BANHAMMER_NOTIFY_WEBHOOK_URL: 'https://siem.example.com', BANHAMMER_NOTIFY_WEBHOOK_HEADER: 'X-Api-Key', BANHAMMER_NOTIFY_WEBHOOK_TOKEN: 'ApiKey11' }, ['ApiKey11'], ['X-Api-Key', 'siem.example.com']],
    ['an SMTP password', { BANHAMMER_NOTIFY_SMTP_URL: 'smtps://alerts:SmtpPw12@mail.example.com:465', ...SMTP_REST }, ['SmtpPw12'], ['smtps://', 'mail.example.com:465']],
    ['an SMTP password with an encoded @', { BANHAMMER_NOTIFY_SMTP_URL: 'smtp://alerts%40example.com:Smtp%40Pw13@mail.example.com', ...SMTP_REST }, ['SmtpPw13', 'Smtp%40Pw13', 'Smtp@Pw13'], ['mail.example.com']],
    [
      'targets in BANHAMMER_NOTIFY_TARGETS',
      { BANHAMMER_NOTIFY_TARGETS: JSON.stringify({ phone: { type: 'webhook', preset: 'ntfy', url: 'https://ntfy.sh/EnvTopic14', token: 'Bearer EnvTok15' }, mail: { type: 'smtp', url: 'smtp://u:EnvSmtp16@smtp.example.com:587', from: 'a@example.com', to: ['b@example.com'] } }) },
      ['EnvTopic14', 'EnvTok15', 'EnvSmtp16'],
      ['ntfy.sh', 'smtp.example.com:587'],
    ],
  ] as const)('%s', async (_, env, secrets, shown) => {
    await expectMasked(env, secrets, shown);
  });
});

describe('check-config masks secrets given in the YAML file', () => {
  it('share, shorthand notification settings and notify.targets', async () => {
    const file = join(dir, 'secrets.yaml');
    writeFileSync(
      file,
      `share:
  redis_url: 'redis://default:YamlRedis1@cache.example.com:6379/0'
  group: web
notify:
  webhook_url: 'https://hooks.slack.com/services/TYAML/BYAML/YamlSlack2'
  webhook_token: 'Bearer YamlTok3'
  smtp_url: 'smtp://alerts:YamlSmtp4@relay.example.com:2525'
  smtp_from: a@example.com
  smtp_to: [b@example.com]
  targets:
    phone: { type: webhook, preset: ntfy, url: 'https://ntfy.example.com/YamlTopic5', token: 'Bearer YamlTok6' }
    siem: { type: webhook, url: 'https://siem.example.com/ingest?api_key=YamlKey7', header: X-Api-Key, token: YamlKey8 }
    mail: { type: smtp, url: 'smtps://ops:YamlSmtp9@mail.example.com', from: a@example.com, to: [c@example.com] }
`,
    );
    await expectMasked(
      { BANHAMMER_CONFIG: file },
      ['YamlRedis1', 'TYAML', 'YamlSlack2', 'YamlTok3', 'YamlSmtp4', 'YamlTopic5', 'YamlTok6', 'YamlKey7', 'YamlKey8', 'YamlSmtp9', '/ingest'],
      ['cache.example.com:6379', 'hooks.slack.com', 'relay.example.com:2525', 'ntfy.example.com', 'siem.example.com', 'X-Api-Key', 'mail.example.com'],
    );
  });

  it('the agent still gets every real value', () => {
    const file = join(dir, 'secrets.yaml');
    const c = loadConfig({ env: { BANHAMMER_CONFIG: file, BANHAMMER_NOTIFY_WEBHOOK_TOKEN: 'Bearer EnvWins' }, hostname: 'h' });
    expect(c.share.redisUrl).toBe('redis://default:YamlRedis1@cache.example.com:6379/0');
    expect(c.notify.webhookUrl).toBe('https://hooks.slack.com/services/TYAML/BYAML/YamlSlack2');
    expect(c.notify.webhookToken).toBe('Bearer EnvWins');
    expect(c.notify.smtpUrl).toBe('smtp://alerts:YamlSmtp4@relay.example.com:2525');
    expect(c.notify.targets.phone).toMatchObject({ url: 'https://ntfy.example.com/YamlTopic5', token: 'Bearer YamlTok6' });
    // Describing does not change the Config it describes.
    const masked = redactedConfig(c);
    expect(masked.notify.targets.siem).toMatchObject({ url: 'https://siem.example.com/***?***', token: MASK, header: 'X-Api-Key' });
    expect(c.notify.targets.siem).toMatchObject({ url: 'https://siem.example.com/ingest?api_key=YamlKey7', token: 'YamlKey8' });
  });
});

describe('*_FILE settings show their path, never the secret in the file', () => {
  it('environment and YAML', async () => {
    const f = (name: string, content: string): string => {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    };
    const env = {
      BANHAMMER_NOTIFY_WEBHOOK_URL_FILE: f('url', 'https://hooks.slack.com/services/T1/B1/FileSlack1\n'),
      BANHAMMER_NOTIFY_WEBHOOK_TOKEN_FILE: f('token', 'Bearer FileTok2\n'),
      BANHAMMER_NOTIFY_SMTP_URL_FILE: f('smtp-url', 'smtps://u:FileSmtp3@mail.example.com\n'),
      BANHAMMER_NOTIFY_SMTP_PASSWORD_FILE: f('smtp-pw', 'FileSmtpPw4\n'),
      ...SMTP_REST,
      BANHAMMER_REDIS_URL: 'redis://redis.example.com',
      BANHAMMER_REDIS_PASSWORD_FILE: f('redis-pw', 'FileRedis5\n'),
      BANHAMMER_SHARE_GROUP: 'web',
      BANHAMMER_CONFIG: f(
        'c.yaml',
        `notify:\n  targets:\n    ops: { type: webhook, url_file: ${join(dir, 'url')}, token_file: ${f('t2', 'FileTok6')} }\n    m: { type: smtp, url_file: ${join(dir, 'smtp-url')}, password_file: ${f('pw2', 'FilePw7')}, from: a@example.com, to: [b@example.com] }\n`,
      ),
    };
    await expectMasked(env, ['FileSlack1', 'FileTok2', 'FileSmtp3', 'FileSmtpPw4', 'FileRedis5', 'FileTok6', 'FilePw7'], [join(dir, 'token'), join(dir, 'smtp-pw'), join(dir, 'redis-pw'), join(dir, 't2'), join(dir, 'pw2'), 'redis.example.com'], false);
  });
});

describe('config problems name a bad secret by key and source, never print it', () => {
  it.each([
    ['BANHAMMER_REDIS_URL', 'redis://:BadRedis1@redis.example.com/notadb', 'share.redis_url', 'redis.example.com'],
    ['BANHAMMER_NOTIFY_WEBHOOK_URL', 'ftp://u:BadHook2@hooks.example.com/BadPath3', 'notify.webhook_url', 'hooks.example.com'],
    ['BANHAMMER_NOTIFY_WEBHOOK_TOKEN', 'Bearer BadTok4\u0001', 'notify.webhook_token', 'BANHAMMER_NOTIFY_WEBHOOK_TOKEN'],
    ['BANHAMMER_NOTIFY_SMTP_URL', 'smtp://u:BadSmtp5@mail.example.com/BadPath6', 'notify.smtp_url', 'mail.example.com'],
    ['BANHAMMER_NOTIFY_TARGETS', JSON.stringify({ a: { type: 'webhook', url: 'https://x.example.com/BadTopic7', token: 'BadTok8\n' } }), 'notify.targets.a.token', 'notify.targets.a.token'],
    ['BANHAMMER_NOTIFY_TARGETS', JSON.stringify({ a: { type: 'webhook', url: 'gopher://u:BadPw9@x.example.com/BadTopic10' } }), 'notify.targets.a.url', 'x.example.com'],
  ])('%s', async (name, value, key, shown) => {
    for (const json of [false, true]) {
      const r = await checkConfig({ [name]: value }, json);
      expect(r.code).toBe(1);
      expect(r.err).toContain(key);
      expect(r.err).toContain(shown);
      for (const s of ['BadRedis1', 'BadHook2', 'BadPath3', 'BadTok4', 'BadSmtp5', 'BadPath6', 'BadTopic7', 'BadTok8', 'BadPw9', 'BadTopic10']) expect(r.err).not.toContain(s);
      expect(r.out).toBe('');
    }
    // The error's data too (the agent logs it on a failed reload).
    let data: unknown;
    try {
      loadConfig({ env: { [name]: value }, hostname: 'h' });
    } catch (e) {
      data = (e as { data: unknown }).data;
    }
    expect(JSON.stringify(data)).toContain(key);
    expect(JSON.stringify(data)).not.toMatch(/Bad(Redis|Hook|Path|Tok|Smtp|Topic|Pw)\d/);
  });

  it('a value of no secret setting is still shown as given', () => {
    expect(redactProblem({ key: 'ports[0]', source: 'env BANHAMMER_PORTS', value: 'http', message: 'x' }).value).toBe('http');
    expect(redactProblem({ key: 'notify.webhook_token', source: 'env', value: 'Bearer x', message: 'x' }).value).toBe(MASK);
    expect(redactProblem({ key: 'notify.targets', source: 'env', value: { a: { token: 't' } }, message: 'x' }).value).toBe(MASK);
  });
});

describe('every setting whose value can carry a secret is masked (decided by the value, not the name)', () => {
  const SECRET = 'Sup3rSecret';
  // What each URL-taking setting may hold: user info, a path or a query carrying a credential.
  const probes = [
    `redis://u:${SECRET}@h.example.com:6379/0`,
    `rediss://:${SECRET}@h.example.com`,
    `https://u:${SECRET}@h.example.com/`,
    `https://h.example.com/services/${SECRET}`,
    `https://h.example.com/?token=${SECRET}`,
    `smtp://u:${SECRET}@h.example.com`,
    `smtps://u:${SECRET}@h.example.com:465`,
  ];
  // A URL setting takes such URLs and refuses text that is no URL; a free-text setting (a path list,
  // nginx_reload's argv, a header value) takes both.
  const isUrlSetting = (spec: SettingSpec<unknown>): boolean => probes.some((p) => spec.schema.safeParse(p).success) && !spec.schema.safeParse('plain words').success;
  for (const key of SETTING_KEYS) {
    const spec = SETTINGS[key] as SettingSpec<unknown>;
    if (!isUrlSetting(spec)) continue;
    it(`${spec.env} takes URLs that can carry a secret: masked, its host kept`, () => {
      expect(spec.redact, `${spec.env} needs redact in the settings table`).toBeTypeOf('function');
      for (const p of probes.filter((x) => spec.schema.safeParse(x).success)) {
        const shown = JSON.stringify(spec.redact!(spec.schema.parse(p)));
        expect(shown).not.toContain(SECRET);
        expect(shown).toContain('h.example.com');
      }
    });
  }

  it('a free-text setting holding a URL with a password (nginx_reload calling curl) is masked by the safety net', async () => {
    const r = await checkConfig({ BANHAMMER_NGINX_RELOAD: `curl -fsS https://admin:${SECRET}@lb.example.com/reload` }, false);
    expect(r.out).not.toContain(SECRET);
    expect(r.out).toContain('lb.example.com');
    const c = loadConfig({ env: { BANHAMMER_NGINX_RELOAD: `curl https://admin:${SECRET}@lb.example.com/reload` }, hostname: 'h' });
    expect(c.nginxReload).toEqual(['curl', `https://admin:${SECRET}@lb.example.com/reload`]);
    expect(redactedConfig(c).nginxReload).toEqual(['curl', 'https://***@lb.example.com/***']);
  });

  it('the probes found the URL settings, and the header tokens are masked too', () => {
    const urlSettings = SETTING_KEYS.filter((k) => isUrlSetting(SETTINGS[k] as SettingSpec<unknown>));
    expect(urlSettings).toEqual(expect.arrayContaining(['shareRedisUrl', 'notifyWebhookUrl', 'notifySmtpUrl']));
    expect(SETTINGS.notifyWebhookToken.redact!(`Bearer ${SECRET}`)).toBe(MASK);
    const targets = SETTINGS.notifyTargets.schema.parse({ a: { type: 'webhook', url: `https://h.example.com/${SECRET}`, token: SECRET } });
    expect(JSON.stringify(SETTINGS.notifyTargets.redact!(targets))).not.toContain(SECRET);
  });

  it('the safety net masks a URL with user info in any setting', () => {
    expect(maskCredentialUrls({ a: [`ldap://cn=admin:${SECRET}@ldap.example.com`], b: '/var/log/x', c: 3 })).toEqual({ a: ['ldap://***@ldap.example.com'], b: '/var/log/x', c: 3 });
  });
});

describe('maskUrl', () => {
  it.each([
    ['https://hooks.slack.com/services/T/B/x', 'https://hooks.slack.com/***'],
    ['https://h.example.com', 'https://h.example.com'],
    ['https://h.example.com/', 'https://h.example.com/'],
    ['https://h.example.com:8443/?a=1#f', 'https://h.example.com:8443/?***#***'],
    ['redis://:pw@r.example.com:6380/3', 'redis://***@r.example.com:6380/3'],
    ['redis://r.example.com', 'redis://r.example.com'],
    ['smtps://user:pw@[2001:db8::1]:465', 'smtps://***@[2001:db8::1]:465'],
    ['smtp://user@mail.example.com', 'smtp://***@mail.example.com'],
    ['not a url', MASK],
  ])('%s → %s', (input, out) => {
    expect(maskUrl(input)).toBe(out);
  });
});
