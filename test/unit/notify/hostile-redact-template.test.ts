/**
 * A leak: receivers that take their credentials in the body (Pushover's `token` and
 * `user`, the README's form-template example; JSON APIs with an `api_key` field) make the template
 * hold a secret. check-config and its --json show targets through redactTarget, which masks the URL
 * and the token but printed the template as written, secret included.
 */
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../../src/config/schema.js';
import { redactTarget, targetsSchema } from '../../../src/notify/target-schema.js';

const SECRET = 'azGDORePK8gMaC0QOYAMyEEuzJnyUi';

describe('a target as descriptions show it', () => {
  it('masks literal values of a form template, keeps the fields', () => {
    const targets = targetsSchema.parse({ po: { type: 'webhook', url: 'https://api.pushover.net/1/messages.json', content_type: 'application/x-www-form-urlencoded', template: `token=${SECRET}&user=u${SECRET}&message={{summary}}` } });
    const t = redactTarget(targets.po!);
    expect(t.template).not.toContain(SECRET);
    expect(t.template).toContain('message={{summary}}');
    expect(JSON.stringify(SETTINGS.notifyTargets.redact!(targets))).not.toContain(SECRET);
  });

  it('masks literal string values of a JSON template, keeps keys and fields', () => {
    const targets = targetsSchema.parse({ siem: { type: 'webhook', url: 'https://siem.example.com/in', template: `{"api_key": "${SECRET}", "ip": "{{address}}", "n": {{failures}}}` } });
    const t = redactTarget(targets.siem!);
    expect(t.template).not.toContain(SECRET);
    expect(t.template).toContain('"ip": "{{address}}"');
    expect(t.template).toContain('"api_key"');
  });
});
