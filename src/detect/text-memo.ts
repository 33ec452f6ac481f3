/**
 * A bounded memo of something worked out from one text alone (a request target, a request line, a
 * User-Agent): real logs repeat them (in a public Apache log of 10,000 lines, 1,733 distinct request
 * lines and 559 User-Agents), so the hot path asks a native Map, which hashes and compares in C++,
 * instead of walking the characters again in JavaScript.
 *
 * Only the text may decide the value: whatever a client sends, a hit answers exactly what working it
 * out would. Keys are flat copies (a kept slice would pin the read chunk it was cut from), taken only
 * when the copy is the same text: one with a character above U+00FF is never stored, since its
 * latin1 copy would be another text, which a client could then send to be answered for the first.
 * Texts longer than `maxLength` are not stored, and at `max` entries the memo starts again empty, so
 * its memory is bounded by max × maxLength characters whatever a flood of distinct texts does (each
 * then costs one lookup more than no memo).
 */
import { flatAscii } from '../parse/timestamp.js';

/** Longest text kept by default. */
export const MAX_MEMO_TEXT = 512;

export class TextMemo<V> {
  /** Each value with its key: a hit remembers the key, a flat copy, never the slice it was asked with. */
  private readonly map = new Map<string, { readonly key: string; readonly value: V }>();
  /** The last key found or stored, compared first (a page and its assets come in a burst). */
  private lastText = '';
  private lastValue: V | undefined;

  constructor(
    private readonly max: number,
    private readonly maxLength: number = MAX_MEMO_TEXT,
  ) {}

  /** The value stored for `text`, or undefined. */
  get(text: string): V | undefined {
    if (this.lastValue !== undefined && text === this.lastText) return this.lastValue;
    if (text.length > this.maxLength) return undefined;
    const e = this.map.get(text);
    if (e === undefined) return undefined;
    this.lastText = e.key;
    this.lastValue = e.value;
    return e.value;
  }

  /** Stores `value` (never undefined) for `text`, when the text can be kept. */
  set(text: string, value: V): void {
    if (text.length > this.maxLength) return;
    const key = flatAscii(text);
    if (key !== text) return;
    if (this.map.size >= this.max) this.map.clear();
    this.map.set(key, { key, value });
    this.lastText = key;
    this.lastValue = value;
  }

  get size(): number {
    return this.map.size;
  }
}
