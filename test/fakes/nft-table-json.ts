/** A fake nft's listing of the nftables enforcer's table (unit tests). */
const rule = (proto: 'ip' | 'ip6', set: string, l4: 'tcp' | 'udp' = 'tcp') => ({
  expr: [
    { match: { op: '==', left: { payload: { protocol: l4, field: 'dport' } }, right: { set: [80, 443] } } },
    { match: { op: '==', left: { payload: { protocol: proto, field: 'saddr' } }, right: `@${set}` } },
    { drop: null },
  ],
});

/**
 * What `nft -j -t list table inet banhammer_web` (or `list ruleset`) of nft 1.0.6 prints for the table
 * of an nftables enforcer of instance `web` on ports 80 and 443, as it builds it, optionally damaged.
 */
export function nftTableJson(opts: { table?: boolean; set6?: boolean; extraRule?: boolean; nets?: boolean } = {}): string {
  const t = 'banhammer_web';
  const list: unknown[] = [{ metainfo: { version: '1.0.6' } }];
  if (opts.table !== false) {
    list.push({ table: { family: 'inet', name: t, handle: 1 } });
    list.push({ set: { family: 'inet', table: t, name: 'addr4', type: 'ipv4_addr', flags: ['timeout'] } });
    if (opts.set6 !== false) list.push({ set: { family: 'inet', table: t, name: 'addr6', type: 'ipv6_addr', flags: ['timeout'] } });
    list.push({ chain: { family: 'inet', table: t, name: 'input', type: 'filter', hook: 'input', prio: -10, policy: 'accept' } });
    if (opts.extraRule) list.push({ rule: { family: 'inet', table: t, chain: 'input', handle: 9, expr: [{ accept: null }] } });
    // A TCP and a UDP rule per set, as we build them.
    let handle = 10;
    const rules = (proto: 'ip' | 'ip6', set: string) => {
      for (const l4 of ['tcp', 'udp'] as const) list.push({ rule: { family: 'inet', table: t, chain: 'input', handle: handle++, ...rule(proto, set, l4) } });
    };
    rules('ip', 'addr4');
    rules('ip6', 'addr6');
    if (opts.nets) {
      list.push({ set: { family: 'inet', table: t, name: 'net4', type: 'ipv4_addr', flags: ['interval', 'timeout'] } });
      list.push({ set: { family: 'inet', table: t, name: 'net6', type: 'ipv6_addr', flags: ['interval', 'timeout'] } });
      rules('ip', 'net4');
      rules('ip6', 'net6');
    }
  }
  return JSON.stringify({ nftables: list });
}
