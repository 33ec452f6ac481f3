/**
 * Review round 6 (H14): how the nftables enforcer tells a missing table (re-create it, refill its
 * sets) from a listing that failed (an error: never a table re-created blind), with the real `nft`
 * of this host (1.0.6 here; the images ship 1.1.x, whose wording for a missing table is the same
 * strerror(ENOENT) text), in a network namespace of its own. Failures that are not a missing table:
 * nft without the privilege to talk to nf_tables (a user namespace: "Operation not permitted"), an
 * nft that is not installed, and an nft that fails with an exit code of its own.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NftablesEnforcer } from '../../../src/enforce/nftables.js';
import { ProcessRunner, withPrefix, type Runner } from '../../../src/exec/runner.js';
import { netnsUnavailable } from '../netns.js';

let table = '';
const sh = new ProcessRunner({ timeoutMs: 20_000 });
const noNetns = await netnsUnavailable();
const noNft = await sh.run('nft', ['--version']).then(() => null, () => 'nft not installed');
const skip = noNetns ?? noNft;

describe.skipIf(skip !== null)(`nftables: missing table or failed listing, real nft${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const ns = `bh-t-${randomBytes(3).toString('hex')}-r6n`;
  let inNs: Runner;
  /** How the next nft commands fail: not at all, without privilege, not installed. */
  let mode: 'ok' | 'eperm' | 'missing' | 'listfail' = 'ok';
  /** The transactions (nft -f -) run since the last reset. */
  let writes = 0;
  let enf: NftablesEnforcer;

  const runner: Runner = {
    run(cmd, args, opts) {
      if (args[0] === '-f') writes++;
      // A listing that fails with a reason of nft's own while writes still work (1.0.6's words for a
      // netlink dump cut short), as a shell: the enforcer must not take it for a missing table.
      if (mode === 'listfail' && args.includes('list')) return inNs.run('sh', ['-c', 'echo "netlink: Error: cache initialization failed: Interrupted system call" >&2; exit 1'], opts);
      if (mode === 'eperm') return inNs.run('unshare', ['-U', '-r', cmd, ...args], opts);
      if (mode === 'missing') return inNs.run('/nonexistent/h14/nft', args, opts);
      return inNs.run(cmd, args, opts);
    },
  };
  const listed = async (): Promise<string> => (await inNs.run('nft', ['list', 'table', 'inet', table], { okExitCodes: [0, 1] })).stdout;

  beforeAll(async () => {
    await sh.run('ip', ['netns', 'add', ns]);
    inNs = withPrefix(sh, ['ip', 'netns', 'exec', ns]);
    enf = new NftablesEnforcer({ runner, instance: 'r6', ports: [8080] });
    table = enf.names.table;
    await enf.init();
    expect((await enf.apply({ ban: [{ ip: '198.18.7.1', family: 4, until: null }], unban: [] })).refused).toEqual([]);
  }, 60_000);

  afterAll(async () => {
    await sh.run('ip', ['netns', 'del', ns]).catch(() => undefined);
  });

  it('a listing nft may not make (no privilege) is an error, and the table and its bans stay', async () => {
    mode = 'eperm';
    try {
      await expect(enf.check(() => [{ ip: '198.18.7.1', family: 4, until: null }])).rejects.toThrow(/Operation not permitted/);
    } finally {
      mode = 'ok';
    }
    expect(await listed()).toContain('198.18.7.1');
  });

  it('a listing that fails while writes work is an error: no transaction re-creates the table blind', async () => {
    mode = 'listfail';
    writes = 0;
    try {
      await expect(enf.check(() => [{ ip: '198.18.7.1', family: 4, until: null }])).rejects.toThrow(/Interrupted system call/);
    } finally {
      mode = 'ok';
    }
    expect(writes).toBe(0);
    expect(await listed()).toContain('198.18.7.1');
  });

  it('an nft that is not there is an error, not a missing table', async () => {
    mode = 'missing';
    try {
      await expect(enf.check(() => [{ ip: '198.18.7.1', family: 4, until: null }])).rejects.toThrow();
    } finally {
      mode = 'ok';
    }
    expect(await listed()).toContain('198.18.7.1');
  });

  it('a table deleted behind its back is re-created and refilled at the next check (nft says "No such file or directory")', async () => {
    const r = await inNs.run('nft', ['-j', '-t', 'list', 'table', 'inet', 'bh_r6_absent'], { okExitCodes: [1] });
    expect(r.stderr).toMatch(/^Error: No such file or directory/);
    await inNs.run('nft', ['delete', 'table', 'inet', table]);
    const findings = await enf.check(() => [{ ip: '198.18.7.1', family: 4, until: null }]);
    expect(findings.length).toBeGreaterThan(0);
    expect(await listed()).toContain('198.18.7.1');
  });
});
