/**
 * A control handler for tests of the control server itself: status answers a small fixed report
 * (or what `status` returns), the other operations answer nothing, and why is never asked.
 */
import type { ControlHandler } from '../../src/control/server.js';

export const SMALL_STATUS = { instance: 'web-1', enforcer: 'iptables', since: '', files: [], rules: [] };

export function stubControlHandler(status: () => unknown = () => SMALL_STATUS): ControlHandler {
  return {
    status: status as ControlHandler['status'],
    ban: () => null,
    unban: () => 0,
    unbanAll: () => 0,
    reload: () => {},
    why: () => {
      throw new Error('unused');
    },
  } as ControlHandler;
}
