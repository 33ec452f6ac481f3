/**
 * `npm run dev -- <command> [options]`: the CLI run from the TypeScript sources under tsx, as
 * bin/banhammer.js runs the built bundle (same output, same exit codes; 70 for an internal error).
 * The presets are then read from presets/ (src/detect/preset-files.ts), so an edit there shows
 * without a build. src/cli.ts only exports main(): running it directly did nothing and exited 0.
 */
import { main } from '../src/cli.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`banhammer: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 70;
  },
);
