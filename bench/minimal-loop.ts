/**
 * The floor: the simplest fast Node program doing the core of a replay — stream the file, split
 * lines, one regex per line, count 403s per address in a Map — with none of banhammer's validation,
 * windows or bans. Run as its own process (`node bench/dist/bench/minimal-loop.js FILE`, compiled by `npm run bench`) so its startup
 * cost matches banhammer's; prints `{"lines":N,"matched":N,"addresses":N}` on stdout.
 */
import { createReadStream } from 'node:fs';
import { pathToFileURL } from 'node:url';

const LINE_RE = /^(\S+) \S+ \S+ \[([^\]]+)\] "[^"]*" (\d{3}) /;

export interface MinimalLoopResult {
  readonly lines: number;
  /** Lines whose status (as the regex reads it) is 403. */
  readonly matched: number;
  /** Distinct addresses among them. */
  readonly addresses: number;
}

export async function minimalLoop(path: string): Promise<MinimalLoopResult> {
  const counts = new Map<string, number>();
  let lines = 0;
  let matched = 0;
  let carry = '';
  const onLine = (line: string): void => {
    lines++;
    const m = LINE_RE.exec(line);
    if (m !== null && m[3] === '403') {
      matched++;
      const ip = m[1]!;
      const n = counts.get(ip);
      // A key taken from a slice would keep the whole 1 MiB chunk it came from alive: copy it once.
      if (n === undefined) counts.set(Buffer.from(ip, 'latin1').toString('latin1'), 1);
      else counts.set(ip, n + 1);
    }
  };
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  for await (const chunk of stream as AsyncIterable<string>) {
    const text = carry + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      onLine(text.slice(start, nl));
      start = nl + 1;
    }
    carry = text.slice(start);
  }
  if (carry.length > 0) onLine(carry);
  return { lines, matched, addresses: counts.size };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: node bench/dist/bench/minimal-loop.js FILE\n');
    process.exitCode = 2;
  } else {
    minimalLoop(file).then(
      (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
      (err: unknown) => {
        process.stderr.write(`minimal-loop: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      },
    );
  }
}
