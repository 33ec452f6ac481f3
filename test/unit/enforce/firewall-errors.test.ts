import { describe, expect, it } from 'vitest';
import { BanhammerError } from '../../../src/errors.js';
import { execError, missingBinaryError } from '../../../src/exec/runner.js';
import { classifyFirewallError, isTransientFirewallError } from '../../../src/enforce/firewall-errors.js';
import { refusedLine } from '../../../src/enforce/firewall-commands.js';

const failed = (stderr: string, code = 1): BanhammerError => execError('iptables-nft', ['-w', '-S'], { stdout: '', stderr, code });

function classify(stderr: string, mode?: 'nft' | 'legacy'): BanhammerError {
  const e = classifyFirewallError(failed(stderr), 'doing it', mode);
  expect(e).toBeInstanceOf(BanhammerError);
  return e as BanhammerError;
}

describe('classifyFirewallError', () => {
  it.each([
    'iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)',
    "iptables v1.8.9 (legacy): can't initialize iptables table `filter': Permission denied (you must be root)",
    'ipset v7.17: Kernel error received: Operation not permitted',
    'Fatal: can\'t open lock file /run/xtables.lock: Permission denied',
  ])('reports missing NET_ADMIN for %s', (stderr) => {
    const e = classify(stderr, 'nft');
    expect(e.code).toBe('BH_ERR_NO_NET_ADMIN');
    expect(e.hint).toBe('add cap_add: [NET_ADMIN] to the container (docker run --cap-add NET_ADMIN)');
    expect(e.message).toContain('doing it');
  });

  it('suggests legacy mode when nf_tables does not work', () => {
    for (const s of ['iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Invalid argument', 'Failed to initialize nft: Protocol not supported']) {
      const e = classify(s, 'nft');
      expect(e.code).toBe('BH_ERR_FIREWALL');
      expect(e.hint).toContain('BANHAMMER_IPTABLES_MODE=legacy');
    }
  });

  it('suggests nft mode when the legacy tables are missing', () => {
    const e = classify("iptables v1.8.9 (legacy): can't initialize iptables table `filter': Table does not exist (do you need to insmod?)", 'legacy');
    expect(e.hint).toContain('BANHAMMER_IPTABLES_MODE=nft');
  });

  it('explains missing kernel modules, name clashes and a full set', () => {
    expect(classify("iptables v1.8.9 (legacy): Couldn't load match `set':No such file or directory", 'legacy').hint).toContain('xt_set');
    expect(classify('ipset v7.17: Set cannot be created: set with the same name already exists').hint).toContain('ipset destroy');
    expect(classify('ipset v7.17: Error in line 3: Hash is full, cannot add more elements').hint).toContain('maxelem');
  });

  it.each([
    ["iptables-restore v1.8.9 (legacy): Couldn't load match `conntrack':No such file or directory\n\nError occurred at line: 3", 'legacy'],
    ["iptables-nft-restore v1.8.9 (nf_tables): Couldn't load match `conntrack':No such file or directory\n\nError occurred at line: 3", 'nft'],
    ["ip6tables v1.8.6 (nf_tables): Couldn't find match `conntrack'\n\nTry `ip6tables -h' or 'ip6tables --help' for more information.", 'nft'],
    ['Warning: Extension conntrack revision 0 not supported, missing kernel module?\niptables-restore: line 3 failed', 'legacy'],
    ['Warning: Extension conntrack is not supported, missing kernel module?\niptables-restore: line 3 failed', 'nft'],
  ] as const)('names xt_conntrack when the conntrack match is missing (docker-user): %s', (stderr, mode) => {
    const e = classify(stderr, mode);
    expect(e.code).toBe('BH_ERR_FIREWALL');
    expect(e.message).toMatch(/^doing it failed: the conntrack match is not available \(/);
    expect(e.hint).toContain('modprobe xt_conntrack');
  });

  it('keeps the original text for anything else', () => {
    const e = classify('iptables: something odd.');
    expect(e.code).toBe('BH_ERR_FIREWALL');
    expect(e.message).toContain('something odd');
    expect(e.cause).toBeInstanceOf(BanhammerError);
  });

  it('passes other errors through', () => {
    const m = missingBinaryError('ipset');
    expect(classifyFirewallError(m, 'x')).toBe(m);
    const plain = new Error('boom');
    expect(classifyFirewallError(plain, 'x')).toBe(plain);
  });

  it('a held xtables lock is transient (retried); permission and other failures are lasting', () => {
    for (const stderr of [
      "Can't lock /run/xtables.lock: Resource temporarily unavailable\nAnother app is currently holding the xtables lock. Stopped waiting after 2s.",
      'Another app is currently holding the xtables lock. Perhaps you want to use the -w option?',
    ]) {
      const e = classify(stderr, 'legacy');
      expect(e.code).toBe('BH_ERR_FIREWALL');
      expect(e.message).toContain('another program holds the xtables lock');
      expect(isTransientFirewallError(e)).toBe(true);
    }
    const busy = classify('iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Resource temporarily unavailable', 'nft');
    expect(busy.message).toContain('the firewall was busy');
    expect(isTransientFirewallError(busy)).toBe(true);
    const ipsetBusy = classifyFirewallError(execError('ipset', ['destroy', 's'], { stdout: '', stderr: 'ipset v7.17: Kernel error received: Device or resource busy', code: 1 }), 'destroying');
    expect(isTransientFirewallError(ipsetBusy)).toBe(false);
    expect(isTransientFirewallError(classify("Fatal: can't open lock file /run/xtables.lock: Permission denied"))).toBe(false);
    expect(isTransientFirewallError(classify('iptables: something odd.'))).toBe(false);
    expect(isTransientFirewallError(new BanhammerError('BH_ERR_EXEC_TIMEOUT', 'slow'))).toBe(true);
    expect(isTransientFirewallError(missingBinaryError('iptables'))).toBe(false);
  });

  it('refusedLine: one element named by ipset restore, never a set-level failure', () => {
    const ipset = (stderr: string) => classifyFirewallError(execError('ipset', ['-exist', 'restore'], { stdout: '', stderr, code: 1 }), 'applying');
    expect(refusedLine(ipset('ipset v7.17: Error in line 2: Null-valued element, cannot be stored in a hash type of set\n'))).toEqual({
      line: 2,
      reason: 'Null-valued element, cannot be stored in a hash type of set',
    });
    expect(refusedLine(ipset("ipset v7.17: Error in line 3: Syntax error: '9999999' is out of range 0-2147483"))).toMatchObject({ line: 3 });
    for (const stderr of [
      'ipset v7.17: Error in line 1: The set with the given name does not exist',
      'ipset v7.17: Error in line 4: Hash is full, cannot add more elements',
      'ipset v7.17: Error in line 1: Kernel error received: Operation not permitted',
      'ipset v7.17: Kernel error received: Operation not permitted',
      'ipset v7.17: no line number here',
    ]) {
      expect(refusedLine(ipset(stderr))).toBeNull();
    }
  });
});
