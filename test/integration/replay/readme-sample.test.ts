/**
 * The README's "Replay a log" shows what `banhammer replay examples/access.log` prints, in text and
 * with --json: the built CLI must print exactly that (a change of rules or defaults that changes the
 * output must change the README too), and the `--rule forbidden --rule sensitive-paths` example must
 * ban the secret-file scanner as the README says.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
const BIN = join(ROOT, 'bin/banhammer.js');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

function readmeBlock(after: string, fence: string): string {
  const at = README.indexOf(after);
  expect(at, `README holds ${after}`).toBeGreaterThanOrEqual(0);
  const start = README.indexOf(fence, at);
  const body = README.indexOf('\n', start) + 1;
  return README.slice(body, README.indexOf('```', body)).trimEnd();
}

describe("README 'Replay a log' is what the CLI prints", () => {
  it('text output', async () => {
    const block = readmeBlock('## Replay a log', '```console');
    const [cmd, ...expected] = block.split('\n');
    expect(cmd).toBe('$ npx banhammer replay examples/access.log');
    const { stdout } = await run(process.execPath, [BIN, 'replay', 'examples/access.log'], { cwd: ROOT });
    expect(stdout.trimEnd()).toBe(expected.join('\n'));
  });

  it('--json output', async () => {
    const json = readmeBlock('`--json` prints one object:', '```json');
    const { stdout } = await run(process.execPath, [BIN, 'replay', 'examples/access.log', '--json'], { cwd: ROOT });
    expect(JSON.parse(stdout)).toEqual(JSON.parse(json));
  });

  it('--rule forbidden --rule sensitive-paths also bans the secret-file scanner', async () => {
    const { stdout } = await run(process.execPath, [BIN, 'replay', 'examples/access.log', '--rule', 'forbidden', '--rule', 'sensitive-paths', '--json'], { cwd: ROOT });
    const bans = (JSON.parse(stdout) as { bans: { ip: string; rule: string }[] }).bans;
    expect(bans).toContainEqual(expect.objectContaining({ ip: '198.18.5.5', rule: 'sensitive-paths' }));
    expect(bans.filter((b) => b.rule === 'forbidden').map((b) => b.ip)).toEqual(['198.18.7.7', '2001:db8::bad']);
  });
});
