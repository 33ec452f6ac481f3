/**
 * Settings that load but switch protection off, which the agent must say out loud: the schema
 * accepts them (an operator may mean them), so they are warnings, never errors. `banhammer
 * check-config` writes them at the head of its output, and the agent logs them when it starts and
 * on every reload.
 *
 * - An ignoreip that holds every IPv4 (or IPv6) address: `0.0.0.0/0`, `::/0`, `::ffff:0:0/96` (every
 *   IPv4-mapped address, so 0.0.0.0/0), or networks that add up to it (`0.0.0.0/1, 128.0.0.0/1`).
 *   Nothing of that family is ever banned, and every ban of it is refused as allowlisted.
 * - No rule runs: nothing is ever detected (manual bans and the group's still work).
 */
import { familiesCovered, type Config } from './schema.js';

export function configWarnings(config: Config): string[] {
  const out: string[] = [];
  for (const family of familiesCovered(config.ignoreip)) {
    out.push(`ignoreip (BANHAMMER_IGNOREIP) allowlists every IPv${family} address: no IPv${family} client is ever banned; list only your own networks`);
  }
  if (!Object.values(config.rules).some((r) => r.enabled)) {
    out.push('no rule runs (every rule is switched off): nothing is ever detected or banned from the logs; name the rules in BANHAMMER_RULES or set enabled: true');
  }
  return out;
}
