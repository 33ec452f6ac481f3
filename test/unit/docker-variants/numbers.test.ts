/**
 * Numbers the container scripts read from the environment are decimal, whatever their leading zeros:
 * POSIX shell arithmetic reads `010` as octal (8) and `08` as an error that aborts the script. A value
 * must either mean its decimal number or be refused with one clear message, never be read in octal,
 * and never abort the stop path (banhammer-shutdown) before the agent removed its rules.
 * Runs each script under dash and busybox sh with the s6 programs replaced by recorders.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOCKER, SHELLS, ScriptSandbox, envOf, runScript } from '../docker/script-harness.js';

it('has both shells of the images', () => {
  expect(SHELLS.map((s) => s.name)).toEqual(['dash', 'busybox sh']);
});

describe.each(SHELLS)('under $name', ({ argv }) => {
  let box: ScriptSandbox;
  beforeEach(() => {
    box = new ScriptSandbox('bh-h2-num-');
  });
  afterEach(() => box.remove());

  describe('entrypoint: ACCESS_LOG_ROTATE_SIZE / _KEEP', () => {
    const entry = join(DOCKER, 'bin/banhammer-entrypoint');
    const start = (extra: Record<string, string>) => {
      box.fake('banhammer', "printf 'Define BANHAMMER_REMOTEIP_HEADER X-Forwarded-For\\n'");
      return runScript(argv, entry, ['env'], { ...box.env, BH_SERVICES: join(DOCKER, 's6'), ...extra });
    };

    it.each([
      ['010K', 10240],
      ['08M', 8 * 1048576],
      ['09K', 9216],
      ['0010240', 10240],
      ['000000008M', 8 * 1048576],
    ])('%s means %d bytes (decimal), or is refused with exit 78 naming it', (size, bytes) => {
      const r = start({ ACCESS_LOG_ROTATE_SIZE: size });
      if (r.code === 0) {
        expect(envOf(r.stdout).BH_ACCESS_LOG_BYTES).toBe(String(bytes));
      } else {
        expect(r.code).toBe(78);
        expect(r.stderr).toContain(`ACCESS_LOG_ROTATE_SIZE='${size}'`);
        expect(r.stderr).not.toMatch(/arithmetic|Illegal number/);
      }
    });

    it.each([
      ['007', '7'],
      ['0100', '100'],
    ])('keep %s means %s rotated files, or is refused with exit 78', (keep, n) => {
      const r = start({ ACCESS_LOG_ROTATE_KEEP: keep });
      if (r.code === 0) expect(Number(envOf(r.stdout).BH_ACCESS_LOG_KEEP)).toBe(Number(n));
      else {
        expect(r.code).toBe(78);
        expect(r.stderr).toContain(`ACCESS_LOG_ROTATE_KEEP='${keep}'`);
      }
    });

    it.each(['000', '0K', '00M'])('%s is refused with exit 78 (too small), not taken as a size', (size) => {
      const r = start({ ACCESS_LOG_ROTATE_SIZE: size });
      expect(r.code).toBe(78);
      expect(r.stderr).toContain(`ACCESS_LOG_ROTATE_SIZE='${size}'`);
      expect(existsSync(join(box.runDir, 'apache.conf'))).toBe(false);
    });
  });

  describe('shutdown: AGENT_STOP_TIMEOUT', () => {
    const shutdown = join(DOCKER, 'bin/banhammer-shutdown');
    const stop = (timeout: string) => {
      box.fake('s6-svok');
      box.fake('s6-svstat', 'echo true');
      box.fake('s6-svc');
      box.fake('s6-svscanctl');
      return runScript(argv, shutdown, [], { ...box.env, AGENT_STOP_TIMEOUT: timeout });
    };
    const agentWait = () => box.recorded().find((l) => l.startsWith('s6-svc -wD') && l.endsWith('/banhammer'));

    it.each([
      ['08', 8000],
      ['09', 9000],
      ['010', 10000],
    ])('%s still stops the agent, then everything, waiting %d ms (or the 6 s default, said so)', (t, ms) => {
      const r = stop(t);
      expect(r.code).toBe(0);
      const svc = join(box.tmp, 'service');
      expect(box.recorded().at(-1)).toBe(`s6-svscanctl -t ${svc}`);
      const wait = agentWait();
      expect(wait === `s6-svc -wD -T ${ms} -d ${svc}/banhammer` || (wait === `s6-svc -wD -T 6000 -d ${svc}/banhammer` && /using 6/.test(r.stderr)), `${wait}\n${r.stderr}`).toBe(true);
    });

    it.each(['0', '00', '99999999999999999999'])('%s never makes the agent wait unbounded (s6-svc -T 0 waits forever) nor overflows', (t) => {
      const r = stop(t);
      expect(r.code).toBe(0);
      const m = /-T (-?\d+) /.exec(agentWait() ?? '');
      expect(m, r.stderr).not.toBeNull();
      const ms = Number(m![1]);
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThanOrEqual(3_600_000);
      expect(r.stderr).toMatch(/AGENT_STOP_TIMEOUT/);
      expect(existsSync(join(box.runDir, 'stopping'))).toBe(true);
      expect(readFileSync(box.calls, 'utf8')).toContain('s6-svscanctl -t');
    });
  });
});
