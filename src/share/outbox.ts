/**
 * The share stage's outbox: ban and unban operations that could not reach Redis (offline, or a
 * command failed), kept on disk so they survive a restart of the agent during an outage, and replayed
 * when Redis returns. Only the latest operation per address counts (a later unban replaces an earlier
 * ban), so the outbox holds at most one entry per address, and at most `max` entries: adding one more
 * drops the oldest (counted in `dropped`).
 *
 * The file is one JSON object, {"v":1,"ops":[<wire message>…]} (the messages of messages.ts, so a
 * file read back goes through the same validator as a value from Redis), replaced atomically
 * (writeFileAtomic): a crash leaves the old or the new file. Saves are coalesced: at most one write in
 * flight, and one more after it when something changed meanwhile. A failed save is logged once per
 * streak of failures; the operations stay in memory.
 */
import { BoundedMap } from '../bounded-map.js';
import { mkdir } from 'node:fs/promises';
import { readRegularFile } from '../fs/read-regular.js';
import { dirname } from 'node:path';
import { trustProblem } from '../decide/state-store.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { banField } from './keys.js';
import { encodeBan, encodeUnban, isExpired, MAX_MESSAGE_CHARS, parseMessage, type SharedUnban } from './messages.js';
import type { ShareLog, SharedBan } from './share.js';

export type OutboxOp = { t: 'ban'; ban: SharedBan } | { t: 'unban'; unban: SharedUnban };

export const opField = (op: OutboxOp): string => (op.t === 'ban' ? banField(op.ban.ip, op.ban.scope) : banField(op.unban.ip, op.unban.scope));

let tmpSeq = 0;

export class Outbox {
  /** One operation per address; beyond `max` the oldest goes (counted in `dropped`). */
  private readonly ops: BoundedMap<string, OutboxOp>;
  private saving: Promise<void> | null = null;
  private dirty = false;
  private failing = false;
  dropped = 0;
  invalidOnLoad = 0;

  constructor(
    private readonly path: string,
    private readonly max: number,
    private readonly log: ShareLog,
    private readonly now: () => number,
  ) {
    if (!(max >= 1)) throw new RangeError(`outbox size must be ≥ 1, got ${max}`);
    this.ops = new BoundedMap(max, () => this.dropped++);
  }

  get size(): number {
    return this.ops.size;
  }

  /** Reads the file left by a previous run (missing = empty). Invalid entries and expired bans are dropped. */
  async load(): Promise<void> {
    // Replayed to every replica of the group: a file another user could have written (a state
    // directory writable by others, a file not ours) would let that user ban or unban group-wide.
    const distrust = await trustProblem(dirname(this.path), this.path);
    if (distrust !== null) {
      this.log.warn({ path: this.path }, `share: outbox file refused: ${distrust}, so someone else could have planted bans or unbans in it; starting with an empty one`);
      return;
    }
    let text: string;
    try {
      // A regular file only, read no further than an outbox of this size can be (a FIFO or a link to
      // /dev/zero planted in the state directory must not stall or fill the agent).
      text = await readRegularFile(this.path, (this.max + 1) * (MAX_MESSAGE_CHARS + 8));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ path: this.path, err: String(e) }, 'share: cannot read the outbox; starting with an empty one');
      return;
    }
    if (text.length > (this.max + 1) * (MAX_MESSAGE_CHARS + 8)) {
      this.log.warn({ path: this.path, chars: text.length }, 'share: outbox file too large; ignored');
      return;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      this.log.warn({ path: this.path }, 'share: outbox file is not JSON; ignored');
      return;
    }
    const ops = (doc as { ops?: unknown } | null)?.ops;
    if (!Array.isArray(ops)) return;
    const now = this.now();
    for (const raw of ops) {
      const p = parseMessage(raw, now);
      if (!p.ok) {
        this.invalidOnLoad++;
        continue;
      }
      const m = p.value;
      if (m.t === 'ban' && isExpired(m.ban, now)) continue;
      this.put(m.t === 'ban' ? { t: 'ban', ban: m.ban } : { t: 'unban', unban: m.unban }, false);
    }
  }

  /** Records `op` as the latest operation for its address. */
  put(op: OutboxOp, save = true): void {
    const field = opField(op);
    this.ops.set(field, op);
    if (save) this.save();
  }

  /** Forgets the entry for `field` (when `op` is given: only if it is still that operation). */
  remove(field: string, op?: OutboxOp): void {
    if (op !== undefined && this.ops.get(field) !== op) return;
    if (this.ops.delete(field)) this.save();
  }

  has(field: string): boolean {
    return this.ops.has(field);
  }

  get(field: string): OutboxOp | undefined {
    return this.ops.get(field);
  }

  /** A copy of the entries, oldest first. */
  entries(): Array<[string, OutboxOp]> {
    return [...this.ops];
  }

  /** Resolves when every change so far is on disk (or failed to be written). */
  async flush(): Promise<void> {
    while (this.saving !== null) await this.saving;
  }

  private save(): void {
    this.dirty = true;
    if (this.saving !== null) return;
    this.saving = this.writeLoop().finally(() => {
      this.saving = null;
    });
  }

  private async writeLoop(): Promise<void> {
    while (this.dirty) {
      this.dirty = false;
      const sent = this.now();
      const ops = [...this.ops.values()].map((op) => (op.t === 'ban' ? encodeBan(op.ban, sent) : encodeUnban(op.unban, sent)));
      const text = `${JSON.stringify({ v: 1, ops })}\n`;
      try {
        await mkdir(dirname(this.path), { recursive: true });
        await writeFileAtomic(this.path, text, { tmp: `${this.path}.${process.pid}.${++tmpSeq}.tmp`, mode: 0o600 });
        if (this.failing) this.log.info({ path: this.path }, 'share: outbox saved again');
        this.failing = false;
      } catch (e) {
        if (!this.failing) this.log.warn({ path: this.path, err: String(e) }, 'share: cannot save the outbox; keeping it in memory');
        this.failing = true;
      }
    }
  }
}
