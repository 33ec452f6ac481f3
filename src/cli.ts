/**
 * The command line. Parses argv, runs one command, returns the exit code; bin/banhammer.js sets it.
 * Exit codes: 0 ok, 1 the command ran but found a problem (e.g. check-config errors), 2 usage, file
 * or configuration errors, 70 internal error, 141 the reader of stdout/stderr went away (EXIT_CLOSED_PIPE).
 */
import { terminalJson, terminalText } from './control/terminal-text.js';
import { hostname } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isBanhammerError, BanhammerError } from './errors.js';
import { loadConfig, resolveConfig, type ConfigFlags } from './config/load.js';
import type { Config } from './config/schema.js';
import { isHostMode } from './docker/host-mode.js';
import { formatDuration, parseBanDuration } from './config/duration.js';
import { ruleNameProblem } from './config/schema.js';
import { formatTime, formatUntil } from './format-time.js';
import { replayFile, type ReplayReport } from './replay/replay.js';
import { controlRequest } from './control/client.js';
import { readableResult } from './control/result-check.js';
import { canonicalTarget } from './parse/ip.js';
import { formatStatus } from './control/format-status.js';
import { formatWhy, whyKnowsAnything } from './control/format-why.js';
import type { EvidenceLine } from './decide/evidence.js';

export interface CliIo {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly env: Record<string, string | undefined>;
  readonly hostname: string;
  /** stderr is a terminal (replay then shows its progress there). */
  readonly stderrIsTTY?: boolean;
}

const defaultIo: CliIo = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
  hostname: hostname(),
  stderrIsTTY: process.stderr.isTTY === true,
};

const USAGE = `usage: banhammer <command> [options]

commands:
  replay FILE [--config F] [--rule NAME]... [--all-rules] [--json] [--explain]
                       replay a whole access log through the rules in log time and show the bans
                       (--explain: with the log lines that caused each ban; --all-rules: every
                       preset and rule of yours, on or not, each reported on its own)
  rules [--config F] [--json]
                       list the presets and your own rules: on/off, threshold, description
  check-config [--config F] [--json]
                       validate the configuration (defaults, YAML file, BANHAMMER_* environment)
                       and print the effective result
  run [--config F] [--dry-run]
                       the agent: follow the access log, ban offenders in the firewall
  status [RULE] [--json [--brief]]
                       like fail2ban-client status: failures, bans and banned addresses per rule
                       (--brief: counts and health without the ban lists, as the HEALTHCHECK asks)
  ban IP|NETWORK [--rule R] [--for DURATION] [--container NAME]
                       ban an address, or a network such as 198.18.0.0/24 (at most /8, IPv6 /32),
                       now (default: permanent, or the rule's bantime); host mode: --container
                       bans an address for that container only (default: every container)
  unban IP|NETWORK [--container NAME] | --all
                       lift the bans of one address or network (for one container only), or all bans
  why IP|NETWORK [--json]
                       why an address is or was banned: its bans with the log lines that caused
                       them, failures not banned yet, and its recent ended bans (exit 1: nothing known)
  reload [--config F]  re-read the configuration, as SIGHUP does: rules, allowlist and live
                       settings change at once, bans and failure windows carry over
  help                 this text
  version              print the version

Configuration comes from defaults, then the YAML file (--config or BANHAMMER_CONFIG), then
BANHAMMER_* environment variables, then flags.
`;

type Command = (args: string[], io: CliIo) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  replay: cmdReplay,
  rules: cmdRules,
  'check-config': cmdCheckConfig,
  run: cmdRun,
  status: cmdStatus,
  ban: cmdBan,
  unban: cmdUnban,
  why: cmdWhy,
  reload: cmdReload,
  'apache-conf': cmdApacheConf, // hidden: used by the image's entrypoint
  teardown: cmdTeardown, // hidden: used by the image's banhammer-shutdown
  help: async (_a, io) => (io.stdout(USAGE), 0),
  version: async (_a, io) => (io.stdout(`banhammer ${await version()}\n`), 0),
};

/**
 * The exit status when a reader of our stdout or stderr went away (EPIPE): 141, i.e. 128 + SIGPIPE,
 * what a shell reports for `cat`, `grep` or `yes` killed by SIGPIPE in `… | head -1`. Node ignores
 * SIGPIPE, so without this a write to a closed pipe was an unhandled 'error' event: a stack trace and
 * exit 1. Under `set -o pipefail` a banhammer command cut short by `head` therefore fails the pipeline
 * exactly like any Unix tool would, and 141 means nothing else here.
 */
export const EXIT_CLOSED_PIPE = 141;

/**
 * Makes a closed pipe on `stream` (process.stdout or process.stderr) end the command quietly, in one
 * place for every command: `exit` stops at once with EXIT_CLOSED_PIPE, no stack trace, nothing more
 * written (a replay or `rules` whose reader left has nothing left to do). `ignore` (the agent, `run`)
 * drops what is written there and goes on: a log reader that went away must not take the firewall's
 * protection down with it. Any other error of the stream is rethrown, so it is reported as before (an
 * uncaught error with its stack, exit 1).
 */
export function onClosedPipe(stream: Pick<NodeJS.EventEmitter, 'on'>, mode: 'exit' | 'ignore', exit: (code: number) => void = (code) => process.exit(code)): void {
  let closed = false;
  stream.on('error', (err: Error) => {
    if (closed) return; // the stream is gone; later writes' errors say nothing new
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
    closed = true;
    if (mode === 'exit') exit(EXIT_CLOSED_PIPE);
  });
}

let stdioGuarded = false;

export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [name, ...rest] = argv;
  if (io === defaultIo && !stdioGuarded) {
    stdioGuarded = true;
    const mode = name === 'run' ? 'ignore' : 'exit';
    onClosedPipe(process.stdout, mode);
    onClosedPipe(process.stderr, mode);
  }
  if (name === undefined || name === '--help' || name === '-h') {
    io.stdout(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') return COMMANDS.version!([], io);
  const cmd = COMMANDS[name];
  if (cmd === undefined) {
    io.stderr(`banhammer: unknown command ${JSON.stringify(name)}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await cmd(rest, io);
  } catch (err) {
    if (isBanhammerError(err)) {
      io.stderr(`banhammer: ${terminalLines(err.toUserString())}\n`);
      return 2;
    }
    throw err;
  }
}

/**
 * An error message for the terminal: its own lines kept (a configuration error lists one problem a
 * line), every other control, bidi or separator character escaped. Messages quote what the user, a
 * configuration file (the yaml library shows the offending source line) or the agent wrote.
 */
function terminalLines(text: string): string {
  return text.split('\n').map(terminalText).join('\n');
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals: boolean) {
  try {
    return parseArgs({ args: joinNegativeValues(args, options), options, allowPositionals, strict: true });
  } catch (err) {
    throw new BanhammerError('BH_ERR_USAGE', (err as Error).message, { hint: 'run banhammer help' });
  }
}

/**
 * `--for -1` (fail2ban's word for permanent, which every duration message offers) as `--for=-1`:
 * parseArgs takes a value that starts with '-' for a forgotten value and refused it as ambiguous.
 * Only a negative number directly after an option that takes a value is joined to it.
 */
function joinNegativeValues(args: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    const opt = a.startsWith('--') ? options[a.slice(2)] : undefined;
    if (opt?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

function configFrom(io: CliIo, flags: ConfigFlags): Config {
  return loadConfig({ env: io.env, flags, hostname: io.hostname });
}

async function cmdReplay(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      config: { type: 'string' },
      rule: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      explain: { type: 'boolean' },
      'all-rules': { type: 'boolean' },
    },
    true,
  );
  if (positionals.length !== 1) {
    throw new BanhammerError('BH_ERR_USAGE', `replay takes exactly one FILE, got ${positionals.length}`, {
      hint: 'banhammer replay /var/log/apache2/access.log',
    });
  }
  const allRules = values['all-rules'] === true;
  if (allRules && values.rule !== undefined) throw new BanhammerError('BH_ERR_USAGE', 'replay takes --rule NAME or --all-rules, not both');
  const config = configFrom(io, values.config !== undefined ? { configPath: values.config } : {});
  const explain = values.explain === true;
  const networks = replayNetworkNote(config);
  if (networks !== null) io.stderr(`banhammer: warning: ${networks}\n`);
  // Every defined rule, enabled or not: what each would have done on this log.
  const rules = allRules ? Object.keys(config.rules) : (values.rule ?? []);
  const progress = io.stderrIsTTY === true ? replayProgress(io) : undefined;
  let report: ReplayReport;
  try {
    report = await replayFile(positionals[0]!, config, { rules, ...(explain ? { explain } : {}), ...(progress ? { onProgress: progress.update } : {}) });
  } finally {
    progress?.done();
  }
  io.stdout(values.json ? `${terminalJson(replayJson(report, allRules ? config : undefined))}\n` : formatReplay(report, config));
  return 0;
}

/**
 * Host mode with BANHAMMER_ENFORCER=auto and bans for every container: the agent picks docker-user
 * (which holds no network) or nftables (which does) at start, from what the host runs, and makes IPv6
 * network bans only with nftables. Replay cannot know which, and makes none: it says so, rather than
 * report fewer bans than the agent makes without a word. Null when replay and agent agree.
 */
export function replayNetworkNote(config: Config): string | null {
  if (config.enforcer !== 'auto' || !isHostMode(config) || config.banScope === 'container' || config.ipv6NetworkBanAfter === 0) return null;
  return (
    'IPv6 network escalation is on, but in host mode BANHAMMER_ENFORCER=auto picks docker-user (no network bans) or nftables (network bans) when the agent starts; ' +
    'replay makes no network bans. Set BANHAMMER_ENFORCER to the enforcer the agent logged at start to replay what it does.'
  );
}

/**
 * Progress of a long replay on stderr, for a terminal only (cli decides: stderr is a TTY), never on
 * stdout: one line rewritten in place at most every 250 ms, cleared at the end.
 */
export function replayProgress(io: Pick<CliIo, 'stderr'>, clock: () => number = Date.now): { update: (done: number, total: number) => void; done: () => void } {
  const start = clock();
  let last = 0;
  let shown = false;
  return {
    update(done, total) {
      const now = clock();
      if (now - last < 250 || now - start < 500) return;
      last = now;
      shown = true;
      const pct = total > 0 ? Math.min(100, (100 * done) / total) : 0;
      const mb = (n: number): string => (n / 1048576).toFixed(0);
      io.stderr(`\rreplaying: ${pct.toFixed(0).padStart(3)} %  ${mb(done)} of ${mb(total)} MiB  ${((now - start) / 1000).toFixed(0)} s\x1b[K`);
    },
    done() {
      if (shown) io.stderr('\r\x1b[K');
    },
  };
}

async function cmdRules(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string' }, json: { type: 'boolean' } }, true);
  if (positionals.length > 0) throw new BanhammerError('BH_ERR_USAGE', 'rules takes no arguments', { hint: 'banhammer rules [--json]' });
  const config = configFrom(io, values.config !== undefined ? { configPath: values.config } : {});
  const { listRules, formatRules } = await import('./detect/describe-rules.js');
  const list = listRules(config);
  io.stdout(values.json ? `${terminalJson(list)}\n` : formatRules(list));
  return 0;
}

/** The stable JSON shape of `replay --json`. */
export function replayJson(r: ReplayReport, allRules?: Config) {
  return {
    lines: r.lines,
    parsed: r.parsed,
    skipped: r.skipped,
    matches: r.matches,
    // --all-rules: per rule, whether it is on in the configuration and what it would have done.
    ...(allRules !== undefined
      ? {
          rules: Object.fromEntries(
            r.rules.map((name) => {
              const bans = r.bans.filter((b) => b.rule === name);
              return [name, { enabled: allRules.rules[name]?.enabled ?? false, matches: r.matches[name] ?? 0, bans: bans.length, addresses: new Set(bans.map((b) => b.ip)).size }];
            }),
          ),
        }
      : {}),
    bans: r.bans.map((b) => ({
      ip: b.ip,
      rule: b.rule,
      at: formatTime(b.at),
      // As the text says it (and `why --json`): null for a permanent ban. Without it a script could
      // not tell an hour from for ever, nor see an incremented bantime.
      until: b.until === null ? null : formatTime(b.until),
      failures: b.failures,
      // Host mode with bans per container only: the container it applies to, and whether the ban
      // ended early (at `until`) for another container's share of a full ban book.
      ...(b.container !== undefined ? { container: b.container } : {}),
      ...(b.cut === true ? { cut: true } : {}),
      // --explain only: the lines that caused the ban (the shape of `why --json`'s evidence).
      ...(b.evidence !== undefined ? { evidence: b.evidence.map(evidenceJson), evidenceOmitted: b.evidenceOmitted ?? 0 } : {}),
    })),
  };
}

function evidenceJson(l: EvidenceLine): { at: string; file: string | null; line: string } {
  return { at: formatTime(l.at), file: l.file ?? null, line: l.line };
}

function formatReplay(r: ReplayReport, config: Config): string {
  const out: string[] = [];
  out.push(`File:    ${r.file}`);
  out.push(`Lines:   ${r.lines} read, ${r.parsed} parsed, ${r.skipped} skipped`);
  const skips = Object.entries(r.skipReasons).filter(([, n]) => n > 0);
  if (skips.length > 0) out.push(`Skipped: ${skips.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  out.push('');
  out.push('Rules:');
  const w = Math.max(4, ...r.rules.map((n) => n.length));
  for (const name of r.rules) {
    const s = config.rules[name]!;
    const bans = r.bans.filter((b) => b.rule === name).length;
    const ev = r.evictions[name] ?? 0;
    out.push(
      `  ${name.padEnd(w)}  ${s.maxretry}${s.count === 'distinct-paths' ? ' paths' : ''} in ${formatDuration(s.findtime)} -> ban ${formatDuration(s.bantime)}` +
        `   matches ${r.matches[name] ?? 0}   bans ${bans}${ev > 0 ? `   evicted ${ev} (raise max_tracked)` : ''}${s.enabled ? '' : '   (off in the configuration)'}`,
    );
  }
  out.push('');
  if (r.bans.length === 0) {
    out.push('Bans: none');
  } else {
    out.push(`Bans (${r.bans.length}):`);
    const ipw = Math.max(2, ...r.bans.map((b) => b.ip.length));
    for (const b of r.bans) {
      const until = b.until === null ? 'permanent' : `${b.cut === true ? 'cut short at the cap' : 'until'} ${formatUntil(b.until)}`;
      const where = b.container !== undefined ? `  container ${terminalText(b.container)}` : '';
      out.push(`  ${formatTime(b.at)}  ${b.ip.padEnd(ipw)}  ${b.rule.padEnd(w)}  ${b.failures} failures  ${until}${where}`);
      if (b.evidence !== undefined) {
        // --explain: fail2ban-regex's matched lines, per ban (the file is the one replayed).
        for (const l of b.evidence) out.push(`      | ${l.line}`);
        const omitted = b.evidenceOmitted ?? 0;
        if (omitted > 0) out.push(`      | (${omitted} more line${omitted === 1 ? '' : 's'} not kept)`);
      }
    }
  }
  return `${out.join('\n')}\n`;
}

async function cmdCheckConfig(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, { config: { type: 'string' }, json: { type: 'boolean' } }, false);
  let resolved: ReturnType<typeof resolveConfig>;
  try {
    resolved = resolveConfig({ env: io.env, flags: values.config !== undefined ? { configPath: values.config } : {}, hostname: io.hostname });
  } catch (err) {
    if (isBanhammerError(err) && (err.code === 'BH_ERR_CONFIG' || err.code === 'BH_ERR_CONFIG_FILE')) {
      io.stderr(`banhammer: ${terminalLines(err.message)}\n`);
      return 1;
    }
    throw err;
  }
  // Notification templates the agent would refuse at start (notify/targets-config.ts): reported now.
  const { templateProblems } = await import('./notify/targets-config.js');
  const bad = templateProblems(resolved.config.notify);
  if (bad.length > 0) {
    const { configError } = await import('./config/problems.js');
    io.stderr(`banhammer: ${configError(bad.map((p) => ({ key: p.key, source: 'notify.targets', message: p.message }))).message}\n`);
    return 1;
  }
  // The secret files the agent reads at start (and refuses to start without): read here too, and the
  // notifier's start-up warnings (credentials over http://, a link-local URL, an SMTP login without
  // TLS) said as the agent logs them: check-config is where an operator looks before starting it.
  const notifyWarnings: string[] = [];
  try {
    await checkSecretFiles(resolved.config, (msg) => notifyWarnings.push(msg));
  } catch (err) {
    if (!isBanhammerError(err)) throw err;
    io.stderr(`banhammer: ${terminalLines(err.toUserString())}\n`);
    return 1;
  }
  for (const w of notifyWarnings) io.stderr(`banhammer: warning: ${terminalLines(w)}\n`);
  const { describeConfig, describeConfigJson } = await import('./config/describe.js');
  io.stdout(values.json ? describeConfigJson(resolved.config) : describeConfig(resolved.config, { sources: resolved.sources }));
  return 0;
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function cmdRun(args: string[], io: CliIo): Promise<number> {
  // A long-running agent (heap-policy.ts): the young generation stays small while its code and
  // configuration load, the optimizing compiler off until it has work, and once it has started the
  // heap grows by at most half between full collections.
  const heapPolicy = await import('./heap-policy.js');
  const startup = heapPolicy.holdWhileStarting();
  try {
    const { values } = parse(args, { config: { type: 'string' }, 'dry-run': { type: 'boolean' } }, false);
    const flags: ConfigFlags = values.config !== undefined ? { configPath: values.config } : {};
    const config = configFrom(io, flags);
    // What check-config refuses, refused here by the same check, before anything starts.
    await checkSecretFiles(config);
    const { runAgent } = await import('./run.js');
    return await runAgent({
      config,
      reloadConfig: () => configFrom(io, flags),
      dryRun: values['dry-run'] ?? false,
      version: await version(),
      onLoaded: startup.loaded,
      onBusy: startup.busy,
      // Not before: restoring 100,000 saved bans grows the live heap from a few MB to ~150 MB, and
      // at half a growth between full collections V8 marked it over and over on the way (about
      // 0.25 s of CPU of a start, on the cores the kernel's nft / ipset processes need then).
      onStarted: () => void heapPolicy.applyAgentHeapPolicy(),
    });
  } finally {
    startup.release();
  }
}

const CONTROL_TIMEOUT_MS = 10_000;

/**
 * The control socket's path, from the configuration. The running agent keeps the configuration it
 * loaded (a reload of a broken file is refused), so a file broken since then (an edit in progress)
 * must not cut the CLI off from the agent: status, unban, why and the image's HEALTHCHECK (status
 * --json) failed with the file's error and called a working agent "not running". Then the path
 * comes from the environment and defaults alone (BANHAMMER_SOCKET, else the default), with one
 * warning naming the file's problem; when even that does not load, the file's error stands.
 */
function socketOf(io: CliIo, configPath: string | undefined): string {
  try {
    return configFrom(io, configPath !== undefined ? { configPath } : {}).socketPath;
  } catch (err) {
    if (!isBanhammerError(err) || (err.code !== 'BH_ERR_CONFIG' && err.code !== 'BH_ERR_CONFIG_FILE')) throw err;
    let socketPath: string;
    try {
      socketPath = loadConfig({ env: { ...io.env, BANHAMMER_CONFIG: undefined }, hostname: io.hostname }).socketPath;
    } catch {
      throw err;
    }
    const why = err.message.split('\n').map((l) => l.trim().replace(/^- /, '')).filter((l) => l !== '').join(' ').slice(0, 300);
    io.stderr(`banhammer: warning: the configuration does not load, so the running agent keeps its own (${why}); asking it on ${socketPath}\n`);
    return socketPath;
  }
}

async function cmdStatus(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string' }, json: { type: 'boolean' }, brief: { type: 'boolean' } }, true);
  if (positionals.length > 1) throw new BanhammerError('BH_ERR_USAGE', 'status takes at most one RULE', { hint: 'banhammer status forbidden' });
  // The text lists the banned addresses; a list left out would read as "none".
  if (values.brief === true && values.json !== true) throw new BanhammerError('BH_ERR_USAGE', 'status --brief goes with --json', { hint: 'banhammer status --json --brief' });
  const rule = positionals[0];
  const socket = socketOf(io, values.config);
  const request = rule === undefined ? { op: 'status' as const } : { op: 'status' as const, rule };
  let report;
  try {
    report = await controlRequest(socket, values.brief === true ? { ...request, brief: true as const } : request, { timeoutMs: CONTROL_TIMEOUT_MS });
  } catch (err) {
    // An agent older than `brief` refuses the field: the whole report then, as before.
    if (!(isBanhammerError(err) && err.data.remote === true && /^unknown field "brief"/.test(err.message))) throw err;
    report = await controlRequest(socket, request, { timeoutMs: CONTROL_TIMEOUT_MS });
  }
  io.stdout(values.json ? `${terminalJson(report)}\n` : formatStatus(readableResult('status', report, socket), rule));
  return 0;
}

async function cmdBan(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(
    args,
    { config: { type: 'string' }, rule: { type: 'string' }, for: { type: 'string' }, container: { type: 'string' } },
    true,
  );
  if (positionals.length !== 1) throw new BanhammerError('BH_ERR_USAGE', 'ban takes exactly one IP or network', { hint: 'banhammer ban 198.18.0.7 --for 1h, or banhammer ban 198.18.0.0/24 --for 1d' });
  // The same capped validation as a configured bantime: a duration past Date's range crashed the agent.
  let forMs: number | null = null;
  let permanent = false;
  if (values.for !== undefined) {
    try {
      forMs = parseBanDuration(values.for);
      permanent = forMs === null;
    } catch (err) {
      if (!isBanhammerError(err)) throw err;
      throw new BanhammerError('BH_ERR_USAGE', `--for: ${err.message}`, { hint: 'e.g. --for 1h, --for 30d, or --for permanent (at most 3650d otherwise)' });
    }
  }
  if (values.rule !== undefined && values.rule !== 'manual' && ruleNameProblem(values.rule) !== null) {
    throw new BanhammerError('BH_ERR_USAGE', `--rule ${JSON.stringify(values.rule)} names no rule: ${ruleNameProblem(values.rule)}`, { hint: 'banhammer status lists the rules' });
  }
  const req = {
    op: 'ban' as const,
    ip: positionals[0]!,
    forMs,
    // `--for permanent` with a rule: forMs null alone would mean the rule's bantime. (A manual ban
    // without a rule is permanent by default, so an older daemon is still sent what it knows.)
    ...(permanent && values.rule !== undefined && values.rule !== 'manual' ? { permanent: true as const } : {}),
    ...(values.rule !== undefined ? { rule: values.rule } : {}),
    ...(values.container !== undefined ? { container: values.container } : {}),
  };
  const socket = socketOf(io, values.config);
  const ban = readableResult('ban', await controlRequest(socket, req, { timeoutMs: CONTROL_TIMEOUT_MS }), socket);
  const until = ban.until === null ? 'permanently' : `until ${formatUntil(ban.until)}`;
  // What the agent answered, escaped for the terminal like status and why (a container's name comes
  // from its configuration).
  const ip = terminalText(ban.ip);
  const where = typeof ban.container === 'string' ? ` for container ${terminalText(ban.container)}` : '';
  io.stdout(`banned ${ip} (${terminalText(ban.rule)})${where} ${until}\n`);
  // Another ban of the address lasts longer (a rule's hour outlives `--for 1m`): the firewall holds
  // it that long, and "until +1m" alone would say otherwise.
  if (ban.heldUntil !== undefined && ban.heldUntil !== ban.until && (ban.heldUntil === null || (ban.until !== null && ban.heldUntil > ban.until))) {
    io.stdout(`  the firewall holds ${ip} ${ban.heldUntil === null ? 'permanently' : `until ${formatUntil(ban.heldUntil)}`}: another ban of it lasts longer\n`);
  }
  // Recorded, but not (yet) in the firewall: say so rather than let "banned" stand alone.
  if (ban.firewall === 'retrying') {
    io.stderr(`banhammer: ${ip} is NOT in the firewall yet: its last batch failed (the agent's log says why); it is retried every second\n`);
    return 0;
  }
  if (ban.firewall === 'refused') {
    io.stderr(`banhammer: the firewall refused ${ip}: it is recorded but NOT enforced (the agent's log says why)\n`);
    return 1;
  }
  return 0;
}

async function cmdUnban(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string' }, all: { type: 'boolean' }, container: { type: 'string' } }, true);
  const socket = socketOf(io, values.config);
  if (values.all) {
    if (positionals.length > 0) throw new BanhammerError('BH_ERR_USAGE', 'unban takes an IP or --all, not both');
    // --all lifts every ban of every container: read with --container it would lift far more than asked.
    if (values.container !== undefined) {
      throw new BanhammerError('BH_ERR_USAGE', 'unban --all lifts the bans of every container; it takes no --container', {
        hint: 'banhammer status lists the bans of each container; lift them one by one with banhammer unban IP --container NAME',
      });
    }
    const n = readableResult('unban-all', await controlRequest(socket, { op: 'unban-all' }, { timeoutMs: CONTROL_TIMEOUT_MS }), socket);
    io.stdout(`lifted ${n} ban${n === 1 ? '' : 's'}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new BanhammerError('BH_ERR_USAGE', 'unban takes exactly one IP or network, or --all', { hint: 'banhammer unban 198.18.0.7' });
  const container = values.container;
  const req = container === undefined ? { op: 'unban' as const, ip: positionals[0]! } : { op: 'unban' as const, ip: positionals[0]!, container };
  const n = readableResult('unban', await controlRequest(socket, req, { timeoutMs: CONTROL_TIMEOUT_MS }), socket);
  const where = container === undefined ? '' : ` for container ${container}`;
  // As the daemon read it: 198.18.0.7/24 is the network 198.18.0.0/24.
  const what = canonicalTarget(positionals[0]!)?.ip ?? positionals[0]!;
  if (n === 0) {
    // Nothing of its own to lift; but it may still be blocked: inside a banned network, or by a ban
    // for every container when one container was named. Saying "not banned" then would be false.
    const report = readableResult('why', await controlRequest(socket, { op: 'why', ip: what }, { timeoutMs: CONTROL_TIMEOUT_MS }), socket);
    const blocking = report.active.filter((b) => container === undefined || b.containerId === null || b.container === container || b.containerId.startsWith(container));
    if (blocking.length > 0) {
      const list = blocking.map((b) => `${terminalText(b.ip)} (${terminalText(b.jail)})`).join(', ');
      // A ban for every container is lifted by an unban without --container.
      const how = [...new Set(blocking.map((b) => `banhammer unban ${terminalText(b.ip)}${b.containerId === null ? '' : ` --container ${terminalText(b.container ?? b.containerId)}`}`))].join('; ');
      io.stdout(`${what} has no ban of its own${where} to lift, but is still blocked by ${list}: to lift ${blocking.length === 1 ? 'it' : 'them'}, ${how}\n`);
      return 1;
    }
    if (report.unbanPending === true) {
      io.stdout(`${what} has no ban left${where}, but the firewall still drops it: the unban is not applied yet (its last batch failed; retried every second)\n`);
      return 1;
    }
    io.stdout(`${what} was not banned${where}\n`);
    return 1;
  }
  io.stdout(`lifted ${n} ban${n === 1 ? '' : 's'} of ${what}${where}\n`);
  return 0;
}

/**
 * `banhammer reload`: what SIGHUP does (fail2ban-client reload), through the socket: the agent
 * re-reads its configuration as a diff; an invalid one is refused and the running one kept.
 */
async function cmdReload(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string' } }, true);
  if (positionals.length > 0) throw new BanhammerError('BH_ERR_USAGE', 'reload takes no arguments', { hint: 'banhammer reload' });
  await controlRequest(socketOf(io, values.config), { op: 'reload' }, { timeoutMs: CONTROL_TIMEOUT_MS });
  io.stdout('configuration reloaded (settings that need a restart are named in the agent\'s log)\n');
  return 0;
}

async function cmdWhy(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string' }, json: { type: 'boolean' } }, true);
  if (positionals.length !== 1) throw new BanhammerError('BH_ERR_USAGE', 'why takes exactly one IP or network', { hint: 'banhammer why 198.18.0.7' });
  const socket = socketOf(io, values.config);
  const report = await controlRequest(socket, { op: 'why', ip: positionals[0]! }, { timeoutMs: CONTROL_TIMEOUT_MS });
  if (values.json) {
    // As it came (a stable schema, fields only added); the exit status from what can be read of it.
    io.stdout(`${terminalJson(report)}\n`);
    return whyKnowsAnything(report) ? 0 : 1;
  }
  const readable = readableResult('why', report, socket);
  io.stdout(formatWhy(readable));
  return whyKnowsAnything(readable) ? 0 : 1;
}

/**
 * Reads every secret file the configuration names, as `banhammer run` does at start (notification
 * targets: createNotifier; shared bans: the Redis password and share key files), and throws one
 * error (one line naming the file) when one is missing, unreadable, not a regular file, larger than
 * MAX_SECRET_BYTES or empty, or when the share key is shorter than the agent accepts. check-config,
 * apache-conf (the image's entrypoint) and run all call this one check, so they refuse the same
 * files. Nothing is kept. The file's mode is not checked: Docker swarm mounts secrets 0444. The
 * notifier's start-up warnings go to `warn` (check-config prints them; run's agent logs its own).
 */
export async function checkSecretFiles(config: Config, warn: (msg: string) => void = () => {}): Promise<void> {
  const { configuredTargets } = await import('./notify/targets-config.js');
  const { createNotifier } = await import('./notify/notifier.js');
  if (Object.keys(configuredTargets(config.notify).targets).length > 0) {
    // Its start-up warnings (the agent logs them: notifier.ts webhookWarnings, smtpWarnings) go to `warn`.
    const said = (a: unknown, b?: unknown): void => warn(typeof a === 'string' ? a : typeof b === 'string' ? b : String(a));
    const quiet = { info: () => {}, warn: said, error: () => {}, debug: () => {} };
    const { systemClock } = await import('./clock.js');
    const notifier = createNotifier(config.notify, { clock: systemClock, log: quiet as never, instance: config.instance, version: '0' });
    await notifier?.close(0);
  }
  if (config.share.redisUrl === null || config.share.group === null) return;
  const { readRegularFile, MAX_SECRET_BYTES } = await import('./fs/read-regular.js');
  /** The secret as the share stage reads it (one trailing newline dropped), or a BH_ERR_FILE error. */
  const read = async (path: string, what: string, env: string): Promise<string> => {
    const hint = `check ${env} (a Docker secret is mounted under /run/secrets/)`;
    let text: string;
    try {
      text = await readRegularFile(path, MAX_SECRET_BYTES);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT' ? 'it does not exist'
        : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
        : code === 'EISDIR' ? 'it is a directory'
        : code === 'ENOTREG' ? 'it is not a regular file'
        : code === 'EFBIG' ? `it is larger than ${MAX_SECRET_BYTES} bytes`
        : String((e as Error).message).slice(0, 200);
      throw new BanhammerError('BH_ERR_FILE', `cannot read the ${what} file ${path}: ${why}`, { hint, data: { path } });
    }
    return text.replace(/\r?\n$/, '');
  };
  const pw = config.share.passwordFile;
  if (pw !== null) {
    const text = await read(pw, 'Redis password', 'BANHAMMER_REDIS_PASSWORD_FILE');
    if (text.trim() === '') {
      throw new BanhammerError('BH_ERR_FILE', `the Redis password file ${pw} is empty`, { hint: 'write the password into the file, or unset BANHAMMER_REDIS_PASSWORD_FILE', data: { path: pw } });
    }
  }
  const keyFile = config.share.keyFile;
  if (keyFile !== null) {
    const key = await read(keyFile, 'share key', 'BANHAMMER_SHARE_KEY_FILE');
    const { MIN_KEY_BYTES } = await import('./share/signing.js');
    // As the share stage measures it (redis-share.ts): the UTF-8 bytes of the text.
    if (Buffer.byteLength(key, 'utf8') < MIN_KEY_BYTES) {
      throw new BanhammerError('BH_ERR_CONFIG', `the share key in ${keyFile} is shorter than ${MIN_KEY_BYTES} bytes`, {
        hint: 'use a random key, e.g. openssl rand -hex 32 > FILE, the same file for every replica of the group',
        data: { path: keyFile },
      });
    }
  }
}

/**
 * Hidden command of the image's banhammer-shutdown: `banhammer teardown [--config F]` removes this
 * instance's chain, jumps and sets (or nft table, or map entries) when the agent did not: it was not
 * running at `docker stop` (killed, in its restart back-off, stopped for good) or was killed for
 * overstaying. Exit 0 when removed or nothing was there.
 */
async function cmdTeardown(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, { config: { type: 'string' } }, false);
  const config = configFrom(io, values.config !== undefined ? { configPath: values.config } : {});
  const { teardownFirewall } = await import('./run.js');
  await teardownFirewall(config);
  io.stdout(`banhammer: removed the firewall state of instance ${config.instance} (enforcer ${config.enforcer})\n`);
  return 0;
}

/**
 * Hidden command of the image's entrypoint: `banhammer apache-conf [--config F] [--create-map]`
 * prints the Apache `Define`s for the resolved configuration (renderApacheDefines) and, with
 * --create-map and the apache-map enforcer, creates the (empty) map file Apache needs before it
 * starts, keeping one that exists. Every error is one line on stderr with exit 2, so the entrypoint
 * can stop the container with it.
 */
async function cmdApacheConf(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, { config: { type: 'string' }, 'create-map': { type: 'boolean' } }, false);
  let config: Config;
  try {
    config = configFrom(io, values.config !== undefined ? { configPath: values.config } : {});
  } catch (err) {
    if (isBanhammerError(err) && err.code === 'BH_ERR_CONFIG' && Array.isArray(err.data.problems)) {
      const { formatProblems } = await import('./config/problems.js');
      const problems = formatProblems(err.data.problems as Parameters<typeof formatProblems>[0]).map((p) => p.replace(/^- /, ''));
      throw new BanhammerError('BH_ERR_CONFIG', `invalid configuration: ${problems.join('; ')}`, { data: err.data });
    }
    throw err;
  }
  // The secret files `banhammer run` reads at start (and refuses to start without): read them here
  // too, so the entrypoint stops the container instead of starting Apache beside an agent that exits 2.
  await checkSecretFiles(config);
  const { ApacheMapEnforcer, renderApacheDefines } = await import('./enforce/apache-map.js');
  const text = renderApacheDefines(config);
  if (values['create-map'] && config.enforcer === 'apache-map') {
    try {
      await new ApacheMapEnforcer({ path: config.mapFile }).init();
    } catch (err) {
      if (!isBanhammerError(err) || err.code !== 'BH_ERR_FILE') throw err;
      // A path that is a directory (a bind mount whose source file did not exist) says so itself.
      if (err.data.code === 'EISDIR' || err.data.code === 'ENOTREG') throw err;
      throw new BanhammerError('BH_ERR_FILE', err.message, {
        hint: 'create that directory or mount a volume there, or set BANHAMMER_MAP_FILE to a file in an existing, writable directory (default /run/banhammer/banned.map)',
        data: err.data,
      });
    }
  }
  io.stdout(text);
  return 0;
}
