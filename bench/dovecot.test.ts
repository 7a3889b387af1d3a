// The throwaway Dovecot of bench/dovecot.ts: it starts on loopback with its own config,
// our client logs in, APPENDs and FETCHes, and stop() ends every process and removes the dir.
// Skips (with the reason printed) when Dovecot is not installed.

import { describe, expect, setDefaultTimeout, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapClient, pick, text } from '../src/imap/client.ts';
import { alive, dovecotAvailable, processTree, startDovecot } from './dovecot.ts';

setDefaultTimeout(60_000);

const absent = !dovecotAvailable();
if (absent) console.log('skipping: dovecot is not installed (Debian: dovecot-imapd)');

const USERS = [{ user: 'user@localhost', password: 'password1234' }, { user: 'other@localhost', password: 'password5678' }];
const MSG = 'From: Alice <alice@example.org>\r\nTo: user@localhost\r\nSubject: hello dovecot\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nHello.\r\n';

describe('startDovecot', () => {
  for (const storage of ['maildir', 'sdbox'] as const) {
    test.skipIf(absent)(`${storage}: login, APPEND, FETCH, then stop removes everything`, async () => {
      const d = await startDovecot({ users: USERS, storage });
      let tree: number[] = [];
      try {
        expect(d.version).toMatch(/^2\.\d+/);
        expect(d.port).toBeGreaterThan(0);
        const conf = readFileSync(d.configPath, 'utf8');
        expect(conf).toContain('listen = 127.0.0.1');
        expect(conf).not.toContain('/etc/dovecot');
        expect(conf).toContain(d.dir);

        const c = await ImapClient.connect({ port: d.port, name: 'dovecot' });
        expect(c.greeting.type).toBe('OK');
        await c.login(USERS[0].user, USERS[0].password);
        const a = await c.append('INBOX', MSG, { date: '03-Feb-2020 04:05:06 +0000', flags: ['\\Seen'] });
        expect(a.status).toBe('OK');
        expect(a.appendUid?.uid).toBe(1);
        await c.ok('SELECT INBOX');
        const f = pick(await c.ok('UID FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])'), 'FETCH')[0];
        expect(text(f.attrs['BODY[]'])).toBe(MSG);
        expect(Number(f.attrs['RFC822.SIZE'])).toBe(MSG.length);
        expect((f.attrs.FLAGS as string[]).filter((x) => x !== '\\Recent')).toEqual(['\\Seen']); // rev1: \Recent too
        expect(f.attrs.INTERNALDATE).toBe('03-Feb-2020 04:05:06 +0000');

        // The second user has a mailbox of its own.
        const o = await ImapClient.connect({ port: d.port, name: 'dovecot-other' });
        await o.login(USERS[1].user, USERS[1].password);
        expect((await o.status('INBOX', ['MESSAGES'])).MESSAGES).toBe(0);
        await o.logout();
        tree = processTree(d.pid);
        expect(tree.length).toBeGreaterThan(1);
        await c.logout();
      } finally {
        await d.stop();
      }
      expect(tree.filter(alive)).toEqual([]);
      expect(existsSync(d.dir)).toBe(false);
    });
  }

  test.skipIf(absent)('a given dir is kept by stop() and its mail is there on the next start (a cached mailbox)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-dovecot-keep-'));
    try {
      const first = await startDovecot({ users: USERS.slice(0, 1), dir });
      const c = await ImapClient.connect({ port: first.port });
      await c.login(USERS[0].user, USERS[0].password);
      expect((await c.append('INBOX', MSG)).status).toBe('OK');
      await c.logout();
      await first.stop();
      expect(existsSync(join(dir, 'mail'))).toBe(true);

      const second = await startDovecot({ users: USERS, dir });
      try {
        const d = await ImapClient.connect({ port: second.port });
        await d.login(USERS[0].user, USERS[0].password);
        expect((await d.status('INBOX', ['MESSAGES'])).MESSAGES).toBe(1);
        await d.logout();
        const o = await ImapClient.connect({ port: second.port });
        await o.login(USERS[1].user, USERS[1].password); // a user added on the second start
        expect((await o.status('INBOX', ['MESSAGES'])).MESSAGES).toBe(0);
        await o.logout();
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.skipIf(absent)('two instances side by side, each on its own port', async () => {
    const [a, b] = await Promise.all([startDovecot({ users: USERS }), startDovecot({ users: USERS })]);
    try {
      expect(a.port).not.toBe(b.port);
      for (const d of [a, b]) {
        const c = await ImapClient.connect({ port: d.port });
        await c.login(USERS[0].user, USERS[0].password);
        await c.logout();
      }
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
