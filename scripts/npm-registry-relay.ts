/**
 * Runs the loopback npm registry relay (test/e2e/helpers/npm-registry-proxy.ts) until SIGTERM/SIGINT,
 * for `docker build --network host --build-arg NPM_CONFIG_REGISTRY=<url>` on machines whose containers
 * cannot reach the registry themselves (e.g. behind a TLS-intercepting proxy the host trusts).
 * Prints the relay's URL as its first line of stdout. Used by scripts/quickstart-docker.sh.
 *
 *   npx tsx scripts/npm-registry-relay.ts
 */
import { startRegistryProxy } from '../test/e2e/helpers/npm-registry-proxy.js';

const proxy = await startRegistryProxy(process.env.BH_NPM_UPSTREAM ?? 'https://registry.npmjs.org');
process.stdout.write(`${proxy.url}\n`);
const stop = (): void => {
  void proxy.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
