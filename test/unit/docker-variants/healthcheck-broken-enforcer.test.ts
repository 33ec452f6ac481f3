/**
 * The image's HEALTHCHECK must report an agent that is up but whose enforcer is broken. The agent
 * checks (and repairs) its firewall state every 2 s; when that check keeps failing (the chain or set
 * cannot be read or re-created), the agent cannot hold its bans, yet with no ban to send no batch is
 * rejected, so `health.enforceFailing` stays 0. This runs a real Daemon with an enforcer whose check
 * fails, gives its `status --json` answer to docker/bin/banhammer-healthcheck (Apache answering), and
 * expects "unhealthy"; the same with a working enforcer must stay healthy.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { FakeSource } from '../../fakes/agent-io.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { DOCKER, SHELLS, ScriptSandbox, runScript } from '../docker/script-harness.js';

class BrokenCheckEnforcer extends RecordingEnforcer {
  checks = 0;
  override async check(_expected?: () => readonly EnforcerBan[]): Promise<string[]> {
    this.checks++;
    throw new Error('iptables: No chain/target/match by that name (BANHAMMER-web cannot be re-created)');
  }
}

class MemoryStore {
  doc: DaemonState | null = null;
  async load() {
    return this.doc;
  }
  async save(d: DaemonState) {
    this.doc = JSON.parse(JSON.stringify(d)) as DaemonState;
  }
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const tick = () => new Promise((r) => setImmediate(r));

async function statusAfterChecks(enforcer: RecordingEnforcer): Promise<string> {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const createSource: LineSourceFactory = () => new FakeSource(() => undefined);
  const config = loadConfig({ env: {}, hostname: 'web' });
  const daemon = new Daemon({ config, clock, logger: silent, enforcer, store: new MemoryStore(), createSource, hostAddresses: [] });
  await daemon.start();
  for (let i = 0; i < 10; i++) {
    clock.advance(2000);
    for (let j = 0; j < 5; j++) await tick();
  }
  const json = JSON.stringify(daemon.status());
  await daemon.stop();
  return json;
}

describe.each(SHELLS)('healthcheck under $name', ({ argv }) => {
  let box: ScriptSandbox;
  beforeEach(() => {
    box = new ScriptSandbox('bh-h2-hc-');
  });
  afterEach(() => box.remove());

  const healthcheck = (statusJson: string) => {
    box.fake('node'); // Apache answers
    box.fake('banhammer', `cat <<'EOF_STATUS'\n${statusJson}\nEOF_STATUS`);
    return runScript(argv, join(DOCKER, 'bin/banhammer-healthcheck'), [], { ...box.env, HTTP_PORT: '8080' });
  };

  it('a working enforcer: healthy (the control case)', async () => {
    const enforcer = new RecordingEnforcer();
    const r = healthcheck(await statusAfterChecks(enforcer));
    expect(enforcer.expectedSeen.length).toBeGreaterThanOrEqual(5);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^healthy: /);
  });

  it('an enforcer whose periodic check fails every time (20 s of failures): unhealthy', async () => {
    const enforcer = new BrokenCheckEnforcer();
    const r = healthcheck(await statusAfterChecks(enforcer));
    expect(enforcer.checks).toBeGreaterThanOrEqual(5);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(1);
    expect(r.stderr).toMatch(/^unhealthy: /);
  });
});
