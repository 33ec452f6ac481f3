/**
 * Turns a failed iptables/ipset command into an error the user can act on. Pure: it only reads the
 * BH_ERR_EXEC error's stderr. Order matters: a permission problem is reported as such even when the
 * nft backend words it as "Could not fetch rule set generation id: Permission denied".
 *
 *   EPERM / "you must be root" / "Operation not permitted" → BH_ERR_NO_NET_ADMIN (add NET_ADMIN)
 *   nft backend without a usable nf_tables                  → BH_ERR_FIREWALL, BANHAMMER_IPTABLES_MODE=legacy
 *   legacy backend without ip_tables                        → BH_ERR_FIREWALL, BANHAMMER_IPTABLES_MODE=nft
 *   no ip_set / xt_set / multiport support in the kernel    → BH_ERR_FIREWALL, load the modules on the host
 *   no conntrack match (xt_conntrack; docker-user's chain)   → BH_ERR_FIREWALL, load xt_conntrack on the host
 *   set exists with other settings, set full                → BH_ERR_FIREWALL with the fix
 *   another program holds the xtables lock                  → BH_ERR_FIREWALL, transient
 *   iptables: EAGAIN / EBUSY (nft: a concurrent change)      → BH_ERR_FIREWALL, transient
 * Missing binaries and timeouts keep their own codes; anything else becomes BH_ERR_FIREWALL.
 *
 * Transient errors (isTransientFirewallError: the xtables lock is held, the command timed out) are
 * worth retrying with back-off (FirewallCommands.exec does, for about a minute); every other error
 * is lasting and is reported at once.
 */
import { BanhammerError } from '../errors.js';

export type BackendKind = 'nft' | 'legacy' | 'system';

export const NET_ADMIN_HINT = 'add cap_add: [NET_ADMIN] to the container (docker run --cap-add NET_ADMIN)';

function firstErrorLine(stderr: string): string {
  return stderr.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'))?.trim() ?? '';
}

/**
 * @param what  what banhammer was doing, e.g. "creating ipset bh-web-v4"
 * @param mode  the iptables backend in use, when the command was an iptables one
 */
export function classifyFirewallError(e: unknown, what: string, mode?: BackendKind): unknown {
  if (!(e instanceof BanhammerError) || e.code !== 'BH_ERR_EXEC') return e;
  const stderr = String(e.data['stderr'] ?? '');
  const detail = firstErrorLine(stderr) || e.message;
  const data = { ...e.data, what, mode: mode ?? null };
  const make = (code: 'BH_ERR_NO_NET_ADMIN' | 'BH_ERR_FIREWALL', message: string, hint: string, transient = false): BanhammerError =>
    new BanhammerError(code, message, { hint, data: transient ? { ...data, transient: true } : data, cause: e });

  if (/Permission denied|Operation not permitted|\bEPERM\b|must be root/i.test(stderr)) {
    return make('BH_ERR_NO_NET_ADMIN', `${what} failed: not allowed to change the firewall (${detail})`, NET_ADMIN_HINT);
  }
  // "Can't lock /run/xtables.lock: Resource temporarily unavailable" / "Another app is currently
  // holding the xtables lock. Stopped waiting after 2s." (exit 4): someone else is changing the
  // firewall right now (Docker, firewalld, kube-proxy, an admin). It passes.
  if (/holding the xtables lock|Can't lock \S*xtables\.lock|xtables lock.*(Resource temporarily unavailable|EAGAIN)/i.test(stderr)) {
    return make('BH_ERR_FIREWALL', `${what} failed: another program holds the xtables lock (${detail})`,
      'another program (Docker, firewalld, kube-proxy, an iptables command) is changing the firewall; banhammer retries with back-off for about a minute. If this lasts, find the program holding /run/xtables.lock', true);
  }
  // The nft backend has no lock: a concurrent change by another program shows as EAGAIN/EBUSY from
  // the kernel ("Could not fetch rule set generation id: Resource temporarily unavailable"). Only for
  // iptables commands: ipset says "Device or resource busy" for a set still in use, which lasts.
  const cmd = String(e.data['cmd'] ?? '');
  if (/(^|\/)ip6?tables/.test(cmd) && /Resource temporarily unavailable|Device or resource busy/i.test(stderr)) {
    return make('BH_ERR_FIREWALL', `${what} failed: the firewall was busy (${detail})`,
      'another program is changing the firewall at the same moment; banhammer retries with back-off for about a minute', true);
  }
  if (mode === 'nft' && /rule set generation id|Failed to initialize nft|Protocol not supported|nf_tables.*(Invalid argument|not supported)/i.test(stderr)) {
    return make('BH_ERR_FIREWALL', `${what} failed: the nftables backend of iptables does not work with this kernel (${detail})`,
      'set BANHAMMER_IPTABLES_MODE=legacy to use iptables-legacy');
  }
  if (mode !== 'nft' && /can't initialize ip6?tables table|Table does not exist|do you need to insmod/i.test(stderr)) {
    return make('BH_ERR_FIREWALL', `${what} failed: the legacy iptables backend does not work with this kernel (${detail})`,
      'set BANHAMMER_IPTABLES_MODE=nft to use iptables-nft');
  }
  // The docker-user chain's first rule (-m conntrack --ctdir REPLY -j RETURN). Without the userspace
  // extension iptables says "Couldn't load match `conntrack'"; without the kernel module, depending on
  // the version and backend, "Couldn't find match `conntrack'" or "Extension conntrack … not supported,
  // missing kernel module?". After the backend checks: a backend that does not work at all
  // is the thing to fix first.
  if (/Couldn't (load|find) match [`']conntrack'|Extension conntrack\b.*not supported/i.test(stderr)) {
    return make('BH_ERR_FIREWALL', `${what} failed: the conntrack match is not available (${detail})`,
      'load the xt_conntrack module on the Docker host (modprobe xt_conntrack; Docker itself needs it), and install the iptables package with its extensions (libxt_conntrack)');
  }
  if (/Couldn't load match [`']set'|Cannot open session to kernel|Kernel error received: Protocol not supported|Module ip_set not loaded/i.test(stderr)) {
    return make('BH_ERR_FIREWALL', `${what} failed: the kernel lacks ipset support (${detail})`,
      'load the ip_set, ip_set_hash_ip and xt_set modules on the Docker host (modprobe ip_set_hash_ip xt_set)');
  }
  if (/Couldn't load match [`']multiport'/i.test(stderr)) {
    return make('BH_ERR_FIREWALL', `${what} failed: the kernel lacks the multiport match (${detail})`,
      'load the xt_multiport module on the Docker host (modprobe xt_multiport)');
  }
  if (/set with the same name already exists/i.test(stderr)) {
    return make('BH_ERR_FIREWALL', `${what} failed: a set of that name already exists with other settings (${detail})`,
      'another program or version created it: remove it with `ipset destroy <name>` (after deleting rules that use it), or choose another instance name');
  }
  if (/Hash is full|maximal number of elements/i.test(stderr)) {
    return make('BH_ERR_FIREWALL', `${what} failed: the ban set is full (${detail})`,
      'raise the set size (maxelem) or shorten bantime');
  }
  return make('BH_ERR_FIREWALL', `${what} failed: ${e.message}`, 'run the command shown by hand inside the container to see why');
}

/**
 * True for an error worth retrying with back-off: the xtables lock was held (classified above), or
 * the command did not finish within its timeout (the lock, or an overloaded system).
 */
export function isTransientFirewallError(e: unknown): boolean {
  if (!(e instanceof BanhammerError)) return false;
  if (e.code === 'BH_ERR_EXEC_TIMEOUT') return true;
  return e.data['transient'] === true;
}
