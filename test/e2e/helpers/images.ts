/**
 * Builds the images the e2e tier needs and remembers which ones did not exist before, so that
 * cleanup removes exactly those (base images come back from the tarballs cached under .cache/).
 *
 * Build context: by default the committed tree (`git archive HEAD`), so that half-written work of
 * others in a shared checkout cannot break the image; BH_E2E_CONTEXT=worktree builds the working tree
 * instead (and so does a checkout without .git). npm packages come through a local relay of the
 * registry (npm-registry-proxy.ts); Debian packages come straight from the archive (plain HTTP).
 * BH_E2E_KEEP_IMAGES=1 keeps everything built, to iterate faster.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startRegistryProxy } from './npm-registry-proxy.js';
import { run, runOk } from './run.js';

export const REPO = resolve(import.meta.dirname, '../../..');
export const IMAGE = 'banhammer:debian';

export async function imageExists(tag: string): Promise<boolean> {
  return (await run('docker', ['image', 'inspect', tag], { timeoutMs: 30_000 })).code === 0;
}

async function allImageIds(): Promise<Set<string>> {
  const r = await runOk('docker', ['images', '-a', '-q', '--no-trunc'], { timeoutMs: 60_000 });
  return new Set(r.stdout.split('\n').map((l) => l.trim()).filter(Boolean));
}

/**
 * Remembers the tags this run created and every image id that appeared while it built (the legacy
 * builder leaves a multi-stage build's earlier stages behind as untagged images, children of the
 * base image), and removes exactly those. Images that existed before the run are never touched.
 */
export class ImageTracker {
  private readonly created: string[] = [];
  private before: Set<string> | null = null;

  /** Call once before building anything. */
  async snapshot(): Promise<void> {
    this.before = await allImageIds();
  }

  /** Runs `make` and records `tag` as ours when it did not exist before. */
  async ensure(tag: string, make: () => Promise<void>): Promise<void> {
    const before = await imageExists(tag);
    await make();
    if (!before) this.record(tag);
  }

  /** Records a tag created elsewhere (the base-image script) as ours. */
  record(tag: string): void {
    if (!this.created.includes(tag)) this.created.push(tag);
  }

  createdTags(): readonly string[] {
    return this.created;
  }

  async removeCreated(): Promise<string[]> {
    if (process.env.BH_E2E_KEEP_IMAGES === '1') return [];
    const problems: string[] = [];
    for (const tag of [...this.created].reverse()) {
      const r = await run('docker', ['rmi', tag], { timeoutMs: 120_000 });
      if (r.code !== 0 && !/No such image/i.test(r.stderr)) problems.push(`${tag}: ${r.stderr.trim()}`);
    }
    if (this.before === null) return problems;
    // Untagged leftovers of our builds; children go before parents, so retry until nothing moves.
    let left = [...(await allImageIds())].filter((id) => !this.before!.has(id));
    for (let pass = 0; pass < 6 && left.length > 0; pass++) {
      for (const id of left) await run('docker', ['rmi', id], { timeoutMs: 120_000 });
      left = [...(await allImageIds())].filter((id) => !this.before!.has(id));
    }
    for (const id of left) problems.push(`${id}: still present`);
    return problems;
  }
}

export async function buildBaseImages(tracker: ImageTracker): Promise<void> {
  // --print-tags lists every tag the script may create, base first.
  const tags = (await runOk('sh', [join(REPO, 'scripts/build-base-images.sh'), '--print-tags'])).stdout.trim().split('\n');
  const before = new Map<string, boolean>();
  for (const t of tags) before.set(t, await imageExists(t));
  await runOk('sh', [join(REPO, 'scripts/build-base-images.sh')], { timeoutMs: 15 * 60_000 });
  for (const t of tags) if (!before.get(t) && (await imageExists(t))) tracker.record(t);
}

async function buildContext(): Promise<{ dir: string; dispose(): Promise<void> }> {
  const mode = process.env.BH_E2E_CONTEXT ?? 'head';
  if (mode === 'worktree' || !existsSync(join(REPO, '.git'))) return { dir: REPO, dispose: async () => {} };
  const dir = await mkdtemp(join(tmpdir(), 'banhammer-e2e-context-'));
  // git archive's output is binary; stream it straight into tar instead of through a string.
  await runOk('sh', ['-c', 'git -C "$1" archive --format=tar HEAD | tar -x -C "$2"', 'sh', REPO, dir], { timeoutMs: 60_000 });
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/** docker build -f <dockerfile> -t <tag> with the registry relay; records the tag as ours. */
export async function buildImage(tracker: ImageTracker, dockerfile: string, tag: string): Promise<void> {
  const proxy = await startRegistryProxy();
  const ctx = await buildContext();
  try {
    await tracker.ensure(tag, async () => {
      await runOk(
        'docker',
        ['build', '--force-rm', '--network', 'host', '--build-arg', `NPM_CONFIG_REGISTRY=${proxy.url}`, '-f', join(ctx.dir, dockerfile), '-t', tag, ctx.dir],
        { timeoutMs: 20 * 60_000 },
      );
    });
  } finally {
    await proxy.close();
    await ctx.dispose();
  }
}

/**
 * docker build of one directory of the build context (an example's own image, e.g.
 * compose.examples/behind-proxy/proxy) with the host's network for its package installs (the test
 * engine has no default bridge); records the tag as ours.
 */
export async function buildDirImage(tracker: ImageTracker, dir: string, tag: string): Promise<void> {
  const ctx = await buildContext();
  try {
    await tracker.ensure(tag, async () => {
      await runOk('docker', ['build', '--force-rm', '--network', 'host', '-t', tag, join(ctx.dir, dir)], { timeoutMs: 20 * 60_000 });
    });
  } finally {
    await ctx.dispose();
  }
}
