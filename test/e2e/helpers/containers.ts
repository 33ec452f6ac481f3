/**
 * Containers and volumes of one e2e run: every name carries a per-run tag, is recorded when
 * created, and removeAll() deletes all of them (containers with -f -v), whatever state they are in.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { IMAGE } from './images.js';
import { run, runOk } from './run.js';

export const RUN_TAG = `bhe2e-${randomBytes(3).toString('hex')}`;

export interface ContainerSpec {
  readonly name: string;
  readonly env?: Record<string, string>;
  readonly netAdmin?: boolean;
  /** volume name → mount point */
  readonly volumes?: Record<string, string>;
  readonly image?: string;
  /** More `docker run` options, before the image (e.g. --health-interval). */
  readonly extraArgs?: readonly string[];
}

export class Containers {
  private readonly containers: string[] = [];
  private readonly volumes: string[] = [];

  async start(spec: ContainerSpec): Promise<string> {
    const name = `${RUN_TAG}-${spec.name}`;
    const args = ['run', '-d', '--name', name, '--network', 'host'];
    if (spec.netAdmin ?? true) args.push('--cap-add', 'NET_ADMIN');
    for (const [k, v] of Object.entries(spec.env ?? {})) args.push('-e', `${k}=${v}`);
    for (const [vol, at] of Object.entries(spec.volumes ?? {})) {
      const v = `${RUN_TAG}-${vol}`;
      if (!this.volumes.includes(v)) this.volumes.push(v);
      args.push('-v', `${v}:${at}`);
    }
    args.push(...(spec.extraArgs ?? []), spec.image ?? IMAGE);
    this.containers.push(name);
    await runOk('docker', args, { timeoutMs: 60_000 });
    return name;
  }

  track(name: string): void {
    if (!this.containers.includes(name)) this.containers.push(name);
  }

  /** A volume made elsewhere (a compose project's), removed by removeAll() unless already gone. */
  trackVolume(name: string): void {
    if (!this.volumes.includes(name)) this.volumes.push(name);
  }

  async removeAll(): Promise<void> {
    for (const c of this.containers.splice(0)) await run('docker', ['rm', '-f', '-v', c], { timeoutMs: 60_000 });
    for (const v of this.volumes.splice(0)) await run('docker', ['volume', 'rm', '-f', v], { timeoutMs: 60_000 });
  }
}

export async function logs(container: string): Promise<{ stdout: string; stderr: string }> {
  const r = await run('docker', ['logs', container], { timeoutMs: 30_000 });
  return { stdout: r.stdout, stderr: r.stderr };
}

/** The container's health as Docker reports it ('starting', 'healthy', 'unhealthy'), with the last probe's output. */
export async function health(container: string): Promise<{ status: string; lastOutput: string }> {
  const r = await runOk('docker', ['inspect', '-f', '{{json .State.Health}}', container]);
  const h = JSON.parse(r.stdout) as { Status: string; Log: Array<{ Output: string }> | null } | null;
  return { status: h?.Status ?? 'none', lastOutput: h?.Log?.at(-1)?.Output.trim() ?? '' };
}

export async function state(container: string): Promise<{ status: string; exitCode: number }> {
  const r = await runOk('docker', ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', container]);
  const [status = '', code = ''] = r.stdout.trim().split(' ');
  return { status, exitCode: Number(code) };
}

/** Polls `probe` every `everyMs` until it returns a value other than undefined, at most `tries` times. */
export async function poll<T>(probe: () => Promise<T | undefined>, tries: number, everyMs = 250): Promise<T | undefined> {
  for (let i = 0; i < tries; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await sleep(everyMs);
  }
  return undefined;
}

/** Ports freePort() handed out in this process (a port is never handed out twice). */
const handedOut = new Set<number>();

/** Whether `port` can be listened on now, on every address (IPv4 and IPv6). */
function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '::', ipv6Only: false }, () => s.close(() => resolve(true)));
  });
}

/**
 * A TCP port nothing listens on right now (on all addresses), for HTTP_PORT and the like. Taken
 * below the kernel's ephemeral range (ip_local_port_range): the unit and integration tests run beside
 * the e2e files and listen on port 0 all the time, and a port from that range, free when chosen, was
 * taken by one of them before Docker bound it ("port is already allocated"). At most 200 tries,
 * then any free port.
 */
export async function freePort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: the default range
  }
  const top = Math.max(2048, low - 1);
  const bottom = Math.max(1024, top - 12_000);
  for (let i = 0; i < 200; i++) {
    const port = bottom + Math.floor(Math.random() * (top - bottom + 1));
    if (handedOut.has(port) || !(await listenable(port))) continue;
    handedOut.add(port);
    return port;
  }
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** HTTP GET from the host; status, or null when nothing answered within timeoutMs. */
export async function httpStatus(port: number, path = '/', timeoutMs = 2000): Promise<number | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return null;
  }
}
