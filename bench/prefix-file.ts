/**
 * Copies the first N lines of a file to another file (byte for byte), for measuring slow tools on a
 * prefix of the benchmark log. Returns how many lines were copied (fewer when the file is shorter).
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

export function copyPrefixLines(from: string, to: string, lines: number): number {
  const inFd = openSync(from, 'r');
  const outFd = openSync(to, 'w');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let copied = 0;
    while (copied < lines) {
      const n = readSync(inFd, buf, 0, buf.length, null);
      if (n === 0) break;
      let end = n;
      for (let i = 0; i < n; i++) {
        if (buf[i] === 10 && ++copied === lines) {
          end = i + 1;
          break;
        }
      }
      writeSync(outFd, buf, 0, end);
    }
    return copied;
  } finally {
    closeSync(inFd);
    closeSync(outFd);
  }
}
