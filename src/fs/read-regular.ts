/**
 * Reading a file the agent does not control the kind of (state files, the share outbox, secrets,
 * configuration, rule files, Docker's container configurations): a regular file only, or the read
 * could stall or exhaust the agent. A FIFO blocks open() and read() until someone writes (for an
 * async read, a thread of libuv's small pool, for ever), a link to /dev/zero or /dev/urandom never
 * ends, and a directory fails only after being opened.
 *
 * So: opened O_NONBLOCK (a FIFO's open returns at once) and O_NOCTTY, checked on the open descriptor
 * (no race with a rename between a stat and the open), and never more than `maxBytes` + 1 bytes read
 * (a file that grows while read cannot make the read unbounded). Links are followed: Docker and
 * Kubernetes secrets are links to regular files.
 *
 * Errors carry a `code`: the system's (ENOENT, EACCES…), EISDIR for a directory, ENOTREG for any other
 * kind of file, EFBIG for a file larger than `maxBytes`.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** The largest secret file read (a password, a token, a header value). */
export const MAX_SECRET_BYTES = 64 * 1024;

const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

export class NotRegularFileError extends Error {
  constructor(
    readonly code: 'EISDIR' | 'ENOTREG' | 'EFBIG',
    readonly path: string,
    readonly size?: number,
  ) {
    super(code === 'EISDIR' ? `${path} is a directory` : code === 'ENOTREG' ? `${path} is not a regular file` : `${path} is larger than allowed`);
  }
}

function check(path: string, st: { isFile(): boolean; isDirectory(): boolean; size: number }, maxBytes: number): number {
  if (st.isDirectory()) throw new NotRegularFileError('EISDIR', path);
  if (!st.isFile()) throw new NotRegularFileError('ENOTREG', path);
  if (st.size > maxBytes) throw new NotRegularFileError('EFBIG', path, st.size);
  return st.size;
}

/** A file that grew since its stat: a larger buffer, within the limit (+ 1 to see it pass). */
function grown(buf: Buffer, n: number, maxBytes: number): Buffer {
  const bigger = Buffer.alloc(Math.min(maxBytes + 1, Math.max(64, buf.length * 2)));
  buf.copy(bigger, 0, 0, n);
  return bigger;
}

/** The text (UTF-8) of the regular file at `path`, at most `maxBytes` bytes of it, or throws. */
export function readRegularFileSync(path: string, maxBytes: number): string {
  const fd = openSync(path, FLAGS);
  try {
    const size = check(path, fstatSync(fd), maxBytes);
    let buf: Buffer = Buffer.alloc(Math.min(size, maxBytes) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) buf = grown(buf, n, maxBytes);
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > maxBytes) throw new NotRegularFileError('EFBIG', path, n);
    }
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

/** readRegularFileSync on the thread pool. */
export async function readRegularFile(path: string, maxBytes: number): Promise<string> {
  const fh = await open(path, FLAGS);
  try {
    const size = check(path, await fh.stat(), maxBytes);
    let buf: Buffer = Buffer.alloc(Math.min(size, maxBytes) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) buf = grown(buf, n, maxBytes);
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > maxBytes) throw new NotRegularFileError('EFBIG', path, n);
    }
    return buf.toString('utf8', 0, n);
  } finally {
    await fh.close().catch(() => undefined);
  }
}
