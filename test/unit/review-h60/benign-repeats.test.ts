/**
 * Issue 13: no preset may ban a benign client of a realistic traffic mix. Helper H60's review found
 * benign clients that repeat ONE harmless request a preset matched: a search paged or typed ahead
 * (sensitive-paths bans on two), a script's callback parameter loaded on every page, a crawler asking
 * for compressed sitemaps, a library or media page loading one image per item from an
 * extension-less endpoint. Each is replayed with every preset on (replay --all-rules, the code the
 * CLI uses) and must ban nobody; each sits beside a control showing that the attack the preset is
 * about, spelled the way the benign client is, is still banned. Test addresses only.
 */
import { describe, expect, it } from 'vitest';
import { bansOf, CHROME, FIREFOX, line, replayAll, T0 } from '../presets-variants/harness.js';

const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const AHREFS = 'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)';

/** A search `q` (as written in the URL) and its next five result pages, 40 s apart. */
const paged = (ip: string, path: string, q: string): string[] =>
  [1, 2, 3, 4, 5, 6].map((p, i) => line(ip, T0 + i * 40, `GET ${path}?q=${q}${p === 1 ? '' : `&page=${p}`} HTTP/1.1`, 200, CHROME));

/** A search box that asks for suggestions on every keystroke (no debounce): each prefix of `text`. */
const typedAhead = (ip: string, text: string): string[] =>
  Array.from({ length: text.length }, (_, i) => line(ip, T0 + i * 0.25, `GET /search/suggest?q=${encodeURIComponent(text.slice(0, i + 1))} HTTP/1.1`, 200, FIREFOX));

/** The rules that banned `ip`. */
const rulesBanning = async (lines: string[], ip: string): Promise<string[]> => (await replayAll(lines)).bans.filter((b) => b.ip === ip).map((b) => b.rule);

describe('sqli-probes: a quoted boolean search, paged (the comparison must be in the quote\'s own parameter)', () => {
  // `(?:'|")\s*(?:or|and)\s*(?:'|"|\d)[^=]*=` reached across `&` to the next parameter's `=`: a
  // library catalogue search with quoted phrases, paged or sorted, counted as `' or '1'='1`.
  const searches: Record<string, string> = {
    'two quoted phrases joined by OR': '%22climate+change%22+OR+%22global+warming%22',
    'two quoted words joined by AND': '%22rock%22+AND+%22roll%22',
    'a quoted place and a year': '%27new+york%27+or+1990',
  };
  for (const [name, q] of Object.entries(searches)) {
    it(`bans nobody: ${name}, six result pages`, async () => {
      expect(bansOf(await replayAll(paged('198.18.160.1', '/catalog/search', q)))).toEqual([]);
    });
  }

  it('control: still bans quote-or-equals injections, with or without a parameter after them', async () => {
    const ip = '198.19.160.1';
    const payloads = ["admin%27+or+%271%27%3D%271", 'x%22+OR+%22a%22%3D%22a', "1%27+or+1%3D1", '1%27%20AND%20%271%27%3D%271', "1%27or%272%27%3D%272"];
    const lines = payloads.map((p, i) => line(ip, T0 + i, `GET /item.php?id=${p}${i % 2 ? '&lang=en' : ''} HTTP/1.1`, 200));
    expect(await rulesBanning(lines, ip)).toContain('sqli-probes');
  });
});

describe('xss-probes: book titles with a colon and script callbacks are not javascript: URLs or handlers', () => {
  it('bans nobody: "JavaScript: The Good Parts" searched and paged', async () => {
    expect(bansOf(await replayAll(paged('198.18.161.1', '/books/search', 'javascript%3A+the+good+parts')))).toEqual([]);
  });
  it('bans nobody: "JavaScript: The Definitive Guide" searched and paged (colon written raw)', async () => {
    expect(bansOf(await replayAll(paged('198.18.161.2', '/search', 'JavaScript:+The+Definitive+Guide')))).toEqual([]);
  });
  it('bans nobody: "javascript: the good parts" typed into a search box with suggestions', async () => {
    expect(bansOf(await replayAll(typedAhead('198.18.161.3', 'javascript: the good parts')))).toEqual([]);
  });
  // A tag counted wherever it was written: a search for a tag by name, paged or typed ahead, made five.
  it('bans nobody: "<script> tutorial" and "<img> alt text" searched and paged', async () => {
    expect(bansOf(await replayAll(paged('198.18.161.5', '/docs/search', '%3Cscript%3E+tutorial')))).toEqual([]);
    expect(bansOf(await replayAll(paged('198.18.161.6', '/docs/search', '<img>+alt+text')))).toEqual([]);
  });
  it('bans nobody: "<script> tutorial" and "<div> vs <span> difference" typed into a search box with suggestions', async () => {
    expect(bansOf(await replayAll(typedAhead('198.18.161.7', '<script> tutorial')))).toEqual([]);
    expect(bansOf(await replayAll(typedAhead('198.18.161.8', '<div> vs <span> difference')))).toEqual([]);
  });
  it('bans nobody: a page loading a widget script with an onload callback, ten page views', async () => {
    const ip = '198.18.161.4';
    const lines = Array.from({ length: 10 }, (_, i) => [
      line(ip, T0 + i * 30, `GET /page/${i} HTTP/1.1`, 200, CHROME),
      line(ip, T0 + i * 30 + 1, `GET /js/loader?${i % 2 ? 'render=explicit&' : ''}onload=initMap HTTP/1.1`, 200, CHROME),
    ]).flat();
    expect(bansOf(await replayAll(lines))).toEqual([]);
  });

  it('control: still bans javascript: URLs and event handlers however spelled', async () => {
    const ip = '198.19.161.1';
    const payloads = [
      'url=JaVaScRiPt:void(0)',
      'next=javascript%3A%2F%2F%250afetch(1)',
      'next=javascript:+void(document.body)',
      'x=%22onmouseover%3D%22x',
      'x=%3Csvg/onload%3Dx%3E',
      'q=%22+autofocus+onfocus%3Dx+',
      'a=%3Cbr&b=1',
      'a=%3Cscript%3Efetch(%27//x%27)%3C/script%3E',
      'a=%253Ciframe%2520src%253D//x%253E',
    ];
    const lines = payloads.map((p, i) => line(ip, T0 + i, `GET /go?${p} HTTP/1.1`, 200));
    expect(await rulesBanning(lines, ip)).toContain('xss-probes');
  });
});

describe('sensitive-paths: a search for the `../` notation (two requests used to ban for a day)', () => {
  it('bans nobody: "../ explained" searched and paged, as typed and as percent-encoded', async () => {
    expect(bansOf(await replayAll(paged('198.18.162.1', '/search', '../+explained')))).toEqual([]);
    expect(bansOf(await replayAll(paged('198.18.162.2', '/search', '..%2F+explained')))).toEqual([]);
    expect(bansOf(await replayAll(paged('198.18.162.3', '/search', '..%5C+in+windows+paths')))).toEqual([]);
    expect(bansOf(await replayAll(paged('198.18.162.5', '/search', '..%2F..%2F+relative+paths')))).toEqual([]);
  });
  it('bans nobody: "../ explained" typed into a search box with suggestions', async () => {
    expect(bansOf(await replayAll(typedAhead('198.18.162.4', '../ explained')))).toEqual([]);
  });

  it('control: still bans traversal in a parameter, plain, encoded, double-encoded or Windows-style', async () => {
    const cases = ['file=..%2F.env', 'file=..%5C..%5Cwindows%5Cwin.ini', 'file=..%252f..%252fconfig.php', 'lang=..//..//..//etc/hosts', 'file=../../../../proc/version'];
    for (const [i, q] of cases.entries()) {
      const ip = `198.19.162.${i + 1}`;
      const lines = [line(ip, T0, `GET /view?${q} HTTP/1.1`, 200), line(ip, T0 + 1, `GET /download?${q}&x=1 HTTP/1.1`, 200)];
      expect([q, await rulesBanning(lines, ip)]).toEqual([q, ['sensitive-paths']]);
    }
  });
});

describe('sensitive-paths: compressed sitemaps are not backup archives', () => {
  it('bans nobody: a crawler asking for the usual sitemap locations on a site without them', async () => {
    const ip = '198.18.163.1';
    const lines = ['/robots.txt', '/sitemap.xml.gz', '/sitemap_index.xml.gz', '/sitemaps.xml.gz', '/sitemap-1.xml.gz', '/sitemap.xml'].map((p, i) =>
      line(ip, T0 + i * 2, `GET ${p} HTTP/1.1`, p === '/robots.txt' ? 200 : 404, AHREFS),
    );
    expect(bansOf(await replayAll(lines))).toEqual([]);
  });
  it('control: still bans a walk of root archives and dumps, .xml.gz or .sql.gz included', async () => {
    const ip = '198.19.163.1';
    const lines = ['/site.xml.gz', '/sitemap.sql.gz'].map((p, i) => line(ip, T0 + i, `GET ${p} HTTP/1.1`, 404));
    expect(await rulesBanning(lines, ip)).toContain('sensitive-paths');
  });
});

describe('crawl-non-static: a page loading one image per item from an endpoint without an extension', () => {
  const galleries: Record<string, (i: number) => string> = {
    // calibre-web's library grid (the CrowdSec hub's calibre-web log asks for /cover/<id>/md?c=…).
    'a calibre-web library page of 60 covers': (i) => `/cover/${i + 1}/md?c=17462300${i}`,
    'a Jellyfin home screen of 80 posters': (i) => `/Items/${(1e9 + i * 7919).toString(16)}/Images/Primary?fillHeight=300&fillWidth=200&quality=96`,
    'a Gitea contributors page of 50 avatars': (i) => `/avatars/${(1e12 + i * 7919).toString(16)}?size=40`,
    'a Nextcloud Talk room of 50 participants': (i) => `/index.php/avatar/user${i}/64`,
    'a gallery of 60 thumbnails': (i) => `/photos/${1000 + i}/thumbnail`,
  };
  for (const [name, target] of Object.entries(galleries)) {
    it(`bans nobody: ${name} within 3 s`, async () => {
      const ip = '198.18.164.1';
      const lines = [line(ip, T0, 'GET /library HTTP/1.1', 200, CHROME)];
      for (let i = 0; i < 80; i++) lines.push(line(ip, T0 + 0.5 + i * 0.03, `GET ${target(i)} HTTP/2.0`, 200, CHROME, 'https://example.test/library'));
      expect(bansOf(await replayAll(lines))).toEqual([]);
    });
  }
  it('control: still bans a scraper walking 60 book and product pages in 5 s', async () => {
    const ip = '198.19.164.1';
    const lines = Array.from({ length: 60 }, (_, i) => line(ip, T0 + i / 12, `GET /${i % 2 ? 'book' : 'product'}/${i}/${i % 3 ? 'cover-story' : 'reviews'} HTTP/1.1`, 200, GOOGLEBOT));
    expect(await rulesBanning(lines, ip)).toContain('crawl-non-static');
  });
});
