#!/usr/bin/env node
// Thin shim over the bundled CLI (dist/banhammer.js, see scripts/bundle.ts); `npm run dev -- ...` runs the TypeScript directly with tsx.
import { main } from '../dist/banhammer.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`banhammer: internal error: ${err?.stack ?? err}`); process.exitCode = 70; },
);
