/**
 * `banhammer status` text shows what the agent reports as it found it: the files a glob matched (named
 * by whoever created them: a newline is valid in a Linux file name), the instance, the state error (it
 * quotes the state path) and rule names. Only container names, replicas and addresses were escaped; a
 * log file named with an escape sequence or a newline took over the operator's terminal or forged a
 * `status` line (`|- Files watched: 0`).
 */
import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../../src/control/format-status.js';
import type { StatusReport } from '../../../src/control/protocol.js';

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
const FORGED = '/var/log/apache2/x.log\n|- Files watched:\t0\x1b]0;pwned\x07\u202e.log';

function report(): StatusReport {
  return {
    instance: 'web\x1b[2J',
    enforcer: 'log',
    since: '2026-01-01T00:00:00.000Z',
    files: [{ path: FORGED, lagBytes: 0, exists: true }, { path: '/var/log/\x9b31mred.log', lagBytes: 10, exists: true }],
    rules: [{ name: 'forbidden', enabled: true, currentlyFailed: 0, totalFailed: 0, currentlyBanned: 1, totalBanned: 1, bannedIps: ['198.18.0.7\x1b[8m'] }],
    health: { stateError: 'EROFS: /var/lib/banhammer/\x1b[2Jstate.json', enforceFailing: 0, refused: 0, repairs: 0, skewedLines: 0 },
  };
}

describe('status text with hostile file names and agent texts', () => {
  it('the summary escapes file paths, instance and state error, one line per file', () => {
    const text = formatStatus(report());
    expect(text).not.toMatch(UNSAFE);
    // Exactly one "Files watched" line: the newline in the name did not forge a second.
    expect(text.match(/^\|- Files watched/gm)).toHaveLength(1);
    expect(text).toContain('x.log\\x0a|- Files watched:\\x090\\x1b]0;pwned\\x07\\u202e.log');
  });

  it('the rule view escapes the file list and banned addresses of an older daemon (no `bans`)', () => {
    const text = formatStatus(report(), 'forbidden');
    expect(text).not.toMatch(UNSAFE);
    expect(text).toContain('\\x9b31mred.log');
  });
});
