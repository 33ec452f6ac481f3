/**
 * Forwarded clients: can the enforcer hold a client the agent read from an X-Forwarded-For field?
 *
 * With trusted proxies, the parser takes a line's client from nginx main's trailing
 * `"$http_x_forwarded_for"` (when the peer is a trusted proxy) or from a first-field list past a
 * trusted proxy's entry (AccessEvent.forwarded). On such a line the server's own idea of the client
 * (`$remote_addr`, REMOTE_ADDR, the packets' source) is the proxy: the server was not told to
 * believe it (nginx without real_ip, Apache without mod_remoteip). A ban of that client is then
 * recorded, listed by `status` as held, and never matches anything the enforcer sees:
 * - nginx-map and apache-map look the client up by `$remote_addr` / REMOTE_ADDR, the proxy's;
 * - the kernel enforcers match the packets' source, which is the proxy's unless the proxy runs on
 *   this host and its clients' packets pass this firewall on their way to it.
 * The agent does not refuse (the kernel case is right for a proxy on the same host, and a map
 * enforcer's server may be fixed without restarting the agent): it says so once in its log, and in
 * `status` (health.forwardedClients) for as long as it runs, naming what to configure.
 */

/** Enforcers that match the packets' source address. */
const KERNEL_ENFORCERS = new Set(['iptables', 'nftables', 'docker-user']);

/**
 * What to tell about forwarded clients under `enforcer`, or null when nothing is wrong with it (the
 * `log` enforcer holds nothing). `trustedProxies`: the configured list (canonical addresses/CIDRs);
 * `example`: a forwarded client seen, or undefined.
 */
export function forwardedClientsNote(enforcer: string, trustedProxies: readonly string[], example?: string): string | null {
  const seen = `clients are read from X-Forwarded-For past a trusted proxy${example === undefined ? '' : ` (such as ${example})`}, and on those lines the server's own peer address is the proxy`;
  const proxies = trustedProxies.length > 0 ? trustedProxies : ['<proxy address>'];
  if (enforcer === 'nginx-map') {
    return (
      `${seen}: the nginx-map geo list is looked up by $remote_addr, so bans of these clients are listed but never match and they are still served. ` +
      `Have nginx believe the proxy (ngx_http_realip_module, where the geo list is used): ${proxies.map((p) => `set_real_ip_from ${p};`).join(' ')} real_ip_header X-Forwarded-For; real_ip_recursive on; ` +
      '$remote_addr (logged first) is then the client'
    );
  }
  if (enforcer === 'apache-map') {
    return (
      `${seen}: the apache-map RewriteMap is looked up by REMOTE_ADDR, so bans of these clients are listed but never match and they are still served. ` +
      `Have Apache believe the proxy (mod_remoteip): RemoteIPHeader X-Forwarded-For and RemoteIPInternalProxy (or RemoteIPTrustedProxy) ${proxies.join(' ')}, ` +
      'and log %a: the image does this when BANHAMMER_TRUSTED_PROXIES is set'
    );
  }
  if (KERNEL_ENFORCERS.has(enforcer)) {
    return (
      `${seen}: the ${enforcer} enforcer drops packets by their source, so a ban of such a client holds only if its own packets pass this firewall (a proxy on this host); ` +
      'behind a proxy elsewhere its requests come from the proxy and it is still served: ban in the server instead (BANHAMMER_ENFORCER=nginx-map or apache-map, with the server believing the proxy)'
    );
  }
  return null;
}
