/**
 * Hostile review (H16), the pure side: which addresses are "this host itself" in every spelling a
 * resolver may use, which names mean this host on purpose, and the start-time warnings about target
 * URLs that name this host by its unspecified address or an SMTP server by an IPv4 shorthand (smtp://
 * URLs are not normalised as http:// ones are, so `smtp://127.1` is resolved as a name).
 */
import { describe, expect, it } from 'vitest';
import { smtpWarnings, webhookWarnings } from '../../../src/notify/notifier.js';
import { isLocalHostAddress, isLocalhostName, isLoopbackAddress, isMetadataAddress, refusedAnswer } from '../../../src/notify/webhook.js';

describe('isLocalHostAddress: loopback and unspecified, every spelling', () => {
  it.each([
    '127.0.0.1', '127.255.255.254', '0.0.0.0', '0.1.2.3', '::1', '::', '[::1]', '::1%lo',
    '0:0:0:0:0:0:0:1', '0000:0000:0000:0000:0000:0000:0000:0001', '0:0:0:0:0:0:0:0',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::FFFF:7F00:0001', '0:0:0:0:0:ffff:7f00:1', '::ffff:0.0.0.0', '::ffff:0:0',
    '64:ff9b::7f00:1', '64:FF9B::127.0.0.1', '64:ff9b:1::7f00:1', '::7f00:1', '::127.0.0.1',
  ])('%s is this host', (a) => {
    expect(isLocalHostAddress(a)).toBe(true);
  });

  it.each(['198.18.0.1', '2001:db8::1', '::ffff:198.18.0.1', '64:ff9b::c612:1', '128.0.0.1', '1.0.0.0', 'fe80::1', 'localhost', '127.000.000.001', ''])('%s is not', (a) => {
    expect(isLocalHostAddress(a)).toBe(false);
  });

  it('loopback is told from unspecified', () => {
    for (const a of ['127.0.0.1', '::1', '::ffff:7f00:1', '64:ff9b::7f00:1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['0.0.0.0', '::', '::ffff:0.0.0.0']) expect(isLoopbackAddress(a), a).toBe(false);
  });
});

describe('names that mean this host on purpose', () => {
  it.each([
    ['localhost', true], ['LOCALHOST', true], ['localhost.', true], ['relay.localhost', true], ['a.b.Localhost.', true],
    ['localhost.example.test', false], ['notlocalhost', false], ['localhost-relay', false], ['127.0.0.1', false], ['mail.example.test', false],
  ])('%s → %s', (name, yes) => {
    expect(isLocalhostName(name as string)).toBe(yes);
  });

  it('refusedAnswer: localhost may be loopback or unspecified, never metadata; other names neither', () => {
    expect(refusedAnswer('localhost', [{ address: '127.0.0.1' }, { address: '::1' }])).toBeNull();
    expect(refusedAnswer('localhost', [{ address: '127.0.0.1' }, { address: '169.254.169.254' }])?.code).toBe('BH_ERR_METADATA_ADDRESS');
    expect(refusedAnswer('mail.example.test', [{ address: '198.18.0.1' }, { address: '2001:db8::1' }])).toBeNull();
    expect(refusedAnswer('mail.example.test', [{ address: '198.18.0.1' }, { address: '::ffff:7f00:1' }])?.code).toBe('BH_ERR_LOCAL_ADDRESS');
    // The graver finding is reported, wherever it stands in the answer.
    expect(refusedAnswer('mail.example.test', [{ address: '127.0.0.1' }, { address: 'fe80::1' }])?.code).toBe('BH_ERR_METADATA_ADDRESS');
    expect(refusedAnswer('mail.example.test', [{ address: 42 }])?.code).toBe('BH_ERR_BAD_ADDRESS');
    // A hostile answer's text is quoted safely (no control characters into the log).
    expect(refusedAnswer('mail.example.test', [{ address: '1.2.3.4\n\u001b[31mforged' }])?.message).not.toMatch(/[\n\u001b]/);
  });

  it('metadata is still told apart (unchanged)', () => {
    expect(isMetadataAddress('::ffff:a9fe:a9fe')).toBe(true);
    expect(isMetadataAddress('127.0.0.1')).toBe(false);
  });
});

describe('start-time warnings', () => {
  it('a webhook URL naming an unspecified address is warned about; loopback literals and localhost are not', () => {
    for (const u of ['http://0.0.0.0:8080/x', 'http://[::]:8080/x', 'http://[::ffff:0.0.0.0]/x', 'http://0/x']) {
      expect(webhookWarnings('hook', new URL(u), false), u).toEqual([expect.stringMatching(/unspecified address that connects to this host itself.*localhost or 127\.0\.0\.1/)]);
    }
    for (const u of ['http://127.0.0.1:8080/x', 'http://[::1]/x', 'http://localhost/x', 'https://hooks.example.test/x']) expect(webhookWarnings('hook', new URL(u), false), u).toEqual([]);
  });

  it('an SMTP server written as an IPv4 shorthand or an unspecified address is warned about', () => {
    for (const u of ['smtp://127.1:25', 'smtp://2130706433:25', 'smtp://0x7f000001:25', 'smtp://0251.0376.0251.0376:25', 'smtp://127.000.000.001:25', 'smtp://010.0.0.1:25']) {
      expect(smtpWarnings('mail', new URL(u), 'off', false), u).toEqual([expect.stringMatching(/IPv4 address in a shorthand.*write the address in full/)]);
    }
    expect(smtpWarnings('mail', new URL('smtp://0.0.0.0:25'), 'off', false)).toEqual([expect.stringMatching(/unspecified address/)]);
    for (const u of ['smtp://127.0.0.1:25', 'smtp://localhost:25', 'smtp://[::1]:25', 'smtp://mail.example.test:587', 'smtp://198.18.0.1:25']) expect(smtpWarnings('mail', new URL(u), 'off', false), u).toEqual([]);
  });
});
