/**
 * The README's configuration excerpts are what users copy into banhammer.yaml: the Configuration
 * section's example (preset overrides and a rule of one's own) and the Notifications section's
 * `notify:` block (four targets, one of each kind). Each must load as written through the agent's
 * own loader, and mean what the comments beside it say.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

/** The ```yaml block whose text starts with `first`. */
function block(first: string): string {
  const b = [...README.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((t) => t.startsWith(first));
  expect(b, first).toBeDefined();
  return b!;
}

const load = (yaml: string) => loadConfig({ env: { BANHAMMER_CONFIG: '/etc/banhammer/banhammer.yaml' }, hostname: 'h', readFile: () => yaml });

describe('README configuration excerpts load as written', () => {
  it('banhammer.yaml (Configuration): a preset overridden, one switched on, a rule of ones own', () => {
    const c = load(block('# banhammer.yaml'));
    expect(c.rules.forbidden).toMatchObject({ enabled: true, maxretry: 3, bantime: 2 * 3_600_000 });
    expect(c.rules['not-found']!.enabled).toBe(true);
    expect(c.rules['wp-login']).toMatchObject({ enabled: true, maxretry: 5, findtime: 300_000, bantime: 86_400_000, increment: { factor: 2, maxtime: 30 * 86_400_000 } });
  });

  it('notify (Notifications → Settings): four targets of the kinds shown', () => {
    const c = load(block('notify:')) as unknown as { notify: { targets: Record<string, { type: string }> } };
    const targets = c.notify.targets;
    expect(Object.keys(targets).sort()).toEqual(['mail', 'ops-slack', 'phone', 'siem']);
    expect(targets.mail!.type).toBe('smtp');
    for (const t of ['ops-slack', 'phone', 'siem']) expect(targets[t]!.type).toBe('webhook');
  });
});
