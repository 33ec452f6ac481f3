/**
 * A log file read the two ways the agent reads logs, to compare them: as the live agent does (its
 * LineSplitter, UTF-8, then the parser) and as replay does (parseSpan over the file's bytes, each
 * one Latin-1 character, with the parser replay builds: `latin1`). Each event as "ip status".
 */
import { readFileSync } from 'node:fs';
import { createLineParser } from '../../src/parse/line-parser.js';
import { isSkip, type LogFormat } from '../../src/parse/access-event.js';
import { LineSplitter } from '../../src/source/line-splitter.js';
import { parseSpan } from '../../src/replay/scan-span.js';
import { clf } from './clf.js';

const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);

/** An access line of `ip` with `status` for `path`, at a fixed time. */
export const accessLine = (ip: string, status: number, path: string): string => `${ip} - - [${clf(T0)}] "GET ${path} HTTP/1.1" ${status} 10 "-" "curl"`;

/** A Docker json-file record (stdout) of `log`. */
export const dockerRecord = (log: string): string => JSON.stringify({ log, stream: 'stdout', time: '2026-12-02T10:00:00.000000000Z' });

export function readLive(path: string, format: LogFormat): string[] {
  const parse = createLineParser(format);
  const out: string[] = [];
  const onLine = (line: string): void => {
    const ev = parse(line, path);
    if (!isSkip(ev)) out.push(`${ev.ip} ${ev.status}`);
  };
  const s = new LineSplitter();
  s.push(readFileSync(path), onLine);
  s.flushPartial(onLine);
  return out;
}

export async function readReplay(path: string, format: LogFormat, latin1 = true): Promise<string[]> {
  const out: string[] = [];
  await parseSpan(path, { from: 0, to: Number.POSITIVE_INFINITY }, createLineParser(format, { latin1 }), (ev) => void out.push(`${ev.ip} ${ev.status}`));
  return out;
}
