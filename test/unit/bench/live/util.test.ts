import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  forbiddenLine,
  isCountable403,
  jumpPackets,
  median,
  parseAb,
  parseFail2banStatus,
  parseIpsetEntries,
  parseProcIo,
  parseProcStat,
  parseProcStatus,
  percentile,
  v4At,
  v6At,
} from '../../../../bench/live/util.js';

describe('live bench helpers', () => {
  it('median and nearest-rank percentiles', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    expect(Number.isNaN(median([]))).toBe(true);
  });

  it('reads utime+stime and children from /proc/<pid>/stat, even with ") " in the name', () => {
    const stat = '1234 (we ird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 25 7 3 20 0 11 0 500 1000 200';
    expect(parseProcStat(stat)).toEqual({ self: 175, children: 10 });
  });

  it('reads VmRSS/VmHWM and rchar', () => {
    expect(parseProcStatus('Name:\tnode\nVmHWM:\t  81234 kB\nVmRSS:\t   70000 kB\n')).toEqual({ rssBytes: 70000 * 1024, hwmBytes: 81234 * 1024 });
    expect(parseProcIo('rchar: 123456\nwchar: 9\n')).toBe(123456);
  });

  it('parses ipset list -t, fail2ban-client status and ab', () => {
    const inputV = '-P INPUT ACCEPT -c 9 9\n-A INPUT -p tcp -m multiport --dports 8080 -c 12 800 -j BANHAMMER-bhb1\n-A INPUT -p tcp -m multiport --dports 8080 -c 648004 41000000 -j BHB-PKT\n';
    expect(jumpPackets(inputV, 'BHB-PKT')).toBe(648004);
    expect(jumpPackets(inputV, 'BANHAMMER-bhb1')).toBe(12);
    expect(jumpPackets(inputV, 'BHB')).toBeNaN();
    expect(parseIpsetEntries('Name: bh-x-v4\nType: hash:ip\nReferences: 1\nNumber of entries: 10020\n')).toBe(10020);
    const f2b = 'Status for the jail: bhb\n|- Filter\n|  |- Currently failed:\t0\n|  |- Total failed:\t5\n`- Actions\n   |- Currently banned:\t1\n   |- Total banned:\t2\n';
    expect(parseFail2banStatus(f2b)).toEqual({ totalFailed: 5, totalBanned: 2, currentlyBanned: 1 });
    expect(parseAb('Complete requests:      1000\nFailed requests:        0\nRequests per second:    20123.45 [#/sec] (mean)\n')).toEqual({
      requestsPerSecond: 20123.45,
      complete: 1000,
      failed: 0,
    });
  });

  it('hands out test addresses only', () => {
    expect(v4At(0)).toBe('198.18.0.0');
    expect(v4At(65536 + 258)).toBe('198.19.1.2');
    expect(() => v4At(1 << 17)).toThrow(RangeError);
    expect(v6At(0)).toBe('2001:db8:aa:1:1::1');
    expect(new Set(Array.from({ length: 70_000 }, (_, i) => v6At(i))).size).toBe(70_000);
    // Every one of the memory phase's 1,000,000 is an address (0x10000 in a group once made 15 invalid).
    let invalid = 0;
    for (let i = 0; i < 1_000_000; i++) if (isIP(v6At(i)) !== 6) invalid++;
    expect(invalid).toBe(0);
    expect(v6At(0x7fff)).toBe('2001:db8:aa:1:8000::1');
    expect(v6At(0x8000)).toBe('2001:db8:aa:2:1::1');
    expect(() => v6At(2 ** 31)).toThrow(RangeError);
  });

  it('counts the 403s fail2ban would: real status, valid non-loopback address', () => {
    const ms = Date.UTC(2026, 2, 14, 6, 0, 0);
    expect(forbiddenLine('198.18.1.1', ms)).toBe('198.18.1.1 - - [14/Mar/2026:06:00:00 +0000] "GET /admin/ HTTP/1.1" 403 199 "-" "curl/8.5.0"\n');
    expect(isCountable403(forbiddenLine('198.18.1.1', ms).trimEnd())).toBe(true);
    expect(isCountable403(forbiddenLine('::ffff:198.18.1.1', ms).trimEnd())).toBe(true);
    expect(isCountable403(forbiddenLine('127.0.0.1', ms).trimEnd())).toBe(false);
    expect(isCountable403(forbiddenLine('scanner.bad.example', ms).trimEnd())).toBe(false);
    expect(isCountable403('198.18.1.1 - - [14/Mar/2026:06:00:00 +0000] "GET /x\\" 403 1 HTTP/1.1" 400 226 "-" "-"')).toBe(false);
    expect(isCountable403('198.18.1.1 - - [14/Mar/2026:06:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "x\\" 403 "')).toBe(false);
  });
});

describe('bench parts', async () => {
  const { parseBenchArgs, parseBenchParts } = await import('../../../../bench/run.js');
  it('runs replay then live by default; --no-live and --live-only choose; the replay parser ignores them', () => {
    expect(parseBenchParts([])).toEqual({ replay: true, live: true, quick: false });
    expect(parseBenchParts(['--no-live'])).toEqual({ replay: true, live: false, quick: false });
    expect(parseBenchParts(['--live-only', '--quick'])).toEqual({ replay: false, live: true, quick: true });
    expect(parseBenchArgs(['--live-only', '--json']).json).toBe(true);
  });
});
