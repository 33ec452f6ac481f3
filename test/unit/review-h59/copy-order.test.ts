// Copies with one modification time (made within one tick of the file system's clock) are put in
// the order logrotate made them by their names (see copyOrder in src/source/file-follower.ts).
import { describe, expect, it } from 'vitest';
import { copyOrder, isCopyName } from '../../../src/source/file-follower.js';

describe('copyOrder: which of two copies with one modification time logrotate made first', () => {
  it('numbered: the higher number first; dated: the lower date first; extension kept after the number', () => {
    const sort = (names: string[], base = 'access.log'): string[] => [...names].sort((a, b) => copyOrder(base, a, b));
    expect(sort(['access.log.1', 'access.log.10', 'access.log.2'])).toEqual(['access.log.10', 'access.log.2', 'access.log.1']);
    expect(sort(['access.log-2026120712', 'access.log-2026120700', 'access.log-2026120703'])).toEqual(['access.log-2026120700', 'access.log-2026120703', 'access.log-2026120712']);
    expect(sort(['access.1.log', 'access.3.log', 'access.2.log'])).toEqual(['access.3.log', 'access.2.log', 'access.1.log']);
  });
});

describe('isCopyName: a name that starts with the log\'s is a copy only with a rotation number or date after it', () => {
  it('numbers and dates are; a sibling log or an operator\'s backup is not', () => {
    for (const n of ['access.log.1', 'access.log.12.gz', 'access.log-20261205', 'access.log.2026-12-05_0800', 'access.log20261205', 'access.log-1765065600']) expect(isCopyName('access.log', n), n).toBe(true);
    for (const n of ['access.log.ssl', 'access.log-api', 'access.log.bak', 'access.log.old', 'access.log.save', 'access.log_', 'access.log.']) expect(isCopyName('access.log', n), n).toBe(false);
    expect(isCopyName('current', 'current.1')).toBe(true);
  });
});
