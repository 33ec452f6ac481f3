/**
 * The `slack` preset is advertised for Slack-compatible receivers (Mattermost,
 * Rocket.Chat), which turn a plain `@channel`, `@all` or `@here` in a webhook's text into a mention
 * that notifies everyone in the channel (Slack itself only mentions with `<!channel>`, which the
 * preset already escapes). A client writes such a word into its request line or User-Agent; a
 * template that puts {{evidence}} (or {{text}}, {{summary}}…) outside a code block must not ping.
 * Mattermost (slack preset) and Discord also render Markdown's masked links, `[text](url)`: a
 * User-Agent `[Unban me](https://evil.example)` became a link whose text hides where it goes.
 */
import { describe, expect, it } from 'vitest';
import type { Ban } from '../../../src/decide/ban-book.js';
import type { AgentInfo, BanNotice } from '../../../src/notify/event.js';
import { templateOf } from '../../../src/notify/notifier.js';
import { renderTemplate } from '../../../src/notify/template.js';

const agent: AgentInfo = { instance: 'web-1', host: 'host-a', version: '0.1.0' };
const T = Date.UTC(2026, 11, 2, 10, 0, 0);
const notice = (line: string): BanNotice => ({
  kind: 'ban',
  ban: { ip: '198.18.0.5', family: 4, rule: 'forbidden', at: T, until: T + 3_600_000, failures: 1, nth: 1, manual: false, evidence: [{ line, at: T }] },
  time: T,
});

describe('the slack preset with a template (Mattermost, Rocket.Chat)', () => {
  it('a log line cannot @channel, @all or @here the receiving channel', () => {
    const t = templateOf({ template: '{"text": "{{evidence}}"}', contentType: null, preset: 'slack' })!;
    const out = JSON.parse(renderTemplate(t, notice('198.18.0.5 - - "GET /@channel HTTP/1.1" 403 1 "-" "@all @here hi"'), agent)) as { text: string };
    expect(out.text).not.toMatch(/@(channel|all|here|everyone)\b/);
  });
});

describe('masked links in template values', () => {
  for (const preset of ['slack', 'discord'] as const) {
    it(`${preset}: a log line cannot make a Markdown link whose text hides its target`, () => {
      const t = templateOf({ template: preset === 'slack' ? '{"text": "{{evidence}}"}' : '{"content": "{{evidence}}"}', contentType: null, preset })!;
      const out = JSON.parse(renderTemplate(t, notice('198.18.0.5 - - "GET / HTTP/1.1" 403 1 "-" "[Unban me](https://evil.example/x) [a] (b)"'), agent)) as { text?: string; content?: string };
      const v = out.text ?? out.content ?? '';
      expect(v).not.toMatch(/\]\s*\(/);
      expect(v).toContain('https://evil.example/x');
    });
  }
});
