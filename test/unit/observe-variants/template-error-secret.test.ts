/**
 * Audit (issue 14, notifications: secrets never logged): "check-config shows a template with the
 * values it writes itself masked …: a template can hold a token" (README, Templates). A JSON
 * template that does not render JSON stops the start with a message; that message quoted V8's
 * JSON.parse error, which since Node 20 shows about ten characters of the text on each side of the
 * mistake (`Unexpected token 's', ..."234","ev":x\"…" is not valid JSON`): the characters of a
 * token written in the template just before a field left outside its quotes went to stderr and the
 * container's log. The error must say what is wrong without quoting the template's own text.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { createNotifier } from '../../../src/notify/notifier.js';
import { ManualClock } from '../../fakes/manual-clock.js';

const SECRET = 'Zq8vK3pT9wR2';
const deps = {
  clock: new ManualClock(),
  log: { info: () => {}, warn: () => {} },
  instance: 'web-1',
  version: '0.1.0',
  host: 'h',
  readFile: (p: string): string => {
    throw new Error(`ENOENT: ${p}`);
  },
};

/** The start's error for a webhook target with this template (YAML single-quoted). */
function startError(template: string): string {
  const yaml = `notify:\n  targets:\n    siem: { type: webhook, url: "https://siem.example/ingest", template: '${template}' }\n`;
  const c = loadConfig({ env: { BANHAMMER_CONFIG: '/c.yaml' }, hostname: 'h', readFile: () => yaml });
  try {
    createNotifier(c.notify, deps);
  } catch (e) {
    return `${(e as Error).message} ${JSON.stringify((e as { hint?: unknown }).hint ?? '')} ${JSON.stringify((e as { data?: unknown }).data ?? '')}`;
  }
  return '';
}

/** Every run of 3 characters of the secret. */
const pieces = (s: string): string[] => Array.from({ length: s.length - 2 }, (_, i) => s.slice(i, i + 3));

describe('a JSON template that does not render JSON', () => {
  const templates = [
    `{"api_key":"${SECRET}","ev":{{evidence}}}`,
    `{"api_key": "${SECRET}", "ip": "{{address}}", "r": {{rule}}}`,
    `{"k":"${SECRET}",{{summary}}}`,
    `{"k":"${SECRET}","r":{{rule}}}`,
    `{"k":"${SECRET}","n":{{failures}}x}`,
    `{"ip":{{address}},"k":"${SECRET}"}`,
    `[{"k":"${SECRET}"} {{text}}]`,
  ];
  for (const t of templates) {
    it(`stops the start without quoting the template's text: ${t}`, () => {
      const msg = startError(t);
      expect(msg).toMatch(/does not render JSON/);
      for (const p of pieces(SECRET)) expect(msg, `"${p}" of the token in: ${msg}`).not.toContain(p);
    });
  }
});
