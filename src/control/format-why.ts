/**
 * `banhammer why ADDRESS` as text, in the tree layout of `fail2ban-client status <jail>` (a tab after
 * each label's colon) and its words where they fit: jail, banned, failures, matches (the lines
 * fail2ban's mail actions send). Pure: a WhyReport in, a string out. Every text that came from a log
 * or another replica is shown with control characters escaped (the daemon escapes them already; a
 * terminal must not depend on that).
 */
import { terminalText } from './terminal-text.js';
import type { WhyBan, WhyGroupBan, WhyLine, WhyReport } from './protocol.js';

interface Node {
  readonly text: string;
  readonly children?: readonly Node[];
}

/** True when the report says anything about the address (else the CLI exits 1). */
export function whyKnowsAnything(r: WhyReport): boolean {
  // Tolerant of any shape: `why --json` prints a daemon's answer unchecked and exits by this.
  const some = (v: unknown): boolean => Array.isArray(v) && v.length > 0;
  const x = (typeof r === 'object' && r !== null ? r : {}) as Partial<Record<keyof WhyReport, unknown>>;
  return some(x.active) || some(x.ended) || some(x.failing) || x.allowlisted === true || some(x.group) || x.unbanPending === true;
}

export function formatWhy(r: WhyReport): string {
  const what = r.ip.includes('/') ? 'network' : 'address';
  if (!whyKnowsAnything(r)) {
    return (
      `${safe(r.ip)}: not banned, no recent failures, and not among the last ${r.historySize} ended bans ` +
      `this agent (${safe(r.instance)}) remembers\n`
    );
  }
  const nodes: Node[] = [];
  if (r.allowlisted) nodes.push({ text: 'Allowlisted:\tyes (loopback, ignoreip, a trusted proxy or this host: never banned)' });
  nodes.push({ text: `Currently banned:\t${r.active.length}`, children: r.active.map((b) => banNode(b)) });
  if (r.unbanPending === true) nodes.push({ text: "Firewall:\tstill drops it: the unban is not applied yet (the last batch failed; retried every second)" });
  // The group's bans not in force here: "not banned" would be untrue of the other replicas.
  if (r.group !== undefined && r.group.length > 0) {
    // A group network ban holding the address is lifted by an unban of that network, not of the address.
    const targets = [...new Set(r.group.map((g) => g.ip))];
    const how = targets.length === 1 && targets[0] === r.ip ? 'banhammer unban here lifts it' : `banhammer unban ${targets.map(safe).join(' / ')} here lifts it`;
    nodes.push({ text: `Banned by the group, not here:\t${r.group.length} (the other replicas enforce it; ${how})`, children: r.group.map((g) => groupNode(g)) });
  }
  const failures = r.failing.reduce((n, f) => n + f.lines.length, 0);
  nodes.push({
    text: `Currently failed:\t${failures}`,
    children: r.failing.map((f) => ({
      text: `${safe(f.rule)}${f.container === null ? '' : `@${safe(f.container)}`}:\t${f.lines.length} failure${f.lines.length === 1 ? '' : 's'} not banned (yet)`,
      children: linesNodes(f.lines),
    })),
  });
  nodes.push({
    text: `Ban history:\t${r.ended.length} ended (of the last ${r.historySize} the agent remembers)`,
    children: r.ended.map((b) => banNode(b)),
  });
  return `${[`Status for the ${what}: ${safe(r.ip)}`, ...render(nodes, '')].join('\n')}\n`;
}

function banNode(b: WhyBan): Node {
  const kids: Node[] = [];
  if (b.ip.includes('/')) kids.push({ text: `Network ban:\t${safe(b.ip)}` });
  kids.push({ text: `Banned at:\t${safe(b.at ?? 'unknown')}` });
  kids.push({ text: `${b.ended === null ? 'Until' : 'Was until'}:\t${safe(b.until ?? 'permanent')}` });
  if (b.ended !== null) kids.push({ text: `Ended:\t${safe(b.ended.at ?? 'unknown')}, ${endText(b.ended)}` });
  if (b.firewall === 'retrying') kids.push({ text: "Firewall:\tNOT held yet: the last batch failed (the agent's log says why); retried every second" });
  if (b.firewall === 'refused') kids.push({ text: "Firewall:\tNOT held: the kernel refused it (the agent's log says why)" });
  // A network a rule banned (IPv6 network escalation, here or at a replica): its count is of the
  // network's addresses banned, and its lines the last of each of their bans.
  const escalated = b.ip.includes('/') && (b.source === 'detected' || b.source === 'group-count');
  kids.push({ text: `Source:\t${escalated ? `IPv6 network escalation (${b.failures} of its addresses banned by this agent; the line that banned each below)` : sourceText(b)}` });
  if (!escalated) kids.push({ text: `Failures:\t${b.failures}` });
  kids.push({ text: `Times banned:\t${b.nth}` });
  if (b.container !== null) kids.push({ text: `Container:\t${safe(b.container)}${b.containerId !== null ? ` (${safe(b.containerId.slice(0, 12))})` : ''}` });
  if (b.origin !== null) kids.push({ text: `Origin:\t${safe(b.origin)}` });
  const files = [...new Set(b.evidence.map((l) => l.file ?? '-'))];
  // From the group's count, the lines not here are mostly the other replicas' failures.
  const omitted = b.evidenceOmitted <= 0 ? '' : b.source === 'group-count' ? `, ${b.evidenceOmitted} more counted by other replicas or not kept` : `, ${b.evidenceOmitted} more not kept`;
  if (b.evidence.length === 0) {
    kids.push({ text: `Matches:\tnone kept${b.source === 'manual' || b.source === 'group' ? ' (no log line made this ban)' : omitted}` });
  } else {
    const where = files.length === 1 ? ` in ${safe(files[0]!)}` : '';
    kids.push({ text: `Matches:\t${b.evidence.length} line${b.evidence.length === 1 ? '' : 's'}${where}${omitted}`, children: linesNodes(b.evidence, files.length > 1) });
  }
  return { text: `Jail:\t${safe(b.jail)}`, children: kids };
}

function groupNode(g: WhyGroupBan): Node {
  const kids: Node[] = [];
  if (g.ip.includes('/')) kids.push({ text: `Network ban:\t${safe(g.ip)}` });
  kids.push({ text: `Banned at:\t${safe(g.at ?? 'unknown')}` });
  kids.push({ text: `Until:\t${safe(g.until ?? 'permanent')}` });
  kids.push({ text: `Source:\ta ban by replica ${safe(g.from)} (shared through Redis)` });
  if (g.containerId !== null) kids.push({ text: `Container:\t${safe(g.containerId.slice(0, 12))}` });
  return { text: `Jail:\t${safe(g.rule)}`, children: kids };
}

function linesNodes(lines: readonly WhyLine[], withFile = false): Node[] {
  return lines.map((l) => ({ text: withFile ? `${safe(l.file ?? '-')}: ${safe(l.line)}` : safe(l.line) }));
}

function sourceText(b: WhyBan): string {
  switch (b.source) {
    case 'detected':
      return 'the access log (this agent counted the failures)';
    case 'group-count':
      return "the group's count (failures counted by several replicas; the lines are this replica's)";
    case 'manual':
      return 'banhammer ban (control socket)';
    case 'group':
      return `a ban by replica ${safe(b.from ?? '?')} (shared through Redis)`;
  }
}

function endText(e: NonNullable<WhyBan['ended']>): string {
  const by = e.by ?? '';
  const replica = by.startsWith('group:') ? safe(by.slice(6)) : null;
  switch (e.reason) {
    case 'expired':
      return 'expired';
    case 'unbanned':
      if (by === 'control') return 'unbanned with banhammer unban (control socket)';
      if (by === 'control-all') return 'unbanned with banhammer unban --all (control socket)';
      if (replica !== null) return `unbanned by replica ${replica} (shared through Redis)`;
      break;
    case 'allowlisted':
      if (by === 'reload') return 'lifted: the reloaded configuration allowlists it';
      if (by === 'restore') return 'lifted at start: the configuration allowlists it';
      if (by === 'host-address') return "lifted: it became one of this host's own addresses";
      break;
    case 'refused':
      if (by === 'restore: the enforcer holds no networks') return 'not restored at start: this enforcer cannot hold networks';
      if (by.startsWith('restore: overlaps ')) return `not restored at start: it overlaps the banned network ${safe(by.slice('restore: overlaps '.length))}`;
      if (by === 'restore: a ban for one container, outside host mode') return 'not restored at start: it applied to one container (host mode), and this agent is not in host mode';
      if (by.startsWith('cap: ')) return `ended early to make room: ${safe(by.slice('cap: '.length))}`;
      break;
    case 'replaced':
      if (by === 'ban') return 'replaced by a new banhammer ban';
      if (replica !== null) return `replaced by a longer ban from replica ${replica}`;
      break;
  }
  return by === '' ? safe(e.reason) : `${safe(e.reason)} (by ${safe(by)})`;
}

function render(nodes: readonly Node[], prefix: string): string[] {
  const out: string[] = [];
  nodes.forEach((n, i) => {
    const last = i === nodes.length - 1;
    out.push(`${prefix}${last ? '`- ' : '|- '}${n.text}`);
    if (n.children !== undefined && n.children.length > 0) out.push(...render(n.children, `${prefix}${last ? '   ' : '|  '}`));
  });
  return out;
}

/** Text for a terminal (terminal-text.ts). */
const safe = terminalText;
