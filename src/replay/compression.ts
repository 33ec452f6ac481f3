/**
 * Compressed logs: logrotate's `compress` leaves access.log.2.gz (or .bz2, .xz, .zst), which read as
 * text is a few lines of binary junk and a report of no bans without a word. Replay refuses such input
 * by its first bytes, whether it is a file or a pipe (`cat access.log.2.gz | banhammer replay
 * /dev/stdin`, where the name says nothing), naming the compression and the reader to pipe it through.
 */
import { BanhammerError } from '../errors.js';

export interface Compression {
  readonly name: string;
  readonly tool: string;
}

/** Magic numbers of the compressed formats logrotate can write (`compresscmd`), with their readers. */
const COMPRESSIONS: readonly (Compression & { readonly magic: readonly number[] })[] = [
  { name: 'gzip', tool: 'zcat', magic: [0x1f, 0x8b] },
  // `BZh`, a block size 1–9, then the first block's magic (a host name could start with `BZh`).
  ...[0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39].map((size) => ({ name: 'bzip2', tool: 'bzcat', magic: [0x42, 0x5a, 0x68, size, 0x31, 0x41] })),
  { name: 'xz', tool: 'xzcat', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { name: 'zstd', tool: 'zstdcat', magic: [0x28, 0xb5, 0x2f, 0xfd] },
];

/** Bytes enough to tell every format above (fewer only when the whole input is shorter). */
export const COMPRESSION_MAGIC_BYTES = 6;

/** The compression input starting with `head` is in, or null (no access line starts with these bytes). */
export function compressionOfBytes(head: Buffer): Compression | null {
  return COMPRESSIONS.find((c) => c.magic.length <= head.length && c.magic.every((b, i) => head[i] === b)) ?? null;
}

/** The one error line for a compressed input; `pipe`: it came through a pipe (no name to decompress). */
export function compressedInputError(path: string, c: Compression, pipe: boolean): BanhammerError {
  return new BanhammerError('BH_ERR_FILE', `cannot read ${path}: it is compressed (${c.name})`, {
    hint: pipe ? `decompress it on the way in: … | ${c.tool} | banhammer replay /dev/stdin` : `decompress it on the way in: ${c.tool} ${path} | banhammer replay /dev/stdin`,
    data: { path, compression: c.name },
  });
}
