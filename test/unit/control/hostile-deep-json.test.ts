/**
 * A hostile client of the control plane: a request whose field is a deeply nested JSON value.
 *
 * JSON.parse reads `[[[[…]]]]` 30,000 deep (60 KB, under MAX_REQUEST_BYTES) fine, but the error
 * messages of validateRequest() quoted the offending value with JSON.stringify (or String() for a
 * container), which overflows the stack: parseRequest() threw although it promises never to, the
 * server's answer() called it outside its try, and the rejected per-connection queue became an
 * unhandled rejection, which ends a Node 20 process (the agent installs no handler): one line of
 * 60 KB from any client stopped the agent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseRequest } from '../../../src/control/protocol.js';
import { startControlServer, type ControlServer } from '../../../src/control/server.js';
import { stubControlHandler } from '../../fakes/control-handler.js';

const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
const D = deep(30_000);
const LINES: Record<string, string> = {
  op: `{"op":${D}}`,
  v: `{"v":${D},"op":"status"}`,
  rule: `{"op":"status","rule":${D}}`,
  forMs: `{"op":"ban","ip":"198.18.0.7","forMs":${D}}`,
  permanent: `{"op":"ban","ip":"198.18.0.7","forMs":null,"permanent":${D}}`,
  container: `{"op":"unban","ip":"198.18.0.7","container":${D}}`,
};

describe('parseRequest with a deeply nested value', () => {
  for (const [field, line] of Object.entries(LINES)) {
    it(`answers an error for a nested "${field}", never throws`, () => {
      expect(Buffer.byteLength(line)).toBeLessThan(64 * 1024);
      let r: ReturnType<typeof parseRequest> | undefined;
      expect(() => (r = parseRequest(line))).not.toThrow();
      expect(r!.ok).toBe(false);
      // The echoed value stays short whatever was sent.
      if (r!.ok === false) expect(r!.error.message.length).toBeLessThan(400);
    });
  }
});

let dir: string;
let server: ControlServer | undefined;
const handler = stubControlHandler();
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bh-ctl-deep-'));
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe('the control server given a deeply nested request', () => {
  it('answers it with an error and goes on answering the same connection', async () => {
    const socketPath = join(dir, 'c.sock');
    const errors: unknown[] = [];
    server = await startControlServer({ socketPath, handler, onError: (e) => errors.push(e) });
    const rejections: unknown[] = [];
    const onRejection = (e: unknown): void => void rejections.push(e);
    process.on('unhandledRejection', onRejection);
    try {
      const c = createConnection(socketPath);
      await new Promise((r) => c.once('connect', r));
      let got = '';
      c.on('data', (b) => (got += b.toString()));
      c.write(`${LINES.op}\n{"op":"status"}\n`);
      const deadline = Date.now() + 3000;
      while (got.split('\n').length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      c.destroy();
      await new Promise((r) => setTimeout(r, 50));
      expect(rejections).toEqual([]);
      const answers = got.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { ok: boolean; error?: { code: string } });
      expect(answers.map((a) => a.ok)).toEqual([false, true]);
      expect(answers[0]!.error!.code).toBe('BH_ERR_CONTROL');
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });
});
