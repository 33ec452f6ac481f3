/**
 * H21: IPv6 addresses whose SDBM hashes (APR's sdbm_hash: n = c + 65599·n mod 2^32) share chosen
 * low bits, as an attacker holding a prefix computes them: no brute force, a meet-in-the-middle
 * table of the hash of the last group. Every address is canonical (RFC 5952: eight groups of four
 * digits, none zero) and 38 bytes long: `2001:db8:<g3>:<g4>:<g5>:<g6>:gggg:hhhh`.
 */
const P = 65599;

/** APR's sdbm_hash of an ASCII string, continuing from `n`. */
export function sdbmHashOf(s: string, n = 0): number {
  for (let i = 0; i < s.length; i++) n = (s.charCodeAt(i) + Math.imul(n, P)) >>> 0;
  return n;
}

const hex4 = (i: number): string => (0x1000 + i).toString(16); // 1000..ffff: four digits, canonical

let table: Int32Array | null = null;
/** h(hhhh) mod 2^24 -> one hhhh index (-1: none); built once (64 MiB). */
function lastGroupTable(): Int32Array {
  if (table === null) {
    table = new Int32Array(1 << 24).fill(-1);
    for (let j = 0; j < 0xf000; j++) table[sdbmHashOf(hex4(j)) & 0xffffff] = j;
  }
  return table;
}

/**
 * For each 24-bit target, `per` distinct addresses under `prefix` (six groups and a colon) whose
 * hash has exactly those low 24 bits. Bounded: at most 0xf000 probes per group (a group may come
 * out short; ~225 addresses exist per target and prefix).
 */
export function collidingKeys(targets: readonly number[], per: number, prefix = '2001:db8:1111:2222:3333:4444:'): string[][] {
  const tab = lastGroupTable();
  let p4 = 1;
  for (let i = 0; i < 4; i++) p4 = Math.imul(p4, P) >>> 0;
  const base = sdbmHashOf(prefix);
  const head = Array.from({ length: 0xf000 }, (_, g) => Math.imul(sdbmHashOf(`${hex4(g)}:`, base), p4) >>> 0);
  const out: string[][] = [];
  let g = 0;
  for (const target of targets) {
    const keys: string[] = [];
    for (let tries = 0; keys.length < per && tries < 0xf000; tries++, g = (g + 1) % 0xf000) {
      const j = tab[(target - head[g]!) & 0xffffff]!;
      if (j >= 0) keys.push(`${prefix}${hex4(g)}:${hex4(j)}`);
    }
    out.push(keys);
  }
  return out;
}

/** `groups` groups of `per` addresses, each group on its own 24-bit hash value, spread over the tree. */
export function collidingGroups(groups: number, per: number, prefix?: string): string[][] {
  return collidingKeys(Array.from({ length: groups }, (_, i) => Math.imul(i + 1, 0x9e3779b1) >>> 8), per, prefix);
}
