/**
 * Optional signing of the group's messages (BANHAMMER_SHARE_KEY_FILE): HMAC-SHA256 with a key every
 * replica of the group holds, over each ban and unban message, on the channel and in the ban hash.
 * Without a key, whoever can write to the group's keys (its ACL user's password, a Redis left without
 * auth, a compromised client) is a member: it can ban any address on every replica. With one, a
 * message or a stored ban without a valid signature is refused and counted (invalid 'signature'),
 * like any other invalid value; stored ones are pruned.
 *
 * What it does not cover (README): the failure windows (a writer can still add failures to an
 * address's group window: one real failure of it then reaches maxretry sooner), the unban tombstones
 * (a writer can keep an address's new bans from being stored, and lift a restored ban), and deleting
 * the group's keys. The ACL user per group stays the boundary; the key keeps a writer from naming
 * addresses to ban. Replays of a signed message are bounded by its own times (an old ban has ended,
 * an old unban lifts no ban made after it), and the group's name is signed too, so a message of one
 * group is worth nothing in another that shares the key.
 *
 * Wire: the message's JSON with one last member, `"mac":"<64 hex>"`, over the text before it (the
 * JSON without that member) prefixed by `banhammer-share-v1\n<group>\n`. The Lua scripts read such a
 * value as before (cjson ignores the extra member) and never judge a signature: the agent's validator
 * is the one judge (messages.ts, lua.ts).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Shortest key accepted (bytes): 128 bits. */
export const MIN_KEY_BYTES = 16;
const MAC_RE = /,"mac":"([0-9a-f]{64})"\}$/;
/** What signing adds to a message (the validator's length cap leaves room for it). */
export const MAC_CHARS = ',"mac":""'.length + 64;

export interface Signer {
  /** `json` (one JSON object, as encodeBan/encodeUnban write it) with its signature. */
  sign(json: string): string;
  /** Whether `raw` carries a valid signature for this group. */
  verify(raw: string): boolean;
}

export function createSigner(key: Buffer, group: string): Signer {
  if (key.length < MIN_KEY_BYTES) throw new RangeError(`a share key must have at least ${MIN_KEY_BYTES} bytes`);
  const k = Buffer.from(key);
  const mac = (body: string): Buffer => createHmac('sha256', k).update(`banhammer-share-v1\n${group}\n`).update(body).digest();
  return {
    sign(json) {
      if (!json.endsWith('}')) throw new RangeError('not a JSON object');
      return `${json.slice(0, -1)},"mac":"${mac(json).toString('hex')}"}`;
    },
    verify(raw) {
      const m = MAC_RE.exec(raw);
      if (m === null) return false;
      const body = `${raw.slice(0, m.index)}}`;
      return timingSafeEqual(mac(body), Buffer.from(m[1]!, 'hex'));
    },
  };
}
