/**
 * README (Replicas → "One tenant cannot touch another's bans"): "Give each group its own ACL user; the
 * agent needs exactly these commands", followed by an ACL line a user pastes into Redis, and
 * compose.examples/replicas writes the same line per tenant (redis/users.acl.in). Both are hand-copied
 * from shareAclLine (src/share/share.ts, built from SHARE_ACL_COMMANDS, the commands the share stage
 * sends or runs in its scripts, which keys.test.ts holds to the code): a command added to the stage
 * and not to the pasted line leaves every replica of such a group failing that operation. This holds
 * both copies to the function.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { shareAclLine } from '../../../src/share/share.js';

const ROOT = new URL('../../../', import.meta.url);

describe('the ACL line of a group user', () => {
  it('README: the line shown is shareAclLine for group shop', () => {
    const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
    const lines = readme.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('user shop on >'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(shareAclLine('shop', 'PASSWORD'));
  });

  it('compose.examples/replicas: each tenant line is shareAclLine for its group', () => {
    const acl = readFileSync(new URL('compose.examples/replicas/redis/users.acl.in', ROOT), 'utf8');
    const users = acl.split('\n').filter((l) => /^user (?!default )/.test(l));
    expect(users.length).toBeGreaterThanOrEqual(2);
    for (const l of users) {
      const [, group, password] = /^user (\S+) on >(\S+) /.exec(l)!;
      expect(l).toBe(shareAclLine(group!, password!));
    }
  });
});
