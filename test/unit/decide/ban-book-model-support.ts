/**
 * The ban book's model test's fixtures and checks (ban-book-model.test.ts; also the review of own bans
 * kept under adopted ones, test/unit/under-review/ban-book-under-model.test.ts): addresses, networks,
 * scopes and rules the sequences draw from, the book's answers and private indexes recomputed from its
 * bans, and a model kernel told each change once.
 */
import { expect } from 'vitest';
import { futureLeadOf } from '../../../src/detect/sliding-window.js';
import ipaddr from 'ipaddr.js';
import { BanBook, type Ban, type KernelDiff } from '../../../src/decide/ban-book.js';
import type { RuleSettings } from '../../../src/detect/rule.js';
import { evidenceBytes } from '../../../src/decide/evidence.js';
import { scopedKey } from '../../../src/decide/scoped-key.js';
import { canonicalTarget, isNetwork } from '../../../src/parse/ip.js';
import { PRESETS } from '../../../src/detect/presets.js';

export const M = 60_000;
export const RULES: Record<string, RuleSettings> = {
  forbidden: { ...PRESETS.forbidden!, bantime: 10 * M, increment: { factor: 2, maxtime: 60 * M } } as RuleSettings,
  'not-found': { ...PRESETS['not-found']!, bantime: 7 * M, increment: null },
  forever: { ...PRESETS.forbidden!, bantime: Number.POSITIVE_INFINITY, increment: null },
};
export const ADDRESSES = ['198.18.0.1', '198.18.0.2', '198.18.1.7', '2001:db8::1', '2001:db8:1::9'];
export const NETWORKS = ['198.18.1.0/24', '198.18.1.0/25', '198.18.0.0/16', '2001:db8:1::/48', '2001:db8::/40'];
export const C1 = 'a'.repeat(64);
export const C2 = 'b'.repeat(64);
export const SCOPES = [undefined, C1, C2];
export const ALL_RULES = ['forbidden', 'not-found', 'forever', 'manual', 'never-configured'];

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const covers = (net: string, ip: string): boolean => {
  const a = ipaddr.parse(ip);
  const [n, p] = ipaddr.parseCIDR(net);
  return a.kind() === n.kind() && a.match(n, p);
};
/** Does the network ban `net` hold all of `target`: an address in it, or a narrower network in it (review H51)? */
export const holdsAll = (net: string, target: string): boolean => {
  if (!isNetwork(target)) return covers(net, target);
  const [addr, prefix] = target.split('/');
  return Number(net.split('/')[1]) < Number(prefix) && covers(net, addr!);
};
export const live = (b: Ban, now: number): boolean => b.until === null || b.until > now;
export const norm = (b: Ban): string => JSON.stringify([b.ip, b.rule, b.scope ?? null, b.at, b.until, b.nth, b.manual, b.from ?? null]);
export const kernelOf = (bans: readonly { ip: string; scope?: string | undefined; until: number | null }[]): Map<string, number | null> =>
  new Map(bans.map((e) => [scopedKey(e.ip, e.scope), e.until]));

/** The book's private indexes (read only, to check they agree with its bans). */
export interface Internals {
  bans: Map<string, Ban>;
  bansOfAddress: Map<string, Ban | Map<string, Ban>>;
  networkBans: Map<string, Set<string>>;
  holders: Map<string, { bytes: number }>;
  ended: Map<number, Ban>;
  held: Map<string, unknown>;
}

export function checkIndexes(book: BanBook): void {
  const x = book as unknown as Internals;
  let indexed = 0;
  for (const [a, held] of x.bansOfAddress) {
    if (held instanceof Map) {
      expect(held.size, `several bans of ${a} kept as one`).toBeGreaterThanOrEqual(2);
      indexed += held.size;
    } else indexed++;
  }
  expect(indexed, 'bans in the address index').toBe(x.bans.size);
  for (const [k, b] of x.bans) {
    const held = x.bansOfAddress.get(scopedKey(b.ip, b.scope));
    const found = held instanceof Map ? held.get(b.rule) : held;
    expect(found, `index of ${k}`).toBe(b);
    if (isNetwork(b.ip)) expect(x.networkBans.get(b.ip)?.has(k), `network keys of ${k}`).toBe(true);
  }
  for (const [net, keys] of x.networkBans) {
    expect(keys.size).toBeGreaterThan(0);
    for (const k of keys) expect(x.bans.get(k)?.ip, `network ${net} key ${k}`).toBe(net);
  }
  // The active-bans gauge counts what the enforcer was told to hold.
  const counts = { v4: 0, v6: 0 };
  for (const k of x.held.keys()) counts[k.split(' ')[0]!.includes(':') ? 'v6' : 'v4']++;
  expect(book.heldCounts(), 'held per family').toEqual(counts);
  // Evidence accounting: what is held is exactly the lines of the bans and ended bans that hold any.
  let bytes = 0;
  for (const b of x.bans.values()) bytes += evidenceBytes(b.evidence);
  for (const e of x.ended.values()) bytes += evidenceBytes(e.evidence);
  expect(book.evidenceBytes, 'evidence bytes held').toBe(bytes);
}

export function checkAnswers(book: BanBook, now: number, logTime: boolean): void {
  const active = book.active(now);
  for (const ip of [...ADDRESSES, ...NETWORKS]) {
    for (const scope of SCOPES) {
      const mine = active.filter((b) => b.ip === ip && b.scope === scope);
      for (const rule of ALL_RULES) {
        // With log time a ban also covers the lines a rule's window takes as late (futureLeadOf its findtime).
        const lead = Object.hasOwn(RULES, rule) ? futureLeadOf(RULES[rule]!.findtime) : 0;
        const want = mine.some((b) => b.rule === rule && (!logTime || b.at <= now + lead));
        expect(book.isBanned(ip, rule, now, scope), `isBanned ${ip} ${rule} ${scope ?? ''}`).toBe(want);
      }
      const want = mine.length === 0 ? undefined : mine.some((b) => b.until === null) ? null : Math.max(...mine.map((b) => b.until!));
      expect(book.effectiveUntil(ip, now, scope), `effectiveUntil ${ip} ${scope ?? ''}`).toBe(want);
    }
  }
  const model = new Map<string, number | null>();
  for (const b of active) {
    const k = scopedKey(b.ip, b.scope);
    const prev = model.get(k);
    if (prev === null || (prev !== undefined && b.until !== null && b.until <= prev)) continue;
    model.set(k, b.until);
  }
  expect(kernelOf(book.expected(now))).toEqual(model);
  for (const ip of [...ADDRESSES, ...NETWORKS]) {
    const about = book.about(canonicalTarget(ip)!, now).active.map(norm).sort();
    const want = active.filter((b) => b.ip === ip || (isNetwork(b.ip) && holdsAll(b.ip, ip))).map(norm).sort();
    expect(about, `about ${ip}`).toEqual(want);
  }
}

/** A model of the enforcer: what it holds, told by changes(); each change must be news to it. */
export class Kernel {
  readonly held = new Map<string, number | null>();
  /** Keys of a diff that failed (requeued): the book cannot know what the kernel holds for them. */
  private readonly unknown = new Set<string>();

  apply(d: KernelDiff, now: number): void {
    for (const e of d.unban) {
      const k = scopedKey(e.ip, e.scope);
      if (!this.unknown.has(k)) expect(this.held.has(k), `unban of ${k}, which the enforcer does not hold`).toBe(true);
      this.held.delete(k);
      this.unknown.delete(k);
    }
    for (const e of d.ban) {
      const k = scopedKey(e.ip, e.scope);
      if (!this.unknown.has(k)) expect(this.held.get(k), `ban of ${k} as already held`).not.toBe(e.until);
      expect(e.until === null || e.until > now, `ban of ${k} that has already ended`).toBe(true);
      this.held.set(k, e.until);
      this.unknown.delete(k);
    }
  }

  failed(d: KernelDiff): void {
    for (const e of [...d.ban, ...d.unban]) this.unknown.add(scopedKey(e.ip, e.scope));
  }

  /** What it drops now (its own timeouts end timed entries). */
  dropping(now: number): Map<string, number | null> {
    return new Map([...this.held].filter(([, u]) => u === null || u > now));
  }
}
