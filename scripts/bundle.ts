/**
 * Bundles the CLI into dist/banhammer.js (what bin/banhammer.js runs and the images ship), after tsc
 * has type-checked and compiled src/ into dist/. The benchmark is not part of dist/ (nor of the npm
 * package): it lives in bench/ and `npm run bench` compiles it to bench/dist/.
 *
 * Why bundle: Node's ESM loader keeps per-module state for every file it loads; the agent plus zod,
 * pino and ipaddr.js are a few hundred modules. One bundle (code split only where src/ itself loads
 * lazily: check-config's describer, metrics, the agent) cuts the idle agent's RSS by ~17 MB
 * (75 → 58 MB measured with `npm run bench`), which is the difference between meeting the 60 MB idle
 * budget and missing it. Identifiers are kept (whitespace and syntax minification only) so stack
 * traces and error names stay readable; linked source maps sit beside the output.
 *
 * Layout constraints: every output file sits directly in dist/, so `new URL('./replay-worker.js',
 * import.meta.url)` in the replay code finds the bundled worker, and `../package.json` is the
 * package's. `yaml` stays a runtime require (src/config/file.ts loads it lazily with createRequire).
 *
 * The presets (presets/*.yaml) are embedded: src/detect/preset-files.ts, which reads the directory
 * when run from sources, is replaced by a module returning the definitions read and fully validated
 * here (a preset with an invalid field or pattern fails the build). So the bundle, the npm package and
 * both images carry them without a presets/ directory, and the agent parses no YAML at boot.
 */
import { build, type Plugin } from 'esbuild';
import { readRuleDirOrThrow } from '../src/detect/rule-file.js';
import { readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const outdir = join(root, 'dist');

// Chunks from an earlier build carry other hashes; remove them so dist/ holds one consistent bundle.
for (const f of readdirSync(outdir, { withFileTypes: true })) {
  if (f.isFile() && /^chunk-[A-Z0-9]+\.js(\.map)?$/.test(f.name)) rmSync(join(outdir, f.name));
}
// The benchmark lived in src/bench until it moved to bench/ (compiled to bench/dist by
// `npm run bench`): an older build's dist/bench must not linger in dist/, which the package ships.
rmSync(join(outdir, 'bench'), { recursive: true, force: true });

/** JSON with Infinity (a permanent bantime) kept as Infinity. */
const literal = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x === Infinity ? '__INFINITY__' : x)).replace(/"__INFINITY__"/g, 'Infinity');

const presets = readRuleDirOrThrow(join(root, 'presets'), { defaultEnabled: false }).map((r) => ({ ...r, file: `presets/${r.file.split('/').pop()}` }));
const embedPresets: Plugin = {
  name: 'embed-presets',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]detect[\\/]preset-files\.ts$/ }, () => ({
      loader: 'js',
      contents: `// Embedded by scripts/bundle.ts from presets/*.yaml\nexport function presetDir() { return null; }\nexport function presetDefinitions() { return ${literal(presets)}; }\n`,
    }));
  },
};

await build({
  plugins: [embedPresets],
  absWorkingDir: root,
  // heap-policy: bin/banhammer.js loads it before the CLI, to hold the agent's young generation.
  entryPoints: { banhammer: 'src/cli.ts', 'replay-worker': 'src/replay/replay-worker.ts', 'heap-policy': 'src/heap-policy.ts' },
  outdir,
  bundle: true,
  splitting: true,
  chunkNames: 'chunk-[hash]',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  // Bundled CommonJS dependencies (pino) call require() for Node built-ins.
  banner: { js: "import { createRequire as __banhammerRequire } from 'node:module'; const require = __banhammerRequire(import.meta.url);" },
  logLevel: 'warning',
});
