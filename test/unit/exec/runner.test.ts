import { describe, expect, it } from 'vitest';
import { BanhammerError } from '../../../src/errors.js';
import { ProcessRunner, formatCommand, packageFor, withPrefix } from '../../../src/exec/runner.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';

const node = process.execPath;

async function rejection(p: Promise<unknown>): Promise<BanhammerError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BanhammerError);
    return e as BanhammerError;
  }
  throw new Error('expected a rejection');
}

describe('ProcessRunner (real processes)', () => {
  const runner = new ProcessRunner();

  it('passes argv verbatim, without a shell', async () => {
    const r = await runner.run(node, ['-e', 'process.stdout.write(JSON.stringify(process.argv.slice(1)))', '$(id)', 'a b;c', '`x`']);
    expect(JSON.parse(r.stdout)).toEqual(['$(id)', 'a b;c', '`x`']);
    expect(r.code).toBe(0);
  });

  it('feeds input on stdin', async () => {
    const input = 'add s 198.18.0.1 timeout 5\n'.repeat(20_000);
    const r = await runner.run(node, ['-e', 'let n=0;process.stdin.on("data",b=>n+=b.length).on("end",()=>console.log(n))'], { input });
    expect(Number(r.stdout.trim())).toBe(input.length);
  });

  it('rejects with BH_ERR_EXEC naming command, code and stderr', async () => {
    const e = await rejection(runner.run(node, ['-e', 'console.error("Set bogus does not exist");process.exit(3)']));
    expect(e.code).toBe('BH_ERR_EXEC');
    expect(e.message).toContain('exited with code 3');
    expect(e.message).toContain('Set bogus does not exist');
    expect(e.message).toContain(node);
    expect(e.data['code']).toBe(3);
  });

  it('accepts extra ok exit codes', async () => {
    const r = await runner.run(node, ['-e', 'process.exit(1)'], { okExitCodes: [0, 1] });
    expect(r.code).toBe(1);
  });

  it('does not fail on EPIPE when the child ignores its input', async () => {
    const e = await rejection(runner.run(node, ['-e', 'process.exit(2)'], { input: 'x'.repeat(4 * 1024 * 1024) }));
    expect(e.code).toBe('BH_ERR_EXEC');
    expect(e.data['code']).toBe(2);
  });

  it('kills a child that outlives its timeout', async () => {
    const e = await rejection(runner.run(node, ['-e', 'setTimeout(()=>{}, 60000)'], { timeoutMs: 300 }));
    expect(e.code).toBe('BH_ERR_EXEC_TIMEOUT');
    expect(e.message).toContain('300 ms');
  });

  it('a timeout kills what the program started too, and settles even when a process it left keeps the pipes', async () => {
    // A wrapper whose child holds stdout (sh -c 'sleep … & wait', a reload script): the call used to
    // wait for the pipes to close, for ever.
    const t0 = performance.now();
    const e = await rejection(runner.run('sh', ['-c', 'sleep 30 & echo $! ; wait'], { timeoutMs: 300 }));
    expect(e.code).toBe('BH_ERR_EXEC_TIMEOUT');
    expect(performance.now() - t0).toBeLessThan(3_000);
    // The grandchild was in the child's process group: killed with it.
    const out = await runner.run('sh', ['-c', 'pgrep -f "^sleep 30$" || true']);
    expect(out.stdout.trim()).toBe('');
  });

  it('a program that exits and leaves a daemon holding its output is done when it exits', async () => {
    // setsid: the daemon is in a session of its own (no group kill reaches it); the call settles on
    // the program's exit code after the grace, and leaves the daemon alone.
    const t0 = performance.now();
    const r = await runner.run('sh', ['-c', 'echo started; setsid sleep 29 & exit 0'], { timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('started');
    expect(performance.now() - t0).toBeLessThan(5_000);
    const left = (await runner.run('sh', ['-c', 'pgrep -f "^sleep 29$" || true'])).stdout.trim();
    expect(left).not.toBe('');
    for (const pid of left.split('\n')) process.kill(Number(pid), 'SIGKILL');
  });

  it('maps ENOENT to BH_ERR_MISSING_BINARY with the package in the hint', async () => {
    const e = await rejection(runner.run('ipset-does-not-exist-here', ['list']));
    expect(e.code).toBe('BH_ERR_MISSING_BINARY');
    expect(e.message).toContain('ipset-does-not-exist-here');
  });
});

describe('helpers', () => {
  it('names the package for each binary', () => {
    expect(packageFor('/usr/sbin/ip6tables-legacy-restore')).toBe('iptables');
    expect(packageFor('iptables-nft')).toBe('iptables');
    expect(packageFor('ipset')).toBe('ipset');
    expect(packageFor('ip')).toBe('iproute2');
  });

  it('quotes arguments with spaces in messages', () => {
    expect(formatCommand('iptables', ['-w', '-A', 'a b'])).toBe('iptables -w -A "a b"');
  });
});

describe('withPrefix', () => {
  it('runs the command through the prefix', async () => {
    const rec = new RecordingRunner();
    await withPrefix(rec, ['ip', 'netns', 'exec', 'ns1']).run('ipset', ['list', '-n'], { input: 'x' });
    expect(rec.calls).toEqual([{ cmd: 'ip', args: ['netns', 'exec', 'ns1', 'ipset', 'list', '-n'], input: 'x', line: 'ip netns exec ns1 ipset list -n' }]);
  });

  it('names the inner command in errors and maps a missing inner program', async () => {
    const rec = new RecordingRunner()
      .on('ip netns exec ns1 ipset', { code: 1, stderr: 'ipset v7.17: The set with the given name does not exist' })
      .on('ip netns exec ns1 nosuch', { code: 255, stderr: 'exec of "nosuch" failed: No such file or directory' });
    const r = withPrefix(rec, ['ip', 'netns', 'exec', 'ns1']);
    const e = await rejection(r.run('ipset', ['list', 'x']));
    expect(e.code).toBe('BH_ERR_EXEC');
    expect(e.message.startsWith('ipset list x exited with code 1')).toBe(true);
    const m = await rejection(r.run('nosuch', []));
    expect(m.code).toBe('BH_ERR_MISSING_BINARY');
  });

  it('really runs through a prefix', async () => {
    const r = withPrefix(new ProcessRunner(), [node, '-e', 'process.stdout.write(process.argv.slice(1).join("|"))']);
    expect((await r.run('iptables', ['-w', '-S'])).stdout).toBe('iptables|-w|-S');
  });
});
