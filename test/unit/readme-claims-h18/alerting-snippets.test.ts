/**
 * README ("Wiring Alertmanager"): the prometheus.yml excerpt loads the alert rules and scrapes the
 * agent, and of the alertmanager.yml excerpt it says "`amtool check-config alertmanager.yml`
 * validates it". A user copies both: each is run through the tool that checks it (promtool check
 * config, with the rules path pointed at the shipped monitoring/prometheus/banhammer-alerts.yml;
 * amtool check-config as written). The alertmanager excerpt once failed it ("no global SMTP
 * smarthost set": its email receiver had nowhere to send).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../../../', import.meta.url).pathname;
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const AMTOOL = ['/usr/bin/amtool', '/usr/local/bin/amtool'].find((p) => existsSync(p));
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'bh-readme-alerting-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The ```yaml block of the "Wiring Alertmanager" section whose text contains `marker`. */
function yamlBlock(marker: string): string {
  const section = README.slice(README.indexOf('### Wiring Alertmanager'), README.indexOf('## Using the image'));
  const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const block = blocks.find((b) => b.includes(marker));
  expect(block, marker).toBeDefined();
  return block!;
}

describe('README: the Prometheus and Alertmanager excerpts pass their own checkers', () => {
  it.skipIf(AMTOOL === undefined)(`alertmanager.yml passes amtool check-config${AMTOOL ? '' : ' (skipped: amtool is not installed)'}`, () => {
    const file = join(dir, 'alertmanager.yml');
    writeFileSync(file, yamlBlock('receivers:'));
    const r = spawnSync(AMTOOL!, ['check-config', file], { encoding: 'utf8', timeout: 20_000 });
    expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it.skipIf(PROMTOOL === undefined)(`prometheus.yml passes promtool check config${PROMTOOL ? '' : ' (skipped: promtool is not installed)'}`, () => {
    const file = join(dir, 'prometheus.yml');
    const text = yamlBlock('rule_files:');
    expect(text).toContain('/etc/prometheus/rules/banhammer-alerts.yml');
    writeFileSync(file, text.replace('/etc/prometheus/rules/banhammer-alerts.yml', join(ROOT, 'monitoring/prometheus/banhammer-alerts.yml')));
    const r = spawnSync(PROMTOOL!, ['check', 'config', file], { encoding: 'utf8', timeout: 20_000 });
    expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });
});
