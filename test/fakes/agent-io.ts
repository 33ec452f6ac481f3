import type { DaemonState } from '../../src/daemon.js';
import { validateState } from '../../src/run.js';
import type { FilePosition, LineSource } from '../../src/source/line-source.js';

/** A LineSource a test drives by hand: onLine(line, file) is the daemon's own callback. */
export class FakeSource implements LineSource {
  constructor(readonly onLine: (l: string, f: string) => void) {}
  async start() {}
  async stop() {}
  positions(): FilePosition[] {
    return [];
  }
  lagBytes() {
    return 0;
  }
  stats() {
    return { files: 1, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 };
  }
}

/** A state store in memory; `failing` makes save() fail like a full disk. */
export class MemoryStore {
  doc: DaemonState | null = null;
  failing = false;
  async load() {
    return this.doc;
  }
  async save(d: DaemonState) {
    if (this.failing) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    this.doc = JSON.parse(JSON.stringify(d)) as DaemonState;
  }
}

/**
 * A state store in memory that reads its document back as the agent reads its file (JSON, then the
 * state's validation): what a restart restores.
 */
export class RestartStore extends MemoryStore {
  override async load() {
    return this.doc ? validateState(JSON.parse(JSON.stringify(this.doc))) : null;
  }
}
