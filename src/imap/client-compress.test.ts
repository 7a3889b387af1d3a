// Our client's COMPRESS DEFLATE (RFC 4978), against a real postern and, when installed, a
// throwaway Dovecot with imap_zlib (bench/dovecot.ts): commands, a synchronizing literal
// and a large FETCH over the compressed streams, the trace in plaintext, LOGOUT's BYE read
// before the close, and refused COMPRESS commands leaving the connection as it was.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { dovecotAvailable, startDovecot } from '../../bench/dovecot.ts';
import { startServer } from '../e2e/harness.ts';
import { ImapClient, pick } from './client.ts';

const USER = { address: 'user@localhost', password: 'password1234' };

interface Target { port: number; stop(): Promise<void> }

const TARGETS: Array<[string, () => Promise<Target>]> = [
  ['postern', async () => {
    const s = await startServer({ accounts: [USER], tls: false });
    return { port: s.port, stop: () => s.stop() };
  }],
  ...(dovecotAvailable() ? [['dovecot', async () => {
    const d = await startDovecot({ users: [{ user: USER.address, password: USER.password }], compress: true });
    return { port: d.port, stop: () => d.stop() };
  }] as [string, () => Promise<Target>]] : []),
];

/** ~100 KB of message: text lines and pseudo-random base64, so it compresses like mail. */
function message(): string {
  let seed = 7;
  const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let body = '';
  for (let i = 0; body.length < 100_000; i++) {
    if (i % 3) body += `Line ${i} of a message about the quarterly report, with a few words.\r\n`;
    else {
      let l = '';
      for (let k = 0; k < 76; k++) l += b64[(seed = (seed * 1103515245 + 12345) >>> 0) % 64];
      body += l + '\r\n';
    }
  }
  return `From: a@example.org\r\nTo: b@example.org\r\nSubject: compressed\r\n\r\n${body}`;
}

for (const [name, start] of TARGETS) {
  describe(`ImapClient COMPRESS DEFLATE against ${name}`, () => {
    let target: Target;
    beforeAll(async () => { target = await start(); });
    afterAll(async () => { await target?.stop(); });

    test('commands, a synchronizing literal and a large FETCH go through; the trace is plaintext', async () => {
      const trace: string[] = [];
      const c = await ImapClient.connect({ port: target.port, trace: (l) => trace.push(l) });
      await c.login(USER.address, USER.password);
      expect((await c.compress()).status).toBe('OK');
      await c.select('INBOX');
      const msg = message();
      const r = await c.append('INBOX', msg);
      expect(r.status).toBe('OK');
      expect(r.continued).toBe(1);
      const f = pick(await c.ok(`UID FETCH ${r.appendUid?.uid} BODY.PEEK[]`), 'FETCH')[0];
      expect(new TextDecoder().decode(f.attrs['BODY[]'] as Uint8Array)).toBe(msg);
      await c.logout();
      expect(c.bye?.type).toBe('BYE');
      const on = trace.findIndex((l) => l.endsWith('*: COMPRESS DEFLATE on'));
      expect(on).toBeGreaterThan(0);
      const after = trace.slice(on + 1);
      expect(after.some((l) => / C: A\d+ SELECT "INBOX"$/.test(l))).toBe(true);
      expect(after.some((l) => / S: A\d+ OK /.test(l))).toBe(true);
      for (const l of after) expect(l).toMatch(/^[\x20-\x7e]*$/);
    });

    test('a refused COMPRESS leaves the connection as it was', async () => {
      const c = await ImapClient.connect({ port: target.port });
      expect((await c.compress()).status).toBe('BAD'); // not authenticated
      await c.login(USER.address, USER.password);
      await c.ok('NOOP');
      expect((await c.compress()).status).toBe('OK');
      expect((await c.compress()).status).toBe('NO'); // already on
      await c.ok('NOOP');
      await c.logout();
    });
  });
}
