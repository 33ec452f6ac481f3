/**
 * Reads a whole file as lines, fast: large sequential reads, one UTF-8 decode per chunk (with a
 * StringDecoder so a character split across chunks survives), and an indexOf scan for newlines.
 * `onLine` gets each line without its terminator ("\n" or "\r\n"); a last line without a newline is
 * delivered too. Errors opening or reading the file reject the promise; onLine must not throw.
 */
import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';

const CHUNK = 1 << 20;

export async function readLines(path: string, onLine: (line: string) => void): Promise<void> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    const decoder = new StringDecoder('utf8');
    let carry = '';
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      const text = carry + decoder.write(buf.subarray(0, bytesRead));
      carry = splitInto(text, onLine);
    }
    const tail = carry + decoder.end();
    if (tail.length > 0) onLine(stripCr(tail));
  } finally {
    await fh.close();
  }
}

/** Emits every complete line of `text`; returns the unterminated remainder. */
function splitInto(text: string, onLine: (line: string) => void): string {
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    onLine(text.slice(start, end));
    start = nl + 1;
  }
  return start === 0 ? text : text.slice(start);
}

function stripCr(s: string): string {
  return s.charCodeAt(s.length - 1) === 13 ? s.slice(0, -1) : s;
}
