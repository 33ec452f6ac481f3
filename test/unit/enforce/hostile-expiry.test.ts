/**
 * every enforcer validates a ban's expiry again before anything is written
 * (the contract: "implementations validate again"). iptables and docker-user refuse a non-number
 * expiry per element (acceptExpiry) and the map files refuse a non-finite one; nftables wrote NaN as
 * `timeout ` (empty: a syntax error that fails the whole transaction and costs an isolation by
 * halving), and the log enforcer (dry run) threw a RangeError from `new Date(NaN).toISOString()`,
 * rejecting the whole batch, which the queue then retries for ever: no ban of it is ever held.
 */
import { describe, expect, it } from 'vitest';
import { elementOps, elementScript, nftNames } from '../../../src/enforce/nft-args.js';
import { LogEnforcer, type LogRecord } from '../../../src/enforce/dry-run.js';
import { ManualClock } from '../../fakes/manual-clock.js';

const NOW = 1_700_000_000_000;

describe('nftables: a ban with an invalid expiry is refused, never written', () => {
  it('NaN and a non-number expiry are refused; the other bans are kept', () => {
    const { ops, refused } = elementOps(
      {
        ban: [
          { ip: '198.18.0.1', family: 4, until: NaN },
          { ip: '198.18.0.2', family: 4, until: String(NOW + 60_000) as unknown as number },
          { ip: '198.18.0.3', family: 4, until: NOW + 60_000 },
        ],
        unban: [],
      },
      [4, 6],
      NOW,
    );
    expect(ops.map((o) => o.ip)).toEqual(['198.18.0.3']);
    expect(refused.map((r) => r.ip)).toEqual(['198.18.0.1', '198.18.0.2']);
    expect(refused[0]!.reason).toMatch(/invalid expiry/);
    const script = elementScript(nftNames('web'), ops);
    expect(script).not.toMatch(/timeout\s*[,}]/);
  });
});

describe('log enforcer (dry run): a ban with an invalid expiry never fails the batch', () => {
  it('NaN is refused like the kernel enforcers refuse it; the rest of the batch is applied', async () => {
    const records: LogRecord[] = [];
    const enf = new LogEnforcer((r) => records.push(r), new ManualClock(NOW));
    const r = await enf.apply({
      ban: [
        { ip: '198.18.0.1', family: 4, until: NaN },
        { ip: '198.18.0.2', family: 4, until: null },
      ],
      unban: [],
    });
    expect(r.refused.map((x) => x.ip)).toEqual(['198.18.0.1']);
    expect(enf.active().map((a) => a.ip)).toEqual(['198.18.0.2']);
  });

  it('an expiry outside Date’s range (Infinity, 9e15) is logged, not thrown', async () => {
    const records: LogRecord[] = [];
    const enf = new LogEnforcer((r) => records.push(r), new ManualClock(NOW));
    await expect(
      enf.apply({
        ban: [
          { ip: '198.18.0.3', family: 4, until: Infinity },
          { ip: '198.18.0.4', family: 4, until: 9e15 },
          { ip: '198.18.0.5', family: 4, until: null },
        ],
        unban: [],
      }),
    ).resolves.toBeDefined();
    expect(enf.active().map((a) => a.ip)).toContain('198.18.0.5');
  });
});
