/**
 * Review H31: the unban reason `cap` (host mode: a ban ended to make room for another container's at
 * BANHAMMER_MAX_BANS) reaches notifications (the payload's `reason`, a template's {{reason}}) and the
 * metric banhammer_unbans_total, but their descriptions still listed five reasons: a webhook receiver
 * written from the README's payload table, or an alert written from the metric's help, did not know
 * the sixth. Every reason must be named wherever the reasons are listed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UNBAN_REASONS, createMetrics } from '../../../src/metrics/registry.js';
import { TEMPLATE_FIELDS } from '../../../src/notify/template.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

describe('every unban reason is named where the reasons are listed', () => {
  it.each(UNBAN_REASONS)('%s', async (reason) => {
    expect(TEMPLATE_FIELDS.reason).toMatch(new RegExp(`\\b${reason}\\b`));
    const m = createMetrics();
    const text = await m.registry.metrics();
    const help = text.split('\n').find((l) => l.startsWith('# HELP banhammer_unbans_total '))!;
    expect(help).toMatch(new RegExp(`\\b${reason}\\b`));
    const payloadRow = readme.split('\n').find((l) => l.startsWith('| `reason` | string or null |'))!;
    expect(payloadRow).toContain(`\`${reason}\``);
  });
});
