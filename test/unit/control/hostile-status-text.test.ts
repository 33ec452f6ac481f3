/**
 * A hostile client of the control plane: `banhammer status RULE` prints each scoped ban's container
 * name and the replica it came from. format-why.ts escapes such texts itself ("a terminal must not
 * depend on" the daemon having done it); format-status.ts printed them raw, so a container name
 * holding an escape sequence (a hostile or hand-edited container configuration, an older daemon)
 * recoloured or rewrote the operator's terminal.
 */
import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../../src/control/format-status.js';
import type { StatusReport } from '../../../src/control/protocol.js';

describe('formatStatus with hostile names', () => {
  it('escapes the container name and the replica of a ban', () => {
    const report: StatusReport = {
      instance: 'web-1',
      enforcer: 'docker-user',
      since: '2026-01-01T00:00:00.000Z',
      files: [],
      rules: [
        {
          name: 'forbidden',
          enabled: true,
          currentlyFailed: 0,
          totalFailed: 5,
          currentlyBanned: 1,
          totalBanned: 1,
          bannedIps: ['198.18.0.7'],
          bans: [{ ip: '198.18.0.7', container: 'web\x1b[2J\x1b[H\u202e', containerId: 'a'.repeat(64), until: null, from: 'r1\u009b31m' }],
        },
      ],
    };
    const text = formatStatus(report, 'forbidden');
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\x1b\x7f-\x9f\u202e]/);
    expect(text).toContain('web\\x1b[2J\\x1b[H\\u202e');
  });
});
