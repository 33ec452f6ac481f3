/**
 * Splits a byte stream (one file's content, fed in order) into lines, tracking byte offsets.
 *
 * Contract:
 * - push(chunk, onLine) calls onLine(line) for every complete line in order, without its "\n" and
 *   without one trailing "\r" (CRLF). Bytes are decoded as UTF-8 per line, so a multi-byte
 *   character split across chunks is never mangled.
 * - A partial last line (no newline yet) is held until completed; `committed` is the offset just
 *   past the last newline consumed, i.e. the position that is safe to save, and
 *   committed + pendingBytes is always the offset of the next byte to feed.
 * - A line longer than maxLineBytes is not buffered beyond the cap: its bytes are discarded up to the
 *   next newline, it is not delivered, and `overlongLines` counts it. Memory is bounded by the cap.
 * - flushPartial() hands over a held partial line (used when a file is finished for good).
 */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;

export class LineSplitter {
  /** Offset just past the last newline consumed. */
  committed: number;
  /** Number of lines dropped because they exceeded maxLineBytes. */
  overlongLines = 0;
  private readonly max: number;
  private parts: Buffer[] = [];
  private pending = 0;
  /** True while skipping the rest of an overlong line. */
  private discarding = false;

  constructor(startOffset = 0, maxLineBytes = DEFAULT_MAX_LINE_BYTES) {
    this.committed = startOffset;
    this.max = maxLineBytes;
  }

  /** Bytes consumed past `committed`: a held partial line, or the skipped part of an overlong one. */
  get pendingBytes(): number {
    return this.pending;
  }

  push(chunk: Buffer, onLine: (line: string) => void): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      const lineBytes = this.pending + piece.length;
      if (this.discarding || lineBytes > this.max) {
        if (!this.discarding) this.overlongLines++;
        this.discarding = false;
        this.resetHeld();
        this.committed += lineBytes + 1;
        continue;
      }
      let buf = piece;
      if (this.pending > 0) {
        this.parts.push(piece);
        buf = Buffer.concat(this.parts, lineBytes);
        this.resetHeld();
      }
      onLine(decodeLine(buf));
      this.committed += lineBytes + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0) return;
    if (this.discarding) {
      this.pending += rest.length;
      return;
    }
    if (this.pending + rest.length > this.max) {
      // Too long already: drop what is held and skip everything up to the next newline.
      this.overlongLines++;
      this.parts = [];
      this.pending += rest.length;
      this.discarding = true;
      return;
    }
    // Copy: the caller may reuse its read buffer.
    this.parts.push(Buffer.from(rest));
    this.pending += rest.length;
  }

  /** Deliver a held partial line (the file will not grow any more); committed moves past it. */
  flushPartial(onLine: (line: string) => void): void {
    if (this.pending === 0) return;
    const wasDiscarding = this.discarding;
    const buf = Buffer.concat(this.parts);
    const n = this.pending;
    this.resetHeld();
    this.discarding = false;
    if (!wasDiscarding) onLine(decodeLine(buf));
    this.committed += n;
  }

  /** Forget any held bytes and restart counting at offset (after a truncation). */
  reset(offset: number): void {
    this.resetHeld();
    this.discarding = false;
    this.committed = offset;
  }

  private resetHeld(): void {
    this.parts = [];
    this.pending = 0;
  }
}

function decodeLine(buf: Buffer): string {
  const end = buf.length > 0 && buf[buf.length - 1] === 0x0d ? buf.length - 1 : buf.length;
  return buf.toString('utf8', 0, end);
}
