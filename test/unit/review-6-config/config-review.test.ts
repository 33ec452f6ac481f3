/**
 * Round-6 hostile review of the configuration and check-config (issues 9, 10).
 *
 * Fixed here:
 * - a rule named `other` shared its metrics series (and its notification digest line) with the
 *   overflow label "other": the name is reserved, in the config file and in rule files alike;
 * - YAML tags yaml does not resolve (`!env X`, `!secret x`, `!Ref x`, `!!int 1h`, `!!bool yes`) were
 *   only a yaml warning, the text loaded as written: `token: !env HOOK_TOKEN` sent the word
 *   HOOK_TOKEN as the webhook's token. Refused with line and column;
 * - check-config built the notifier with a silent log, so the warnings the agent logs at start
 *   (credentials over http://, a link-local URL, an SMTP login with starttls off) never showed there.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';
import { RESERVED_RULE_NAMES } from '../../../src/config/rule-schema.js';
import { OVERFLOW_LABEL } from '../../../src/metrics/registry.js';
import { parseDocument } from '../../../src/config/yaml-document.js';

const root = mkdtempSync(join(tmpdir(), 'bh-h13-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const file = (text: string): string => {
  const p = join(root, `c${n++}.yaml`);
  writeFileSync(p, text);
  return p;
};
const ruleDir = (files: Record<string, string>): string => {
  const d = join(root, `d${n++}`);
  mkdirSync(d);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
};

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
    env: { BANHAMMER_ENFORCER: 'log', BANHAMMER_STATE_DIR: join(root, 'state'), BANHAMMER_SOCKET: join(root, 'bh.sock'), BANHAMMER_METRICS_ADDR: 'off', ...env },
    hostname: 'unit',
  };
  const code = await main(args, io);
  return { code, out, err };
}

describe('a rule cannot be named like the metrics overflow label', () => {
  it('the overflow label is a reserved rule name', () => {
    expect(RESERVED_RULE_NAMES.has(OVERFLOW_LABEL)).toBe(true);
  });

  it('rules: other: in the config file is refused, saying why', async () => {
    const r = await cli(['check-config'], { BANHAMMER_CONFIG: file('rules:\n  other: { maxretry: 3, findtime: 1m, bantime: 1h, match: { status: [403] } }\n') });
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/rules\.other .*"other" is reserved \(metrics and notification digests count rules past their limit under "other"/);
  });

  it('a rule file named other is refused; one named others loads', async () => {
    const rule = (name: string): string => `name: ${name}\ndescription: d\nmatch: { status: [403] }\nmaxretry: 3\nfindtime: 1m\nbantime: 1h\n`;
    const bad = await cli(['check-config'], { BANHAMMER_RULES_DIR: ruleDir({ 'other.yaml': rule('other') }) });
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/"other" is reserved/);
    const ok = await cli(['check-config', '--json'], { BANHAMMER_RULES_DIR: ruleDir({ 'others.yaml': rule('others') }) });
    expect(ok.err).toBe('');
    expect(ok.code).toBe(0);
    expect(Object.keys((JSON.parse(ok.out) as { rules: Record<string, unknown> }).rules)).toContain('others');
  });
});

describe('YAML tags that yaml does not resolve are refused, not loaded as text', () => {
  it.each([
    ['a custom tag on a token', 'notify:\n  targets:\n    hook:\n      type: webhook\n      url: https://hooks.example.com/x\n      token: !env HOOK_TOKEN\n', /the tag !env cannot be read here at line 6/],
    ['a custom tag on a mapping', 'rules:\n  forbidden: !foo { maxretry: 3 }\n', /the tag !foo cannot be read here at line 2/],
    ['!!int on a duration', 'rules:\n  forbidden: { bantime: !!int 1h }\n', /the tag !!int cannot be read here at line 2/],
    ['!!bool on a word YAML 1.2 does not read as one', 'rules:\n  forbidden: { enabled: !!bool nope }\n', /the tag !!bool cannot be read here/],
    ['!!map on a list', 'ignoreip: !!map [198.18.0.1]\n', /the tag !!map cannot be read here/],
  ])('%s', async (_what, text, message) => {
    const check = await cli(['check-config'], { BANHAMMER_CONFIG: file(text) });
    expect(check.code).toBe(1);
    expect(check.out).toBe('');
    expect(check.err).toMatch(message);
    const run = await cli(['run', '--dry-run'], { BANHAMMER_CONFIG: file(text) });
    expect(run.code).toBe(2);
    expect(run.err).toMatch(message);
  });

  it('in a rule file too', () => {
    const { errors } = parseDocument('name: mine\nmatch: { paths: [ !Ref x ] }\n');
    expect(errors).toEqual([expect.stringMatching(/the tag !Ref cannot be read here at line 2/)]);
  });

  it('tags that resolve still load: !!str, !!int on a number, !, a verbatim !!str', async () => {
    const r = await cli(['check-config', '--json'], { BANHAMMER_CONFIG: file('instance: ! web9\nmax_tracked: !!int 5000\nrules:\n  forbidden: { bantime: !!str 2h, maxretry: !<tag:yaml.org,2002:int> 4, enabled: !!bool true }\n') });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { instance: string; maxTracked: number; rules: Record<string, { maxretry: number; bantime: number }> };
    expect(j.instance).toBe('web9');
    expect(j.maxTracked).toBe(5000);
    expect(j.rules.forbidden).toMatchObject({ maxretry: 4, bantime: 7_200_000 });
  });
});

describe('check-config says the warnings the agent logs about its notification targets', () => {
  it('a token over plain http://, a link-local URL, an SMTP login with starttls off', async () => {
    const hook = await cli(['check-config'], { BANHAMMER_NOTIFY_WEBHOOK_URL: 'http://hooks.example.com/x', BANHAMMER_NOTIFY_WEBHOOK_TOKEN: 'Bearer s3cret-token' });
    expect(hook.code).toBe(0);
    expect(hook.err).toMatch(/^banhammer: warning: notification target \S+: its token goes over plain http:\/\/ to hooks\.example\.com/m);
    expect(hook.err).not.toContain('s3cret-token');
    const meta = await cli(['check-config', '--json'], { BANHAMMER_NOTIFY_WEBHOOK_URL: 'http://169.254.169.254/latest' });
    expect(meta.code).toBe(0);
    expect(() => JSON.parse(meta.out) as unknown).not.toThrow(); // stdout stays the JSON alone
    expect(meta.err).toMatch(/^banhammer: warning: notification target \S+: its URL names 169\.254\.169\.254, a link-local address/m);
    const pw = join(root, 'smtp-pw');
    writeFileSync(pw, 'pw\n');
    const smtp = await cli(['check-config'], {
      BANHAMMER_NOTIFY_SMTP_URL: 'smtp://ops@mail.example.com:587',
      BANHAMMER_NOTIFY_SMTP_PASSWORD_FILE: pw,
      BANHAMMER_NOTIFY_SMTP_FROM: 'banhammer@example.com',
      BANHAMMER_NOTIFY_SMTP_TO: 'ops@example.com',
      BANHAMMER_NOTIFY_SMTP_STARTTLS: 'off',
    });
    expect(smtp.code).toBe(0);
    expect(smtp.err).toMatch(/^banhammer: warning: notification target \S+: it logs in to mail\.example\.com with starttls: off/m);
  });

  it('nothing is said of a target that is fine', async () => {
    const r = await cli(['check-config'], { BANHAMMER_NOTIFY_WEBHOOK_URL: 'https://hooks.example.com/x', BANHAMMER_NOTIFY_WEBHOOK_TOKEN: 'Bearer t' });
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
  });
});

describe('!!float on a number without a dot', () => {
  it('is read as the number, as YAML 1.2 says (yaml itself wants a dot or an exponent)', () => {
    const { doc, errors } = parseDocument('a: !!float 60\nb: !!float 1e3\nc: !!float abc\n');
    expect(errors).toEqual([expect.stringMatching(/the tag !!float cannot be read here at line 3/)]);
    expect(doc.toJS()).toMatchObject({ a: 60, b: 1000 });
  });
});
