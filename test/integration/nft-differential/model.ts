/**
 * Helper H36: the pieces of the nftables differential test (differential.test.ts): a seeded PRNG, a
 * model of what the kernel must hold (the ban book's view: target → until), an independent reader of
 * `nft -j list table` (not the enforcer's own parser), and the comparison of the two.
 *
 * Test addresses only: 198.18.0.0/15 and 2001:db8::/32.
 */
import ipaddr from 'ipaddr.js';
import { rng } from '../../support/random.js';

/** The tests' seeded PRNG (test/support/random.ts: mulberry32, the same sequence for the same seed). */
export const prng = rng;

export type SetName = 'addr4' | 'addr6' | 'net4' | 'net6';

export interface Target {
  /** The set the target belongs in. */
  readonly set: SetName;
  /** Canonical text (independent of src/parse/ip.ts): an address, or network/prefix with host bits cleared. */
  readonly key: string;
  readonly family: 4 | 6;
  /** For networks: first and last address as bigints (overlap tests). */
  readonly lo: bigint;
  readonly hi: bigint;
}

const toBig = (a: ipaddr.IPv4 | ipaddr.IPv6): bigint => {
  let v = 0n;
  for (const b of a.toByteArray()) v = (v << 8n) | BigInt(b);
  return v;
};

/** Canonical text of an address as this test reads it (IPv6 in RFC 5952 form; an IPv4-mapped spelling stays IPv6). */
export function canonAddr(raw: string): { text: string; family: 4 | 6; value: bigint } {
  const a = ipaddr.parse(raw);
  if (a.kind() === 'ipv4') return { text: a.toString(), family: 4, value: toBig(a) };
  const v6 = a as ipaddr.IPv6;
  return { text: v6.toRFC5952String(), family: 6, value: toBig(v6) };
}

/** A ban's target as the model keeps it. IPv4-mapped IPv6 spellings are never generated as bans. */
export function target(raw: string): Target {
  if (!raw.includes('/')) {
    const c = canonAddr(raw);
    return { set: c.family === 4 ? 'addr4' : 'addr6', key: c.text, family: c.family, lo: c.value, hi: c.value };
  }
  const [addr, len] = ipaddr.parseCIDR(raw);
  const family = addr.kind() === 'ipv4' ? 4 : 6;
  const bits = family === 4 ? 32 : 128;
  const net = family === 4 ? ipaddr.IPv4.networkAddressFromCIDR(raw) : ipaddr.IPv6.networkAddressFromCIDR(raw);
  const c = canonAddr(net.toString());
  if (len === bits) return { set: family === 4 ? 'addr4' : 'addr6', key: c.text, family, lo: c.value, hi: c.value };
  const size = 1n << BigInt(bits - len);
  return { set: family === 4 ? 'net4' : 'net6', key: `${c.text}/${len}`, family, lo: c.value, hi: c.value + size - 1n };
}

export const overlaps = (a: Target, b: Target): boolean => a.set === b.set && a.lo <= b.hi && b.lo <= a.hi;

export interface HeldElement {
  readonly set: string;
  /** Canonical key (as target() makes it); a range `a-b`; or `?<json>` for a form this reader does not know. */
  readonly key: string;
  /** Seconds left (nft's `expires`), or null without timeout. */
  readonly expiresS: number | null;
}

/** Every element of every set of `table` from `nft -j list table inet <table>` (independent reader). */
export function readTable(json: string): { sets: Set<string>; elements: HeldElement[] } {
  const parsed = JSON.parse(json) as { nftables?: Record<string, unknown>[] };
  const sets = new Set<string>();
  const elements: HeldElement[] = [];
  for (const o of parsed.nftables ?? []) {
    const s = o['set'] as { name: string; elem?: unknown[] } | undefined;
    if (!s) continue;
    sets.add(s.name);
    for (const e of s.elem ?? []) {
      let val: unknown = e;
      let expiresS: number | null = null;
      if (e !== null && typeof e === 'object' && 'elem' in e) {
        const inner = (e as { elem: Record<string, unknown> }).elem;
        val = inner['val'];
        if (typeof inner['expires'] === 'number') expiresS = inner['expires'];
        else if (typeof inner['timeout'] === 'number') expiresS = inner['timeout'];
      }
      elements.push({ set: s.name, key: keyOf(val), expiresS });
    }
  }
  return { sets, elements };
}

function keyOf(val: unknown): string {
  try {
    if (typeof val === 'string') return canonAddr(val).text;
    const p = (val as { prefix?: { addr: string; len: number } }).prefix;
    if (p) {
      const c = canonAddr(p.addr);
      const bits = c.family === 4 ? 32 : 128;
      return p.len === bits ? c.text : `${c.text}/${p.len}`;
    }
    const r = (val as { range?: [string, string] }).range;
    if (r) return `${canonAddr(r[0]).text}-${canonAddr(r[1]).text}`;
  } catch {
    // fall through
  }
  return `?${JSON.stringify(val)}`;
}

export interface ModelBan {
  readonly t: Target;
  /** The text handed to the enforcer (maybe another spelling of t.key). */
  readonly raw: string;
  readonly until: number | null;
  /**
   * How long past `until` the kernel may hold it (ms): the enforcer computes a timeout when a call
   * starts and the kernel counts it from the commit, so it ends up to that call's duration later.
   */
  readonly lag: number;
}

/** Kernel timeout cap (nft-args.ts MAX_NFT_TIMEOUT_MS: 20 days). */
export const CAP_MS = 20 * 86_400_000;
const CAPPED_SLACK_MS = 12 * 3_600_000;

/**
 * Differences between the kernel and the model at `now`: every difference is one line. An entry
 * whose expiry is within `fuzzMs` of now may or may not be held. Timeouts are compared ±tolMs.
 */
export function compare(
  held: readonly HeldElement[],
  model: ReadonlyMap<string, ModelBan>,
  now: number,
  opts: { fuzzMs?: number; tolMs?: number } = {},
): string[] {
  const fuzz = opts.fuzzMs ?? 1500;
  const tol = opts.tolMs ?? 2000;
  const out: string[] = [];
  const seen = new Map<string, HeldElement>();
  for (const h of held) {
    const id = `${h.set} ${h.key}`;
    if (seen.has(id)) out.push(`duplicate element ${id}`);
    seen.set(id, h);
    const m = model.get(id);
    if (!m) {
      out.push(`FRAMING: kernel holds ${id} (expires ${h.expiresS}) that the book does not ban`);
      continue;
    }
    if (m.until !== null && m.until + m.lag - now < -fuzz) {
      out.push(`FRAMING: kernel holds ${id} (expires ${h.expiresS}) whose ban ended ${now - m.until} ms ago`);
      continue;
    }
    if (m.until !== null && m.until - now <= fuzz && m.until + m.lag - now >= -fuzz) continue;
    if (m.until === null) {
      if (h.expiresS !== null) out.push(`TIMEOUT: ${id} is permanent in the book, kernel expires it in ${h.expiresS}s`);
      continue;
    }
    const want = Math.min(m.until - now, CAP_MS);
    if (h.expiresS === null) out.push(`TIMEOUT: ${id} expires in ${want} ms in the book, kernel holds it permanently`);
    else if (m.until - now > CAP_MS) {
      // Capped at 20 days when written; the daemon re-applies every 6 h, so cap - 12 h up to the cap is right.
      if (h.expiresS * 1000 > CAP_MS + tol || h.expiresS * 1000 < CAP_MS - CAPPED_SLACK_MS) out.push(`TIMEOUT: ${id} is past the cap in the book, kernel expires it in ${h.expiresS}s`);
    } else if (h.expiresS * 1000 - want > tol + m.lag || want - h.expiresS * 1000 > tol) out.push(`TIMEOUT: ${id} expires in ${want} ms in the book, kernel in ${h.expiresS}s`);
  }
  for (const [id, m] of model) {
    if (seen.has(id)) continue;
    if (m.until !== null && m.until - now <= fuzz) continue;
    out.push(`ESCAPE: book bans ${id} (until ${m.until === null ? 'forever' : `${m.until - now} ms from now`}), kernel does not hold it`);
  }
  return out;
}
