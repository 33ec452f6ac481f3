/**
 * Reads a whole file as lines, fast: large sequential reads into one buffer, the unfinished last line
 * carried over as bytes (never by concatenating strings, which is several times slower in V8), and
 * one latin1 decode per chunk of complete lines followed by an indexOf scan for newlines.
 *
 * Latin-1 maps every byte to one character, so no byte sequence is ever lost or replaced. Access logs
 * are ASCII by construction (Apache and nginx write bytes ≥ 0x80 as \xhh); the fields banhammer reads
 * (address, time, request, status) are ASCII in any case. But a line that does hold raw UTF-8 (a
 * proxy that does not escape, a Docker log) is matched live on its UTF-8 text: readLineRanges' `utf8`
 * (replay's) hands such a line over decoded as UTF-8, so that replay and the agent agree (audit of
 * issue 10: a rule with a non-ASCII pattern banned live and not in replay; --explain showed "cafÃ©").
 *
 * `onLine` gets each line without its terminator ("\n" or "\r\n"); a last line without a newline is
 * delivered too. A line longer than the buffer (2 MiB) is delivered as its head, its first `BUFFER`
 * bytes, and the rest is discarded up to the next newline: one line in, one line out. As in the live
 * path (source/line-splitter.ts), length never decides whether a line counts: the parser reads only
 * the head of a line (parse/access-event.ts MAX_HEAD_LENGTH), which this always holds whole.
 * A pipe or device (not a regular file) is read in order, as a whole; one whose first bytes are a
 * compressed format's (a rotated .gz piped in without its zcat) is refused, as replay refuses such a
 * file (compression.ts), before any line is handed over. Errors opening or reading the file reject
 * the promise; onLine must not throw.
 *
 * One byte sequence is not read as Latin-1: a UTF-8 byte order mark (EF BB BF) is the one character
 * U+FEFF, as the live agent (which decodes UTF-8) reads it, and as the parser expects it: before a
 * line (a file's first, or one appended or concatenated after another file's) and before a syslog
 * MSG (RFC 5424) it is skipped. Read as three Latin-1 characters, such a line was never counted.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isAscii } from 'node:buffer';
import { compressedInputError, compressionOfBytes, COMPRESSION_MAGIC_BYTES } from './compression.js';

const BUFFER = 2 << 20;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const BOM_LATIN1 = '\u00ef\u00bb\u00bf';

/**
 * buf[from, to) as Latin-1, each UTF-8 byte order mark as U+FEFF (see above). `bom`: whether the bytes
 * may hold one (a caller that looked for it once per read passes false to skip the search).
 */
export function decodeLog(buf: Buffer, from: number, to: number, bom = true): string {
  const text = buf.toString('latin1', from, to);
  return bom && text.includes(BOM_LATIN1) ? text.replaceAll(BOM_LATIN1, '\ufeff') : text;
}
const PIECE = 64 << 10;
const NL = 10;

export async function readLines(path: string, onLine: (line: string) => void): Promise<void> {
  await readLineRanges(path, (text, start, end) => onLine(start === 0 && end === text.length ? text : text.slice(start, end)));
}

/**
 * The same lines as ranges: onRange(text, start, end) for the line text[start, end) (terminator
 * excluded), so a consumer that can read a line where it lies never pays for cutting it out.
 */
export async function readLineRanges(
  path: string,
  onRange: (text: string, start: number, end: number) => void,
  /** Bytes [from, to) of the file; `from` must be a line start, `to` a line start or the end. */
  span: { from: number; to: number } = { from: 0, to: Number.POSITIVE_INFINITY },
  /** Bytes of the span read so far, after each read of up to 2 MiB (progress). */
  onRead?: (bytes: number) => void,
  /**
   * A line holding bytes above 0x7F is handed over decoded as UTF-8, as the live agent reads it
   * (source/line-splitter.ts): a non-ASCII pattern then matches in replay as it does live, and
   * `replay --explain` shows the line `why` shows. Docker json-file records (starting with `{`) keep
   * one character per byte: the parser measures their pieces in bytes. Pure-ASCII reads (a native
   * check per piece) cost nothing more.
   */
  utf8 = false,
): Promise<void> {
  const onLine = (raw: string): void => {
    const line = utf8 ? asAgentReadsIt(raw) : raw;
    onRange(line, 0, line.length);
  };
  // Synchronous reads: replay is a batch job with nothing else to do meanwhile, and a thread-pool
  // round trip per chunk left the CPU idle for ~7 % of the run.
  const fd = openSync(path, 'r');
  try {
    // A pipe (`replay <(zcat access.log.1.gz)`, `replay /dev/stdin`) cannot be read at an offset
    // (ESPIPE): it is read in order, whole (a span of it means nothing).
    const seekable = fstatSync(fd).isFile();
    const buf = Buffer.allocUnsafe(BUFFER);
    let carry = 0;
    let discarding = false;
    let pos = span.from;
    /** Bytes in front of the buffer not scanned for lines yet (a pipe's first bytes, below). */
    let unscanned = false;
    if (!seekable && span.from === 0) {
      // A pipe's first bytes, before any line is handed over (a pipe may hand them over a few at a
      // time): a compressed format's are refused.
      while (carry < COMPRESSION_MAGIC_BYTES) {
        const n = readSync(fd, buf, carry, COMPRESSION_MAGIC_BYTES - carry, null);
        if (n === 0) break;
        carry += n;
      }
      pos += carry;
      const c = compressionOfBytes(buf.subarray(0, carry));
      if (c !== null) throw compressedInputError(path, c, true);
      unscanned = carry > 0;
    }
    for (;;) {
      const want = Math.min(BUFFER - carry, span.to - pos);
      const bytesRead = want > 0 ? readSync(fd, buf, carry, want, seekable ? pos : null) : 0;
      pos += bytesRead;
      if (bytesRead === 0 && !unscanned) break;
      unscanned = false;
      onRead?.(pos - span.from);
      const end = carry + bytesRead;
      // One native search per read: a byte order mark is rare, and only then are pieces searched.
      const bom = buf.subarray(0, end).indexOf(BOM) >= 0;
      let from = 0;
      if (discarding) {
        const nl = buf.indexOf(NL, carry);
        if (nl < 0 || nl >= end) {
          carry = 0;
          continue;
        }
        discarding = false;
        // Bytes before `carry` are not part of the discarded line: there are none (carry is 0 here).
        from = nl + 1;
      }
      const last = buf.lastIndexOf(NL, end - 1);
      if (last < from) {
        if (from > 0) {
          // A line starts at `from` (after a skipped tail) and has no newline yet: move it to the
          // front and read on, so that it too gets a whole buffer before anything is cut.
          buf.copy(buf, 0, from, end);
          carry = end - from;
        } else if (end === BUFFER) {
          // Longer than the buffer: hand over its head, skip the rest up to the next newline.
          onLine(decodeLog(buf, 0, end, bom));
          discarding = true;
          carry = 0;
        } else {
          carry = end;
        }
        continue;
      }
      // Decode in pieces small enough for V8's young generation: a string over ~128 KiB goes to
      // large-object space, is freed only by a full mark-sweep, and so piles up (tens of MB of RSS).
      while (from <= last) {
        let cut = last;
        if (cut - from >= PIECE) {
          cut = buf.lastIndexOf(NL, from + PIECE - 1);
          if (cut < from) cut = buf.indexOf(NL, from + PIECE);
        }
        const text = decodeLog(buf, from, cut + 1, bom);
        if (utf8 && !isAscii(buf.subarray(from, cut + 1))) splitIntoUtf8(text, onRange);
        else splitInto(text, onRange);
        from = cut + 1;
      }
      buf.copy(buf, 0, last + 1, end);
      carry = end - last - 1;
    }
    if (carry > 0 && !discarding) onLine(stripCr(decodeLog(buf, 0, carry)));
  } finally {
    closeSync(fd);
  }
}

/** Emits every line of `text`, which ends with a newline. */
function splitInto(text: string, onRange: (text: string, start: number, end: number) => void): void {
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) return;
    const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    onRange(text, start, end);
    start = nl + 1;
  }
}

/** splitInto(), each line with a byte above 0x7F (but a Docker record) decoded as UTF-8 (readLineRanges' utf8). */
function splitIntoUtf8(text: string, onRange: (text: string, start: number, end: number) => void): void {
  splitInto(text, (t, start, end) => {
    const line = t.slice(start, end);
    const read = asAgentReadsIt(line);
    if (read === line) onRange(t, start, end);
    else onRange(read, 0, read.length);
  });
}

const HIGH_BYTE = /[\x80-\xff]/;

/**
 * A line read one Latin-1 character per byte (a byte order mark as U+FEFF) as the live agent reads
 * it: decoded as UTF-8 when it holds a byte above 0x7F (an invalid sequence becomes U+FFFD, as live),
 * unless it is a Docker json-file record.
 */
function asAgentReadsIt(line: string): string {
  if (line.charCodeAt(0) === 0x7b || !HIGH_BYTE.test(line)) return line;
  return Buffer.from(line.includes('\ufeff') ? line.replaceAll('\ufeff', '\u00ef\u00bb\u00bf') : line, 'latin1').toString('utf8');
}

function stripCr(s: string): string {
  return s.charCodeAt(s.length - 1) === 13 ? s.slice(0, -1) : s;
}
