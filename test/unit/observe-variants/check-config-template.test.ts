/**
 * Audit (issue 14, notifications): "A template only substitutes `{{field}}` placeholders from this
 * list …; an unknown field is a configuration error", "The agent renders the template for a ban, an
 * unban and a digest full of hostile characters before it starts and refuses one that is not valid
 * JSON", and check-config "reports every mistake at once" (README, Notifications).
 * - The template was only checked when the notifier was built, at the agent's start: `banhammer
 *   check-config` passed a template naming `{{process}}`, or one that renders no JSON, with exit 0,
 *   and the agent then refused to start with the same file.
 * - notify.targets was validated as one record: one target's bad key (a `ftp://` URL) hid every
 *   other target's combination problems (url and url_file both set, an smtp target without `to`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';
import { loadConfig } from '../../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'bh-h2-cc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function checkConfig(yaml: string): Promise<{ code: number; out: string; err: string }> {
  const file = join(dir, `c${n++}.yaml`);
  writeFileSync(file, yaml);
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (s) => out.push(s), stderr: (s) => err.push(s), env: { BANHAMMER_CONFIG: file }, hostname: 'test' };
  const code = await main(['check-config'], io);
  return { code, out: out.join(''), err: err.join('') };
}

const target = (template: string, extra = ''): string => `notify:\n  targets:\n    siem: { type: webhook, url: "https://siem.example/ingest", template: '${template}'${extra} }\n`;

describe('check-config and a webhook template', () => {
  it('an unknown field is a configuration error: exit 1, the target and the field named', async () => {
    const r = await checkConfig(target('{"a": "{{process}}"}'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/siem/);
    expect(r.err).toMatch(/unknown template field \{\{process\}\}/);
    expect(r.out).toBe('');
  });

  it('a JSON template that does not render JSON (a text field outside quotes) is a configuration error', async () => {
    for (const [template, extra] of [
      ['{"a": "x", "r": {{rule}}}', ''],
      // JSON by its content type, whatever it starts with.
      ['ip={{address}}', ', content_type: application/json'],
    ] as const) {
      const r = await checkConfig(target(template, extra));
      expect(r.code, template).toBe(1);
      expect(r.err).toMatch(/does not render JSON/);
    }
  });

  it('valid JSON, text and form templates pass', async () => {
    for (const [template, extra] of [
      ['{"ip": "{{address}}", "n": {{failures}}, "ev": "{{evidence}}"}', ''],
      ['{{summary}} {{text}}', ''],
      ['ip={{address}}&rule={{rule}}', ', content_type: application/x-www-form-urlencoded'],
    ] as const) {
      const r = await checkConfig(target(template, extra));
      expect(r.err, template).toBe('');
      expect(r.code).toBe(0);
    }
  });
});

describe('notify.targets problems', () => {
  it("every target's mistakes are reported at once: a key one target gets wrong does not hide another's combination", () => {
    const yaml = `notify:\n  targets:\n    a: { type: webhook, url: "ftp://x.example/" }\n    b: { type: webhook, url: "https://x.example/", url_file: /run/secrets/u }\n    c: { type: smtp, url: "smtp://mail.example", from: a@b.example }\n`;
    let msg = '';
    try {
      loadConfig({ env: { BANHAMMER_CONFIG: '/c.yaml' }, hostname: 'h', readFile: () => yaml });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/notify\.targets\.a\.url.*expected an http:\/\/ or https:\/\/ URL/);
    expect(msg).toMatch(/notify\.targets\.b\.url.*set exactly one of url and url_file/);
    expect(msg).toMatch(/notify\.targets\.c\.to.*an smtp target needs to/);
  });
});
