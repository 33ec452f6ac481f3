/**
 * Every annotated fixture under test/fixtures/logs: each `# expect:` line states the verdict for the
 * line right after it, checked with `auto` and with the file's own fixed format.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isSkip, type LogFormat, type ParseOutcome } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';

const DIR = join(import.meta.dirname, '../../fixtures/logs');

const FORMAT_OF: Record<string, LogFormat> = {
  'apache-combined.log': 'apache-combined',
  'apache-common.log': 'apache-common',
  'apache-vhost-combined.log': 'apache-vhost-combined',
  'apache-host-combined.log': 'apache-host-combined',
  'nginx-combined.log': 'nginx-combined',
  'nginx-main.log': 'nginx-main',
  'xff-first.log': 'auto',
  'docker-json.log': 'docker-json',
  'syslog.log': 'syslog',
  'adversarial.log': 'apache-combined',
};

interface Sample {
  readonly lineNo: number;
  readonly line: string;
  readonly expect: Record<string, string>;
}

/** `key=value` pairs; a value may be a JSON string (for spaces, quotes, or the empty string). */
function parseVerdict(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (const m of text.matchAll(re)) out[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
  return out;
}

function samples(file: string): Sample[] {
  const lines = readFileSync(join(DIR, file), 'utf8').split('\n');
  const out: Sample[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^# expect: (.*)$/.exec(lines[i]!);
    if (m === null) continue;
    expect(i + 1, `${file}:${i + 1} has no sample line`).toBeLessThan(lines.length);
    out.push({ lineNo: i + 2, line: lines[i + 1]!, expect: parseVerdict(m[1]!) });
    i++;
  }
  return out;
}

function check(o: ParseOutcome, want: Record<string, string>, where: string): void {
  if (want.skip !== undefined) {
    expect(o, where).toBe(want.skip);
    return;
  }
  expect(isSkip(o), `${where}: got ${JSON.stringify(o)}`).toBe(false);
  if (isSkip(o)) return;
  expect(o.ip, where).toBe(want.ip);
  expect(o.family, where).toBe(want.ip!.includes(':') ? 6 : 4);
  expect(o.status, where).toBe(Number(want.status));
  expect(o.method, where).toBe(want.method);
  expect(o.path, where).toBe(want.path);
  expect(Number.isFinite(o.time), where).toBe(true);
  if (want.time !== undefined) expect(o.time, where).toBe(Date.parse(want.time));
  expect(o.vhost, where).toBe(want.vhost);
  if (want.origin !== undefined) expect(o.origin, where).toBe(want.origin);
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.log'));

describe('annotated log fixtures', () => {
  it('covers one file per format', () => {
    expect(files.sort()).toEqual(Object.keys(FORMAT_OF).sort());
  });

  for (const file of files) {
    const format = FORMAT_OF[file]!;
    for (const fmt of ['auto', format] as const) {
      it(`${file} with format ${fmt}`, () => {
        const parse = createLineParser(fmt, { origin: 'fixture' });
        const all = samples(file);
        expect(all.length).toBeGreaterThan(5);
        for (const s of all) check(parse(s.line), s.expect, `${file}:${s.lineNo} (${fmt})`);
      });
    }
  }

  it('adversarial.log holds every attack the parse stage must survive', () => {
    const text = readFileSync(join(DIR, 'adversarial.log'), 'utf8');
    expect(text).toContain('\r\n');
    expect(text).toContain('\0');
    expect(text.split('\n').some((l) => l.length > 200_000)).toBe(true);
  });
});
