/**
 * A client network namespace joined to the root namespace by a veth pair (a /30 from 198.18.0.0/15),
 * so that traffic from it reaches host-networked containers with its own source address and never
 * leaves the machine. remove() deletes the namespace (and with it both veth ends).
 */
import { run, runOk, type RunResult } from './run.js';

export class ClientNetns {
  private constructor(
    readonly name: string,
    /** Address of the root-namespace end: where host-networked containers answer. */
    readonly hostAddr: string,
    /** Address of the client inside the namespace (what Apache logs and the agent bans). */
    readonly clientAddr: string,
    private readonly hostIf: string,
  ) {}

  /** `third` picks 198.18.<third>.0/30: .1 is the host end, .2 the client. */
  static async create(name: string, hostIf: string, third: number): Promise<ClientNetns> {
    const hostAddr = `198.18.${third}.1`;
    const clientAddr = `198.18.${third}.2`;
    const ns = new ClientNetns(name, hostAddr, clientAddr, hostIf);
    await ns.remove();
    try {
      await runOk('ip', ['netns', 'add', name]);
      await runOk('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
      await runOk('ip', ['addr', 'add', `${hostAddr}/30`, 'dev', hostIf]);
      await runOk('ip', ['link', 'set', hostIf, 'up']);
      await runOk('ip', ['-n', name, 'addr', 'add', `${clientAddr}/30`, 'dev', 'eth0']);
      await runOk('ip', ['-n', name, 'link', 'set', 'eth0', 'up']);
      await runOk('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    } catch (e) {
      await ns.remove();
      throw e;
    }
    return ns;
  }

  /** HTTP GET from inside the namespace; code is the HTTP status, or null when nothing answered. */
  async get(port: number, path: string, timeoutS = 2): Promise<{ status: number | null; curlExit: number | null }> {
    const r: RunResult = await run(
      'ip',
      ['netns', 'exec', this.name, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', String(timeoutS), `http://${this.hostAddr}:${port}${path}`],
      { timeoutMs: (timeoutS + 5) * 1000 },
    );
    const status = Number.parseInt(r.stdout.trim(), 10);
    return { status: Number.isFinite(status) && status > 0 ? status : null, curlExit: r.code };
  }

  async remove(): Promise<void> {
    await run('ip', ['netns', 'del', this.name]);
    await run('ip', ['link', 'del', this.hostIf]);
  }
}
