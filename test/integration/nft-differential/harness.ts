/**
 * Helper H36: one seeded run of the nftables differential test. Drives a real NftablesEnforcer (CIDR
 * bans on) in a network namespace the caller made, with a random sequence of bans, unbans, expiries,
 * re-bans, batches, restarts and drift made with `nft`, and after each step compares what the kernel
 * holds (`nft -j list table`, read by model.ts, not by the enforcer) with the model of the ban book.
 *
 * Bounded: at most `ops` steps and none started after `deadline`, each with bounded waits (at most
 * ~1.8 s of sleep), every nft run under the runner's timeout.
 */
import type { Runner } from '../../../src/exec/runner.js';
import type { EnforcerBan, RefusedEntry } from '../../../src/enforce/enforcer.js';
import { NftablesEnforcer, type NftablesEnforcerOptions } from '../../../src/enforce/nftables.js';
import { canonAddr, compare, overlaps, prng, readTable, target, type ModelBan, type SetName, type Target } from './model.js';

export interface SeedResult {
  readonly seed: number;
  /** Empty when the kernel matched the model after every step. */
  readonly failures: string[];
  /** The steps taken (for reproducing a failure). */
  readonly log: string[];
  readonly ms: number;
  /** Steps taken (fewer than asked when the deadline came first). */
  readonly steps: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSeed(seed: number, ns: Runner, opts: { ops?: number; deadline?: number } = {}): Promise<SeedResult> {
  const t0 = Date.now();
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number) => rnd() < p;
  const instance = `dif${seed}`;
  const table = `banhammer_${instance}`;
  const eopts: NftablesEnforcerOptions = {
    runner: ns,
    instance,
    ports: [80, 443],
    cidr: true,
    elementCheckIntervalMs: 0,
    // Every third seed: small transactions, several in flight (chunking, isolation across chunks).
    ...(seed % 3 === 0 ? { batchElements: 9, parallel: 2 } : {}),
  };
  const log: string[] = [];
  const failures: string[] = [];
  const model = new Map<string, ModelBan>();
  const id = (t: Target) => `${t.set} ${t.key}`;
  const nft = (input: string) => ns.run('nft', ['-f', '-'], { input, okExitCodes: [0, 1] });

  // ---- generators (test ranges only) ----
  const hex = (n: number) => n.toString(16);
  const v4a = () => `198.18.${int(4)}.${1 + int(12)}`;
  const v6a = () => {
    const g = int(4);
    const h = 1 + int(12);
    // Other spellings of the same address: the enforcer canonicalises, the kernel holds one.
    return pick([`2001:db8:${g}::${hex(h)}`, `2001:DB8:${g}::${hex(h).toUpperCase()}`, `2001:0db8:000${g}:0:0:0:0:${hex(h)}`]);
  };
  const V4N = [
    ...[0, 1, 2, 3].map((i) => `198.18.${i}.0/24`),
    '198.18.0.0/22', '198.18.0.0/23', '198.18.2.0/23', '198.18.1.7/24',
    ...[0, 1, 2].flatMap((i) => [0, 16, 64].map((j) => `198.18.${i}.${j}/28`)),
    '198.19.0.0/16', '198.19.1.0/24', '198.19.2.0/24', '198.18.3.128/25', '198.18.3.0/31',
  ];
  const V6N = [
    ...[0, 1, 2, 3].map((i) => `2001:db8:${i}::/64`),
    '2001:db8::/46', '2001:db8:1::/48', '2001:db8:2::/48', '2001:db8:1::/56', '2001:db8:2::5/64',
    ...[1, 2, 3].map((j) => `2001:db8:0:${j}::/64`), '2001:db8:3:8000::/65', '2001:db8:3::/127',
  ];
  const anyTarget = () => (chance(0.6) ? (chance(0.5) ? v4a() : v6a()) : chance(0.5) ? pick(V4N) : pick(V6N));
  const until = (now: number): number | null => {
    const k = int(10);
    if (k < 3) return now + 800 + int(1700); // expires during the run (kernel timeout, agent's lifting)
    if (k < 6) return now + 20_000 + int(600_000);
    if (k < 8) return null;
    if (k < 9) return now + 30 * 86_400_000 + int(86_400_000); // past the 20-day cap
    return now + 3_600_000;
  };
  const famOf = (raw: string): 4 | 6 => (raw.includes(':') ? 6 : 4);

  let e = new NftablesEnforcer(eopts);
  await e.init();

  /**
   * The ban book in front of the enforcer: a network overlapping another network it keeps is refused
   * (skipped here), or, as when one is lifted while the other is banned in the same turn, sent with
   * the unban of the ones it overlaps. A network that ended but was not lifted yet is lifted with it.
   * Candidates are taken in order, so two overlapping networks of one batch never both go.
   */
  const bookBatch = (cands: EnforcerBan[], unban: { ip: string; family: 4 | 6 }[]): { ban: EnforcerBan[]; unban: { ip: string; family: 4 | 6 }[]; notes: string[] } => {
    const now = Date.now();
    const lifted = new Set(unban.map((u) => id(target(u.ip))));
    const taken = new Map<string, Target>();
    const ban: EnforcerBan[] = [];
    const notes: string[] = [];
    for (const b of cands) {
      const t = target(b.ip);
      if (t.set === 'net4' || t.set === 'net6') {
        const others = [...[...model.values()].filter((m) => !lifted.has(id(m.t))).map((m) => ({ t: m.t, ended: m.until !== null && m.until <= now })), ...[...taken.values()].map((x) => ({ t: x, ended: false }))]
          .filter((o) => id(o.t) !== id(t) && overlaps(o.t, t));
        const active = others.filter((o) => !o.ended);
        if (active.some((o) => taken.has(id(o.t))) || (active.length > 0 && chance(0.5))) {
          notes.push(`book refuses ${t.key} (overlaps ${active.map((o) => o.t.key).join(', ')})`);
          continue;
        }
        for (const o of others) {
          lifted.add(id(o.t));
          unban.push({ ip: o.t.key, family: o.t.family });
        }
      }
      taken.set(id(t), t);
      ban.push(b);
    }
    return { ban, unban, notes };
  };

  /** The model applies a batch as the enforcer must (unbans first, then bans; the last word per target wins). */
  const applyBatch = async (cands: EnforcerBan[], unbanIn: { ip: string; family: 4 | 6 }[], what: string, opts: { strays?: readonly Target[] } = {}): Promise<void> => {
    const { ban, unban, notes } = bookBatch(cands, [...unbanIn]);
    log.push(`${what}: ban [${ban.map((b) => `${b.ip}@${b.until === null ? 'perm' : b.until - Date.now()}`).join(' ')}] unban [${unban.map((u) => u.ip).join(' ')}]`);
    for (const n of notes) log.push(`  ${n}`);
    const started = Date.now();
    const r = await e.apply({ ban, unban });
    const now = Date.now();
    const lag = now - started;
    for (const u of unban) model.delete(id(target(u.ip)));
    for (const b of ban) {
      const t = target(b.ip);
      // One that ended meanwhile stays as ended (the kernel may hold it for `lag` more).
      if (b.until !== null && b.until <= started) model.delete(id(t));
      else model.set(id(t), { t, raw: b.ip, until: b.until, lag });
    }
    checkRefused(r.refused, opts.strays ?? []);
  };

  /**
   * The book never hands the enforcer two overlapping networks, so a refusal poisons a ban; except
   * beside a stray network someone wrote into our set (strays: the next check must fix it all).
   */
  const checkRefused = (refused: readonly RefusedEntry[], strays: readonly Target[]): void => {
    for (const r of refused) {
      // Only a network overlapping the stray itself, isolated (never "not tried"), may be refused.
      const beside = strays.find((x) => overlaps(x, target(r.ip)));
      if (beside !== undefined && /overlap|conflicting/i.test(r.reason) && !/not tried/.test(r.reason)) log.push(`  refused ${r.ip} beside the stray ${beside.key} (${r.reason}): the check must add it`);
      else failures.push(`POISON: ${r.ip} refused (${r.reason})`);
    }
  };

  const expected = (): EnforcerBan[] => {
    const now = Date.now();
    return [...model.values()].filter((m) => m.until === null || m.until > now).map((m) => ({ ip: m.raw, family: m.t.family, until: m.until }));
  };

  const verify = async (step: string): Promise<boolean> => {
    const r = await ns.run('nft', ['-j', 'list', 'table', 'inet', table], { okExitCodes: [0, 1] });
    if (r.code !== 0) {
      failures.push(`after ${step}: table ${table} is missing (${r.stderr.trim()})`);
      return false;
    }
    const { sets, elements } = readTable(r.stdout);
    for (const s of ['addr4', 'addr6', 'net4', 'net6']) if (!sets.has(s)) failures.push(`after ${step}: set ${s} is missing`);
    const diffs = compare(elements, model, Date.now());
    for (const d of diffs) failures.push(`after ${step}: ${d}`);
    return failures.length === 0;
  };

  /** After a call that may have rewritten any element (check, restart): each may now end up to its duration late. */
  const widenLag = (ms: number): void => {
    for (const [k, m] of model) if (m.lag < ms) model.set(k, { ...m, lag: ms });
  };
  const timed = async <T>(fn: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    try {
      return await fn();
    } finally {
      widenLag(Date.now() - t);
    }
  };

  /** No ban ends within 3 s of now (nor ended less than 3 s ago, lag included): a check must find nothing to do. */
  const quietNow = (): boolean => [...model.values()].every((m) => m.until === null || m.until - Date.now() > 3000 || m.until + m.lag < Date.now() - 3000);

  const ops = opts.ops ?? 30;
  let steps = 0;
  try {
    for (let step = 0; step < ops; step++, steps++) {
      // Bounded in time as well (a loaded machine): the steps not taken are said, never failed.
      if (opts.deadline !== undefined && Date.now() > opts.deadline) {
        log.push(`stopped after ${step} steps: time budget spent`);
        break;
      }
      // Bans that ended long enough ago that no kernel may still hold them leave the model.
      for (const [k, m] of model) if (m.until !== null && m.until < Date.now() - 5000) model.delete(k);
      const k = int(100);
      let what: string;
      if (k < 24) {
        what = 'ban';
        const raw = anyTarget();
        await applyBatch([{ ip: raw, family: famOf(raw), until: until(Date.now()) }], [], what);
      } else if (k < 35) {
        what = 'unban';
        const held = [...model.values()];
        // The book unbans what it holds; an address it does not hold may still be asked for (no harm).
        const raw = held.length > 0 && chance(0.75) ? pick(held).raw : chance(0.5) ? v4a() : v6a();
        await applyBatch([], [{ ip: raw, family: famOf(raw) }], what);
      } else if (k < 46) {
        what = 're-ban';
        const held = [...model.values()];
        if (held.length === 0) continue;
        const m = pick(held);
        await applyBatch([{ ip: m.raw, family: m.t.family, until: until(Date.now()) }], [], what);
      } else if (k < 53) {
        what = 'batch';
        const ban: EnforcerBan[] = [];
        const n = 10 + int(90);
        for (let i = 0; i < n; i++) {
          const raw = chance(0.15)
            ? anyTarget()
            : chance(0.5)
              ? `198.18.${16 + int(16)}.${int(256)}`
              : `2001:db8:${hex(16 + int(16))}::${hex(1 + int(0xffff))}`;
          ban.push({ ip: raw, family: famOf(raw), until: until(Date.now()) });
        }
        const unban = [...model.values()].filter(() => chance(0.2)).map((m) => ({ ip: m.raw, family: m.t.family }));
        await applyBatch(ban, unban, what);
      } else if (k < 63) {
        what = 'wait+expire';
        const ms = 700 + int(1100);
        log.push(`${what}: sleep ${ms} ms`);
        await sleep(ms);
        const now = Date.now();
        const due = [...model.values()].filter((m) => m.until !== null && m.until <= now);
        // The agent lifts some itself (an unban); the others are left to the kernel's own timeout.
        // (The ones left stay in the model as ended: the kernel may hold them a few ms past their end.)
        const lifted = due.filter(() => chance(0.5));
        if (lifted.length > 0) await applyBatch([], lifted.map((m) => ({ ip: m.raw, family: m.t.family })), 'agent lifts expired');
      } else if (k < 68) {
        what = 'restart';
        const full = chance(0.5);
        log.push(`${what} (${full ? 'init + re-apply every ban' : 'init + check'})`);
        e = new NftablesEnforcer(eopts);
        await e.init();
        if (full) {
          const r = await timed(() => e.apply({ ban: expected(), unban: [] }));
          checkRefused(r.refused, []);
        } else await timed(() => e.check(expected));
      } else if (k < 90) {
        const kinds = ['delete-element', 'flush-set', 'delete-table', 'stray-addr', 'stray-mapped', 'stray-net', 'stray-range', 'stray-mapped-net', 'wrong-timeout', 'flush-chain'] as const;
        const kind = pick(kinds);
        what = `drift ${kind}`;
        const held = [...model.values()].filter((m) => m.until === null || m.until - Date.now() > 2500);
        const T = `inet ${table}`;
        let script = '';
        let stray: Target | undefined;
        switch (kind) {
          case 'delete-element': {
            if (held.length === 0) continue;
            const m = pick(held);
            script = `delete element ${T} ${m.t.set} { ${m.t.key} }`;
            break;
          }
          case 'flush-set':
            script = `flush set ${T} ${pick<SetName>(['addr4', 'addr6', 'net4', 'net6'])}`;
            break;
          case 'delete-table':
            script = `delete table ${T}`;
            break;
          case 'stray-addr': {
            const raw = chance(0.5) ? v4a() : v6a();
            if (model.has(id(target(raw)))) continue;
            script = `add element ${T} ${target(raw).set} { ${raw}${chance(0.5) ? ` timeout ${1 + int(100)}m` : ''} }`;
            break;
          }
          case 'stray-mapped':
            script = `add element ${T} addr6 { ::ffff:198.18.${int(4)}.${1 + int(12)} }`;
            break;
          case 'stray-net': {
            // Sometimes a wide one (taken only where the set is empty, or holds nothing inside it).
            const raw = chance(0.3) ? pick(['198.18.0.0/15', '2001:db8::/32']) : chance(0.5) ? pick(V4N) : pick(V6N);
            if (model.has(id(target(raw)))) continue;
            script = `add element ${T} ${target(raw).set} { ${target(raw).key} }`;
            stray = target(raw);
            break;
          }
          case 'stray-range': {
            const c = int(4);
            const [a, b] = [`198.18.${c}.${200 + int(10)}`, `198.18.${c}.${220 + int(10)}`];
            script = `add element ${T} net4 { ${a}-${b} }`;
            stray = { set: 'net4', key: `${a}-${b}`, family: 4, lo: canonAddr(a).value, hi: canonAddr(b).value };
            break;
          }
          case 'stray-mapped-net':
            script = `add element ${T} net6 { ::ffff:198.18.${int(4)}.0/120 }`;
            break;
          case 'wrong-timeout': {
            if (held.length === 0) continue;
            const m = pick(held);
            const s = `${T} ${m.t.set}`;
            script = `delete element ${s} { ${m.t.key} }\nadd element ${s} { ${m.t.key}${m.until === null ? ' timeout 2h' : ''} }`;
            break;
          }
          case 'flush-chain':
            script = `flush chain ${T} input`;
            break;
        }
        const r = await nft(script + '\n');
        if (r.code !== 0) stray = undefined;
        log.push(`${what}: ${script.replace(/\n/g, ' ; ')}${r.code !== 0 ? ` (nft refused: ${r.stderr.trim().split('\n')[0]})` : ''}`);
        if (chance(0.3)) {
          // A few bans of both families (networks among them) reach the enforcer before the check.
          const cands = Array.from({ length: 1 + int(12) }, () => {
            const raw = chance(0.5) ? anyTarget() : chance(0.5) ? pick(V4N) : pick(V6N);
            return { ip: raw, family: famOf(raw), until: until(Date.now()) };
          });
          await applyBatch(cands, [], 'bans after drift, before the check', { strays: stray ? [stray] : [] });
        }
        const rep = await timed(() => e.check(expected));
        log.push(`  check: ${rep.join(' | ') || '(nothing)'}`);
      } else {
        what = 'check';
        const quiet = quietNow();
        const rep = await timed(() => e.check(expected));
        log.push(`${what}: ${rep.join(' | ') || '(nothing)'}`);
        if (quiet && rep.length > 0) failures.push(`SPURIOUS: a check with no drift repaired: ${rep.join(' | ')}`);
      }
      if (!(await verify(`step ${step} (${what})`))) break;
    }
    await e.shutdown();
    const gone = await ns.run('nft', ['list', 'table', 'inet', table], { okExitCodes: [0, 1] });
    if (gone.code === 0) failures.push('shutdown left the table');
  } catch (err) {
    failures.push(`THREW: ${(err as Error).stack ?? String(err)}`);
    await ns.run('nft', ['delete', 'table', 'inet', table], { okExitCodes: [0, 1] }).catch(() => undefined);
  }
  return { seed, failures, log, ms: Date.now() - t0, steps };
}
