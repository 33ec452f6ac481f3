/**
 * README (Notifications → "The webhook document"): the table of the generic preset's fields, and the
 * digest's field list below it, are what a receiver is written against ("Fields are only ever added
 * within a version"). This holds both to payloadOf, the one builder of the document: every field
 * the table names is sent with the type it states, every field sent is in the table, and the
 * digest sends exactly the fields the README lists for it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { payloadOf, type AgentInfo } from '../../../src/notify/event.js';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);
const AGENT: AgentInfo = { instance: 'web1', host: 'vm', version: '0.1.0' };

/** field → type, from the rows under `| Field | Type | Meaning |`. */
function table(): Map<string, string> {
  const lines = README.split('\n');
  const start = lines.findIndex((l) => l.startsWith('| Field | Type | Meaning |'));
  expect(start).toBeGreaterThan(0);
  const out = new Map<string, string>();
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith('|')) break;
    const [, field = '', type = ''] = l.split('|').map((c) => c.trim());
    out.set(field.replace(/`/g, ''), type);
  }
  return out;
}

/** Whether `v` has the README's type (`string`, `number`, `boolean`, `object or null`, `string or null`, `array`, `object`). */
function hasType(v: unknown, type: string): boolean {
  return type.split(' or ').some((t) => {
    if (t === 'null') return v === null;
    if (t === 'array') return Array.isArray(v);
    if (t === 'object') return typeof v === 'object' && v !== null && !Array.isArray(v);
    return typeof v === t;
  });
}

const ban = {
  ip: '198.18.1.2', family: 4 as const, rule: 'forbidden', at: NOW - 1000, until: NOW + 3_600_000, failures: 6, nth: 1, manual: false,
  evidence: [{ at: NOW - 2000, file: '/var/log/apache2/access.log', line: '198.18.1.2 - - [...] "GET / HTTP/1.1" 403 1' }],
};

describe('README: the webhook document (preset generic)', () => {
  const fields = table();

  it('a ban and an unban send exactly the fields of the table, each of the stated type', () => {
    for (const doc of [
      payloadOf({ kind: 'ban', ban: ban as never, time: NOW }, AGENT, NOW),
      payloadOf({ kind: 'unban', ban: { ...ban, scope: 'c0ffee', scopeName: 'shop' } as never, reason: 'expired', time: NOW }, AGENT, NOW),
    ] as unknown as Record<string, unknown>[]) {
      expect(Object.keys(doc).sort()).toEqual([...fields.keys()].sort());
      for (const [k, type] of fields) expect([k, hasType(doc[k], type)]).toEqual([k, true]);
    }
  });

  it('a digest sends exactly the fields the README lists for it', () => {
    const start = README.indexOf('A digest has ');
    const para = README.slice(start, README.indexOf('\n\n', start));
    // Each code span's leading name: `version`, `event: "digest"`, `top_rules` … (the spans of the
    // entries, `[{ "rule", "count" }]`, and of the summary start with another character).
    const listed = [...para.matchAll(/`([a-z_]+)/g)].map((m) => m[1]!);
    const doc = payloadOf(
      { kind: 'digest', from: NOW - 60_000, to: NOW, bans: 1197, unbans: 0, topRules: [{ rule: 'forbidden', count: 1197 }], topAddresses: [{ address: '198.18.1.2', count: 1 }], distinctAddresses: 1197 },
      AGENT,
      NOW,
    ) as unknown as Record<string, unknown>;
    expect(Object.keys(doc).sort()).toEqual([...new Set(listed)].sort());
    expect(doc.summary).toBe('1,197 bans in the last minute on web1');
  });
});
