#!/usr/bin/env node
// Thin shim over the bundled CLI (dist/banhammer.js, see scripts/bundle.ts); `npm run dev -- ...` runs the TypeScript directly with tsx.
// The agent holds its young generation at its initial size while it starts and V8's optimizing
// compiler off until it has work, from before the bundle loads (src/heap-policy.ts: about 4 and 5 MB
// of idle memory); `run` releases the first before it reads its state, the second at its first log
// line or bans to load.
if (process.argv[2] === 'run') (await import('../dist/heap-policy.js')).holdWhileStarting();
const { main } = await import('../dist/banhammer.js');

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`banhammer: internal error: ${err?.stack ?? err}`); process.exitCode = 70; },
);
