/**
 * Finds which of many literals occur in a text in one pass (Aho–Corasick as a full DFA over ASCII,
 * folded as literals.ts folds: lower-case, `\` as `/`, `+` as a space). The prefilter builds one per
 * field (target, User-Agent, referer, request line) from the necessary literals of every enabled rule.
 *
 * scan() marks each found literal's id with the caller's generation number in `seen` (no allocation
 * per text), lists the ids it newly marked in `found`, and answers whether the text held something
 * it cannot judge (a character ≥ 128: RE2's case folding maps some to ASCII letters), in which case
 * every literal counts as found.
 */
import { foldCode } from './literals.js';

const SYMBOLS = 128;
const FOLD = Uint8Array.from({ length: SYMBOLS }, (_, c) => foldCode(c));

export class LiteralScanner {
  /**
   * delta[state * classes + class] → next state. A class per character some literal holds, and one
   * for every other character (which only ever leads back to the root): with a few dozen classes
   * instead of 128 symbols the table of a large literal set stays in cache.
   */
  private readonly delta: Int32Array;
  private readonly classes: number;
  /** The class of each ASCII character as read (folded first). */
  private readonly classOf: Uint8Array;
  /** Literal ids ending at each state (through suffix links): outputs[outStart[s] .. outStart[s + 1]). */
  private readonly outStart: Int32Array;
  private readonly outputs: Int32Array;
  /** 1 where a state has outputs: one byte read per character instead of two offsets. */
  private readonly hasOut: Uint8Array;

  /** `literals[i]` (folded, non-empty) gets id `ids[i]`. */
  constructor(literals: readonly string[], ids: readonly number[]) {
    // Class 0: every character no literal holds; then one class per character a literal holds.
    const classOfFolded = new Uint8Array(SYMBOLS);
    let classes = 1;
    for (const lit of literals) {
      for (let i = 0; i < lit.length; i++) {
        const c = lit.charCodeAt(i) & 0x7f;
        if (classOfFolded[c] === 0) classOfFolded[c] = classes++;
      }
    }
    this.classes = classes;
    this.classOf = Uint8Array.from({ length: SYMBOLS }, (_, c) => classOfFolded[FOLD[c]!]!);
    const goto: Map<number, number>[] = [new Map()];
    const out: number[][] = [[]];
    literals.forEach((lit, k) => {
      let s = 0;
      for (let i = 0; i < lit.length; i++) {
        const c = classOfFolded[lit.charCodeAt(i) & 0x7f]!;
        let n = goto[s]!.get(c);
        if (n === undefined) {
          n = goto.length;
          goto.push(new Map());
          out.push([]);
          goto[s]!.set(c, n);
        }
        s = n;
      }
      out[s]!.push(ids[k]!);
    });
    const n = goto.length;
    const delta = new Int32Array(n * classes);
    const fail = new Int32Array(n);
    const order: number[] = [];
    for (let c = 0; c < classes; c++) {
      const t = goto[0]!.get(c);
      if (t !== undefined) {
        delta[c] = t;
        fail[t] = 0;
        order.push(t);
      }
    }
    for (let q = 0; q < order.length; q++) {
      const s = order[q]!;
      out[s] = [...out[s]!, ...out[fail[s]!]!];
      for (let c = 0; c < classes; c++) {
        const t = goto[s]!.get(c);
        if (t !== undefined) {
          fail[t] = delta[fail[s]! * classes + c]!;
          delta[s * classes + c] = t;
          order.push(t);
        } else {
          delta[s * classes + c] = delta[fail[s]! * classes + c]!;
        }
      }
    }
    this.delta = delta;
    this.outStart = new Int32Array(n + 1);
    const flat: number[] = [];
    for (let s = 0; s < n; s++) {
      this.outStart[s] = flat.length;
      flat.push(...new Set(out[s]!));
    }
    this.outStart[n] = flat.length;
    this.outputs = Int32Array.from(flat);
    this.found = new Int32Array(new Set(ids).size);
    this.hasOut = new Uint8Array(n);
    for (let q = 0; q < n; q++) this.hasOut[q] = this.outStart[q + 1]! > this.outStart[q]! ? 1 : 0;
  }

  /** The ids newly marked by the last scan: found[0 .. foundCount). */
  readonly found: Int32Array;
  foundCount = 0;

  private mark(s: number, seen: Int32Array, gen: number): void {
    const outputs = this.outputs;
    for (let k = this.outStart[s]!, b = this.outStart[s + 1]!; k < b; k++) {
      const id = outputs[k]!;
      if (seen[id] !== gen) {
        seen[id] = gen;
        this.found[this.foundCount++] = id;
      }
    }
  }

  /** Marks found literal ids in `seen` with `gen`; returns true when the text holds a character ≥ 128. */
  scan(text: string, max: number, seen: Int32Array, gen: number): boolean {
    const delta = this.delta;
    const hasOut = this.hasOut;
    const classes = this.classes;
    const classOf = this.classOf;
    const end = text.length < max ? text.length : max;
    this.foundCount = 0;
    let s = 0;
    for (let i = 0; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c >= 128) return true;
      s = delta[s * classes + classOf[c]!]!;
      if (hasOut[s] === 1) this.mark(s, seen, gen);
    }
    return false;
  }

  /**
   * scan() over one more spelling of a text (prefilter.ts: every spelling of a target the rules
   * test), adding what it newly marks to found[foundCount …) (the caller's earlier scans stay).
   * Unlike scan(), a character ≥ 128 does not give up: the literals are ASCII (literals.ts keeps no
   * other), and of all other characters RE2's case folding maps only ſ (U+017F) to `s` and K
   * (U+212A, Kelvin) to `k` (checked over the whole BMP; V8's engine without the `u` flag maps none),
   * so those two are read as `s` and `k` and every other one as a character no literal holds. So one
   * `%ff` in a hostile target no longer makes every rule's literals count as found.
   */
  scanSpelling(text: string, seen: Int32Array, gen: number): void {
    const delta = this.delta;
    const hasOut = this.hasOut;
    const classes = this.classes;
    const classOf = this.classOf;
    const classS = classOf[115]!;
    const classK = classOf[107]!;
    const end = text.length;
    let s = 0;
    for (let i = 0; i < end; i++) {
      const c = text.charCodeAt(i);
      const k = c < 128 ? classOf[c]! : c === 0x17f ? classS : c === 0x212a ? classK : 0;
      s = delta[s * classes + k]!;
      if (hasOut[s] === 1) this.mark(s, seen, gen);
    }
  }

  /**
   * scan() for a request target, which the rules also test percent-decoded, with `//` as `/`, with
   * nginx's `\x5C` as `/`, without `;…` path parameters and (queries) without tabs and line breaks
   * (rule.ts): a `%`, two slashes in a row (`\` folds to `/`), a `\x`, a `;`, a tab or a line break
   * make it one the literals cannot judge (true).
   */
  scanTarget(text: string, max: number, seen: Int32Array, gen: number): boolean {
    const delta = this.delta;
    const hasOut = this.hasOut;
    const classes = this.classes;
    const classOf = this.classOf;
    const end = text.length < max ? text.length : max;
    this.foundCount = 0;
    let s = 0;
    let prev = 0;
    for (let i = 0; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c >= 128 || c === 37 || c === 59 || c === 9 || c === 10 || c === 13) return true;
      if (c === 92 && (text.charCodeAt(i + 1) | 32) === 120) return true;
      const f = FOLD[c]!;
      if (f === 47 && prev === 47) return true;
      prev = f;
      s = delta[s * classes + classOf[c]!]!;
      if (hasOut[s] === 1) this.mark(s, seen, gen);
    }
    return false;
  }
}
