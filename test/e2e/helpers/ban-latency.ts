/**
 * How long an attacker is still served after earning its ban, measured from the outside: `maxretry`
 * requests for a 403 page, then probes (each a further 403 while it is still answered) until one
 * gets no answer, bounded by `deadlineMs`; null when never blocked. Figures, all from the moment the
 * maxretry-th request was sent (one clock: the machine's):
 *   blockedMs  start of the first unanswered probe (an upper bound for when the ban took effect);
 *   agentMs    the `time` of the agent's "ban" log record (written once the kernel holds the address
 *              and the state file is durable), when the agent's log is given.
 */
import { expect } from 'vitest';

/** A client that can send one GET from its own address (a network namespace). */
export interface Prober {
  readonly clientAddr: string;
  get(port: number, path: string, timeoutS?: number): Promise<{ status: number | null }>;
}

export interface BanLatency {
  readonly blockedMs: number;
  readonly agentMs: number | null;
  readonly extra403: number;
}

export async function banLatency(
  ns: Prober,
  port: number,
  path: string,
  maxretry: number,
  agentLog?: () => Promise<string>,
  deadlineMs = 5000,
): Promise<BanLatency | null> {
  for (let i = 0; i < maxretry - 1; i++) expect((await ns.get(port, `${path}?try=${i}`)).status, `403 number ${i + 1}`).toBe(403);
  const sent = Date.now();
  expect((await ns.get(port, `${path}?try=${maxretry - 1}`)).status, `403 number ${maxretry}`).toBe(403);
  let extra403 = 0;
  let blockedAt: number | null = null;
  while (Date.now() - sent < deadlineMs) {
    const ts = Date.now();
    const r = await ns.get(port, `${path}?probe=${extra403}`, 0.25);
    if (r.status === null) {
      blockedAt = ts;
      break;
    }
    expect(r.status).toBe(403);
    extra403++;
  }
  if (blockedAt === null) return null;
  let agentMs: number | null = null;
  if (agentLog !== undefined) {
    const rec = (await agentLog())
      .split('\n')
      .filter((l) => l.startsWith('{') && l.includes('"msg":"ban"'))
      .map((l) => JSON.parse(l) as { time: string; ip: string })
      .find((r) => r.ip === ns.clientAddr);
    if (rec !== undefined) agentMs = Date.parse(rec.time) - sent;
  }
  return { blockedMs: blockedAt - sent, agentMs, extra403 };
}
