#!/usr/bin/env node
// Thin shim over the built CLI; `npm run dev -- ...` runs the TypeScript directly with tsx.
import { main } from '../dist/cli.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`banhammer: internal error: ${err?.stack ?? err}`); process.exitCode = 70; },
);
