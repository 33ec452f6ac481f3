/**
 * The live agent's heap policy: how far V8 lets the heap grow between full collections.
 *
 * By default V8 lets the old generation grow up to 4× what survived the last full collection before
 * it collects again. That suits a short job; the agent runs for months beside the app it guards, and
 * a flood of new addresses is exactly what it is there for: each address's window, kept lines and
 * address-table entry live long enough to reach the old generation, then die there once evicted.
 * Measured on a flood of 1 M distinct failing addresses (live set about 50 MB): peak RSS 285 MB with
 * V8's default, 176 MB with the heap growing by at most half, at the same reading speed (a full
 * collection of a heap that small takes milliseconds). `npm run bench` measures it ("RSS after 1 M
 * addresses").
 *
 * The growing factor is read by V8 each time it sets the next limit, so setting it once the process
 * has started takes effect from the next collection. The agent sets it once it has started (cli.ts,
 * RunOptions.onStarted): a start that restores 100,000 saved bans grows the live heap from a few MB
 * to about 150 MB, and with the factor set from the first line V8 collected it in full at every half
 * of growth on the way: measured in a network namespace (nftables, 100,000 bans, 2 cores, alternated
 * pairs), 0.2-0.3 s more CPU until "banhammer started" and a later start, for no lower RSS when ready. A user who sets it (node's own arguments: Node
 * refuses it in NODE_OPTIONS) keeps theirs. The heap's size limit is not touched: nothing here can
 * make the agent run out of memory sooner.
 *
 * While the agent starts, the young generation is also kept at its initial size. Start-up makes a few
 * megabytes that live as long as the agent (its code, compiled rules, configuration), and V8 doubles
 * the young generation whenever that much survives its collections: measured with the iptables
 * enforcer in a network namespace, the idle agent held 63.9 MB with V8's default and 59.5-61.7 MB with
 * the young generation held (VmRSS; `npm run bench`, "idle RSS", printed 61.0 MB). Held for good, a line cost 3-5 % more under
 * load, and restoring 100,000 bans from the state file took 1.4-1.9 s instead of 1.2-1.5 s (many
 * more collections), so the hold ends once the agent's code and configuration are loaded, before it
 * reads its state: from there on V8 grows it as it would.
 *
 * V8's optimizing compiler (TurboFan) is held too, longer: until the agent has work. Start-up runs a
 * few loops often enough for V8 to optimize them (Node's module resolution, building the rules'
 * literal scanners), though each runs once or only on reload; optimizing them paged in about 5 MB of
 * the compiler's code and zones (measured with the log enforcer, VmRSS 2 s after start: 52.9 MB held,
 * 57.4-58.3 MB not; the same as `node --no-opt`). Released as soon as the agent was loaded, the
 * compiler still came in with the first `status` request (the image's HEALTHCHECK makes one every
 * 30 s) or metrics scrape of an agent that had read no line: Node's own argument checks, called
 * thousands of times while starting, crossed V8's threshold there, and 3.3 MB of the node binary's
 * compiler code was paged in (the idle agent's RSS went from 55.0 to 58.9 MB; smaps: all of it the
 * binary's text). So the compiler is released when there is work for it (StartupHold.busy, called
 * by the daemon: its first log line, saved bans to restore, a Redis group to load bans from), and the
 * first lines optimize the hot path as before; an agent that has seen no traffic does not carry the
 * compiler. A user who chose anything of the optimizing compiler (`--no-opt`, `--jitless`,
 * `--max-opt`, …) keeps it.
 */
import { setFlagsFromString } from 'node:v8';

/** Most the heap grows beyond its live size between full collections, in percent. */
export const AGENT_HEAP_GROWING_PERCENT = 50;

const FLAG = 'heap-growing-percent';

/** V8's flag for how much the young generation grows at a time, and its own default. */
const YOUNG_GROWTH_FLAG = 'semi-space-growth-factor';
const YOUNG_GROWTH_DEFAULT = 2;

/**
 * Sets the agent's heap growing factor unless the user chose one. `nodeArgs`: node's own arguments,
 * where a user's choice would be. Returns whether it was set.
 */
export function applyAgentHeapPolicy(nodeArgs: readonly string[] = process.execArgv, setFlags: (flags: string) => void = setFlagsFromString): boolean {
  // V8 accepts the flag with dashes or underscores.
  if (nodeArgs.some((a) => a.replace(/_/g, '-').includes(FLAG))) return false;
  setFlags(`--${FLAG}=${AGENT_HEAP_GROWING_PERCENT}`);
  return true;
}

/** Node's arguments and NODE_OPTIONS' words, with V8's `_` read as `-`: where a user's own flags are. */
function userFlags(nodeArgs: readonly string[], nodeOptions: string | undefined): string[] {
  return [...nodeArgs, ...(nodeOptions ?? '').split(/\s+/)].map((a) => a.replace(/_/g, '-'));
}

/** Sets `hold` now; the function returned sets `release`, once, however often it is called. */
function holdFlag(setFlags: (flags: string) => void, hold: string, release: string): () => void {
  setFlags(hold);
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    setFlags(release);
  };
}

/**
 * Keeps the young generation from growing while the agent starts (see the top of this file); the
 * function returned lets it grow again, as V8 would, and is safe to call more than once. Nothing is
 * held when the user chose a semi-space setting themselves.
 */
export function holdYoungGenerationWhileStarting(
  nodeArgs: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
  setFlags: (flags: string) => void = setFlagsFromString,
): () => void {
  if (userFlags(nodeArgs, nodeOptions).some((a) => a.includes('semi-space'))) return () => {};
  return holdFlag(setFlags, `--${YOUNG_GROWTH_FLAG}=1`, `--${YOUNG_GROWTH_FLAG}=${YOUNG_GROWTH_DEFAULT}`);
}

/** V8 flags that choose how (or whether) the optimizing compiler runs: a user's choice is kept. */
const OPTIMIZER_FLAGS = new Set(['opt', 'turbofan', 'jitless', 'max-opt', 'always-opt', 'always-turbofan', 'maglev', 'lite-mode']);

/**
 * Keeps V8's optimizing compiler off while the agent starts (see the top of this file); the function
 * returned turns it back on, and is safe to call more than once. Nothing is held when the user chose
 * an optimizer setting themselves.
 */
export function holdOptimizerWhileStarting(
  nodeArgs: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
  setFlags: (flags: string) => void = setFlagsFromString,
): () => void {
  const chosen = userFlags(nodeArgs, nodeOptions).some((a) => {
    const m = /^--(?:no-)?([a-z-]+)(?:=|$)/.exec(a);
    return m !== null && OPTIMIZER_FLAGS.has(m[1]!);
  });
  if (chosen) return () => {};
  return holdFlag(setFlags, '--no-turbofan', '--turbofan');
}

/** The start-up holds, released in two steps (see the top of this file). */
export interface StartupHold {
  /** The agent's code and configuration are loaded: the young generation grows as V8 would. */
  readonly loaded: () => void;
  /** The agent has work (its first log line, bans to load): the optimizing compiler runs. */
  readonly busy: () => void;
  /** Both (the agent stops, or fails to start). Each release is safe to call more than once. */
  readonly release: () => void;
}

/** Both start-up holds (young generation, optimizing compiler), each unless the user chose it. */
export function holdWhileStarting(
  nodeArgs: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
  setFlags: (flags: string) => void = setFlagsFromString,
): StartupHold {
  const young = holdYoungGenerationWhileStarting(nodeArgs, nodeOptions, setFlags);
  const optimizer = holdOptimizerWhileStarting(nodeArgs, nodeOptions, setFlags);
  return {
    loaded: young,
    busy: optimizer,
    release: () => {
      young();
      optimizer();
    },
  };
}
