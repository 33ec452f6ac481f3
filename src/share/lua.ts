/**
 * The Lua scripts of the share stage, run with EVALSHA (EVAL when Redis answers NOSCRIPT, e.g. after
 * a restart). A script is atomic, so "add, trim, count and claim" is one step for all replicas, and
 * one round trip. Every key a script touches is passed in KEYS and lives under the group's hash tag
 * (Cluster-safe); the channel is passed in ARGV (channels are not keys). Under ACL, the commands a
 * script calls are checked against the user too: SHARE_ACL_COMMANDS (share.ts) lists them all.
 *
 * Every time a script is given or stores (scores, a message's times, `latest`, "the caller's
 * clock" below) is in the group's clock, Redis's TIME as the caller measured it (group-clock.ts).
 *
 * Numbers cross into Redis as '%.17g' strings: Lua 5.1's tostring() keeps only 14 digits, which
 * would round a millisecond timestamp.
 *
 * A stored value is hostile until messages.ts's validator took it, and the validator is the one
 * judge: a script never decides on a stored value the validator would refuse. What a script can
 * check cheaply it checks with the validator's own rules (at most MAX_MESSAGE_CHARS, ASCII: so a
 * length means the same in Lua's bytes and JavaScript's characters, and nothing is decoded that no
 * ban can be); when a stored ban would make it hold back (BAN: covered; UNBAN: a newer ban stands) it
 * returns that value for the caller to validate, and the caller asks again naming a value it
 * refused, which the script then treats as no ban.
 */
import { createHash } from 'node:crypto';
import { MAX_FIELD_CHARS, MAX_MESSAGE_CHARS } from './messages.js';

export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha1: string;
  /** Number of keys, or -1 when it varies per call. */
  readonly keys: number;
}

function script(name: string, keys: number, source: string): LuaScript {
  return { name, keys, source, sha1: createHash('sha1').update(source).digest('hex') };
}

/**
 * Lua: may the string `v` be a ban message at all (the validator's length and ASCII rules)? `#v` is
 * O(1) and the pattern stops at the first byte ≥ 0x80: a huge value costs nothing to refuse.
 */
const MAY_BE_BAN = `local function mayBeBan(v)
  return #v <= ${MAX_MESSAGE_CHARS} and not string.find(v, '[\\128-\\255]')
end
`;

/**
 * Lua: is `r`, what redis.pcall answered, a WRONGTYPE error (a key of the wrong type: poisoned, and
 * replaced by the caller)? Any other error is raised, and the script fails: a command the group's ACL
 * user may not run (NOPERM), a refused write (OOM, MISCONF, READONLY) says nothing of the key, and a
 * script that deleted the key it could not read wiped the group's whole ban hash or its tombstones
 * at every ban and every connection of one replica with a wrong ACL (review: helper).
 */
const WRONG_TYPE = `local function wrongType(r)
  if type(r) ~= 'table' or not r.err then return false end
  if string.find(r.err, 'WRONGTYPE', 1, true) then return true end
  error(r)
end
`;

/**
 * A batch of failures (all issued in one tick by one agent: one round trip, one script run).
 * KEYS = window1, claim1, window2, claim2, …; ARGV = maxLate, claimTtl, latest, then per failure:
 * time, findtime, maxretry, member, ttl (ms).
 * For each failure, in order: adds it to its (rule, ip, scope) window (score = log time), drops
 * members stamped after `latest` (the caller's clock plus how far ahead a live log time may be, plus
 * the clocks' skew: no replica sends a later one; a member planted minutes ahead by whoever can write
 * to the group's keys otherwise pushed every real failure out of a window shorter than maxLate, and
 * the group never counted that address again until then) but never the current failures that lie
 * far after a late line (a slow request, stamped when it began: dropping those let the client's own
 * late line erase its window, as the local detector no longer does either), trims the window to (ref - findtime, ref]
 * and to its newest maxretry counted members, and counts: ref is the newest member not stamped after
 * t + lead (half the findtime, at most maxLate), as the local detector measures it
 * (detect/sliding-window.ts futureLeadOf), so no member stamped ahead, by a line or by a hostile
 * writer, can age the current failures out of a window shorter than the time it is ahead; such
 * members are kept for when their time comes, uncounted, and beyond MAX_FUTURE_MEMBERS of them they
 * are dropped (each script call reads at most that many). When the count reaches maxretry the window is deleted in the same step and the offense is
 * claimed (SET NX with claimTtl): exactly one caller sees claimed = 1; the failures still in flight
 * from every replica start a fresh window, and while the claim lives (the ban is on its way) a
 * second crossing is not reported again. A key of the wrong type (poisoned) is replaced, and so is a
 * claim that would outlive claimTtl (one SET without a TTL would otherwise stop the group from ever
 * reporting that offense again; PEXPIRE … LT needs Redis 7, older ones keep such a claim).
 * Returns {count1, claimed1, count2, claimed2, …}.
 */
/** Members stamped ahead of a failure (by more than the lead) a group window keeps at most. */
export const MAX_FUTURE_MEMBERS = 64;

export const FAILURES_SCRIPT = script(
  'failures',
  -1,
  `${WRONG_TYPE}local maxLate = tonumber(ARGV[1])
local claimTtl = ARGV[2]
local latest = tonumber(ARGV[3])
local maxFuture = ${MAX_FUTURE_MEMBERS}
local f = function(x) return string.format('%.17g', x) end
local out = {}
for i = 0, #KEYS / 2 - 1 do
  local key, claim = KEYS[2 * i + 1], KEYS[2 * i + 2]
  local a = 4 + 5 * i
  local ts, t, findtime, maxretry, member, ttl = ARGV[a], tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), ARGV[a + 3], ARGV[a + 4]
  if wrongType(redis.pcall('ZADD', key, ts, member)) then
    redis.call('DEL', key)
    redis.call('ZADD', key, ts, member)
  end
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  local newest = tonumber(top[2]) or t
  -- Members after the caller's latest were planted (no replica sends one later); members stamped
  -- far after a late line (Apache logs a slow request, stamped when it began, when it ends) are the
  -- address's own current failures, and stay (dropping them let one late line erase the window).
  local cap = math.max(t, latest)
  if newest > cap then
    redis.call('ZREMRANGEBYSCORE', key, '(' .. f(cap), '+inf')
  end
  -- The window ends at the newest member not stamped after t + lead; later members (the future)
  -- are neither counted nor used to age the others out, and more than maxFuture of them are dropped.
  local soon = t + math.min(math.floor(findtime / 2), maxLate)
  local future = 0
  local ref = t
  for k = 1, maxFuture + 1 do
    local m = redis.call('ZRANGE', key, -k, -k, 'WITHSCORES')
    local s = tonumber(m[2])
    if s == nil then break end
    if s <= soon then
      if s > ref then ref = s end
      break
    end
    future = future + 1
  end
  if future > maxFuture then
    redis.call('ZREMRANGEBYSCORE', key, '(' .. f(soon), '+inf')
    future = 0
    local m = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    local s = tonumber(m[2])
    if s ~= nil and s > ref then ref = s end
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', f(ref - findtime))
  local n = redis.call('ZCARD', key) - future
  if n > maxretry then
    redis.call('ZREMRANGEBYRANK', key, 0, n - maxretry - 1)
    n = maxretry
  end
  local claimed = 0
  if n >= maxretry then
    redis.call('DEL', key)
    if redis.call('SET', claim, ts, 'NX', 'PX', claimTtl) then
      claimed = 1
    elseif redis.pcall('PEXPIRE', claim, claimTtl, 'LT') == 1 then
      -- A claim that would outlive claimTtl (none is ever set so) was planted: take it over.
      redis.call('SET', claim, ts, 'PX', claimTtl)
      claimed = 1
    end
  else
    redis.call('PEXPIRE', key, ttl)
  end
  out[#out + 1] = n
  out[#out + 1] = claimed
end
return out`,
);

/**
 * KEYS[1] = bans hash, KEYS[2] = unban tombstones; ARGV = field, ban JSON, until ('null' = permanent),
 * maxBans, channel, at, slack, skew, latest (ms), refused (a stored value the caller's validator
 * refused, '' for none).
 * Stores and publishes the ban unless the stored one already covers it (permanent, or until at
 * least as late, give or take `slack`: two replicas banning one attacker a few ms apart compute
 * untils a few ms apart): N replicas banning one attacker at once publish once, and a replica re-publishing
 * after an outage publishes only what Redis lost. A ban made before the address's last unban (a
 * replica re-publishing a ban someone lifted) is refused; "before" allows `skew` for the clocks of
 * different hosts, so a fresh ban right after an unban elsewhere is never mistaken for a stale one. A new field is refused when the group
 * holds maxBans. Returns 1 (stored and published), {0, stored value} (covered, if the caller's
 * validator takes that value for a ban: else it calls again with it as `refused`, and the value,
 * still the same, is replaced), -1 (full), or {-2, unban time} (unbanned since). A stored value that
 * cannot be a ban (too long, not ASCII, not JSON) covers nothing and is not even decoded.
 * A tombstone later than `latest` (the caller's clock plus skew) is no unban that happened: a value
 * written to make an address immune to every ban for ever; it is ignored and removed. A key of the
 * wrong type (poisoned) is replaced, so one hostile SET cannot stop the group from sharing bans.
 */
export const BAN_SCRIPT = script(
  'ban',
  2,
  `${MAY_BE_BAN}${WRONG_TYPE}local tomb = redis.pcall('ZSCORE', KEYS[2], ARGV[1])
if wrongType(tomb) then
  redis.call('DEL', KEYS[2])
  tomb = false
end
if tomb and tonumber(tomb) > tonumber(ARGV[9]) then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '(' .. ARGV[9], '+inf')
  tomb = false
end
if tomb and tonumber(tomb) - tonumber(ARGV[8]) >= tonumber(ARGV[6]) then return {-2, tomb} end
local old = redis.pcall('HGET', KEYS[1], ARGV[1])
if wrongType(old) then
  redis.call('DEL', KEYS[1])
  old = false
end
if old then
  if old ~= ARGV[10] and mayBeBan(old) then
    local ok, v = pcall(cjson.decode, old)
    if ok and type(v) == 'table' then
      local u = v['until']
      if u == cjson.null then return {0, old} end
      if ARGV[3] ~= 'null' and type(u) == 'number' and u >= tonumber(ARGV[3]) - tonumber(ARGV[7]) then return {0, old} end
    end
  end
elseif redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return -1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[5], ARGV[2])
return 1`,
);

/**
 * KEYS[1] = bans hash, KEYS[2] = unban tombstones (sorted set: field scored by unban time);
 * ARGV = field, unban JSON, channel, at, maxBans, keepMs, latest (the caller's now plus the clocks'
 * allowed skew), refused (a stored value the caller's validator refused, '' for none).
 * Lifts the stored ban unless it was made after this unban (an unban replayed from an outbox must
 * not lift a newer ban) and no later than `latest`: a ban dated beyond that was stamped by a clock
 * running ahead (or by a hostile member, a day ahead at most), and counting it as newer made every
 * unban of the address fail group-wide, silently, until then. Records the unban time (so a replica re-publishing the old ban after an
 * outage is refused; tombstones older than keepMs or beyond maxBans are dropped) and publishes.
 * Returns {1, the value it removed (false: none, or one that cannot be a ban)}, for the caller to
 * tell whether the group held a ban; or {0, the stored value} when a newer ban stands, if the
 * caller's validator takes that value for a ban (else it calls again with it as `refused`). A key of
 * the wrong type (poisoned) is replaced.
 */
export const UNBAN_SCRIPT = script(
  'unban',
  2,
  `${MAY_BE_BAN}${WRONG_TYPE}local at = tonumber(ARGV[4])
local old = redis.pcall('HGET', KEYS[1], ARGV[1])
if wrongType(old) then
  redis.call('DEL', KEYS[1])
  old = false
end
local lifted = false
if old then
  if old ~= ARGV[8] and mayBeBan(old) then
    local ok, v = pcall(cjson.decode, old)
    if ok and type(v) == 'table' and type(v['at']) == 'number' and v['at'] > at and v['at'] <= tonumber(ARGV[7]) then return {0, old} end
    lifted = old
  end
  redis.call('HDEL', KEYS[1], ARGV[1])
end
local prev = redis.pcall('ZSCORE', KEYS[2], ARGV[1])
if wrongType(prev) then
  redis.call('DEL', KEYS[2])
  prev = false
end
if not prev or tonumber(prev) < at then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%.17g', at - tonumber(ARGV[6])))
if redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[5]) then
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[5]) + 1))
end
redis.call('PUBLISH', ARGV[3], ARGV[2])
return {1, lifted}`,
);

/**
 * KEYS[1] = epoch key; ARGV[1] = a fresh token. Returns the data set's token, setting it when there
 * is none (or it is poisoned): a token that changes between two connections means Redis lost its data.
 */
export const EPOCH_SCRIPT = script(
  'epoch',
  1,
  `${WRONG_TYPE}local e = redis.pcall('GET', KEYS[1])
if wrongType(e) then e = false end
if type(e) == 'string' and #e > 0 and #e <= 64 then return e end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]`,
);

/**
 * KEYS[1] = bans hash; ARGV = cursor, count, maxChars. One HSCAN step that never ships a field or
 * value to the agent that its validator refuses on sight (it deletes them: no valid ban is so): one
 * too long, or not ASCII (a byte ≥ 0x80: the agent reads invalid UTF-8 as U+FFFD, and the string it
 * would send back to prune it would be other bytes, so such an entry could never be pruned). Returns
 * {nextCursor, too long, not ASCII, field1, value1, …}. A key of the wrong type (poisoned) is deleted:
 * it holds no ban.
 */
export const SCAN_SCRIPT = script(
  'scan',
  1,
  `${WRONG_TYPE}local r = redis.pcall('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
if wrongType(r) then
  redis.call('DEL', KEYS[1])
  return {'0', 1, 0}
end
local max = tonumber(ARGV[3])
local out = {r[1], 0, 0}
local items = r[2]
for i = 1, #items, 2 do
  local fv, vv = items[i], items[i + 1]
  if #fv > ${MAX_FIELD_CHARS} or #vv > max then
    redis.call('HDEL', KEYS[1], fv)
    out[2] = out[2] + 1
  elseif string.find(fv, '[\\128-\\255]') or string.find(vv, '[\\128-\\255]') then
    redis.call('HDEL', KEYS[1], fv)
    out[3] = out[3] + 1
  else
    out[#out + 1] = fv
    out[#out + 1] = vv
  end
end
return out`,
);

/** KEYS[1] = bans hash; ARGV = field, value. Deletes the field only if it still holds exactly that value. */
export const PRUNE_SCRIPT = script(
  'prune',
  1,
  `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`,
);

/**
 * KEYS[1] = bans hash, KEYS[2] = unban tombstones; ARGV = fields. For each field, in order: the time
 * of its last unban (a tombstone's score) when the group stores nothing under that field, else false
 * (nothing stored and no tombstone: false too). For the bans an agent restored from its state file:
 * those the group lifted while it was down are lifted there too (redis-share.ts, checkRestored).
 */
export const UNBANNED_SCRIPT = script(
  'unbanned',
  2,
  `${WRONG_TYPE}local out = {}
for i = 1, #ARGV do
  local held = redis.pcall('HGET', KEYS[1], ARGV[i])
  if wrongType(held) then held = false end
  local t = false
  if not held then
    t = redis.pcall('ZSCORE', KEYS[2], ARGV[i])
    if wrongType(t) then t = false end
  end
  out[i] = t
end
return out`,
);

/**
 * KEYS[1] = epoch key, KEYS[2] = bans hash; ARGV[1] = a field ('' for none). The watchdog's look at
 * the data set every round (redis-share.ts, checkEpoch): {epoch, held}. `epoch`: the data set's
 * token, or false when there is none that EPOCH_SCRIPT would keep (missing, empty, longer than 64,
 * of the wrong type); `held`: what the hash stores under the field, when it may be a ban (mayBeBan),
 * else 1 when it stores something that cannot be (too long, not ASCII, of the wrong type), false when
 * nothing. Read with a plain GET and HGET, a value of megabytes planted there (SET and HSET are in
 * the group's ACL) was shipped to every replica and decoded there, every round, for as long as it
 * stayed; nothing read here ships more than a ban.
 */
export const WATCH_SCRIPT = script(
  'watch',
  2,
  `${MAY_BE_BAN}${WRONG_TYPE}local e = redis.pcall('GET', KEYS[1])
if wrongType(e) or type(e) ~= 'string' or #e == 0 or #e > 64 then e = false end
local held = false
if ARGV[1] ~= '' then
  local v = redis.pcall('HGET', KEYS[2], ARGV[1])
  if wrongType(v) then
    held = 1
  elseif v then
    if mayBeBan(v) then held = v else held = 1 end
  end
end
return {e, held}`,
);

export const SCRIPTS = [FAILURES_SCRIPT, BAN_SCRIPT, UNBAN_SCRIPT, EPOCH_SCRIPT, SCAN_SCRIPT, PRUNE_SCRIPT, UNBANNED_SCRIPT, WATCH_SCRIPT] as const;
