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
/** scanTarget()'s marks in targetClassOf, above every class (a class is below SYMBOLS + 1). */
const BACKSLASH = 253;
const SLASH = 254;
const UNJUDGED = 255;

export class LiteralScanner {
  /**
   * The automaton's moves, scaled: next[o + class], where o is a state's offset (state × classes),
   * is the offset of the state reached, or its bitwise complement (negative) when that state ends a
   * literal. A class per character some literal holds, and one for every other character (which only
   * ever leads back to the root): with a few dozen classes instead of 128 symbols the table of a
   * large literal set stays in cache. Scaled and flagged, a character costs two table reads and a
   * sign test (half the time of a multiply and a separate output table, measured over 8 KB targets).
   */
  private readonly next: Int32Array;
  private readonly classes: number;
  /** The class of each ASCII character as read (folded first). */
  private readonly classOf: Uint8Array;
  /**
   * The same for scanTarget(), with the characters that make a target one the literals cannot judge
   * marked: UNJUDGED (`%`, `;`, tab, line breaks), SLASH (`/`) and BACKSLASH (`\`, which folds to `/`
   * and may start `\x5C`).
   */
  private readonly targetClassOf: Uint8Array;
  /** Literal ids ending at each state (through suffix links): outputs[outStart[s] .. outStart[s + 1]). */
  private readonly outStart: Int32Array;
  private readonly outputs: Int32Array;

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
    const next = new Int32Array(n * classes);
    this.outStart = new Int32Array(n + 1);
    const flat: number[] = [];
    for (let q = 0; q < n; q++) {
      this.outStart[q] = flat.length;
      flat.push(...new Set(out[q]!));
    }
    this.outStart[n] = flat.length;
    for (let i = 0; i < next.length; i++) {
      const t = delta[i]!;
      next[i] = this.outStart[t + 1]! > this.outStart[t]! ? ~(t * classes) : t * classes;
    }
    this.next = next;
    this.outputs = Int32Array.from(flat);
    this.found = new Int32Array(new Set(ids).size);
    this.targetClassOf = Uint8Array.from(this.classOf);
    for (const c of [37, 59, 9, 10, 13]) this.targetClassOf[c] = UNJUDGED;
    this.targetClassOf[47] = SLASH;
    this.targetClassOf[92] = BACKSLASH;
  }

  /** The ids newly marked by the last scan: found[0 .. foundCount). */
  readonly found: Int32Array;
  foundCount = 0;

  /** Marks the literals ending at the state of offset `o` (next's scale). */
  private mark(o: number, seen: Int32Array, gen: number): void {
    const s = (o / this.classes) | 0;
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
    const next = this.next;
    const classOf = this.classOf;
    const end = text.length < max ? text.length : max;
    this.foundCount = 0;
    let o = 0;
    for (let i = 0; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c >= 128) return true;
      o = next[o + classOf[c]!]!;
      if (o < 0) this.mark((o = ~o), seen, gen);
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
    const next = this.next;
    const classOf = this.classOf;
    const classS = classOf[115]!;
    const classK = classOf[107]!;
    const end = text.length;
    let o = 0;
    for (let i = 0; i < end; i++) {
      const c = text.charCodeAt(i);
      o = next[o + (c < 128 ? classOf[c]! : c === 0x17f ? classS : c === 0x212a ? classK : 0)]!;
      if (o < 0) this.mark((o = ~o), seen, gen);
    }
  }

  /**
   * scan() for a request target, which the rules also test percent-decoded, with `//` as `/`, with
   * nginx's `\x5C` as `/`, without `;…` path parameters and (queries) without tabs and line breaks
   * (rule.ts): a `%`, two slashes in a row (`\` folds to `/`), a `\x`, a `;`, a tab or a line break
   * make it one the literals cannot judge (true).
   */
  scanTarget(text: string, max: number, seen: Int32Array, gen: number): boolean {
    const next = this.next;
    const classOf = this.targetClassOf;
    const slash = this.classOf[47]!;
    const end = text.length < max ? text.length : max;
    this.foundCount = 0;
    let o = 0;
    let afterSlash = false;
    for (let i = 0; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c >= 128) return true;
      let k = classOf[c]!;
      if (k >= BACKSLASH) {
        // Two slashes in a row (`\` folds to `/`), `\x`, or a character of UNJUDGED.
        if (k === UNJUDGED || afterSlash) return true;
        if (k === BACKSLASH && (text.charCodeAt(i + 1) | 32) === 120) return true;
        afterSlash = true;
        k = slash;
      } else afterSlash = false;
      o = next[o + k]!;
      if (o < 0) this.mark((o = ~o), seen, gen);
    }
    return false;
  }
}
