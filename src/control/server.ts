/**
 * The daemon side of the control socket (protocol in ./protocol.ts).
 *
 * Access control is the file system: the parent directory is created 0700 when missing, and the
 * socket is bound under umask 0177 and then chmod-ed 0600, so at no moment can another user connect.
 * The daemon runs as root, hence only root can talk to it. A directory that exists already is refused
 * when another user owns it or others may write to it without the sticky bit (they could replace the
 * socket).
 *
 * A socket file left by a crashed daemon is removed; if a live daemon answers on it, startup fails
 * with BH_ERR_CONTROL_IN_USE, and a path that exists but is not a socket is never deleted, except
 * one another user planted in a sticky directory (plantedByOther), which is removed.
 *
 * Per connection: requests are handled one at a time in arrival order; a line longer than
 * MAX_REQUEST_BYTES is answered with an error and the connection closed; a connection idle for
 * IDLE_TIMEOUT_MS is closed, and so is one whose request line has not arrived whole IDLE_TIMEOUT_MS
 * after its first byte (a trickle re-arms the idle timer); requests are answered one per turn of the
 * event loop; at most MAX_CONNECTIONS are served at once: one more closes the connection that went
 * longest without a request. A client may pipeline requests, but one that does not read its answers
 * is not read either: reading pauses while 32 requests wait, an answer is written only once the
 * client has taken the ones before it, and a client stuck that way for IDLE_TIMEOUT_MS is closed,
 * so memory stays bounded per connection. Handler errors become error responses (BanhammerError keeps its
 * code, message and hint; anything else is BH_ERR_INTERNAL and is also passed to onError).
 * close() stops listening, drops open connections and removes the socket if it is still ours.
 */
import { mkdirSync, statSync } from 'node:fs';
import { chmod, lstat, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { BanhammerError, isBanhammerError } from '../errors.js';
import { jsonSteps } from '../decide/state-store.js';
import { encodeChunks, runYielding, STEP_UNITS } from '../yielding.js';
import {
  encodeResponse,
  IDLE_TIMEOUT_MS,
  MAX_REQUEST_BYTES,
  parseRequest,
  PROTOCOL_VERSION,
  type ControlRequest,
  type ControlResponse,
  type ErrorBody,
  type StatusReport,
  type WhyReport,
} from './protocol.js';

/** What the daemon provides; each method may answer synchronously or with a promise. */
export interface ControlHandler {
  /** `opts.brief`: the ban lists may be left out (the server leaves them out in any case). */
  status(rule?: string, opts?: { brief?: boolean }): Promise<StatusReport> | StatusReport;
  /**
   * status() built in slices, giving the event loop turns (the agent's, at 500,000 bans: review
   * H34); the server asks it instead of status() when the handler has it.
   */
  statusInSlices?(rule?: string, opts?: { brief?: boolean }): Promise<StatusReport>;
  /** forMs null: the rule's bantime (permanent for a manual ban); `permanent`: never expires, whatever the rule. */
  ban(ip: string, opts: { rule?: string; forMs: number | null; permanent?: boolean; container?: string }): Promise<unknown> | unknown;
  /** Returns how many bans were lifted (only the one for `container` when given). */
  unban(ip: string, opts?: { container?: string }): Promise<number> | number;
  unbanAll(): Promise<number> | number;
  reload(): Promise<void> | void;
  /** What is known about an address or network (canonical): bans, their lines, failures, history. */
  why(ip: string): Promise<WhyReport> | WhyReport;
}

export interface ControlServerOptions {
  socketPath: string;
  handler: ControlHandler;
  /** Unexpected (non-BanhammerError) handler failures and socket errors; for the daemon's log. */
  onError?: (e: unknown) => void;
  /** Defaults to IDLE_TIMEOUT_MS. */
  idleTimeoutMs?: number;
  /** Defaults to MAX_REQUEST_BYTES. */
  maxRequestBytes?: number;
  /** Open connections served at once; defaults to MAX_CONNECTIONS. */
  maxConnections?: number;
}

/**
 * Connections served at once. Each may hold one answer its client has not read (a status of 100,000
 * bans is ~13 MB) and a descriptor the agent needs for its logs, state and firewall commands; the
 * CLI and the healthcheck open one each, briefly. A connection past the cap closes the one that went
 * longest without a request, so held connections never lock them out.
 */
export const MAX_CONNECTIONS = 64;

export interface ControlServer {
  close(): Promise<void>;
}

export async function startControlServer(opts: ControlServerOptions): Promise<ControlServer> {
  const { socketPath, handler } = opts;
  const onError = opts.onError ?? (() => {});
  const idleMs = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  const maxBytes = opts.maxRequestBytes ?? MAX_REQUEST_BYTES;
  const maxConnections = opts.maxConnections ?? MAX_CONNECTIONS;

  ensureParentDir(socketPath);
  await clearStaleSocket(socketPath);

  /** Open connections, each with when it last sent a request (or opened). */
  const connections = new Map<Socket, { active: number }>();
  let tick = 0;
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    // At the cap, the connection that went longest without a request makes room: clients that hold
    // connections (blank lines keep one open) cannot lock the CLI and the healthcheck out.
    if (connections.size >= maxConnections) {
      let stalest: Socket | null = null;
      let oldest = Infinity;
      for (const [c, st] of connections) if (st.active < oldest) [stalest, oldest] = [c, st.active];
      if (stalest === null) return refuseConnection(sock, maxConnections);
      connections.delete(stalest);
      stalest.destroy();
    }
    const state = { active: ++tick };
    connections.set(sock, state);
    sock.on('close', () => connections.delete(sock));
    serveConnection(sock, handler, { idleMs, maxBytes, onError, onRequest: () => (state.active = ++tick) });
  });
  // A file planted again between the removal and the bind (a sticky directory) is removed again, a
  // few times; a live agent of ours that took the path meanwhile is refused as at the start.
  for (let attempt = 1; ; attempt++) {
    try {
      await listenPrivately(server, socketPath);
      break;
    } catch (e) {
      if (attempt >= 5 || !isBanhammerError(e) || e.code !== 'BH_ERR_CONTROL_IN_USE' || !(await removeForeign(socketPath))) throw e;
    }
  }
  // Listen failures were thrown above; later server errors go to the daemon's log.
  server.on('error', onError);
  let ours: ReturnType<typeof statSync>;
  try {
    // Belt and braces: the umask already gave 0600; make it explicit whatever the platform did.
    await chmod(socketPath, 0o600);
    ours = statSync(socketPath);
  } catch (e) {
    server.close();
    throw new BanhammerError('BH_ERR_CONTROL', `cannot restrict the control socket ${socketPath} to root: ${(e as Error).message}`, { cause: e });
  }

  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const c of connections.keys()) c.destroy();
        });
        // Remove the socket only if it is still the one we bound (not a successor's).
        try {
          const now = await lstat(socketPath);
          if (now.ino === ours.ino && now.dev === ours.dev) await unlink(socketPath);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') onError(e);
        }
      })();
      return closing;
    },
  };
}

function ensureParentDir(socketPath: string): void {
  const dir = dirname(socketPath);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new BanhammerError('BH_ERR_CONTROL', `cannot create the control socket directory ${dir}: ${(e as Error).message}`, {
      hint: 'run as root, or set BANHAMMER_SOCKET to a writable path',
      cause: e,
    });
  }
  // A directory that existed is used as it is: in one others may write to (without the sticky bit
  // that keeps them from renaming root's files) or that another user owns, anyone could put their
  // own socket in the agent's place, and the CLI and the healthcheck would believe it.
  const st = statSync(dir);
  const uid = process.getuid?.();
  const othersWrite = (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0;
  const foreign = uid !== undefined && st.uid !== uid && st.uid !== 0;
  if (othersWrite || foreign) {
    throw new BanhammerError('BH_ERR_CONTROL', `the control socket directory ${dir} ${foreign ? `belongs to another user (uid ${st.uid})` : `is writable by others (mode ${(st.mode & 0o7777).toString(8)})`}: anyone could replace the socket`, {
      hint: `make it root's and not group- or world-writable (chmod 700 ${dir}), or set BANHAMMER_SOCKET to a path in such a directory`,
    });
  }
}

/**
 * Whether an entry at the socket path belongs to another user than root or the agent's. The directory
 * is root's (or the agent's) and no one else may write to it except with the sticky bit (ensureParentDir),
 * so such an entry was planted there, in a directory like /tmp, before the agent bound its socket: a
 * file, a symlink or a socket another user listens on. It is not an agent of ours (the CLI refuses a
 * socket owned so, client.ts) and not the operator's file; refusing to start on it let any local user
 * switch the protection off.
 */
function plantedByOther(st: { uid: number }): boolean {
  const uid = process.getuid?.();
  return uid !== undefined && st.uid !== uid && st.uid !== 0;
}

/** Removes a planted entry (plantedByOther) at the path; true when one was removed. */
async function removeForeign(socketPath: string): Promise<boolean> {
  try {
    const st = await lstat(socketPath);
    if (!plantedByOther(st) || st.isDirectory()) return false;
    await unlink(socketPath);
    return true;
  } catch {
    return false;
  }
}

/** Removes a dead socket file; throws when a daemon answers on it or the path is not a socket. */
async function clearStaleSocket(socketPath: string): Promise<void> {
  let st;
  try {
    st = await lstat(socketPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new BanhammerError('BH_ERR_CONTROL', `cannot inspect ${socketPath}: ${(e as Error).message}`, { cause: e });
  }
  if (plantedByOther(st) && !st.isDirectory()) {
    try {
      await unlink(socketPath);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new BanhammerError('BH_ERR_CONTROL', `cannot remove ${socketPath}, which another user (uid ${st.uid}) put there: ${(e as Error).message}`, {
        hint: 'remove it, or set BANHAMMER_SOCKET to a path in a directory only root may write to',
        cause: e,
      });
    }
  }
  if (!st.isSocket()) {
    throw new BanhammerError('BH_ERR_CONTROL', `${socketPath} exists and is not a socket; refusing to replace it`, {
      hint: 'remove it, or set BANHAMMER_SOCKET to another path',
    });
  }
  const live = await new Promise<boolean | NodeJS.ErrnoException>((resolve) => {
    const probe = createConnection(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' || e.code === 'ENOENT' ? false : e));
  });
  if (live === true) {
    throw new BanhammerError('BH_ERR_CONTROL_IN_USE', `another banhammer is already running on ${socketPath}`, {
      hint: 'stop it first, or give this instance its own BANHAMMER_SOCKET',
    });
  }
  if (live !== false) {
    throw new BanhammerError('BH_ERR_CONTROL', `cannot probe the existing socket ${socketPath}: ${live.message}`, { cause: live });
  }
  try {
    await unlink(socketPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new BanhammerError('BH_ERR_CONTROL', `cannot remove the stale socket ${socketPath}: ${(e as Error).message}`, { cause: e });
    }
  }
}

/**
 * Binds under umask 0177 so the socket is born 0600. Node binds a pipe synchronously inside
 * listen() (primary process), so the umask is restored before any other code runs.
 */
function listenPrivately(server: Server, socketPath: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onListenError = (e: NodeJS.ErrnoException) => {
      reject(
        new BanhammerError(
          e.code === 'EADDRINUSE' ? 'BH_ERR_CONTROL_IN_USE' : 'BH_ERR_CONTROL',
          `cannot listen on ${socketPath}: ${e.message}`,
          { hint: 'check that the directory is writable by root and no other daemon uses it', cause: e },
        ),
      );
    };
    server.once('error', onListenError);
    const old = process.umask(0o177);
    try {
      server.listen(socketPath, () => {
        server.off('error', onListenError);
        resolve();
      });
    } finally {
      process.umask(old);
    }
  });
}

/** One connection too many: an error answer (without reading the request), then closed. */
function refuseConnection(sock: Socket, max: number): void {
  sock.on('error', () => {});
  const error: ErrorBody = {
    code: 'BH_ERR_CONTROL',
    message: `too many control connections open (${max}); this one is closed`,
    hint: 'try again in a moment; check for a stuck client of the control socket',
  };
  sock.end(encodeResponse({ v: PROTOCOL_VERSION, ok: false, error }));
  sock.resume(); // discard what it sends, so the end is not held up
  setTimeout(() => sock.destroy(), 1000).unref();
}

/** Requests of one connection read and not yet answered before the server stops reading it. */
const MAX_PENDING_REQUESTS = 32;

function serveConnection(
  sock: Socket,
  handler: ControlHandler,
  opts: { idleMs: number; maxBytes: number; onError: (e: unknown) => void; onRequest?: () => void },
): void {
  let buffered: Buffer[] = [];
  let bufferedBytes = 0;
  let queue: Promise<void> = Promise.resolve();
  let done = false;
  let pending = 0;
  /** Reading is paused: too many requests waiting for their answer (see MAX_PENDING_REQUESTS). */
  let paused = false;
  /** An answer waits for the client to read the ones before it. */
  let blocked = false;
  /** Closed for idleness: the requests still waiting are dropped, never run (nobody would read the answers). */
  let abandoned = false;

  // Idle means no request in flight and nothing received: a slow reload is not idleness. Node
  // re-arms the timer on the next read or write, so the answer restarts the count. A client that
  // stopped reading its answers is idle too, whatever it still has in flight.
  sock.setTimeout(opts.idleMs, () => {
    if (pending === 0 || blocked) {
      abandoned = true;
      sock.destroy();
    }
  });
  sock.on('error', (e: NodeJS.ErrnoException) => {
    // A client hanging up mid-answer is ordinary; anything else is worth a log line.
    if (e.code !== 'EPIPE' && e.code !== 'ECONNRESET') opts.onError(e);
  });

  const send = (body: string | Buffer) => {
    if (!sock.destroyed && sock.writable) sock.write(body);
  };

  /**
   * Resolves once the client has read enough of the answers already written (or is gone): a client
   * that pipelines requests and never reads them would otherwise have every answer (a status of
   * 100,000 bans each) buffered in the agent until it runs out of memory.
   */
  const drained = (): Promise<void> => {
    if (sock.destroyed || !sock.writableNeedDrain) return Promise.resolve();
    blocked = true;
    return new Promise<void>((resolve) => {
      const go = (): void => {
        sock.off('drain', go);
        sock.off('close', go);
        blocked = false;
        resolve();
      };
      sock.on('drain', go);
      sock.on('close', go);
    });
  };

  const enqueue = (line: string) => {
    opts.onRequest?.();
    pending++;
    // Requests read but not answered stay few: reading stops until the answers catch up.
    if (pending >= MAX_PENDING_REQUESTS && !paused) {
      paused = true;
      sock.pause();
      stopLineTimer();
    }
    queue = queue.then(async () => {
      // One request per turn of the event loop: chained on promises alone, every request of one read
      // ran back to back (~2,000 `status manual` of 7 ms each with 100,000 bans), and the agent read
      // no line, lifted no expiry and sent no batch meanwhile.
      await new Promise<void>((resolve) => setImmediate(resolve));
      await drained();
      if (abandoned) {
        pending--;
        return;
      }
      const response = await answer(line, handler, opts.onError);
      pending--;
      if (paused && !done && pending < MAX_PENDING_REQUESTS / 2) {
        paused = false;
        sock.resume();
        armLineTimer();
      }
      let body: string | Iterable<Buffer>;
      try {
        body = await encodeInSlices(response);
      } catch (e) {
        // A result JSON cannot carry (a BigInt, a cycle) is a daemon bug; say so instead of hanging.
        opts.onError(e);
        body = encodeResponse(internalError(e));
      }
      if (typeof body === 'string') send(body);
      else {
        // One Buffer (about 1 MB) per turn of the event loop: made as it is sent.
        let first = true;
        for (const chunk of body) {
          if (!first) await new Promise<void>((resolve) => setImmediate(resolve));
          first = false;
          send(chunk);
        }
      }
    });
    // Nothing above should throw; if something does, this connection ends and the agent goes on
    // (a rejected queue was an unhandled rejection, which ends the process).
    queue = queue.catch((e: unknown) => {
      opts.onError(e);
      abandoned = true;
      sock.destroy();
    });
  };

  /**
   * Runs while part of a request line is buffered: the idle timer is re-armed by every byte, so a
   * client sending one byte every few seconds was never idle and never closed (slowloris). A request
   * must arrive whole within idleMs of its first byte.
   */
  let lineTimer: NodeJS.Timeout | null = null;
  const stopLineTimer = (): void => {
    if (lineTimer !== null) clearTimeout(lineTimer);
    lineTimer = null;
  };
  /** Counts only while the server reads: a client waiting on our paused reading is not slow. */
  const armLineTimer = (): void => {
    if (bufferedBytes === 0 || lineTimer !== null || done || paused) return;
    lineTimer = setTimeout(() => {
      lineTimer = null;
      abandoned = true;
      sock.destroy();
    }, opts.idleMs);
  };
  sock.on('close', stopLineTimer);

  sock.on('data', (chunk: Buffer) => {
    if (done) return;
    if (chunk.indexOf(0x0a) >= 0) stopLineTimer();
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      if (bufferedBytes + piece.length > opts.maxBytes) return tooLarge();
      const line = Buffer.concat([...buffered, piece]).toString('utf8');
      buffered = [];
      bufferedBytes = 0;
      start = nl + 1;
      if (line.trim() !== '') enqueue(line);
    }
    const rest = chunk.subarray(start);
    if (bufferedBytes + rest.length > opts.maxBytes) return tooLarge();
    if (rest.length > 0) {
      buffered.push(rest);
      bufferedBytes += rest.length;
    }
    armLineTimer();
  });

  sock.on('end', () => {
    stopLineTimer();
    if (done) return;
    done = true;
    // A final request without a trailing newline is still a request.
    const tail = Buffer.concat(buffered).toString('utf8');
    if (tail.trim() !== '') enqueue(tail);
    void queue.then(() => sock.end());
  });

  function tooLarge(): void {
    stopLineTimer();
    done = true;
    buffered = [];
    sock.pause();
    const error: ErrorBody = {
      code: 'BH_ERR_CONTROL',
      message: `request larger than ${opts.maxBytes} bytes`,
      hint: 'send one JSON object per line',
    };
    void queue.then(() => {
      if (!sock.destroyed) sock.end(encodeResponse({ v: PROTOCOL_VERSION, ok: false, error }));
      // Do not wait for the client to drain what it is still sending.
      setTimeout(() => sock.destroy(), 1000).unref();
    });
  }
}

/**
 * encodeResponse's bytes: one string for a small answer; for one of many elements (a status of
 * 500,000 bans is about 75 MB of JSON, 0.3 s of one JSON.stringify) rendered in slices
 * (decide/state-store.ts jsonSteps) and handed over as Buffers of about 1 MB, made as they are sent.
 */
async function encodeInSlices(response: ControlResponse): Promise<string | Iterable<Buffer>> {
  if (!response.ok || !isLarge(response.result)) return encodeResponse(response);
  const parts = await runYielding(jsonSteps(response, [], 5));
  parts.push('\n');
  return encodeChunks(parts, 'utf8');
}

/** A status report listing more bans than a few slices' worth. */
function isLarge(result: unknown): boolean {
  const rules = (result as { rules?: unknown } | null)?.rules;
  if (!Array.isArray(rules)) return false;
  let n = 0;
  for (const r of rules) n += Array.isArray((r as { bans?: unknown } | null)?.bans) ? (r as { bans: unknown[] }).bans.length : 0;
  return n > STEP_UNITS;
}

async function answer(line: string, handler: ControlHandler, onError: (e: unknown) => void): Promise<ControlResponse> {
  try {
    // Inside the try: a request that made validation throw must be an answer, not a rejected queue.
    const parsed = parseRequest(line);
    if (!parsed.ok) return { v: PROTOCOL_VERSION, ok: false, error: parsed.error };
    const result = await dispatch(parsed.request, handler);
    return { v: PROTOCOL_VERSION, ok: true, result: result ?? null };
  } catch (e) {
    if (isBanhammerError(e)) {
      return { v: PROTOCOL_VERSION, ok: false, error: { code: e.code, message: e.message, hint: e.hint ?? null } };
    }
    onError(e);
    return internalError(e);
  }
}

function internalError(e: unknown): ControlResponse {
  return {
    v: PROTOCOL_VERSION,
    ok: false,
    error: {
      code: 'BH_ERR_INTERNAL',
      message: `internal error: ${thrownText(e)}`,
      hint: 'see the daemon log for details',
    },
  };
}

/** What was thrown, as text; never throws itself (String() of a null-prototype object does). */
function thrownText(e: unknown): string {
  try {
    return e instanceof Error ? String(e.message) : String(e);
  } catch {
    return 'a value that is not an Error';
  }
}

/** A status report without its ban lists (the `brief` request): counts and health as they are. */
export function briefStatus(report: StatusReport): StatusReport {
  return {
    ...report,
    rules: report.rules.map(({ bans: _bans, ...rule }) => ({ ...rule, bannedIps: [] })),
    brief: true,
  };
}

async function dispatch(r: ControlRequest, h: ControlHandler): Promise<unknown> {
  switch (r.op) {
    case 'status': {
      // (Called with the arguments status() always had: a brief one with its options, a full one without.)
      const status = (rule: string | undefined, o?: { brief: true }): Promise<StatusReport> | StatusReport => {
        if (h.statusInSlices !== undefined) return o === undefined ? h.statusInSlices(rule) : h.statusInSlices(rule, o);
        return o === undefined ? h.status(rule) : h.status(rule, o);
      };
      return r.brief === true ? briefStatus(await status(r.rule, { brief: true })) : status(r.rule);
    }
    case 'ban':
      return h.ban(r.ip, { forMs: r.forMs, ...(r.permanent === true ? { permanent: true } : {}), ...(r.rule !== undefined ? { rule: r.rule } : {}), ...(r.container !== undefined ? { container: r.container } : {}) });
    case 'unban':
      return r.container === undefined ? h.unban(r.ip) : h.unban(r.ip, { container: r.container });
    case 'unban-all':
      return h.unbanAll();
    case 'reload':
      return h.reload();
    case 'why':
      return h.why(r.ip);
  }
}
