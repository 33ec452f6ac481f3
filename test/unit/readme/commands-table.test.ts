/**
 * The README's commands table and `banhammer --help` name the same commands with the same options:
 * the table is hand-written, so a command or option added to the CLI and not to the table (as
 * `rules` and `replay --all-rules` once were) fails here.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../../', import.meta.url);
const BIN = new URL('bin/banhammer.js', ROOT).pathname;

/** command → the options it names (`--x`), from lines that start with `banhammer <command>` or `  <command>`. */
function commandsOf(lines: readonly string[], lead: RegExp): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of lines) {
    const m = lead.exec(line);
    if (m === null) continue;
    const cmd = m[1]!;
    const opts = out.get(cmd) ?? new Set<string>();
    for (const o of line.slice(m[0].length).matchAll(/--[a-z][a-z-]*/g)) opts.add(o[0]);
    out.set(cmd, opts);
  }
  return out;
}

describe('README commands table', () => {
  const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
  const readme = readFileSync(new URL('README.md', ROOT), 'utf8');

  it('lists exactly the commands of --help, each with the options --help gives it', () => {
    expect(help.status).toBe(0);
    // --help: a command's synopsis is an indented line `  name ARGS [--opt]…` before its description.
    // (`  help                 this text`: the synopsis ends at the first run of two spaces.)
    const helpLines = help.stdout
      .split('\n')
      .filter((l) => /^ {2}[a-z]/.test(l))
      .map((l) => l.slice(2).split(/ {2,}/)[0]!);
    const fromHelp = commandsOf(helpLines, /^([a-z][a-z-]*)/);
    // The table: rows `| \`banhammer CMD …\` | description |`; only the first cell names options.
    const rows = readme.split('\n').filter((l) => l.startsWith('| `banhammer '));
    const cells = rows.flatMap((r) => (r.split(/(?<!\\)\|/)[1] ?? '').split(/`, `|` \/ `/).map((c) => c.replace(/`/g, '').trim()));
    const fromReadme = commandsOf(cells, /^banhammer ([a-z][a-z-]*)/);
    expect([...fromReadme.keys()].sort()).toEqual([...fromHelp.keys()].sort());
    for (const [cmd, opts] of fromHelp) expect([cmd, [...(fromReadme.get(cmd) ?? [])].sort()]).toEqual([cmd, [...opts].sort()]);
  });
});
