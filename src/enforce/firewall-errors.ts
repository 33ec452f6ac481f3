/**
 * Turns a failed iptables/ipset command into an error the user can act on. Pure: it only reads the
 * BH_ERR_EXEC error's stderr. Order matters: a permission problem is reported as such even when the
 * nft backend words it as "Could not fetch rule set generation id: Permission denied".
 *
 *   EPERM / "you must be root" / "Operation not permitted" → BH_ERR_NO_NET_ADMIN (add NET_ADMIN)
 *   nft backend without a usable nf_tables                  → BH_ERR_FIREWALL, BANHAMMER_IPTABLES_MODE=legacy
 *   legacy backend without ip_tables                        → BH_ERR_FIREWALL, BANHAMMER_IPTABLES_MODE=nft
 *   no ip_set / xt_set / multiport support in the kernel    → BH_ERR_FIREWALL, load the modules on the host
 *   set exists with other settings, set full                → BH_ERR_FIREWALL with the fix
 * Missing binaries and timeouts keep their own codes; anything else becomes BH_ERR_FIREWALL.
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
  const make = (code: 'BH_ERR_NO_NET_ADMIN' | 'BH_ERR_FIREWALL', message: string, hint: string): BanhammerError =>
    new BanhammerError(code, message, { hint, data, cause: e });

  if (/Permission denied|Operation not permitted|\bEPERM\b|must be root/i.test(stderr)) {
    return make('BH_ERR_NO_NET_ADMIN', `${what} failed: not allowed to change the firewall (${detail})`, NET_ADMIN_HINT);
  }
  if (mode === 'nft' && /rule set generation id|Failed to initialize nft|Protocol not supported|nf_tables.*(Invalid argument|not supported)/i.test(stderr)) {
    return make('BH_ERR_FIREWALL', `${what} failed: the nftables backend of iptables does not work with this kernel (${detail})`,
      'set BANHAMMER_IPTABLES_MODE=legacy to use iptables-legacy');
  }
  if (mode !== 'nft' && /can't initialize ip6?tables table|Table does not exist|do you need to insmod/i.test(stderr)) {
    return make('BH_ERR_FIREWALL', `${what} failed: the legacy iptables backend does not work with this kernel (${detail})`,
      'set BANHAMMER_IPTABLES_MODE=nft to use iptables-nft');
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
