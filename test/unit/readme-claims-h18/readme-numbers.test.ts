/**
 * Limits and intervals the README states in prose, held to the constants that make them so. Each
 * number was checked against the code by hand once; this keeps them from drifting apart when a
 * constant changes (the README said a cut syslog line keeps "at most 4 KiB" of its request long after
 * the constant became 40,960 characters, more than the 32,768 the rules test). Each entry is a phrase
 * of the README built from the constant, so a changed constant fails here until the README says it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KEPT_REQUEST } from '../../../src/parse/line-parser.js';
import { MAX_HEAD_LENGTH } from '../../../src/parse/access-event.js';
import { MAX_HOPS } from '../../../src/parse/apache.js';
import { IDLE_TIMEOUT_MS } from '../../../src/control/protocol.js';
import { MAX_CONNECTIONS } from '../../../src/control/server.js';
import { DEFAULT_PENDING_EVIDENCE_BYTES, EXTRA_EVIDENCE_LINES, MAX_EVIDENCE_LINE_CHARS, MAX_EVIDENCE_LINES } from '../../../src/decide/evidence.js';
import { DEFAULT_BAN_EVIDENCE_BYTES, DEFAULT_BAN_HISTORY } from '../../../src/decide/ban-book.js';
import { PER_48, PER_64 } from '../../../src/decide/offender-history.js';
import { DEFAULT_MAXELEM, MAX_IPSET_TIMEOUT_S } from '../../../src/enforce/iptables-args.js';
import { DEFAULT_BATCH_ELEMENTS, MAX_NFT_TIMEOUT_MS } from '../../../src/enforce/nft-args.js';
import { SKEW_TOLERANCE_MS } from '../../../src/pipeline/pipeline.js';
import { MAX_LATE_MS } from '../../../src/detect/sliding-window.js';
import { STALL_MS } from '../../../src/decide/state-keeper.js';
import { STOP_SAVE_BUDGET_MS } from '../../../src/daemon.js';
import { MAX_MATCH_BRANCHES, MAX_MATCH_DEPTH } from '../../../src/config/rule-schema.js';
import { MAX_PATH_TESTED, MAX_PROGRAM_SIZE } from '../../../src/detect/path-pattern.js';
import { MAX_MEMO_TEXT } from '../../../src/detect/text-memo.js';
import { MAX_TARGETS, TARGET_DEFAULTS } from '../../../src/notify/target-schema.js';
import { DIGEST_MAX_ADDRESSES } from '../../../src/notify/channel.js';
import { DIGEST_TOP, MAX_EVIDENCE_CHARS, MAX_EVIDENCE_LINES as NOTIFY_EVIDENCE_LINES } from '../../../src/notify/event.js';
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS } from '../../../src/notify/notifier.js';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8').replace(/\s+/g, ' ');
const n = (v: number): string => v.toLocaleString('en-US');
const s = (ms: number): number => ms / 1000;

const PHRASES: readonly (readonly [string, string])[] = [
  ['parse: a cut request keeps KEPT_REQUEST', `keeps at most ${n(KEPT_REQUEST)} characters of it`],
  ['parse: more than the rules test', `more than the ${n(MAX_PATH_TESTED)} the rules test`],
  ['parse: longest head', `A line longer than ${MAX_HEAD_LENGTH / 1024} KiB is not kept`],
  ['parse: trusted proxies in a row', `more than ${MAX_HOPS} trusted proxies in a row`],
  ['control: request line time', `within ${s(IDLE_TIMEOUT_MS)} s of its first byte`],
  ['control: connections', `at most ${MAX_CONNECTIONS} connections are open`],
  ['why: lines per ban', `(maxretry lines, at most ${MAX_EVIDENCE_LINES}, plus ${EXTRA_EVIDENCE_LINES} more`],
  ['why: line cut', `cut at ${n(MAX_EVIDENCE_LINE_CHARS)} characters`],
  ['why: pending budget', `share one ${DEFAULT_PENDING_EVIDENCE_BYTES >> 20} MiB budget`],
  ['why: ban budget', `share ${DEFAULT_BAN_EVIDENCE_BYTES >> 20} MiB`],
  ['why: history default', `(default ${n(DEFAULT_BAN_HISTORY)};`],
  ['rules: repeat offenders per /64 and /48', `at most ${PER_64} of one IPv6 /64 and ${PER_48} of one /48`],
  ['rules: nesting', `(at most ${MAX_MATCH_DEPTH} levels, ${MAX_MATCH_BRANCHES} branches each)`],
  ['rules: characters tested', `At most ${n(MAX_PATH_TESTED)} characters of each field are tested`],
  ['rules: RE2 program', `more than ${MAX_PROGRAM_SIZE} RE2 instructions per rule`],
  ['rules: memo text', `at most ${MAX_MEMO_TEXT} characters`],
  ['iptables: maxelem', `ipset's \`maxelem\`, ${n(DEFAULT_MAXELEM)} addresses`],
  ['iptables: longest timeout', `longest per-entry timeout is about ${Math.floor((MAX_IPSET_TIMEOUT_S / 86_400) * 10) / 10} days`],
  ['nftables: batch', `at most ${n(DEFAULT_BATCH_ELEMENTS)} element writes each`],
  ['nftables: capped timeout', `are written as ${MAX_NFT_TIMEOUT_MS / 86_400_000} days and refreshed`],
  ['time: skew tolerance', `more than ${s(SKEW_TOLERANCE_MS)} s ahead of the agent's clock`],
  ['time: late lines', `(at most ${MAX_LATE_MS / 60_000} minutes)`],
  ['state: stall', `still unanswered after ${s(STALL_MS)} s`],
  ['state: final save', `waits at most ${s(STOP_SAVE_BUDGET_MS)} s for its final save`],
  ['notify: targets', `at most ${MAX_TARGETS} targets`],
  ['notify: timeout', `(whole attempt, default ${s(TARGET_DEFAULTS.timeoutMs)}s)`],
  ['notify: connect timeout', `(DNS + TCP/TLS, default ${s(TARGET_DEFAULTS.connectTimeoutMs)}s)`],
  ['notify: queue', `\`queue_size\` (default ${TARGET_DEFAULTS.queueSize})`],
  ['notify: attempts', `\`attempts\` (default ${TARGET_DEFAULTS.attempts})`],
  ['notify: retries', `retried after ${s(BACKOFF_BASE_MS)} s, ${s(BACKOFF_BASE_MS) * 2} s, ${s(BACKOFF_BASE_MS) * 4} s, … (at most ${s(BACKOFF_MAX_MS)} s`],
  ['notify: digest tally', `(${n(DIGEST_MAX_ADDRESSES)} distinct addresses;`],
  ['notify: digest top', `top ${DIGEST_TOP} rules and addresses`],
  ['notify: evidence lines', `(at most ${NOTIFY_EVIDENCE_LINES}, each at most ${n(MAX_EVIDENCE_CHARS)} characters`],
];

describe('README numbers are the code constants', () => {
  it.each(PHRASES)('%s', (_what, phrase) => {
    expect(README.includes(phrase), `README does not say: ${phrase}`).toBe(true);
  });
});
