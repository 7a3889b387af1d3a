// The store contract, run against every backend (one today: SQLite + message files).

import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { closeSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setLogSink } from '../log.ts';
import { Account } from './account.ts';
import { DB_FILE, msgDir, tmpDir } from './files.ts';
import { type AppendInput, type AppendResult, type Change, StoreError, SysFlag } from './types.ts';

const DEFAULTS = { drafts: 'Drafts', sent: 'Sent', archive: 'Archive', junk: 'Junk', trash: 'Trash' };

interface Backend { name: string; open(dir: string): Account }
const backends: Backend[] = [
  { name: 'sqlite+files', open: (dir) => Account.open(dir, { name: 'test@example.org', defaultMailboxes: DEFAULTS }) },
];

/** Every upload file the tests made: append must leave none behind (tmp/ also holds the
 * files the account creates ahead, so the directory is not simply empty). */
const uploaded = new Set<string>();
const uploadsLeft = () => [...uploaded].filter((p) => existsSync(p));

/** A message in a tmp file of the account, ready for append(). */
function upload(a: Account, body = 'Subject: test\r\n\r\nhello\r\n', flags = 0, keywords: string[] = []): AppendInput {
  const { path: tmpPath, fd } = a.takeTmpFile();
  closeSync(fd);
  writeFileSync(tmpPath, body);
  uploaded.add(tmpPath);
  return { tmpPath, size: Buffer.byteLength(body), flags, keywords };
}

function storeError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof StoreError) return e.code;
    throw e;
  }
  throw new Error('no StoreError thrown');
}

/** All message files under msg/. */
function msgFiles(dir: string): string[] {
  const out: string[] = [];
  for (const b of readdirSync(msgDir(dir))) for (const f of readdirSync(join(msgDir(dir), b))) out.push(join(b, f));
  return out.sort();
}

for (const backend of backends) {
  describe(`store contract: ${backend.name}`, () => {
    let dir: string;
    let a: Account;
    const id = (name: string) => a.mailboxByName(name, { missing: 'NONEXISTENT' }).id;
    const add = (mailbox: string, flags = 0, keywords: string[] = [], body?: string) => a.append(id(mailbox), upload(a, body, flags, keywords)).uid;

    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'postern-store-'));
      a = backend.open(dir);
    });
    afterEach(() => {
      a.close();
      rmSync(dir, { recursive: true, force: true });
    });

    describe('a new account', () => {
      test('has INBOX and the special-use mailboxes, subscribed', () => {
        expect(a.mailboxes().map((m) => [m.name, m.specialUse])).toEqual([
          ['Archive', ['\\Archive']], ['Drafts', ['\\Drafts']], ['INBOX', []], ['Junk', ['\\Junk']], ['Sent', ['\\Sent']], ['Trash', ['\\Trash']],
        ]);
        expect([...a.subscriptions()].sort()).toEqual(['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
        const uvs = new Set(a.mailboxes().map((m) => m.uidValidity));
        expect(uvs.size).toBe(6);
        expect(a.counts(id('INBOX'))).toMatchObject({ messages: 0, uidNext: 1, highestModseq: 1n });
      });

      test('reopens without change', () => {
        const before = a.mailboxes();
        a.close();
        a = backend.open(dir);
        expect(a.mailboxes()).toEqual(before);
        const db = new Database(join(dir, DB_FILE));
        expect(db.query('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
        db.close();
      });
    });

    describe('create', () => {
      test('creates missing parents, matches INBOX case-insensitively', () => {
        const m = a.createMailbox('a/b/c');
        expect(m.name).toBe('a/b/c');
        expect(a.findMailbox('a')).not.toBeNull();
        expect(a.findMailbox('a/b')).not.toBeNull();
        expect(a.createMailbox('inbox/x').name).toBe('INBOX/x');
        expect(a.findMailbox('Inbox/x')?.name).toBe('INBOX/x');
        expect(a.mailboxByName('iNbOx', { missing: 'NONEXISTENT' }).name).toBe('INBOX');
      });

      test('refuses existing and invalid names and unknown special-use', () => {
        expect(storeError(() => a.createMailbox('INBOX'))).toBe('ALREADYEXISTS');
        expect(storeError(() => a.createMailbox('inbox'))).toBe('ALREADYEXISTS');
        expect(storeError(() => a.createMailbox('Sent'))).toBe('ALREADYEXISTS');
        for (const bad of ['', '/x', 'x/', 'x//y', '#x', 'x\ny']) expect(storeError(() => a.createMailbox(bad))).toBe('CANNOT');
        expect(storeError(() => a.createMailbox('x', { specialUse: ['\\Important'] }))).toBe('USEATTR');
        expect(a.findMailbox('x')).toBeNull();
        expect(a.createMailbox('we*rd%#', { specialUse: ['\\flagged'] }).specialUse).toEqual(['\\Flagged']);
      });

      test('UIDVALIDITY is unique, also after delete and re-create', () => {
        const first = a.createMailbox('x').uidValidity;
        a.deleteMailbox('x');
        expect(a.createMailbox('x').uidValidity).not.toBe(first);
      });

      test('lookup errors carry the code the caller asked for', () => {
        expect(storeError(() => a.mailboxByName('nope', { missing: 'TRYCREATE' }))).toBe('TRYCREATE');
        expect(storeError(() => a.mailboxByName('nope', { missing: 'NONEXISTENT' }))).toBe('NONEXISTENT');
        expect(a.mailboxById(99999)).toBeNull();
      });
    });

    describe('delete', () => {
      test('INBOX, missing mailboxes and mailboxes with children are refused', () => {
        expect(storeError(() => a.deleteMailbox('inbox'))).toBe('CANNOT');
        expect(storeError(() => a.deleteMailbox('nope'))).toBe('NONEXISTENT');
        a.createMailbox('p/c');
        expect(storeError(() => a.deleteMailbox('p'))).toBe('HASCHILDREN');
        a.createMailbox('pq');
        a.deleteMailbox('p/c');
        a.deleteMailbox('p');
        expect(a.findMailbox('pq')).not.toBeNull();
      });

      test('removes messages and files, keeps the subscription', async () => {
        a.createMailbox('x');
        a.subscribe('x');
        add('x');
        add('x');
        expect(msgFiles(dir).length).toBe(2);
        a.deleteMailbox('x');
        expect(a.findMailbox('x')).toBeNull();
        // Files go once the removal is durable.
        await a.durable();
        expect(msgFiles(dir)).toEqual([]);
        expect(a.subscriptions().has('x')).toBe(true);
      });
    });

    describe('rename', () => {
      test('renames children and subscriptions, keeps UIDVALIDITY and messages', () => {
        const p = a.createMailbox('p');
        a.createMailbox('p/c/d');
        a.subscribe('p/c');
        add('p/c');
        const c = a.findMailbox('p/c')!;
        const r = a.renameMailbox('p', 'n/q');
        expect(r.id).toBe(p.id);
        expect(r.uidValidity).toBe(p.uidValidity);
        expect(a.mailboxes().map((m) => m.name).filter((n) => /^[pn]/.test(n))).toEqual(['n', 'n/q', 'n/q/c', 'n/q/c/d']);
        expect(a.findMailbox('n/q/c')!.uidValidity).toBe(c.uidValidity);
        expect(a.uids(c.id)).toEqual(new Uint32Array([1]));
        expect(a.subscriptions().has('n/q/c')).toBe(true);
        expect(a.subscriptions().has('p/c')).toBe(false);
      });

      test('errors', () => {
        a.createMailbox('p/c');
        expect(storeError(() => a.renameMailbox('nope', 'x'))).toBe('NONEXISTENT');
        expect(storeError(() => a.renameMailbox('p', 'Sent'))).toBe('ALREADYEXISTS');
        expect(storeError(() => a.renameMailbox('p', 'inbox'))).toBe('ALREADYEXISTS');
        expect(storeError(() => a.renameMailbox('p', 'p/c/x'))).toBe('CANNOT');
        expect(storeError(() => a.renameMailbox('p', 'x//y'))).toBe('CANNOT');
        expect(a.findMailbox('p/c')).not.toBeNull();
      });

      test('INBOX: messages move to a new mailbox, INBOX stays empty with its children', () => {
        const inbox = a.findMailbox('INBOX')!;
        a.createMailbox('INBOX/child');
        add('INBOX', SysFlag.Seen, ['$Label1']);
        add('INBOX');
        const changes: Change[] = [];
        a.subscribeChanges((c) => changes.push(...c));
        const old = a.renameMailbox('INBOX', 'Old');
        expect(old.id).not.toBe(inbox.id);
        expect(old.uidValidity).not.toBe(inbox.uidValidity);
        expect(Array.from(a.uids(old.id))).toEqual([1, 2]);
        expect(a.messages(old.id)[0]).toMatchObject({ uid: 1, flags: SysFlag.Seen, keywords: ['$Label1'] });
        expect(a.keywords(old.id)).toEqual(['$Label1']);
        expect(a.counts(old.id)).toMatchObject({ messages: 2, unseen: 1, uidNext: 3 });
        expect(a.counts(inbox.id)).toMatchObject({ messages: 0, unseen: 0, size: 0, uidNext: 3, uidValidity: inbox.uidValidity });
        expect(a.findMailbox('INBOX/child')).not.toBeNull();
        expect(readFileSync(a.messagePath(old.id, 1), 'utf8')).toContain('hello');
        expect(changes.map((c) => c.kind)).toEqual(['mailbox-created', 'expunged']);
        // UIDs of INBOX are not reused.
        expect(add('INBOX')).toBe(3);
      });
    });

    test('subscriptions may name missing mailboxes; changes only when something changed', () => {
      const changes: Change[] = [];
      a.subscribeChanges((c) => changes.push(...c));
      expect(a.subscribe('nowhere/x')).toBe(true);
      expect(a.subscribe('nowhere/x')).toBe(false);
      expect(a.subscriptions().has('nowhere/x')).toBe(true);
      expect(a.unsubscribe('nowhere/x')).toBe(true);
      expect(a.unsubscribe('nowhere/x')).toBe(false);
      expect(a.subscribe('inbox')).toBe(false);
      expect(changes).toEqual([{ kind: 'subscription', name: 'nowhere/x', subscribed: true }, { kind: 'subscription', name: 'nowhere/x', subscribed: false }]);
    });

    describe('append', () => {
      test('stores the file, the row and the counts', () => {
        const inbox = id('INBOX');
        const input = upload(a, 'Subject: one\r\n\r\nbody\r\n', SysFlag.Flagged, ['$Forwarded', 'custom', '$forwarded']);
        input.internalDate = Date.UTC(2020, 0, 2);
        const r = a.append(inbox, input);
        expect(r).toEqual({ uid: 1, uidValidity: a.findMailbox('INBOX')!.uidValidity, modseq: 2n });
        expect(existsSync(input.tmpPath)).toBe(false);
        expect(readFileSync(a.messagePath(inbox, 1), 'utf8')).toBe('Subject: one\r\n\r\nbody\r\n');
        expect(a.message(inbox, 1)).toMatchObject({ uid: 1, flags: SysFlag.Flagged, keywords: ['$Forwarded', 'custom'], size: input.size, internalDate: Date.UTC(2020, 0, 2), modseq: 2n });
        add('INBOX', SysFlag.Seen | SysFlag.Deleted);
        expect(a.counts(inbox)).toEqual({ messages: 2, unseen: 1, deleted: 1, size: input.size + 24, uidNext: 3, uidValidity: r.uidValidity, highestModseq: 3n });
        expect(a.keywords(inbox)).toEqual(['$Forwarded', 'custom']);
        expect(Array.from(a.uids(inbox))).toEqual([1, 2]);
        expect(a.messages(inbox, [2, 7, 1]).map((m) => m.uid)).toEqual([1, 2]);
        expect(a.message(inbox, 7)).toBeNull();
        expect(storeError(() => a.messagePath(inbox, 7))).toBe('NONEXISTENT');
        expect(a.firstUnseenUid(inbox)).toBe(1);
      });

      test('appendGrouped commits concurrent calls together; a failing call fails alone', async () => {
        const inbox = id('INBOX');
        const other = a.createMailbox('grouped').id;
        const bad = [upload(a), upload(a)];
        bad[1].keywords = ['has space'];
        const seen: Change[] = [];
        const off = a.subscribeChanges((c) => seen.push(...c));
        const calls = [
          a.appendGrouped(inbox, [upload(a)]),
          a.appendGrouped(other, [upload(a), upload(a)]),
          a.appendGrouped(inbox, bad),
          a.appendGrouped(inbox, [upload(a)]),
        ];
        const results = await Promise.allSettled(calls);
        off();
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
        const uidsOf = (r: PromiseSettledResult<AppendResult[]>) => (r.status === 'fulfilled' ? r.value.map((x) => x.uid) : null);
        expect(results.map(uidsOf)).toEqual([[1], [1, 2], null, [2]]);
        // One transaction: one modseq for every message it recorded, one broadcast.
        const modseqs = new Set(results.flatMap((r) => (r.status === 'fulfilled' ? r.value.map((x) => x.modseq) : [])));
        expect(modseqs.size).toBe(1);
        expect(seen.filter((c) => c.kind === 'added').length).toBe(4);
        expect(a.counts(inbox).messages).toBe(2);
        expect(a.counts(other).messages).toBe(2);
        expect(uploadsLeft()).toEqual([]);
        expect(msgFiles(dir).length).toBe(4);
        // The next write gets a fresh modseq (the failed savepoint did not undo the counter).
        const next = a.append(inbox, upload(a));
        expect(next.modseq).toBeGreaterThan([...modseqs][0]);
      });

      test('appendMany is all or nothing and removes its files on failure', () => {
        const inbox = id('INBOX');
        const ok = [upload(a), upload(a)];
        const bad = upload(a);
        bad.keywords = ['has space'];
        expect(storeError(() => a.appendMany(inbox, [...ok, bad]))).toBe('CANNOT');
        const missing = { tmpPath: join(tmpDir(dir), 'missing'), size: 1, flags: 0, keywords: [] };
        expect(() => a.appendMany(inbox, [upload(a), upload(a), missing])).toThrow();
        expect(a.counts(inbox).messages).toBe(0);
        expect(msgFiles(dir)).toEqual([]);
        expect(uploadsLeft()).toEqual([]);

        const rs = a.appendMany(inbox, [upload(a), upload(a), upload(a)]);
        expect(rs.map((r) => r.uid)).toEqual([1, 2, 3]);
        expect(new Set(rs.map((r) => r.modseq)).size).toBe(1);
        expect(msgFiles(dir).length).toBe(3);
      });

      test('a file of the wrong size is refused', () => {
        const input = upload(a);
        input.size++;
        expect(storeError(() => a.append(id('INBOX'), input))).toBe('SERVERBUG');
        expect(existsSync(input.tmpPath)).toBe(false);
      });

      test('into a deleted mailbox: TRYCREATE', () => {
        const x = a.createMailbox('x').id;
        a.deleteMailbox('x');
        expect(storeError(() => a.append(x, upload(a)))).toBe('TRYCREATE');
      });
    });

    describe('flags', () => {
      test('set, add, remove; only changes get a modseq', () => {
        const inbox = id('INBOX');
        add('INBOX');
        add('INBOX', SysFlag.Seen);
        const r1 = a.setFlags(inbox, [1, 2], 'add', SysFlag.Seen, ['Work']);
        expect(r1.map((r) => [r.uid, r.flags, r.keywords])).toEqual([[1, SysFlag.Seen, ['Work']], [2, SysFlag.Seen, ['Work']]]);
        expect(a.counts(inbox).unseen).toBe(0);
        const again = a.setFlags(inbox, [1, 2], 'add', SysFlag.Seen, ['work']);
        expect(again).toEqual(Object.assign([], { modified: [] }));
        const r2 = a.setFlags(inbox, [1], 'remove', SysFlag.Seen, ['WORK']);
        expect(r2.map((r) => [r.uid, r.flags, r.keywords])).toEqual([[1, 0, []]]);
        expect(a.counts(inbox).unseen).toBe(1);
        const r3 = a.setFlags(inbox, [1, 2, 99], 'set', SysFlag.Deleted | SysFlag.Answered, []);
        expect(r3.map((r) => r.uid)).toEqual([1, 2]);
        expect(a.counts(inbox)).toMatchObject({ unseen: 2, deleted: 2, highestModseq: r3[0].modseq });
        expect(a.keywords(inbox)).toEqual(['Work']);
        expect(storeError(() => a.setFlags(inbox, [1], 'add', 0, ['\\Seen']))).toBe('CANNOT');
      });

      test('UNCHANGEDSINCE leaves newer messages alone and reports them', () => {
        const inbox = id('INBOX');
        add('INBOX');
        add('INBOX');
        const m1 = a.setFlags(inbox, [1], 'add', SysFlag.Flagged, [])[0].modseq;
        const r = a.setFlags(inbox, [1, 2], 'add', SysFlag.Seen, [], { unchangedSince: m1 - 1n });
        expect(r.map((x) => x.uid)).toEqual([2]);
        expect(r.modified).toEqual([1]);
        expect(a.message(inbox, 1)!.flags).toBe(SysFlag.Flagged);
      });
    });

    describe('expunge, copy, move', () => {
      test('expunge removes \\Deleted messages (only among uids when given) and their files', async () => {
        const inbox = id('INBOX');
        for (let i = 0; i < 4; i++) add('INBOX', SysFlag.Deleted);
        add('INBOX');
        expect(a.expunge(inbox, [2, 3, 5])).toEqual([2, 3]);
        expect(a.expunge(inbox)).toEqual([1, 4]);
        expect(a.expunge(inbox)).toEqual([]);
        expect(Array.from(a.uids(inbox))).toEqual([5]);
        await a.durable();
        expect(msgFiles(dir).length).toBe(1);
        expect(a.counts(inbox)).toMatchObject({ messages: 1, deleted: 0, uidNext: 6 });
      });

      test('copy hard-links and keeps flags; move keeps the file and leaves tombstones', () => {
        const inbox = id('INBOX');
        const trash = id('Trash');
        add('INBOX', SysFlag.Seen, ['k1']);
        add('INBOX');
        add('Trash');
        const c = a.copy(inbox, [2, 1, 42], trash);
        expect(c).toEqual({ uidValidity: a.findMailbox('Trash')!.uidValidity, pairs: [[1, 2], [2, 3]] });
        expect(statSync(a.messagePath(trash, 2)).ino).toBe(statSync(a.messagePath(inbox, 1)).ino);
        expect(a.message(trash, 2)).toMatchObject({ flags: SysFlag.Seen, keywords: ['k1'] });
        expect(a.keywords(trash)).toEqual(['k1']);

        const path1 = a.messagePath(inbox, 1);
        const mv = a.move(inbox, [1, 2], id('Archive'));
        expect(mv.pairs).toEqual([[1, 1], [2, 2]]);
        expect(a.messagePath(id('Archive'), 1)).toBe(path1);
        expect(a.counts(inbox)).toMatchObject({ messages: 0, unseen: 0 });
        expect(a.counts(id('Archive'))).toMatchObject({ messages: 2, unseen: 1, uidNext: 3 });
        expect(a.copy(inbox, [1], trash).pairs).toEqual([]);
        expect(storeError(() => a.move(trash, [1], trash))).toBe('CANNOT');
        expect(storeError(() => a.copy(trash, [1], 999))).toBe('TRYCREATE');
        const db = new Database(join(dir, DB_FILE), { readonly: true });
        expect(db.query('SELECT uid FROM expunged WHERE mailbox_id = ? ORDER BY uid').values(inbox)).toEqual([[1], [2]]);
        db.close();
      });
    });

    test('random operations keep counts equal to a recount', async () => {
      let seed = 42;
      const rnd = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed % n;
      };
      const boxes = ['INBOX', 'Archive', 'Trash'].map(id);
      const pick = (m: number) => {
        const all = Array.from(a.uids(m));
        return all.filter(() => rnd(3) === 0);
      };
      for (let i = 0; i < 150; i++) {
        const m = boxes[rnd(3)];
        const other = boxes[(boxes.indexOf(m) + 1 + rnd(2)) % 3];
        switch (rnd(6)) {
          case 0:
            a.appendMany(m, Array.from({ length: 1 + rnd(3) }, () => upload(a, 'x'.repeat(1 + rnd(100)), rnd(32), rnd(2) ? ['k' + rnd(4)] : [])));
            break;
          case 1:
            a.setFlags(m, pick(m), (['set', 'add', 'remove'] as const)[rnd(3)], rnd(32), rnd(2) ? ['k' + rnd(4)] : []);
            break;
          case 2:
            a.expunge(m, rnd(2) ? pick(m) : undefined);
            break;
          case 3:
            a.copy(m, pick(m), other);
            break;
          case 4:
            a.move(m, pick(m), other);
            break;
          case 5:
            a.setFlags(m, pick(m), 'add', SysFlag.Deleted, []);
            break;
        }
      }
      const before = boxes.map((m) => a.counts(m));
      expect(before.reduce((n, c) => n + c.messages, 0)).toBeGreaterThan(10);
      const re = a.recalculateCounts();
      for (const r of re) expect(r.after).toEqual(r.before);
      expect(boxes.map((m) => a.counts(m))).toEqual(before);
      const total = boxes.reduce((n, m) => n + a.counts(m).messages, 0);
      await a.durable();
      expect(msgFiles(dir).length).toBe(total);
    });

    test('recalculateCounts repairs wrong counts', () => {
      add('INBOX');
      const db = new Database(join(dir, DB_FILE));
      db.exec("UPDATE mailbox SET total = 7, unseen = 0, size = 1 WHERE name = 'INBOX'");
      db.close();
      const lines: string[] = [];
      const prev = setLogSink((l) => lines.push(l));
      try {
        const r = a.recalculateCounts(id('INBOX'));
        expect(r[0].before.messages).toBe(7);
        expect(r[0].after).toMatchObject({ messages: 1, unseen: 1 });
      } finally {
        setLogSink(prev);
      }
      expect(a.counts(id('INBOX')).messages).toBe(1);
      expect(lines.join('\n')).toContain('mailbox counts were wrong');
    });

    describe('change broadcast', () => {
      test('listeners get each commit in order; a throwing listener breaks nothing', () => {
        const seen: Change[][] = [];
        const lines: string[] = [];
        const prev = setLogSink((l) => lines.push(l));
        try {
          a.subscribeChanges(() => {
            throw new Error('listener bug');
          });
          const off = a.subscribeChanges((c) => seen.push([...c]));
          const inbox = id('INBOX');
          add('INBOX');
          a.setFlags(inbox, [1], 'add', SysFlag.Deleted, []);
          a.expunge(inbox);
          a.createMailbox('n/m');
          a.renameMailbox('n', 'o');
          a.deleteMailbox('o/m');
          a.setFlags(inbox, [], 'add', SysFlag.Seen, []);
          a.expunge(inbox);
          off();
          a.createMailbox('after');
        } finally {
          setLogSink(prev);
        }
        expect(seen.map((cs) => cs.map((c) => c.kind))).toEqual([
          ['added'], ['flags'], ['expunged'], ['mailbox-created', 'mailbox-created'], ['mailbox-renamed', 'mailbox-renamed'], ['mailbox-deleted'],
        ]);
        const modseqs = seen.slice(0, 3).map((cs) => (cs[0] as { modseq: bigint }).modseq);
        expect(modseqs[0] < modseqs[1] && modseqs[1] < modseqs[2]).toBe(true);
        expect(seen[4][1]).toMatchObject({ oldName: 'n/m', newName: 'o/m' });
        expect(lines.filter((l) => l.includes('change listener failed')).length).toBe(7);
      });

      test('a listener may call the store', () => {
        const inbox = id('INBOX');
        const counts: number[] = [];
        a.subscribeChanges(() => counts.push(a.counts(inbox).messages));
        add('INBOX');
        add('INBOX');
        expect(counts).toEqual([1, 2]);
      });
    });

    describe('file holds', () => {
      test('an expunged message stays readable until every hold released it', async () => {
        const inbox = id('INBOX');
        add('INBOX', SysFlag.Deleted, [], 'kept body');
        add('INBOX', SysFlag.Deleted);
        const h1 = a.holdMailbox(inbox);
        const h2 = a.holdMailbox(inbox);
        const path = a.messagePath(inbox, 1);
        expect(a.expunge(inbox)).toEqual([1, 2]);
        const h3 = a.holdMailbox(inbox); // selected after the expunge: holds nothing of it
        expect(a.messagePath(inbox, 1)).toBe(path);
        expect(readFileSync(path, 'utf8')).toBe('kept body');
        h1.release([1, 2]);
        expect(existsSync(path)).toBe(true);
        h3.close();
        expect(existsSync(path)).toBe(true);
        h2.release([1]);
        await a.durable();
        expect(existsSync(path)).toBe(false);
        expect(storeError(() => a.messagePath(inbox, 1))).toBe('NONEXISTENT');
        expect(msgFiles(dir).length).toBe(1);
        h2.close();
        await a.durable();
        expect(msgFiles(dir)).toEqual([]);
      });

      test('a moved message held by the source goes only when expunged and released', async () => {
        const inbox = id('INBOX');
        const trash = id('Trash');
        add('INBOX');
        const h = a.holdMailbox(inbox);
        a.move(inbox, [1], trash);
        const path = a.messagePath(inbox, 1);
        expect(a.messagePath(trash, 1)).toBe(path);
        a.setFlags(trash, [1], 'add', SysFlag.Deleted, []);
        a.expunge(trash);
        expect(existsSync(path)).toBe(true);
        h.release([1]);
        await a.durable();
        expect(existsSync(path)).toBe(false);
      });

      test('files held at a crash are removed at the next open', () => {
        const inbox = id('INBOX');
        add('INBOX', SysFlag.Deleted);
        a.holdMailbox(inbox);
        const path = a.messagePath(inbox, 1);
        a.expunge(inbox);
        expect(existsSync(path)).toBe(true);
        // A second open of the directory acts as the next process after a crash.
        const next = backend.open(dir);
        next.close();
        expect(existsSync(path)).toBe(false);
      });

      test('close() unlinks files still held', () => {
        add('INBOX', SysFlag.Deleted);
        a.holdMailbox(id('INBOX'));
        a.expunge(id('INBOX'));
        expect(msgFiles(dir).length).toBe(1);
        a.close();
        expect(msgFiles(dir)).toEqual([]);
        a = backend.open(dir);
      });
    });

    test('open removes stale uploads of dead processes only', () => {
      const stale = join(tmpDir(dir), '4194305.1.abc');
      const { path: ours, fd } = a.takeTmpFile();
      closeSync(fd);
      writeFileSync(stale, 'x');
      writeFileSync(ours, 'y');
      a.close();
      a = backend.open(dir);
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(ours)).toBe(true);
    });
  });
}
