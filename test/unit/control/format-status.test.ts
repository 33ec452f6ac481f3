import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../../src/control/format-status.js';
import type { StatusReport } from '../../../src/control/protocol.js';

const report: StatusReport = {
  instance: 'web-1',
  enforcer: 'iptables',
  since: '2026-01-01T00:00:00.000Z',
  files: [
    { path: '/var/log/apache2/access.log', lagBytes: 0 },
    { path: '/var/log/apache2/other_vhosts_access.log', lagBytes: 1234 },
  ],
  rules: [
    {
      name: 'forbidden',
      enabled: true,
      currentlyFailed: 3,
      totalFailed: 57,
      currentlyBanned: 2,
      totalBanned: 4,
      bannedIps: ['198.18.0.7', '2001:db8::7'],
    },
    { name: 'scanners', enabled: true, currentlyFailed: 0, totalFailed: 0, currentlyBanned: 0, totalBanned: 0, bannedIps: [] },
    { name: 'logins', enabled: false, currentlyFailed: 0, totalFailed: 0, currentlyBanned: 0, totalBanned: 0, bannedIps: [] },
  ],
};

describe('formatStatus', () => {
  it('summarises like fail2ban-client status', () => {
    expect(formatStatus(report)).toBe(
      [
        'Status',
        '|- Instance:\tweb-1',
        '|- Enforcer:\tiptables',
        '|- Running since:\t2026-01-01T00:00:00.000Z',
        '|- Files watched:\t2',
        '|  |- /var/log/apache2/access.log\t(up to date)',
        '|  `- /var/log/apache2/other_vhosts_access.log\t(1234 bytes behind)',
        '|- Disabled rules:\tlogins',
        '|- Number of rules:\t2',
        '`- Rule list:\tforbidden, scanners',
        '',
      ].join('\n'),
    );
  });

  it('shows a rule in fail2ban-client status <jail> layout', () => {
    expect(formatStatus(report, 'forbidden')).toBe(
      [
        'Status for the rule: forbidden',
        '|- Filter',
        '|  |- Currently failed:\t3',
        '|  |- Total failed:\t57',
        '|  `- File list:\t/var/log/apache2/access.log /var/log/apache2/other_vhosts_access.log',
        '`- Actions',
        '   |- Currently banned:\t2',
        '   |- Total banned:\t4',
        '   `- Banned IP list:\t198.18.0.7 2001:db8::7',
        '',
      ].join('\n'),
    );
  });

  it('marks a disabled rule and leaves an empty ban list empty', () => {
    expect(formatStatus(report, 'logins')).toBe(
      [
        'Status for the rule: logins (disabled)',
        '|- Filter',
        '|  |- Currently failed:\t0',
        '|  |- Total failed:\t0',
        '|  `- File list:\t/var/log/apache2/access.log /var/log/apache2/other_vhosts_access.log',
        '`- Actions',
        '   |- Currently banned:\t0',
        '   |- Total banned:\t0',
        '   `- Banned IP list:\t',
        '',
      ].join('\n'),
    );
  });

  it('handles no files and a single rule', () => {
    const one: StatusReport = { ...report, files: [{ path: '/a.log', lagBytes: 1 }], rules: [report.rules[0]!] };
    expect(formatStatus(one)).toBe(
      [
        'Status',
        '|- Instance:\tweb-1',
        '|- Enforcer:\tiptables',
        '|- Running since:\t2026-01-01T00:00:00.000Z',
        '|- Files watched:\t1',
        '|  `- /a.log\t(1 byte behind)',
        '|- Number of rules:\t1',
        '`- Rule list:\tforbidden',
        '',
      ].join('\n'),
    );
    expect(formatStatus({ ...one, files: [] }).split('\n')[4]).toBe('|- Files watched:\t0');
  });

  it('lists a configured path with no file yet as waiting for it, in both views', () => {
    const waiting: StatusReport = {
      ...report,
      files: [
        { path: '/var/log/a.log', lagBytes: 5_000_000, exists: true },
        { path: '/var/log/later.log', lagBytes: 0, exists: false },
      ],
    };
    const lines = formatStatus(waiting).split('\n');
    expect(lines.slice(4, 7)).toEqual([
      '|- Files watched:\t2',
      '|  |- /var/log/a.log\t(5000000 bytes behind)',
      '|  `- /var/log/later.log\t(no such file yet: waiting for it)',
    ]);
    expect(formatStatus(waiting, 'forbidden')).toContain('File list:\t/var/log/a.log /var/log/later.log');
  });

  it('lists what is wrong with the agent as warnings, and nothing when all is well', () => {
    const healthy = { stateError: null, enforceFailing: 0, refused: 0, repairs: 0, skewedLines: 0 };
    expect(formatStatus({ ...report, health: healthy })).toBe(formatStatus(report));
    const sick = formatStatus({ ...report, health: { stateError: 'ENOSPC: no space left on device', enforceFailing: 3, refused: 1, repairs: 2, skewedLines: 5 } });
    expect(sick.split('\n').find((l) => l.startsWith('|- Warnings:'))).toBe(
      '|- Warnings:\tstate not saved (ENOSPC: no space left on device); bans are still enforced; the firewall rejected the last 3 batches (retrying); 1 ban refused by the firewall; firewall state repaired 2 times; 5 log lines stamped in the future',
    );
  });

  it('names the known rules when asked for an unknown one', () => {
    expect(() => formatStatus(report, 'nope')).toThrow(
      expect.objectContaining({ code: 'BH_ERR_USAGE', message: 'no rule named "nope"', hint: 'rules: forbidden, scanners, logins' }),
    );
  });
});
