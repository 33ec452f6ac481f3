/**
 * The hostile requests: raw bytes meant to break an access-log line, each sent from an address of its
 * own so that every line a server writes can be traced back to the case (and the one address it may
 * count for). A direct case comes from 198.18.38.<n> / 2001:db8:38::<n>, an untrusted peer whose own
 * address is the only one it may ever be counted for. A proxied case comes from a trusted proxy
 * 198.18.39.<n> / 2001:db8:39::<n> that appended the real client (198.18.40.<n> / 2001:db8:40::<n>)
 * to what the client sent as X-Forwarded-For: readings that believe the header must name that client.
 * FRAMED lists the addresses the requests try to blame; no reading may ever name one of them.
 * LIMITS lists the outcomes the README documents as the price of a choice.
 */

/** Addresses the hostile bytes name, trying to get them counted (framing). */
export const FRAMED = ['198.18.9.9', '198.18.9.8', '2001:db8:9::9', '198.18.39.250', '198.18.40.250'];

export interface HostileCase {
  readonly name: string;
  /** 'direct': an untrusted client; 'proxied': a trusted proxy forwarding the client it appended. */
  readonly via: 'direct' | 'proxied';
  readonly family: 4 | 6;
  /** The bytes, given the case's real client (the peer, or the client a proxied case's proxy appended). */
  bytes(client: string): Buffer;
  /** Keep the connection open this long without a word more (a request cut mid-way: 408 / 400). */
  readonly closeAfterMs?: number;
  /** Leave the connection open after writing (no FIN). */
  readonly noEnd?: boolean;
  /**
   * The servers answer before reading any header (a broken request line): the proxy's
   * X-Forwarded-For is never read, by the server or in its log, and the line names the proxy.
   */
  readonly headersUnread?: boolean;
  /**
   * junk-requests must count it: every line ('all'), or its lines answered 400 ('400': the junk that
   * follows an ordinary pipelined request).
   */
  readonly junk?: 'all' | '400';
  /** Servers that write no line at all for it (no request line ever came). */
  readonly silent?: readonly ('apache' | 'nginx')[];
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const req = (line: string, headers: string[] = []): Buffer => b(`${line}\r\n${['Host: www.example.org', ...headers, 'Connection: close'].join('\r\n')}\r\n\r\n`);
const FORGED = '" 198.18.9.9 - - [06/Dec/2026:10:00:00 +0000] "GET /forbidden HTTP/1.1" 403 0 "-" "';
const basic = (user: string): string => `Authorization: Basic ${Buffer.from(`${user}:pw`, 'latin1').toString('base64')}`;

const direct: Omit<HostileCase, 'via' | 'family'>[] = [
  { name: 'plain 403', bytes: () => req('GET /forbidden HTTP/1.1') },
  { name: 'quote in the target', bytes: () => req('GET /forbidden/"x" HTTP/1.1') },
  { name: 'a forged line in the target', bytes: () => req(`GET /forbidden/${FORGED.replace(/ /g, '%20')} HTTP/1.1`) },
  { name: 'a forged line with spaces in the request line', bytes: () => req(`GET /forbidden/${FORGED} HTTP/1.1`) },
  { name: 'backslashes', bytes: () => req('GET /forbidden\\\\"\\ HTTP/1.1') },
  { name: 'trailing backslash', bytes: () => req('GET /forbidden\\ HTTP/1.1') },
  { name: 'literal \\x22', bytes: () => req('GET /forbidden/\\x22 HTTP/1.1') },
  { name: 'tabs as separators', bytes: () => req('GET\t/forbidden\tHTTP/1.1') },
  { name: 'runs of spaces', bytes: () => req('GET   /forbidden   HTTP/1.1') },
  { name: 'CR in the request line', bytes: () => req('GET /forbidden\r HTTP/1.1') },
  { name: 'bare LF line ends', bytes: () => b('GET /forbidden HTTP/1.1\nHost: www.example.org\nConnection: close\n\n') },
  { name: 'NUL in the target', bytes: () => req('GET /forbidden\u0000" 198.18.9.9 HTTP/1.1') },
  { name: 'control bytes', bytes: () => req('GET /forbidden\u0001\u001b[31m\u007f HTTP/1.1'), junk: 'all' },
  { name: 'bytes >= 0x80, invalid UTF-8', bytes: () => req('GET /forbidden/\u00ff\u00fe\u00c3(\u00e2\u0082 HTTP/1.1') },
  { name: 'a 9 KB target', bytes: () => req(`GET /forbidden/${'A'.repeat(9 * 1024)} HTTP/1.1`) },
  { name: 'a 16 KB target of quotes and escapes', bytes: () => req(`GET /forbidden/${'"\\x22\\'.repeat(16 * 1024 / 6)} HTTP/1.1`) },
  { name: 'a 12 KB target of bytes >= 0x80', bytes: () => req(`GET /forbidden/${'\u00ff'.repeat(12 * 1024)} HTTP/1.1`) },
  { name: 'HTTP/0.9', bytes: () => b('GET /forbidden\r\n') },
  { name: 'HTTP/0.9 without CRLF', bytes: () => b('GET /forbidden'), silent: ['apache'] },
  { name: 'no protocol, headers', bytes: () => req('GET /forbidden') },
  { name: 'unknown protocol', bytes: () => req('GET /forbidden FOO/1.1') },
  { name: 'HTTP/1.2', bytes: () => req('GET /forbidden HTTP/1.2'), junk: 'all' },
  { name: 'lower-case method', bytes: () => req('get /forbidden HTTP/1.1') },
  { name: 'unknown method', bytes: () => req('FOOBAR /forbidden HTTP/1.1') },
  { name: 'quote in the method', bytes: () => req('G"ET /forbidden HTTP/1.1') },
  { name: 'absolute URI', bytes: () => req('GET http://198.18.9.9/forbidden HTTP/1.1') },
  { name: 'CONNECT', bytes: () => req('CONNECT 198.18.9.9:443 HTTP/1.1') },
  { name: 'HTTP/2 preface', bytes: () => b('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n') },
  { name: 'leading space', bytes: () => req(' GET /forbidden HTTP/1.1') },
  { name: 'leading empty lines', bytes: () => b(`\r\n\r\n${req('GET /forbidden HTTP/1.1').toString('latin1')}`) },
  { name: 'extra words after the version', bytes: () => req('GET /forbidden HTTP/1.1 198.18.9.9') },
  {
    name: 'pipelined',
    bytes: () => b(`${req('GET /forbidden/1 HTTP/1.1').toString('latin1').replace('Connection: close\r\n', '')}GET /forbidden/2 HTTP/1.1\r\nHost: x\r\n\r\n${req('GET /forbidden/3 HTTP/1.1').toString('latin1')}`),
  },
  { name: 'pipelined junk after a request', bytes: () => b(`GET /forbidden HTTP/1.1\r\nHost: x\r\n\r\n\u0016\u0003\u0001" 198.18.9.9 \r\n\r\n`), junk: '400' },
  { name: 'cut in the headers (408)', bytes: () => b('GET /forbidden HTTP/1.1\r\nHost: www.example.org\r\nUser-Agent: 198.18.9.9'), closeAfterMs: 3500, noEnd: true },
  { name: 'cut in the request line, held', bytes: () => b('GET /forbidden/" 198.18.9.9'), closeAfterMs: 3500, noEnd: true },
  { name: 'cut in the request line, closed', bytes: () => b('GET /forbidden/" 198.18.9.9'), silent: ['apache'] },
  { name: 'connect, say nothing', bytes: () => b(''), closeAfterMs: 3500, noEnd: true, silent: ['apache', 'nginx'] },
  { name: 'connect, close at once', bytes: () => b(''), silent: ['apache', 'nginx'] },
  { name: 'TLS ClientHello', bytes: () => Buffer.from('16030100a5010000a10303' + '11'.repeat(32) + '000020c02bc02fc02cc030cca9cca8c013c014009c009d002f0035c012000a01000058', 'hex'), junk: 'all' },
  { name: 'User-Agent imitating a line', bytes: () => req('GET /forbidden HTTP/1.1', [`User-Agent: x${FORGED}y`]) },
  { name: 'Referer imitating a line', bytes: () => req('GET /forbidden HTTP/1.1', [`Referer: x${FORGED}y`, 'User-Agent: z']) },
  { name: 'User-Agent with CR, LF-less', bytes: () => req('GET /forbidden HTTP/1.1', ['User-Agent: a\rb" 198.18.9.9 - - [']) },
  { name: 'obs-fold User-Agent', bytes: () => req('GET /forbidden HTTP/1.1', ['User-Agent: a', ' " 198.18.9.9 - - [x']) },
  { name: '16 KB User-Agent', bytes: () => req('GET /forbidden HTTP/1.1', [`User-Agent: ${'" 198.18.9.9 - - ['.repeat(16 * 1024 / 17)}`]) },
  { name: 'Host an address', bytes: () => b('GET /forbidden HTTP/1.1\r\nHost: 198.18.9.9\r\nConnection: close\r\n\r\n') },
  { name: 'Host an address and a comma', bytes: () => b('GET /forbidden HTTP/1.1\r\nHost: 198.18.9.9,\r\nConnection: close\r\n\r\n') },
  { name: 'Host a bracketed IPv6 address', bytes: () => b('GET /forbidden HTTP/1.1\r\nHost: [2001:db8:9::9]\r\nConnection: close\r\n\r\n') },
  { name: 'Host a line start', bytes: () => b('GET /forbidden HTTP/1.1\r\nHost: 198.18.9.9 - - [06/Dec/2026:10:00:00 +0000] "GET\r\nConnection: close\r\n\r\n') },
  // Review H53: a Host that starts like a syslog header or a Docker record (nginx takes both): `auto`
  // read the host layout's line as a broken wrapper and skipped it.
  { name: 'Host a syslog priority', bytes: () => b('GET /forbidden HTTP/1.1\r\nHost: <1>\r\nConnection: close\r\n\r\n') },
  { name: 'Host an RFC 5424 header start', bytes: () => b('GET /forbidden HTTP/1.1\r\nHost: <134>1\r\nConnection: close\r\n\r\n') },
  { name: 'Host a JSON record start', bytes: () => b('GET /forbidden HTTP/1.1\r\nHost: {x}\r\nConnection: close\r\n\r\n') },
  { name: 'Host a trusted proxy with a port', bytes: () => b('GET /forbidden HTTP/1.1\r\nHost: 198.18.39.250:80\r\nConnection: close\r\n\r\n') },
  { name: 'two Host headers', bytes: () => b('GET /forbidden HTTP/1.1\r\nHost: 198.18.9.9\r\nHost: 198.18.9.8\r\nConnection: close\r\n\r\n') },
  { name: 'absolute URI naming an address host', bytes: () => b('GET http://198.18.9.9:80/forbidden HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n') },
  { name: 'spoofed X-Forwarded-For', bytes: () => req('GET /forbidden HTTP/1.1', ['X-Forwarded-For: 198.18.9.9']) },
  { name: 'spoofed X-Forwarded-For, several headers', bytes: () => req('GET /forbidden HTTP/1.1', ['X-Forwarded-For: 198.18.9.9', 'X-Forwarded-For: 198.18.9.8, 198.18.39.250']) },
  { name: 'spoofed X-Forwarded-For naming a trusted proxy', bytes: () => req('GET /forbidden HTTP/1.1', ['X-Forwarded-For: 198.18.9.9, 198.18.39.250']) },
  { name: 'spoofed X-Forwarded-For, garbage', bytes: () => req('GET /forbidden HTTP/1.1', ['X-Forwarded-For: unknown, , "x\\", ::::, 999.1.1.1']) },
  { name: 'spoofed X-Forwarded-For, ports and brackets', bytes: () => req('GET /forbidden HTTP/1.1', ['X-Forwarded-For: 198.18.9.9:80, [2001:db8:9::9]:443, [2001:db8:9::9]']) },
  { name: 'spoofed X-Forwarded-For, a line start', bytes: () => req('GET /forbidden HTTP/1.1', ['X-Forwarded-For: 198.18.9.9 - - [06/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 403 0 "-" "-"']) },
  { name: 'Basic user imitating a line start', bytes: () => req('GET /forbidden HTTP/1.1', [basic('198.18.9.9 - - [06/Dec/2026:10:00:00 +0000] "GET')]) },
  { name: 'Basic user with quotes and a trusted address', bytes: () => req('GET /forbidden HTTP/1.1', [basic('x" 198.18.39.250 - -')]) },
  { name: 'Basic user, 401', bytes: () => req('GET /private HTTP/1.1', [basic('bob')]) },
  { name: 'Basic user imitating a line start, 401', bytes: () => req('GET /private HTTP/1.1', [basic('198.18.9.9 - - [06/Dec/2026:10:00:00 +0000] "GET')]) },
  { name: 'Basic user naming an address, 401', bytes: () => req('GET /private HTTP/1.1', [basic('x 198.18.9.9 - y')]) },
  { name: 'Basic user of quotes and backslashes, 401', bytes: () => req('GET /private HTTP/1.1', [basic('a\\" b\\\\" [x] "\\')]) },
  {
    name: 'pipelined forged line',
    bytes: () => b(`GET /forbidden HTTP/1.1\r\nHost: x\r\n\r\n198.18.9.9 - - [06/Dec/2026:10:00:00 +0000] "GET /forbidden HTTP/1.1" 403 0 "-" "-"\r\n\r\n`),
  },
  { name: 'Basic user with a trusted address, 401', bytes: () => req('GET /private HTTP/1.1', [basic('x 198.18.39.250 - -')]) },
];

const proxiedXff: { name: string; xff: (client: string) => string[]; ua?: string }[] = [
  { name: 'proxied, the client alone', xff: (c) => [c] },
  { name: 'proxied, a forged address before the client', xff: (c) => [`198.18.9.9, ${c}`] },
  { name: 'proxied, a line start before the client', xff: (c) => [`198.18.9.9 - - [06/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 403 0, ${c}`] },
  { name: 'proxied, garbage before the client', xff: (c) => [`unknown, , "x\\", 999.1.1.1, ${c}`] },
  { name: 'proxied, a trusted address before the client', xff: (c) => [`198.18.39.250, ${c}`] },
  { name: 'proxied, the client with a port', xff: (c) => [c.includes(':') ? `[${c}]:4711` : `${c}:4711`] },
  { name: 'proxied, the client bracketed', xff: (c) => [c.includes(':') ? `[${c}]` : c] },
  { name: 'proxied, two headers', xff: (c) => ['198.18.9.9', `198.18.9.8, ${c}`] },
  { name: 'proxied, two trusted hops', xff: (c) => [`198.18.9.9, ${c}, 198.18.39.250`] },
  { name: 'proxied, a User-Agent imitating a line', xff: (c) => [c], ua: `x${FORGED}y` },
];

function proxiedBytes(p: (typeof proxiedXff)[number], target: string) {
  return (client: string): Buffer => req(`GET ${target} HTTP/1.1`, [...p.xff(client).map((x) => `X-Forwarded-For: ${x}`), ...(p.ua ? [`User-Agent: ${p.ua}`] : [])]);
}

/** Every case, for both families (direct cases) or IPv4 and IPv6 proxies (proxied ones). */
export const CASES: readonly HostileCase[] = [
  ...direct.map((c) => ({ ...c, via: 'direct' as const, family: 4 as const })),
  ...direct.map((c) => ({ ...c, via: 'direct' as const, family: 6 as const })),
  ...proxiedXff.map((p) => ({ name: p.name, via: 'proxied' as const, family: 4 as const, bytes: proxiedBytes(p, '/forbidden') })),
  ...proxiedXff.map((p) => ({ name: p.name, via: 'proxied' as const, family: 6 as const, bytes: proxiedBytes(p, '/forbidden') })),
  // A proxied junk request: the request line is the client's, the rest the proxy's.
  { name: 'proxied, TLS bytes in the request line', via: 'proxied', family: 4, headersUnread: true, junk: 'all', bytes: (c) => b(`\u0016\u0003\u0001" 198.18.9.9 / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: ${c}\r\n\r\n`) },
];

/** The addresses of case `i`: the peer, and the client every reading that believes the proxy must name. */
export function addressesOf(i: number): { peer: string; client: string } {
  const c = CASES[i]!;
  const n = i + 10;
  const hi = Math.floor(n / 250);
  const lo = (n % 250) + 1;
  if (c.via === 'direct') {
    const peer = c.family === 4 ? `198.18.${38 + hi * 10}.${lo}` : `2001:db8:38::${n.toString(16)}`;
    return { peer, client: peer };
  }
  return c.family === 4 ? { peer: `198.18.39.${lo}`, client: `198.18.40.${lo}` } : { peer: `2001:db8:39::${n.toString(16)}`, client: `2001:db8:40::${n.toString(16)}` };
}

/**
 * The README's known limits, met by real servers' lines: for this case, in this log, read in these
 * formats, the outcome is the documented one (`<ip> <status>` or `skip <reason>`), not the client.
 * Each is asserted exactly, so any other outcome still fails.
 */
export interface Limit {
  readonly caseName: string;
  readonly log: string;
  readonly formats: readonly string[];
  outcome(a: { peer: string; client: string }, status: number): string;
  /** Where the README says so. */
  readonly why: string;
}

/** Basic-auth user names holding a trusted proxy's address (nginx fills $remote_user on any request, Apache %u on /private). */
const TRUSTED_USER = ['Basic user with quotes and a trusted address', 'Basic user with a trusted address, 401'];
/** User names holding an address followed by ` - ` (the signature of a peer as `$remote_addr - ` writes it). */
const PEER_USER = [...TRUSTED_USER, 'Basic user imitating a line start', 'Basic user imitating a line start, 401', 'Basic user naming an address, 401'];
const NGINX_LOGS = ['n-combined.log', 'n-json.log', 'n-main.log', 'n-host.log', 'n-list.log', 'nr-combined.log'];
const APACHE_LOGS = ['a-combined.log', 'a-common.log', 'a-vhost.log', 'a-host.log', 'a-host-header.log', 'ar-combined.log'];
const HOST_LED = ['a-vhost.log', 'a-host.log', 'a-host-header.log', 'n-host.log'];
/** The logs where the case's user name is written: nginx's always, Apache's only where it asked for one (401). */
const userLogs = (caseName: string): string[] => (caseName.endsWith(', 401') ? [...NGINX_LOGS, ...APACHE_LOGS] : NGINX_LOGS);

export const LIMITS: readonly Limit[] = [
  // A trusted proxy's address among the words before the time makes `auto` refuse the line, as for a
  // forged list that went through the proxy.
  ...TRUSTED_USER.flatMap((caseName) =>
    userLogs(caseName).map((log) => ({
      caseName,
      log,
      formats: ['auto'],
      outcome: () => 'skip bad-forwarded',
      why: 'README "X-Forwarded-For": the price of that refusal: a client whose user name holds a trusted proxy\'s address has its own lines skipped',
    })),
  ),
  // After a host, `auto` refuses an address followed by ` - ` among the user words.
  ...PEER_USER.filter((c) => !TRUSTED_USER.includes(c)).flatMap((caseName) =>
    userLogs(caseName)
      .filter((log) => HOST_LED.includes(log))
      .map((log) => ({
        caseName,
        log,
        formats: ['auto'],
        outcome: () => 'skip bad-forwarded',
        why: 'README "X-Forwarded-For": after a host, `auto` refuses such a line when an address followed by ` - ` stands among the user words',
      })),
  ),
  // nginx's fixed host format refuses them too: nginx before 1.21.1 writes a Host's spaces into $host
  // (apache.ts, hostMayHoldSpaces); Apache's reads them as declared (host-user-field.test.ts).
  ...PEER_USER.flatMap((caseName) =>
    userLogs(caseName)
      .filter((log) => log === 'n-host.log')
      .map((log) => ({
        caseName,
        log,
        formats: ['nginx-host-combined'],
        outcome: () => 'skip bad-forwarded',
        why: 'README "X-Forwarded-For": nginx-host-combined refuses an address followed by ` - ` among the user words, as `auto` does',
      })),
  ),
  // A $proxy_add_x_forwarded_for list first, from a client that reaches nginx directly: the client
  // writes the whole field, spaces included, and the line names what it wrote.
  {
    caseName: 'spoofed X-Forwarded-For, a line start',
    log: 'n-list.log',
    formats: ['auto'],
    outcome: (_a, status) => `198.18.9.9 ${status}`,
    why: 'README "X-Forwarded-For": such a forged line blames what the client wrote; make your proxies the only way in',
  },
  // The same list through the trusted proxy holds the proxy's address among the words: refused.
  {
    caseName: 'proxied, a line start before the client',
    log: 'n-list.log',
    formats: ['auto'],
    outcome: () => 'skip bad-forwarded',
    why: 'README "X-Forwarded-For": a list read as long as the client put no space in its own part of it',
  },
];
