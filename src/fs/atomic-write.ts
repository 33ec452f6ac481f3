/**
 * Replacing a file so that a crash at any moment leaves either the old or the new complete file:
 * write a temp file in the same directory (created exclusively, with the given mode, whatever the
 * umask), fsync it, rename it over the target, then fsync the directory so the rename itself is
 * durable. Errors are the file system's own, tagged with the step that failed; callers wrap them in
 * their own BanhammerError. The temp file never outlives a failed write.
 */
import { open, rename, unlink } from 'node:fs/promises';

export class AtomicWriteError extends Error {
  constructor(
    readonly step: 'write' | 'sync-dir',
    override readonly cause: unknown,
  ) {
    super(`${step}: ${(cause as NodeJS.ErrnoException)?.code ?? String(cause)}`);
  }

  get code(): string | undefined {
    return (this.cause as NodeJS.ErrnoException)?.code;
  }
}

/**
 * `content`: a text (written as UTF-8), or Buffers read one after the write of the one before, so a
 * big file (apache-map's txt map: 27 MB for 500,000 IPv6 bans) is never one string encoded in one
 * block of the agent's thread.
 */
export async function writeFileAtomic(target: string, content: string | Iterable<Uint8Array>, opts: { tmp: string; mode: number }): Promise<void> {
  try {
    const fh = await open(opts.tmp, 'wx', opts.mode);
    try {
      await fh.chmod(opts.mode);
      if (typeof content === 'string') await fh.writeFile(content, 'utf8');
      else {
        for (const chunk of content) {
          for (let done = 0; done < chunk.length; ) done += (await fh.write(chunk, done, chunk.length - done)).bytesWritten;
        }
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(opts.tmp, target);
  } catch (e) {
    await unlink(opts.tmp).catch(() => undefined);
    throw new AtomicWriteError('write', e);
  }
  const dir = target.slice(0, Math.max(target.lastIndexOf('/'), 1));
  try {
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch (e) {
    throw new AtomicWriteError('sync-dir', e);
  }
}
