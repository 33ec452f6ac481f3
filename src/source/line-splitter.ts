/**
 * Splits a byte stream (one file's content, fed in order) into lines, tracking byte offsets.
 *
 * Contract:
 * - push(chunk, onLine) calls onLine(line, end) for every complete line in order (end: the offset just
 *   past its newline, what `committed` becomes), without its "\n" and
 *   without one trailing "\r" (CRLF). Bytes are decoded as UTF-8 per line, so a multi-byte
 *   character split across chunks is never mangled.
 * - A partial last line (no newline yet) is held until completed; `committed` is the offset just
 *   past the last newline consumed, i.e. the position that is safe to save, and
 *   committed + pendingBytes is always the offset of the next byte to feed.
 * - A line longer than maxLineBytes is delivered as its head: its first maxLineBytes bytes (cut back
 *   to a whole UTF-8 character), when its newline arrives; the rest of it is skipped, never buffered,
 *   and `overlongLines` counts it. Length must never decide whether a line counts: the parser reads
 *   only the head of a line (address, time, request, status; parse/access-event.ts MAX_HEAD_LENGTH),
 *   and what is cut off is referer and User-Agent. Memory is bounded by the cap.
 * - flushPartial() hands over a held partial line, or the head of an overlong one (used when a file
 *   is finished for good).
 */

/**
 * 256 KiB: twice the parser's head (MAX_HEAD_LENGTH, 128 Ki characters), so that a Docker json-file
 * record, whose escaping at most doubles Apache's printable-ASCII line, still holds the whole head,
 * and the cut of a plain line always lies beyond what the parser reads.
 */
export const DEFAULT_MAX_LINE_BYTES = 256 * 1024;

export class LineSplitter {
  /** Offset just past the last newline consumed. */
  committed: number;
  /** Lines longer than maxLineBytes: delivered as their head, the rest skipped (counted when the cap is crossed). */
  overlongLines = 0;
  private readonly max: number;
  private parts: Buffer[] = [];
  /** Bytes consumed past `committed` (the line so far, including any skipped tail). */
  private pending = 0;
  /** Bytes of the line held in `parts` (at most `max`). */
  private held = 0;
  /** True while the current line is past the cap: only its head is held. */
  private overlong = false;
  /** True until the first newline: the bytes so far are the rest of a line begun before our start. */
  private discarding = false;
  /** True until the first byte that is not NUL: those are a hole, not a line (skipLeadingNul). */
  private skippingNul = false;

  constructor(startOffset = 0, maxLineBytes = DEFAULT_MAX_LINE_BYTES) {
    this.committed = startOffset;
    this.max = maxLineBytes;
  }

  /** Bytes consumed past `committed`: a held partial line, including the skipped part of an overlong one. */
  get pendingBytes(): number {
    return this.pending;
  }

  /**
   * Drop everything up to and including the next newline, never delivered: reading started inside a
   * line (its rest starts with text a client wrote, and read as a line could name anyone).
   */
  discardPartial(): void {
    this.resetHeld();
    this.discarding = true;
  }

  /**
   * Skip the NUL bytes before the next line, never delivered: after a copytruncate, a writer that
   * does not append (O_APPEND) writes on at its old offset and leaves the file a hole of NULs up to
   * there, which, read as the start of the first new line, made that line binary junk: skipped, lost.
   */
  skipLeadingNul(): void {
    if (this.pending === 0) this.skippingNul = true;
  }

  push(chunk: Buffer, onLine: (line: string, end: number) => void): void {
    if (this.skippingNul) {
      let i = 0;
      while (i < chunk.length && chunk[i] === 0) i++;
      this.committed += i;
      if (i === chunk.length) return;
      this.skippingNul = false;
      chunk = chunk.subarray(i);
    }
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      const lineBytes = this.pending + piece.length;
      if (this.discarding) {
        this.resetHeld();
        this.committed += lineBytes + 1;
        continue;
      }
      if (this.overlong || lineBytes > this.max) {
        if (!this.overlong) this.overlongLines++;
        this.hold(piece, false);
        const head = Buffer.concat(this.parts, this.held);
        this.resetHeld();
        onLine(decodeHead(head), this.committed + lineBytes + 1);
        this.committed += lineBytes + 1;
        continue;
      }
      let buf = piece;
      if (this.pending > 0) {
        this.parts.push(piece);
        buf = Buffer.concat(this.parts, lineBytes);
        this.resetHeld();
      }
      onLine(decodeLine(buf), this.committed + lineBytes + 1);
      this.committed += lineBytes + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0) return;
    if (this.discarding) {
      this.pending += rest.length;
      return;
    }
    if (!this.overlong && this.pending + rest.length > this.max) {
      // Too long already: keep its head, skip everything else up to the next newline.
      this.overlongLines++;
      this.overlong = true;
    }
    // Copy: the caller may reuse its read buffer.
    this.hold(rest, true);
    this.pending += rest.length;
  }

  /** Deliver a held partial line (the file will not grow any more); committed moves past it. */
  flushPartial(onLine: (line: string, end: number) => void): void {
    if (this.pending === 0) return;
    if (this.discarding) {
      this.committed += this.pending;
      this.resetHeld();
      return;
    }
    const wasOverlong = this.overlong;
    const buf = Buffer.concat(this.parts, this.held);
    const n = this.pending;
    this.resetHeld();
    onLine(wasOverlong ? decodeHead(buf) : decodeLine(buf), this.committed + n);
    this.committed += n;
  }

  /** Forget any held bytes and restart counting at offset (after a truncation). */
  reset(offset: number): void {
    this.resetHeld();
    this.committed = offset;
  }

  /** Holds as much of `b` as the cap leaves room for (a copy when `copy`, since chunks are reused). */
  private hold(b: Buffer, copy: boolean): void {
    const room = this.max - this.held;
    if (room <= 0 || b.length === 0) return;
    const take = b.length > room ? b.subarray(0, room) : b;
    this.parts.push(copy ? Buffer.from(take) : take);
    this.held += take.length;
  }

  private resetHeld(): void {
    this.parts = [];
    this.pending = 0;
    this.held = 0;
    this.overlong = false;
    this.discarding = false;
    this.skippingNul = false;
  }
}

function decodeLine(buf: Buffer): string {
  const end = buf.length > 0 && buf[buf.length - 1] === 0x0d ? buf.length - 1 : buf.length;
  return buf.toString('utf8', 0, end);
}

/** The head of an overlong line: cut back to the last whole UTF-8 character (no U+FFFD at the cut). */
function decodeHead(buf: Buffer): string {
  return buf.toString('utf8', 0, utf8Boundary(buf));
}

/** Length of `buf` without a multi-byte UTF-8 sequence left incomplete at its end. */
export function utf8Boundary(buf: Buffer): number {
  const n = buf.length;
  // A lead byte in the last three bytes whose sequence runs past the end starts the incomplete tail.
  for (let k = 1; k <= 3 && k <= n; k++) {
    const b = buf[n - k]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > k ? n - k : n;
  }
  return n;
}
