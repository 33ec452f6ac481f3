/**
 * BANHAMMER_ENFORCER=auto (issue 12): the decision table, and the read-only probes that feed it.
 */
import { describe, expect, it } from 'vitest';
import { decideEnforcer, probeEnforcerFacts, type EnforcerFacts } from '../../../src/enforce/auto.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';

const facts = (over: Partial<EnforcerFacts>): EnforcerFacts => ({ hostMode: false, iptables: true, ipset: true, nft: true, dockerUser: false, ...over });

describe('decideEnforcer', () => {
  it.each([
    [facts({}), 'iptables'],
    [facts({ ipset: false }), 'nftables'],
    [facts({ iptables: false }), 'nftables'],
    [facts({ iptables: false, ipset: false, nft: false }), 'iptables'],
    [facts({ hostMode: true, dockerUser: true }), 'docker-user'],
    [facts({ hostMode: true, dockerUser: false }), 'nftables'],
    [facts({ hostMode: true, dockerUser: true, ipset: false }), 'nftables'],
    [facts({ hostMode: true, dockerUser: false, nft: false }), 'docker-user'],
  ] as const)('%o → %s, with a reason', (f, want) => {
    const d = decideEnforcer(f);
    expect(d.enforcer).toBe(want);
    expect(d.why.length).toBeGreaterThan(10);
  });
});

describe('probeEnforcerFacts', () => {
  const nftListing = JSON.stringify({ nftables: [{ metainfo: { json_schema_version: 1 } }] });

  it('reads what works with read-only commands only', async () => {
    const r = new RecordingRunner().on('nft', { stdout: nftListing }).on('ipset list -n', { stdout: '' });
    const f = await probeEnforcerFacts(r, true);
    expect(f).toMatchObject({ hostMode: true, ipset: true, nft: true });
    for (const line of r.lines()) expect(line).toMatch(/-save|^ipset list -n$|^nft |-S DOCKER-USER$/);
  });

  it('a host without ip_set modules is an nftables host', async () => {
    const r = new RecordingRunner()
      .on('nft', { stdout: nftListing })
      .on('ipset', { code: 1, stderr: 'ipset v7.17: Kernel error received: ipset protocol error' });
    const f = await probeEnforcerFacts(r, false);
    expect(f.ipset).toBe(false);
    expect(decideEnforcer(f).enforcer).toBe('nftables');
  });
});
