/**
 * InstanceClaim: one kernel enforcer per instance name in a network namespace.
 *
 * The firewall objects are named after the instance (chain, sets, nft table), and the instance
 * defaults to the hostname, which under host networking is the host's own name for every container.
 * Two agents with one instance name in one namespace then share those objects: each one's start
 * rewrites the chain for its own ports only (the other's banned clients get through), and each
 * one's check removes the other's bans as strays and its own teardown removes everything. So a
 * kernel enforcer claims its instance name first, as an abstract unix socket
 * (`\0banhammer-instance/<instance>`): abstract sockets belong to the network namespace, exactly
 * the scope of the firewall objects; the kernel frees the name when the process ends, however it
 * ends (kill -9 included), so a crash never leaves a stale claim; no file is needed. A second agent
 * is refused at start with an error that says what to set. An agent whose claim was refused never
 * tears down (the objects are the other agent's).
 */
import { createServer, type Server } from 'node:net';
import { BanhammerError } from '../errors.js';

/** The abstract socket name of an instance's claim. */
export const claimAddress = (instance: string): string => `\0banhammer-instance/${instance}`;

export class InstanceClaim {
  private server: Server | null = null;

  constructor(private readonly instance: string) {}

  /** Whether this process holds the claim. */
  get held(): boolean {
    return this.server !== null;
  }

  /** Takes the claim (idempotent); a BH_ERR_CONFIG when another process in this network namespace holds it. */
  async acquire(): Promise<void> {
    if (this.server !== null) return;
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(claimAddress(this.instance), () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((e: unknown) => {
      server.close();
      if ((e as { code?: unknown }).code === 'EADDRINUSE') {
        throw new BanhammerError('BH_ERR_CONFIG', `another banhammer agent with instance name ${JSON.stringify(this.instance)} already runs in this network namespace: both would share one chain, set and table, and undo each other's bans`, {
          hint: 'give each agent its own BANHAMMER_INSTANCE (under host networking the default, the hostname, is the host\'s name for every container)',
          data: { instance: this.instance },
        });
      }
      throw e;
    });
    server.unref();
    this.server = server;
  }

  /** Gives the claim up (idempotent). */
  async release(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s !== null) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
