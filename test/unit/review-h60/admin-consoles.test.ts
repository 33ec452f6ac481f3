/**
 * Issue 13 names "a site with real /admin/ pages used by its admin" among the benign clients no preset
 * may ban. Helper H60's review: tech-probes (one request, a day's ban) counted 403 answers from
 * consoles with a login of their own that answer their OWN users 403 (an expired session): Jenkins'
 * script console, Laravel Horizon's dashboard polling its API; and its Jenkins pattern took a site's own /script/ folder of JavaScript files for the
 * console, so one missing script banned a visitor. Replayed with every preset on (replay
 * --all-rules); controls show the probes the preset is about are still banned. Test addresses only.
 */
import { describe, expect, it } from 'vitest';
import { bansOf, CHROME, line, replayAll, T0 } from '../presets-variants/harness.js';

const rulesBanning = async (lines: string[], ip: string): Promise<string[]> => (await replayAll(lines)).bans.filter((b) => b.ip === ip).map((b) => b.rule);

describe('tech-probes: a product\'s own users refused 403, and a site\'s own /script/ folder', () => {
  const sessions: Record<string, (ip: string) => string[]> = {
    'a Jenkins user whose session expired reopening the script console': (ip) => [line(ip, T0, 'GET /script HTTP/1.1', 403, CHROME), line(ip, T0 + 30, 'GET /login?from=%2Fscript HTTP/1.1', 200, CHROME)],
    'a Laravel admin whose session expired while the Horizon dashboard polls its API (every 5 s, 3 polls)': (ip) =>
      [0, 5, 10].map((t) => line(ip, T0 + t, `GET /horizon/api/${t === 5 ? 'workload' : 'stats'} HTTP/1.1`, 403, CHROME, 'https://example.test/horizon/dashboard')),
    'a visitor of a page whose /script/ folder lost a file': (ip) => [line(ip, T0, 'GET /index.html HTTP/1.1', 200, CHROME), line(ip, T0 + 0.2, 'GET /script/slider.js HTTP/1.1', 404, CHROME, 'https://example.test/')],
  };
  for (const [name, session] of Object.entries(sessions)) {
    it(`bans nobody: ${name}`, async () => {
      expect(bansOf(await replayAll(session('198.18.190.1')))).toEqual([]);
    });
  }

  it('control: still bans one probe of each console where the product is absent (404), and AEM or an actuator refused 403', async () => {
    const probes = ['/script', '/jenkins/scriptText', '/horizon/api/stats', '/actuator/env', '/manage/heapdump', '/telescope/requests'];
    for (const [i, p] of probes.entries()) {
      const ip = `198.19.190.${i + 1}`;
      expect([p, await rulesBanning([line(ip, T0, `GET ${p} HTTP/1.1`, 404, 'curl/8.5.0')], ip)]).toEqual([p, ['tech-probes']]);
    }
    expect(await rulesBanning([line('198.19.190.20', T0, 'GET /crx/packmgr/service.jsp HTTP/1.1', 403, 'curl/8.5.0')], '198.19.190.20')).toEqual(['tech-probes']);
    expect(await rulesBanning([line('198.19.190.21', T0, 'GET /actuator/env HTTP/1.1', 403, 'curl/8.5.0')], '198.19.190.21')).toEqual(['tech-probes']);
  });
});
