/**
 * Issue 10 audit, round 2: random sequences of detected bans, manual bans (--for, --rule, permanent,
 * networks), unbans, unban --all, clock steps (expiry), reloads (ignoreip, maxretry, bantime, a rule
 * switched off and on) and restarts; after every step the enforcer, the book's expected(), status
 * --json and why must agree on what is banned and until when.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { agent, cleanup, settle, Store, NOW, A, B } from '../seams-variants/harness.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { prng } from './gen.js';

afterEach(cleanup);

type Agent = ReturnType<typeof agent>;

/** ip → effective until (null permanent) as the enforcer holds it, dropping entries the kernel would have timed out. */
function kernel(d: Agent): Map<string, number | null> {
  const now = d.clock.now();
  const out = new Map<string, number | null>();
  for (const [k, b] of d.enforcer.held) if (b.until === null || b.until > now) out.set(k, b.until);
  return out;
}
function statusView(d: Agent): Map<string, number | null> {
  const out = new Map<string, number | null>();
  for (const r of d.daemon.status().rules)
    for (const b of r.bans ?? []) {
      const k = b.containerId ? `${b.ip} ${b.containerId}` : b.ip;
      const u = b.until === null ? null : Date.parse(b.until);
      const prev = out.get(k);
      out.set(k, prev === null || u === null ? null : prev === undefined ? u : Math.max(prev, u));
    }
  return out;
}
function expectedView(d: Agent): Map<string, number | null> {
  const out = new Map<string, number | null>();
  for (const b of d.daemon['pipeline'].book.expected(d.clock.now())) out.set(b.scope ? `${b.ip} ${b.scope}` : b.ip, b.until);
  return out;
}
const sorted = (m: Map<string, number | null>) => [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));

/** agreeAll after one step, naming the steps so far when it fails; whether the kernel holds anything. */
function agreeAfter(d: Agent, step: number, what: string, log: readonly string[]): boolean {
  try {
    agreeAll(d, `step ${step}: ${what}`);
  } catch (e) {
    throw new Error(`${(e as Error).message}\nsteps:\n${log.join('\n')}`);
  }
  return kernel(d).size > 0;
}

function agreeAll(d: Agent, step: string): void {
  const k = sorted(kernel(d));
  expect(sorted(statusView(d)), `status vs kernel after ${step}`).toEqual(k);
  expect(sorted(expectedView(d)), `expected() vs kernel after ${step}`).toEqual(k);
  for (const [ip] of k) {
    if (ip.includes(' ') || ip.includes('/')) continue;
    expect(d.daemon.why(ip).active.length, `why ${ip} after ${step}`).toBeGreaterThan(0);
  }
}

const IPS = ['198.18.20.1', '198.18.20.2', '198.18.21.3', '2001:db8:20::1', '2001:db8:20::2'];

describe('random control/reload/restart sequences: kernel, expected(), status and why agree', () => {
  for (const seed of Array.from({ length: Number(process.env.H4_SEEDS ?? 12) }, (_, i) => i + 1)) {
    it(`seed ${seed}`, async () => {
      const r = prng(seed * 7919);
      const pick = <T,>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
      const store = new Store();
      const enforcer = new RecordingEnforcer();
      const clock = new ManualClock(NOW);
      let env: Record<string, string> = { BANHAMMER_RULE_FORBIDDEN_BANTIME: '2m', BANHAMMER_RULE_SENSITIVE_PATHS_ENABLED: 'true', BANHAMMER_RULE_SENSITIVE_PATHS_BANTIME: '5m' };
      let d = agent({ store, enforcer, clock, env });
      await d.daemon.start();
      await settle();
      const log: string[] = [];
      let heldSteps = 0;
      for (let step = 0; step < 60; step++) {
        const op = Math.floor(r() * 10);
        const ip = pick(IPS);
        let what = '';
        try {
          if (op <= 2) {
            const n = 1 + Math.floor(r() * 5);
            what = `feed ${ip} ${n}`;
            await d.feed(ip, n, undefined, r() < 0.5 ? '/private' : '/.env');
          } else if (op === 3) {
            const f = pick([null, 60_000, 600_000, 3_600_000]);
            const rule = r() < 0.3 ? 'forbidden' : undefined;
            const target = r() < 0.15 ? '198.18.20.0/24' : ip;
            what = `ban ${target} for ${f} rule ${rule}`;
            await d.daemon.ban(target, { forMs: f, ...(rule ? { rule } : {}) });
          } else if (op === 4) {
            what = `unban ${ip}`;
            await d.daemon.unban(r() < 0.2 ? '198.18.20.0/24' : ip);
          } else if (op === 5 && r() < 0.3) {
            what = 'unban --all';
            await d.daemon.unbanAll();
          } else if (op === 6) {
            const ms = pick([1000, 30_000, 61_000, 130_000, 400_000]);
            what = `advance ${ms}`;
            d.clock.advance(ms);
          } else if (op === 7) {
            const change = Math.floor(r() * 5);
            env = { ...env };
            if (change === 0) env.BANHAMMER_IGNOREIP = pick(['198.18.20.0/24', '2001:db8:20::/48', '198.18.21.3', '']);
            if (change === 1) env.BANHAMMER_RULE_FORBIDDEN_MAXRETRY = pick(['3', '5', '7']);
            if (change === 2) env.BANHAMMER_RULE_FORBIDDEN_BANTIME = pick(['1m', '2m', '10m']);
            if (change === 3) env.BANHAMMER_RULE_SENSITIVE_PATHS_ENABLED = pick(['true', 'false']);
            if (change === 4) env.BANHAMMER_FINDTIME = pick(['30s', '60s', '5m']);
            for (const k of Object.keys(env)) if (env[k] === '') delete env[k];
            what = `reload ${JSON.stringify(env)}`;
            await d.reloadWith(env);
          } else if (op === 8 && r() < 0.4) {
            what = 'restart';
            const before = d.banned();
            const beforeUntil = sorted(statusView(d));
            await d.daemon.stop({ removeFirewall: false });
            d = agent({ store, enforcer, clock, env });
            await d.daemon.start();
            await settle();
            expect(d.banned(), `bans kept across restart at step ${step}`).toEqual(before);
            expect(sorted(statusView(d)), `expiries kept across restart at step ${step}`).toEqual(beforeUntil);
          } else if (op === 9 && r() < 0.5) {
            // the firewall rejects the next batches (retried every second) while bans and unbans go on
            d.enforcer.failNext = 1 + Math.floor(r() * 3);
            what = `fail next ${d.enforcer.failNext}; ban ${ip} 5m`;
            await d.daemon.ban(ip, { forMs: 300_000 }).catch(() => undefined);
            await d.daemon.unban(pick(IPS)).catch(() => undefined);
            for (let i = 0; i < 5; i++) {
              d.clock.advance(1000);
              await settle();
            }
            d.enforcer.failNext = 0; // (left over when nothing was sent: the ban was refused)
          } else {
            what = 'tick';
            d.clock.advance(1000);
          }
        } catch (e) {
          what += ` -> ${(e as Error).message.slice(0, 80)}`;
        }
        await settle();
        d.clock.advance(1000); // the expiry timer runs every second
        await settle();
        log.push(what);
        if (process.env.H4_DEBUG) console.log(step, what, JSON.stringify(sorted(kernel(d))));
        if (agreeAfter(d, step, what, log)) heldSteps++;
      }
      expect(heldSteps).toBeGreaterThan(5);
      await d.daemon.stop();
    }, 30_000);
  }
});

describe('host mode: random scoped bans, unban --container, reloads and restarts agree everywhere', () => {
  for (const seed of Array.from({ length: Number(process.env.H4_HOST_SEEDS ?? 8) }, (_, i) => i + 1)) {
    it(`seed ${seed}`, async () => {
      const r = prng(seed * 104729);
      const pick = <T,>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
      const store = new Store();
      const enforcer = new RecordingEnforcer();
      const clock = new ManualClock(NOW);
      let env: Record<string, string> = { BANHAMMER_RULE_FORBIDDEN_BANTIME: '2m' };
      let d = agent({ host: true, store, enforcer, clock, env });
      const root = d.root;
      await d.daemon.start();
      await settle();
      const log: string[] = [];
      let heldSteps = 0;
      for (let step = 0; step < 50; step++) {
        const ip = pick(IPS.filter((x) => !x.includes('/')));
        const id = pick([A, B]);
        const name = id === A ? 'shop' : 'blog';
        const op = Math.floor(r() * 8);
        let what = '';
        try {
          if (op <= 2) {
            const n = 1 + Math.floor(r() * 5);
            what = `feed ${ip} ${n} in ${name}`;
            await d.feed(ip, n, id);
          } else if (op === 3) {
            const scoped = r() < 0.6;
            what = `ban ${ip}${scoped ? ` --container ${name}` : ''}`;
            await d.daemon.ban(ip, { forMs: pick([null, 90_000, 600_000]), ...(scoped ? { container: name } : {}) });
          } else if (op === 4) {
            const scoped = r() < 0.6;
            what = `unban ${ip}${scoped ? ` --container ${name}` : ''}`;
            await d.daemon.unban(ip, scoped ? { container: name } : {});
          } else if (op === 5) {
            const ms = pick([1000, 61_000, 130_000, 700_000]);
            what = `advance ${ms}`;
            d.clock.advance(ms);
          } else if (op === 6) {
            env = { ...env };
            const v = pick(['198.18.20.0/24', '2001:db8:20::1', '']);
            if (v === '') delete env.BANHAMMER_IGNOREIP;
            else env.BANHAMMER_IGNOREIP = v;
            if (r() < 0.5) env.BANHAMMER_RULE_FORBIDDEN_MAXRETRY = pick(['3', '5']);
            what = `reload ${JSON.stringify(env)}`;
            await d.reloadWith(env);
          } else if (r() < 0.5) {
            what = 'restart';
            const before = sorted(statusView(d));
            await d.daemon.stop({ removeFirewall: false });
            d = agent({ host: true, root, store, enforcer, clock, env });
            await d.daemon.start();
            await settle();
            expect(sorted(statusView(d)), `bans kept across restart at step ${step}`).toEqual(before);
          } else {
            what = 'unban --all';
            await d.daemon.unbanAll();
          }
        } catch (e) {
          what += ` -> ${(e as Error).message.slice(0, 80)}`;
        }
        await settle();
        d.clock.advance(1000);
        await settle();
        log.push(what);
        if (agreeAfter(d, step, what, log)) heldSteps++;
      }
      expect(heldSteps).toBeGreaterThan(5);
      await d.daemon.stop();
    }, 30_000);
  }
});
