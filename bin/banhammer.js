#!/usr/bin/env node
// Thin shim over the bundled CLI (dist/banhammer.js, see scripts/bundle.ts); `npm run dev -- ...` runs the TypeScript directly with tsx.
// The agent holds its young generation at its initial size while it starts, from before the bundle
// loads (src/heap-policy.ts: about 4 MB of idle memory); `run` lets it grow again before it reads its state.
if (process.argv[2] === 'run') (await import('../dist/heap-policy.js')).holdYoungGenerationWhileStarting();
const { main } = await import('../dist/banhammer.js');

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`banhammer: internal error: ${err?.stack ?? err}`); process.exitCode = 70; },
);
