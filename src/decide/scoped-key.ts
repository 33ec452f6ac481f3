/**
 * The one key for "this address in this scope", used by the detector's windows, the ban book's
 * kernel view, the enforcement queue and the test fakes alike: the canonical address, plus the
 * container id for a scoped (host-mode) entry. A space never occurs in either part.
 */
export const scopedKey = (ip: string, scope: string | undefined): string => (scope === undefined ? ip : `${ip} ${scope}`);

/** The address and scope a scopedKey() was made of. */
export function parseScopedKey(key: string): { ip: string; scope: string | undefined } {
  const sp = key.indexOf(' ');
  return sp < 0 ? { ip: key, scope: undefined } : { ip: key.slice(0, sp), scope: key.slice(sp + 1) };
}

/**
 * The scope part of a scopedKey(): '' for a host-wide key. (Detection windows are bounded per rule,
 * and at the cap the scope holding the most windows gives one up: window-table.ts.)
 */
export function scopeOfKey(key: string): string {
  const sp = key.indexOf(' ');
  return sp < 0 ? '' : key.slice(sp + 1);
}
