/** A config.v2.json as Docker writes it (the fields banhammer reads, plus a few it ignores). */
export function containerConfig(id: string, name: string, nets: Record<string, { v4?: string; v6?: string }>): string {
  const Networks = Object.fromEntries(
    Object.entries(nets).map(([n, a]) => [n, { IPAddress: a.v4 ?? '', GlobalIPv6Address: a.v6 ?? '', Gateway: '', MacAddress: '' }]),
  );
  return JSON.stringify({ ID: id, Name: `/${name}`, State: { Running: true }, Config: { Hostname: id.slice(0, 12) }, NetworkSettings: { Networks } });
}
