// End-to-end: no acknowledged write is lost. APPEND, get OK, kill -9 the server at once,
// start it again: the messages are there with their UIDs and flags, and the account
// database passes SQLite's integrity_check.

import { Database } from 'bun:sqlite';
import { afterAll, afterEach, beforeAll, expect, test } from 'bun:test';
import { existsSync } from 'node:fs';
import { message, startServer, type TestServer } from './harness.ts';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({});
});
afterAll(async () => {
  await srv?.stop();
});
afterEach(() => {
  srv?.assertHealthy();
});

function integrity(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.query<{ integrity_check: string }, []>('PRAGMA integrity_check').all().map((r) => r.integrity_check);
  } finally {
    db.close();
  }
}

test('acknowledged APPENDs survive kill -9, with UIDs and flags', async () => {
  const c = await srv.login();
  await c.ok('CREATE durable');
  const before = await c.status('durable', ['UIDVALIDITY']);
  const flagged = [['\\Seen'], ['\\Deleted', '\\Seen'], [], ['\\Flagged', '$Label1']];
  const uids: number[] = [];
  for (const [i, flags] of flagged.entries()) {
    const r = await c.append('durable', message(`durable ${i}`, 'x'.repeat(1000 * (i + 1)) + '\r\n'), { flags });
    expect(r.status).toBe('OK');
    uids.push(r.appendUid!.uid);
  }
  // An append into INBOX as the very last thing before the kill.
  const last = await c.append('INBOX', message('last words'), { flags: ['\\Answered'] });
  expect(last.status).toBe('OK');
  await srv.kill9();

  const db = srv.accountDb();
  expect(existsSync(db)).toBe(true);
  expect(integrity(db)).toEqual(['ok']);

  await srv.restart();
  const d = await srv.login();
  const s = await d.status('durable', ['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'DELETED']);
  expect(s).toEqual({ MESSAGES: 4, UIDNEXT: uids[3] + 1, UIDVALIDITY: before.UIDVALIDITY, UNSEEN: 2, DELETED: 1 });
  const inbox = await d.status('INBOX', ['MESSAGES', 'UIDNEXT']);
  expect(inbox.MESSAGES).toBeGreaterThanOrEqual(1);
  expect(inbox.UIDNEXT).toBe(last.appendUid!.uid + 1);
  const sel = await d.select('durable');
  expect(sel.exists).toBe(4);
  expect(sel.uidNext).toBe(uids[3] + 1);
  // The \Deleted one is expunged: three remain, and the UID counter does not go back.
  const ex = await d.ok('EXPUNGE');
  expect(ex.untagged.filter((u) => u.type === 'EXPUNGE')).toHaveLength(1);
  const n = await d.append('durable', message('after restart'));
  expect(n.appendUid?.uid).toBe(uids[3] + 1);
  d.close();

  await srv.kill9();
  expect(integrity(db)).toEqual(['ok']);
  await srv.restart();
  const e = await srv.login();
  expect(await e.status('durable', ['MESSAGES', 'UIDNEXT'])).toEqual({ MESSAGES: 4, UIDNEXT: uids[3] + 2 });
});

test('a mailbox created and renamed just before kill -9 is there after restart', async () => {
  const c = await srv.login();
  await c.ok('CREATE made/here');
  await c.ok('RENAME made moved');
  await c.ok('SUBSCRIBE moved/here');
  await srv.kill9();
  await srv.restart();
  const d = await srv.login();
  const list = await d.list('', 'moved*');
  expect(list.map((l) => l.name).sort()).toEqual(['moved', 'moved/here']);
  expect((await d.list('', 'made*'))).toEqual([]);
  const lsub = (await d.ok('LSUB "" "moved/*"')).untagged.filter((u) => u.type === 'LSUB');
  expect(lsub).toHaveLength(1);
});
