/**
 * Issue 13: no preset may ban a benign client. Helper H60's review: not-found counted a page's missing
 * subresources (a gallery whose images were lost, a developer's tools asking for every bundle's source
 * map, lost webfonts) as a content scan, although CrowdSec's http-probing, its reference, leaves static
 * files out; sensitive-paths banned, for a day, someone reading a repository's .env.example and
 * .htaccess (or a dotfiles repository's .bashrc) in a self-hosted source forge. Each client is
 * replayed with every preset on (replay --all-rules) and must ban nobody; each control shows the
 * preset still bans the attack it is about. Test addresses only.
 */
import { describe, expect, it } from 'vitest';
import { bansOf, CHROME, line, replayAll, T0 } from '../presets-variants/harness.js';

const rulesBanning = async (lines: string[], ip: string): Promise<string[]> => (await replayAll(lines)).bans.filter((b) => b.ip === ip).map((b) => b.rule);

describe('not-found: a page\'s missing subresources are not a content scan', () => {
  const pages: Record<string, (i: number) => string> = {
    'a gallery page whose 45 images were lost in a migration': (i) => `/wp-content/uploads/2019/0${1 + (i % 9)}/photo-${i}-1024x768.jpg`,
    'a developer\'s tools asking for 45 source maps of an app\'s chunks': (i) => `/assets/chunk-${(0x1000 + i * 97).toString(16)}.js.map`,
    'a theme whose 45 webfonts, icons and stylesheets are missing': (i) => `/themes/old/${['fonts/f', 'icons/i', 'css/s'][i % 3]}${i}.${['woff2', 'svg', 'css'][i % 3]}`,
  };
  for (const [name, target] of Object.entries(pages)) {
    it(`bans nobody: ${name}, within 3 s`, async () => {
      const ip = '198.18.180.1';
      const lines = [line(ip, T0, 'GET /gallery/ HTTP/1.1', 200, CHROME)];
      for (let i = 0; i < 45; i++) lines.push(line(ip, T0 + 0.2 + i * 0.06, `GET ${target(i)} HTTP/1.1`, 404, CHROME, 'https://example.test/gallery/', 196));
      expect(bansOf(await replayAll(lines))).toEqual([]);
    });
  }
  it('control: still bans a word-list walk of 40 missing pages and scripts in 4 s', async () => {
    const ip = '198.19.180.1';
    const words = ['admin', 'backup', 'old', 'test', 'dev', 'config', 'install', 'setup', 'db', 'login'];
    const lines = Array.from({ length: 40 }, (_, i) => line(ip, T0 + i / 10, `GET /${words[i % 10]}${i >= 10 ? `${i}` : ''}${i % 2 ? '.php' : '/'} HTTP/1.1`, 404));
    expect(await rulesBanning(lines, ip)).toContain('not-found');
  });
});

describe('sensitive-paths: a repository\'s files read in a self-hosted source forge', () => {
  const sessions: Record<string, string[]> = {
    'reading a project\'s .env.example, .htaccess and wp-config sample in Gitea': [
      '/org/shop/src/branch/main/.env.example',
      '/org/shop/raw/branch/main/.env.example',
      '/org/shop/src/branch/main/public/.htaccess',
      '/org/shop/src/commit/4f2a9c1/wp-config.php.dist',
      '/org/shop/blame/branch/main/.env.example',
    ],
    'reading a dotfiles repository (GitHub-style and GitLab views)': [
      '/jane/dotfiles/blob/main/.bashrc',
      '/jane/dotfiles/raw/main/.zshrc',
      '/jane/dotfiles/tree/main/.ssh/',
      '/group/dotfiles/-/blob/main/.profile',
      '/group/dotfiles/-/raw/main/.npmrc',
    ],
  };
  for (const [name, paths] of Object.entries(sessions)) {
    it(`bans nobody: ${name}`, async () => {
      const lines = paths.map((p, i) => line('198.18.181.1', T0 + i * 5, `GET ${p} HTTP/1.1`, 200, CHROME, 'https://git.example.test/'));
      expect(bansOf(await replayAll(lines))).toEqual([]);
    });
  }
  it('control: still bans secret-file probes, at the root or in a subdirectory', async () => {
    for (const [i, pair] of [['/.env', '/.git/config'], ['/src/.env', '/api/src/.env'], ['/app/.bashrc', '/.ssh/id_rsa']].entries()) {
      const ip = `198.19.181.${i + 1}`;
      expect([pair, await rulesBanning(pair.map((p, j) => line(ip, T0 + j, `GET ${p} HTTP/1.1`, 404)), ip)]).toEqual([pair, ['sensitive-paths']]);
    }
  });
  it('control: still bans traversal through a forge\'s file view', async () => {
    const ip = '198.19.181.9';
    const lines = ['/org/repo/raw/branch/main/..%2F..%2F..%2F..%2Fetc%2Fpasswd', '/org/repo/src/branch/main/..%2F..%2Fapp.ini'].map((p, i) => line(ip, T0 + i, `GET ${p} HTTP/1.1`, 404));
    expect(await rulesBanning(lines, ip)).toContain('sensitive-paths');
  });
});
