import { describe, expect, it } from 'vitest';
import { parseRequest } from '../../../src/control/protocol.js';
import { formatStatus } from '../../../src/control/format-status.js';

describe('control protocol: --container (host mode)', () => {
  it('ban and unban accept a container name or id; older requests are unchanged', () => {
    expect(parseRequest('{"op":"ban","ip":"198.19.150.7","forMs":null,"container":"/web-x"}')).toEqual({
      ok: true,
      request: { op: 'ban', ip: '198.19.150.7', forMs: null, container: 'web-x' },
    });
    expect(parseRequest('{"op":"unban","ip":"198.19.150.7","container":"0123456789ab"}')).toEqual({
      ok: true,
      request: { op: 'unban', ip: '198.19.150.7', container: '0123456789ab' },
    });
    expect(parseRequest('{"op":"unban","ip":"198.19.150.7"}')).toEqual({ ok: true, request: { op: 'unban', ip: '198.19.150.7' } });
  });

  it('rejects a container that is not a name', () => {
    for (const bad of ['"../etc"', '""', '"a b"', '42', `"${'x'.repeat(200)}"`]) {
      const r = parseRequest(`{"op":"ban","ip":"198.19.150.7","forMs":null,"container":${bad}}`);
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('BH_ERR_USAGE');
    }
    const r = parseRequest('{"op":"status","container":"web"}');
    expect(r.ok).toBe(false);
  });

  it('status text shows the container next to each scoped ban; old daemons (no bans field) as before', () => {
    const rule = { name: 'forbidden', enabled: true, currentlyFailed: 0, totalFailed: 10, currentlyBanned: 2, totalBanned: 2, bannedIps: ['198.19.150.7', '2001:db8:150::7'] };
    const report = { instance: 'host', enforcer: 'docker-user', since: '2026-11-23T10:00:00.000Z', files: [], rules: [rule] };
    expect(formatStatus(report, 'forbidden')).toContain('Banned IP list:\t198.19.150.7 2001:db8:150::7\n');
    const scoped = {
      ...report,
      rules: [{ ...rule, bans: [
        { ip: '198.19.150.7', container: 'web-x', containerId: 'a'.repeat(64), until: null },
        { ip: '2001:db8:150::7', container: null, containerId: null, until: null },
      ] }],
    };
    expect(formatStatus(scoped, 'forbidden')).toContain('Banned IP list:\t198.19.150.7 (web-x) 2001:db8:150::7\n');
  });
});
