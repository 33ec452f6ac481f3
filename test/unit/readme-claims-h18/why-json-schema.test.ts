/**
 * README ("Why was it banned") lists the fields of `banhammer why --json`, "a stable schema (fields
 * are only ever added)": a script written against that list must find every field it names, and the
 * list must name every field the agent sends. This holds the README's list to buildWhyReport with
 * every optional part present (a ban in force, an ended ban, pending failures, shared bans, an unban
 * the firewall has not applied yet): the top-level keys, the keys of a ban (in force and ended), of a
 * failing entry, of a line, of an ended ban's `ended`, and of a group entry.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildWhyReport } from '../../../src/control/why-report.js';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);

/** The README paragraph that starts with "`--json` prints one object with a stable schema". */
function schemaParagraph(): string {
  const start = README.indexOf('`--json` prints one object with a stable schema');
  expect(start).toBeGreaterThan(0);
  return README.slice(start, README.indexOf('\n\n', start)).replace(/\s+/g, ' ');
}

/** Identifiers inside the first `{…}` (or `[{…}]`) code span that follows `label`. */
function fieldsAfter(text: string, label: string): string[] {
  const at = text.indexOf(label);
  expect(at, label).toBeGreaterThanOrEqual(0);
  const span = /`(\[?\{[^`]*\}\]?)`/.exec(text.slice(at))![1]!;
  return [...span.matchAll(/([A-Za-z]+)(?=[,:}\]])/g)].map((m) => m[1]!);
}

const line = { at: NOW - 5000, file: '/var/log/apache2/access.log', line: '198.18.1.2 - - [...] "GET / HTTP/1.1" 403 1' };
const ban = { ip: '198.18.1.2', family: 4, rule: 'forbidden', at: NOW - 1000, until: NOW + 3_600_000, failures: 5, nth: 1, manual: false, evidence: [line], evidenceOmitted: 0 };
const ended = { ...ban, at: NOW - 90_000, until: NOW + 10_000, ended: { reason: 'unbanned', at: NOW - 60_000, by: 'control' } };

function report(): Record<string, unknown> {
  return buildWhyReport({
    instance: 'web1',
    now: NOW,
    target: { ip: '198.18.1.2', family: 4 } as never,
    book: { about: () => ({ active: [ban], ended: [ended] }) } as never,
    pending: [{ rule: 'not-found', lines: [line] }] as never,
    allowlisted: false,
    historySize: 1000,
    group: () => [{ ip: '198.18.1.2', rule: 'forbidden', origin: 'web2', at: NOW - 2000, until: NOW + 3_600_000 }] as never,
    firewall: () => 'retrying',
    unbanPending: true,
  } as never) as unknown as Record<string, unknown>;
}

describe('README: banhammer why --json', () => {
  const text = schemaParagraph();
  const r = report();

  it('names every top-level field the agent sends, and only those', () => {
    // Each code span's leading name: `ip`, `unbanPending: true`, `group`: …
    const named = [...text.matchAll(/`([a-zA-Z]+)(?=[`:])/g)].map((m) => m[1]!);
    const topLevel = ['ip', 'instance', 'now', 'allowlisted', 'historySize', 'active', 'ended', 'failing', 'unbanPending', 'group'];
    for (const k of topLevel) expect(named, k).toContain(k);
    expect(Object.keys(r).sort()).toEqual([...topLevel].sort());
  });

  it('a ban: the fields listed, plus firewall for a ban in force', () => {
    const listed = fieldsAfter(text, 'whose bans are');
    const active = (r.active as Record<string, unknown>[])[0]!;
    const endedBan = (r.ended as Record<string, unknown>[])[0]!;
    // `ended: null | {reason, at, by}` and `evidence: [{at, file, line}]` are listed inline.
    const banKeys = listed.filter((k) => !['reason', 'by', 'file', 'line'].includes(k) || Object.hasOwn(active, k));
    expect(Object.keys(endedBan).sort()).toEqual([...new Set(banKeys)].sort());
    expect(text).toMatch(/`firewall` \(`held`, `retrying` or `refused`\)/);
    expect(Object.keys(active).sort()).toEqual([...new Set([...banKeys, 'firewall'])].sort());
    expect(Object.keys(endedBan.ended as object).sort()).toEqual(['at', 'by', 'reason']);
    expect(Object.keys((active.evidence as object[])[0]!).sort()).toEqual(['at', 'file', 'line']);
  });

  it('failing and group entries: the fields listed', () => {
    const failing = (r.failing as Record<string, unknown>[])[0]!;
    expect(Object.keys(failing).sort()).toEqual([...new Set(fieldsAfter(text, '`failing`:').filter((k) => !['at', 'file', 'line'].includes(k)))].sort());
    const group = (r.group as Record<string, unknown>[])[0]!;
    expect(Object.keys(group).sort()).toEqual(fieldsAfter(text, '`group`:').sort());
  });
});
