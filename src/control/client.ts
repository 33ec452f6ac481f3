/**
 * The CLI side of the control socket: one request, one response, then the connection is closed.
 *
 * Every failure is a BanhammerError the CLI can print as is:
 *  - no socket, or nobody listening (ENOENT, ECONNREFUSED): BH_ERR_DAEMON_NOT_RUNNING;
 *  - permission denied (EACCES, EPERM): BH_ERR_CONTROL saying root is needed;
 *  - no answer within timeoutMs, a connection closed early, or a malformed answer: BH_ERR_CONTROL;
 *  - a socket owned by another user than root or the caller, in a directory that user does not own
 *    alone: BH_ERR_CONTROL, before connecting. The agent makes its socket 0600 in a directory only it
 *    may write (server.ts); any other socket at that path may be an impostor, whose "lifted" or
 *    "banned" the CLI must not believe;
 *  - an error response: a BanhammerError with the daemon's own code, message and hint.
 */
import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { createConnection } from 'node:net';
import { BanhammerError } from '../errors.js';
import { encodeRequest, MAX_RESPONSE_BYTES, parseResponse, type ControlRequest, type ResultOf } from './protocol.js';

export interface ControlRequestOptions {
  /** Overall deadline: connect, send, and receive the answer. */
  timeoutMs: number;
}

/**
 * Why the socket at `socketPath` is not to be trusted, or null (also when it is missing: connecting
 * says so). Trusted: a socket of root's or the caller's, or one whose owner also owns its directory
 * when no one else may write there (an agent run as a service user, in a directory of its own: the
 * rule the agent itself keeps for the directory, server.ts).
 */
export function foreignSocket(socketPath: string, uid: number | undefined = process.getuid?.()): string | null {
  if (uid === undefined) return null;
  let owner: number;
  try {
    owner = lstatSync(socketPath).uid;
  } catch {
    return null;
  }
  if (owner === 0 || owner === uid) return null;
  try {
    const dir = lstatSync(dirname(socketPath));
    if (dir.isDirectory() && dir.uid === owner && (dir.mode & 0o022) === 0) return null;
  } catch {
    // no directory to vouch for it
  }
  return `the control socket ${socketPath} belongs to another user (uid ${owner}), not to root or you, and its directory is not that user's alone`;
}

export function controlRequest<R extends ControlRequest>(socketPath: string, request: R, opts: ControlRequestOptions): Promise<ResultOf<R>> {
  const foreign = foreignSocket(socketPath);
  if (foreign !== null) {
    return Promise.reject(new BanhammerError('BH_ERR_CONTROL', foreign, { hint: 'banhammer runs as root; remove that file and restart the agent', data: { socketPath } }));
  }
  return new Promise<ResultOf<R>>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const sock = createConnection(socketPath);

    const finish = (err: BanhammerError | null, value?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value as ResultOf<R>);
    };

    const timer = setTimeout(() => {
      finish(
        new BanhammerError('BH_ERR_CONTROL', `banhammer did not answer within ${opts.timeoutMs} ms (socket ${socketPath})`, {
          hint: 'the daemon may be busy or hung; check its log',
          data: { socketPath, op: request.op },
        }),
      );
    }, opts.timeoutMs);

    sock.once('connect', () => sock.write(encodeRequest(request)));

    sock.on('error', (e: NodeJS.ErrnoException) => finish(connectError(socketPath, e)));

    sock.on('data', (chunk: Buffer) => {
      const nl = chunk.indexOf(0x0a);
      const part = nl >= 0 ? chunk.subarray(0, nl) : chunk;
      size += part.length;
      if (size > MAX_RESPONSE_BYTES) {
        finish(
          new BanhammerError('BH_ERR_CONTROL', `answer from banhammer larger than ${MAX_RESPONSE_BYTES} bytes`, {
            hint: request.op === 'status' ? 'banhammer status --json --brief gives the counts without the lists of banned addresses' : 'is the CLI the same version as the daemon?',
            data: { socketPath },
          }),
        );
        return;
      }
      chunks.push(part);
      if (nl >= 0) handleLine(Buffer.concat(chunks).toString('utf8'));
    });

    sock.on('end', () => {
      finish(
        new BanhammerError('BH_ERR_CONTROL', `banhammer closed the control connection without answering (socket ${socketPath})`, {
          hint: 'check the daemon log',
          data: { socketPath, op: request.op },
        }),
      );
    });

    function handleLine(line: string): void {
      const response = parseResponse(line);
      if (response === null) {
        finish(
          new BanhammerError('BH_ERR_CONTROL', `malformed answer from banhammer on ${socketPath}`, {
            hint: 'is the CLI the same version as the daemon?',
            data: { socketPath },
          }),
        );
      } else if (response.ok) {
        finish(null, response.result);
      } else {
        const { code, message, hint } = response.error;
        finish(new BanhammerError(code, message, hint === null ? { data: { remote: true } } : { hint, data: { remote: true } }));
      }
    }
  });
}

function connectError(socketPath: string, e: NodeJS.ErrnoException): BanhammerError {
  switch (e.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return new BanhammerError('BH_ERR_DAEMON_NOT_RUNNING', `banhammer is not running (no control socket at ${socketPath})`, {
        hint: 'start it with banhammer run, or check BANHAMMER_SOCKET',
        data: { socketPath, errno: e.code },
        cause: e,
      });
    case 'EACCES':
    case 'EPERM':
      return new BanhammerError('BH_ERR_CONTROL', `permission denied on the control socket ${socketPath}: only root may control banhammer`, {
        hint: 'run this command as root (e.g. docker exec -u 0 …)',
        data: { socketPath, errno: e.code },
        cause: e,
      });
    default:
      return new BanhammerError('BH_ERR_CONTROL', `cannot talk to banhammer on ${socketPath}: ${e.message}`, {
        hint: 'check BANHAMMER_SOCKET',
        data: { socketPath, errno: e.code },
        cause: e,
      });
  }
}
