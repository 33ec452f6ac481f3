/**
 * The image writes Apache's access log through s6-log (docker/s6/apache/log/run), and the agent
 * follows access/current as a plain file, each line as written whole. s6-log's default `-l 8192`
 * cuts a longer line in two with a newline, and Apache lines pass 8 KiB easily (a referer, a
 * User-Agent or a Basic-auth user name of up to 8,190 bytes each). What follows such a cut is text
 * the client wrote: padded to put `VICTIM - - [time] ` at the cut, it was read as a line of its own,
 * counting a 403 against any address (a referer cut, the status of the client's choosing) or the
 * client's real request and status (a user-name cut, which also lost the client's own line).
 *
 * So the service runs s6-log with `-l 0`. Here the run script is run for real, under each /bin/sh
 * of the images, with the real s6-log (package s6, installed by scripts/install-deps.sh) fed those
 * lines: the file and the `docker logs` copy hold them whole, and the agent's line reader and parser
 * count them for the client alone.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSkip, type ParseOutcome } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { LineSplitter } from '../../../src/source/line-splitter.js';
import { DOCKER, SHELLS, ScriptSandbox } from './script-harness.js';

const T = '02/Dec/2026:10:00:00 +0000';
/** s6-log's default line limit, where the cut fell. */
const S6_DEFAULT_LIMIT = 8192;
const ATTACKER = '198.18.0.40';
const VICTIM = '198.18.7.7';

/** A Referer padded so that byte 8192 starts `VICTIM - - [T] `; its closing quote and a User-Agent of ` 403 5` then read as a request line and a status. */
function refererCut(): string {
  const start = `${ATTACKER} - - [${T}] "GET /a HTTP/1.1" 404 196 "`;
  return `${start}${'r'.repeat(S6_DEFAULT_LIMIT - start.length)}${VICTIM} - - [${T}] " " 403 5"`;
}

/** A Basic-auth user name (%u) padded so that byte 8192 starts `VICTIM - -`, followed by the real time, request and status. */
function userCut(status: number): string {
  const start = `${ATTACKER} - `;
  return `${start}${'u'.repeat(S6_DEFAULT_LIMIT - start.length)}${VICTIM} - - [${T}] "GET /admin/ HTTP/1.1" ${status} 381 "-" "curl/8.5.0"`;
}

/** A User-Agent long enough to be cut twice by the default limit, with a forged line at each cut. */
function twoCuts(): string {
  const start = `${ATTACKER} - - [${T}] "GET /b HTTP/1.1" 403 196 "-" "`;
  const forged = `${VICTIM} - - [${T}] "GET / HTTP/1.1" 403 1 "-" "`;
  const pad1 = 'a'.repeat(S6_DEFAULT_LIMIT - start.length);
  const pad2 = 'b'.repeat(S6_DEFAULT_LIMIT - forged.length);
  return `${start}${pad1}${forged}${pad2}${forged}x"`;
}

const ORDINARY = `${ATTACKER} - - [${T}] "GET /c HTTP/1.1" 403 196 "-" "Mozilla/5.0"`;
const LINES = [refererCut(), userCut(403), twoCuts(), ORDINARY];

const s6log = spawnSync('sh', ['-c', 'command -v s6-log'], { encoding: 'utf8' }).stdout.trim();

/** The events the agent reads from a file's text (its line splitter, then its parser). */
function readAsAgent(text: string, format: 'auto' | 'apache-combined'): string[] {
  const parse = createLineParser(format);
  const outs: ParseOutcome[] = [];
  new LineSplitter(0).push(Buffer.from(text, 'latin1'), (l) => outs.push(parse(l, '/var/log/apache2/access/current')));
  return outs.map((o) => (isSkip(o) ? o : `${o.ip} ${o.status}`));
}

describe.skipIf(s6log === '' || SHELLS.length === 0)('the access-log service (real s6-log)', () => {
  let box: ScriptSandbox;
  beforeEach(() => {
    box = new ScriptSandbox('bh-s6log-');
    mkdirSync(box.env.BH_LOG_DIR!); // the entrypoint makes it in the image
  });
  afterEach(() => box.remove());

  for (const { name, argv } of SHELLS) {
    it(`under ${name}: lines longer than 8 KiB reach access/current and docker logs whole, and count for the client alone`, () => {
      const input = `${LINES.join('\n')}\n`;
      const r = spawnSync(argv[0]!, [...argv.slice(1), join(DOCKER, 's6/apache/log/run')], {
        env: { ...box.env, BH_ACCESS_LOG_BYTES: '1048576', BH_ACCESS_LOG_KEEP: '2' },
        input,
        encoding: 'latin1',
        timeout: 15_000,
      });
      expect(r.status, r.stderr).toBe(0);
      const file = readFileSync(join(box.env.BH_LOG_DIR!, 'access', 'current'), 'latin1');
      expect(file.split('\n').slice(0, -1).map((l) => l.length)).toEqual(LINES.map((l) => l.length));
      expect(file).toBe(input);
      expect(r.stdout).toBe(input);
      for (const format of ['auto', 'apache-combined'] as const) {
        const seen = readAsAgent(file, format);
        expect(seen.filter((s) => s.startsWith(VICTIM))).toEqual([]);
        expect(seen).toEqual([`${ATTACKER} 404`, `${ATTACKER} 403`, `${ATTACKER} 403`, `${ATTACKER} 403`]);
      }
    });
  }

  it("s6-log's default would have cut them (what -l 0 prevents)", () => {
    const r = spawnSync(s6log, [join(box.tmp, 'default')], { input: `${refererCut()}\n`, encoding: 'latin1', timeout: 15_000 });
    expect(r.status).toBe(0);
    const pieces = readFileSync(join(box.tmp, 'default', 'current'), 'latin1').split('\n');
    expect(pieces[1]).toBe(`${VICTIM} - - [${T}] " " 403 5"`);
    expect(readAsAgent(`${pieces.join('\n')}`, 'auto')).toContain(`${VICTIM} 403`);
  });
});
