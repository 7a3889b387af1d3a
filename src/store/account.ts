// One account's mailboxes and messages: an SQLite database (schema.ts) plus one file per
// message (files.ts).
//
// Invariants callers rely on:
// - Every public method is synchronous and is one transaction (BEGIN IMMEDIATE ...
//   COMMIT); a method that throws changed nothing. Never hold anything across an await.
// - A write takes one new modseq for everything it changes; writes that change nothing
//   take none and broadcast nothing.
// - After a commit, and before the method returns, every listener registered with
//   subscribeChanges() gets that commit's changes, in commit order. A listener's
//   exception is logged and swallowed. Listeners may call the store again.
// - Message files are durable before their rows commit (see files.ts); files of removed
//   rows are unlinked once that commit is durable.
// - Durability (synchronous = NORMAL in WAL mode): a commit reaches the WAL file before the
//   method returns, so it survives the process being killed. It survives power loss once
//   the WAL is fsynced: append()/appendMany() do that before they return, appendGrouped()
//   before it resolves, and a caller that acknowledges any other write awaits durable()
//   first (the IMAP session does, for every command that committed). That fsync runs off
//   the event loop and serves every caller waiting at the time, so one session's commit
//   never stalls the others.
// - Mailbox names are normalized (mailboxname.ts) on the way in; lookups of invalid names
//   just miss.
// - append()/appendMany() take over their tmp files: when they return or throw, the tmp
//   files are gone (moved into msg/ or removed).
//
// File holds. A session that has a mailbox selected holds it: `holdMailbox(id)`. When
// messages leave a held mailbox (EXPUNGE, MOVE, DELETE, RENAME of INBOX), each hold
// remembers their UIDs and keeps their files; `messagePath()` still resolves those UIDs.
// The session calls `hold.release(uids)` once it has told its client about the
// expunges, and `hold.close()` when it deselects. A file whose row is gone is unlinked
// when the last hold on it is released. Files still held at a crash are listed in
// `file_removal` and unlinked at the next open.
//
// Single writer per process: open accounts through registry.ts. Another process may use
// the same database (busy_timeout), but must not clean up files (holds are per process).

import type { MessageInfo } from '../message/types.ts';
import { Database, type Statement } from 'bun:sqlite';
import { closeSync, fdatasyncSync, open, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '../log.ts';
import { Buckets, DB_FILE, fdatasyncAsync, linkFile, messageFilePath, moveFile, newTmpFile, prepareAccountDirs, removeFile, syncDir, syncDirAsync, syncFile, syncFileAsync, tmpDir } from './files.ts';
import { isInbox, isInferior, mailboxNameProblem, normalizeMailboxName, normalizeSpecialUse, parentNames } from './mailboxname.ts';
import { migrate, SCHEMA_VERSION } from './schema.ts';
import { MessageTable, type TableRow } from './table.ts';
import {
  type AccountOpenOptions, type AppendInput, type AppendResult, type Change, type ChangeListener,
  type CopyResult, type FlagsMode, type FlagsUpdate, type MailboxCounts, type MailboxInfo, type RecalculatedCounts,
  type SetFlagsResult, type StoredMessage, StoreError, type StoreErrorCode, SysFlag,
} from './types.ts';

const ALL_FLAGS = SysFlag.Seen | SysFlag.Answered | SysFlag.Flagged | SysFlag.Deleted | SysFlag.Draft;
/** flag-keyword = atom (RFC 9051): no atom-specials, no CTL, ASCII only. */
const KEYWORD_RE = /^[^\x00-\x20\x7f-\uffff(){%*"\\\]]+$/;
const BUSY_TIMEOUT_MS = 5000;
/** Upload files kept created ahead per open account. */
const TMP_POOL = 2;
/** Message ids reserved per transaction for grouped APPENDs. */
const ID_BLOCK = 64;

interface MailboxRow {
  id: number; name: string; uid_validity: number; uid_next: number; special_use: string;
  modseq: number; createseq: number; highest_modseq: number;
  total: number; unseen: number; deleted: number; size: number;
}
/** What a removal needs to know of a message. */
interface GoneRow { id: number; uid: number; flags: number; size: number }
interface SourceRow extends GoneRow { keywords: string; internal_date: number }

type Counts = { total: number; unseen: number; deleted: number; size: number };

/** Per-transaction state: the modseq (taken on first use), the changes to broadcast,
 * and what to do after commit or on rollback. */
class Tx {
  private m = 0;
  readonly changes: Change[] = [];
  readonly afterCommit: Array<() => void> = [];
  readonly onRollback: Array<() => void> = [];
  readonly now = Date.now();
  constructor(private readonly next: () => number) {}

  modseq(): number {
    if (this.m === 0) this.m = this.next();
    return this.m;
  }
}

/** Files whose message left a mailbox while a session held it. */
class FileRefs {
  private refs = new Map<number, { n: number; gone: boolean }>();
  constructor(private readonly unlink: (messageId: number) => void) {}

  retain(id: number): void {
    const e = this.refs.get(id);
    if (e) e.n++;
    else this.refs.set(id, { n: 1, gone: false });
  }

  release(id: number): void {
    const e = this.refs.get(id);
    if (!e || --e.n > 0) return;
    this.refs.delete(id);
    if (e.gone) this.unlink(id);
  }

  /** The row of `id` is gone: unlink now, or when the last hold is released. */
  drop(id: number): void {
    const e = this.refs.get(id);
    if (e) e.gone = true;
    else this.unlink(id);
  }
}

/** A session's hold on a selected mailbox; see the module header. */
export class MailboxHold {
  /** expunged uid -> message id (file) */
  private pending = new Map<number, number>();
  private closed = false;

  /** @internal created by Account.holdMailbox */
  constructor(readonly mailboxId: number, private readonly refs: FileRefs, private readonly onClose: (h: MailboxHold) => void) {}

  /** @internal a message left the mailbox; keep its file. */
  keep(uid: number, messageId: number): void {
    if (this.closed || this.pending.has(uid)) return;
    this.pending.set(uid, messageId);
    this.refs.retain(messageId);
  }

  /** The file id of an expunged UID this hold still keeps. */
  heldFile(uid: number): number | undefined {
    return this.pending.get(uid);
  }

  /** The client has been told about these expunged UIDs; their files may go. */
  release(uids: Iterable<number>): void {
    for (const uid of uids) {
      const id = this.pending.get(uid);
      if (id === undefined) continue;
      this.pending.delete(uid);
      this.refs.release(id);
    }
  }

  /** Release everything and stop holding (UNSELECT, CLOSE, logout). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release([...this.pending.keys()]);
    this.onClose(this);
  }
}

function prepareStatements(db: Database) {
  const q = <R = unknown>(sql: string) => db.prepare<R, any[]>(sql);
  const inUids = 'uid IN (SELECT value FROM json_each(?))';
  /** uid and one column of `table` (per message_id) for a list of UIDs: `some` takes the
   * list as JSON, `range` a UID range (see Account.byUid). */
  const byUid = (column: string, table: string): ByUid => ({
    some: q(`SELECT uid, ${column} FROM message LEFT JOIN ${table} ON message_id = id WHERE mailbox_id = ? AND ${inUids} ORDER BY uid`),
    range: q(`SELECT uid, ${column} FROM message LEFT JOIN ${table} ON message_id = id WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`),
  });
  return {
    begin: q('BEGIN IMMEDIATE'),
    commit: q('COMMIT'),
    rollback: q('ROLLBACK'),
    savepoint: q('SAVEPOINT one_append'),
    releaseSavepoint: q('RELEASE one_append'),
    rollbackSavepoint: q('ROLLBACK TO one_append'),
    accountRow: q<{ modseq: number }>('SELECT modseq FROM account WHERE id = 1'),
    accountInsert: q('INSERT INTO account (id, modseq, uidvalidity_next, created) VALUES (1, 0, ?, ?)'),
    nextModseq: q<{ modseq: number }>('UPDATE account SET modseq = modseq + 1 WHERE id = 1 RETURNING modseq'),
    nextUidValidity: q<{ v: number }>('UPDATE account SET uidvalidity_next = max(uidvalidity_next, ?) + 1 WHERE id = 1 RETURNING uidvalidity_next - 1 AS v'),

    mbAll: q<MailboxRow>('SELECT * FROM mailbox ORDER BY name'),
    mbByName: q<MailboxRow>('SELECT * FROM mailbox WHERE name = ?'),
    mbById: q<MailboxRow>('SELECT * FROM mailbox WHERE id = ?'),
    // Inferiors of X are the names in [X + '/', X + '0'): '0' follows '/' in byte order.
    mbChildren: q<MailboxRow>('SELECT * FROM mailbox WHERE name > ? || \'/\' AND name < ? || \'0\' ORDER BY name'),
    mbHasChildren: q('SELECT 1 FROM mailbox WHERE name > ? || \'/\' AND name < ? || \'0\' LIMIT 1'),
    mbInsert: q<MailboxRow>('INSERT INTO mailbox (name, uid_validity, uid_next, special_use, modseq, createseq, highest_modseq) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *'),
    mbRename: q('UPDATE mailbox SET name = ?, modseq = ?2, highest_modseq = ?2 WHERE id = ?'),
    mbDelete: q('DELETE FROM mailbox WHERE id = ?'),
    mbAddCounts: q('UPDATE mailbox SET total = total + ?, unseen = unseen + ?, deleted = deleted + ?, size = size + ?, uid_next = max(uid_next, ?), highest_modseq = max(highest_modseq, ?) WHERE id = ?'),
    mbSetCounts: q('UPDATE mailbox SET total = ?, unseen = ?, deleted = ?, size = ?, uid_next = ?, highest_modseq = ? WHERE id = ?'),
    mbRecount: q<{ total: number; unseen: number; deleted: number; size: number; max_uid: number; max_modseq: number }>(
      'SELECT count(*) AS total, ifnull(sum((flags & 1) = 0), 0) AS unseen, ifnull(sum((flags & 8) != 0), 0) AS deleted, ifnull(sum(size), 0) AS size, ifnull(max(uid), 0) AS max_uid, ifnull(max(modseq), 0) AS max_modseq FROM message WHERE mailbox_id = ?'),
    mbRecountExpunged: q<{ max_uid: number; max_modseq: number }>('SELECT ifnull(max(uid), 0) AS max_uid, ifnull(max(modseq), 0) AS max_modseq FROM expunged WHERE mailbox_id = ?'),

    // id NULL: the next AUTOINCREMENT id; else one reserveIds() handed out.
    msgInsert: q<{ id: number }>('INSERT INTO message (id, mailbox_id, uid, modseq, createseq, flags, keywords, size, internal_date, save_date) VALUES (?, ?, ?, ?4, ?4, ?, ?, ?, ?, ?) RETURNING id'),
    seqEnsure: q("INSERT INTO sqlite_sequence (name, seq) SELECT 'message', ifnull((SELECT max(id) FROM message), 0) WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'message')"),
    seqReserve: q<{ seq: number }>("UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'message' RETURNING seq"),
    dataInsert: q('INSERT INTO message_data (message_id, structure) VALUES (?, ?)'),
    searchInsert: q('INSERT INTO message_search (message_id, headers) VALUES (?, ?)'),
    renderInsert: q('INSERT INTO message_render (message_id, items) VALUES (?, ?)'),
    // COPY: what a message has in each per-message table goes with the new row (?1 new id, ?2 source id).
    copyData: ([['message_data', 'structure'], ['message_search', 'headers'], ['message_render', 'items']] as const).map(([table, column]) =>
      q(`INSERT INTO ${table} (message_id, ${column}) SELECT ?1, ${column} FROM ${table} WHERE message_id = ?2`)),
    msgRendered: byUid('items', 'message_render'),
    msgStructures: byUid('structure', 'message_data'),
    msgSearchHeaders: byUid('headers', 'message_search'),
    dataVersion: q<{ data_version: number }>('PRAGMA data_version'),
    msgTable: q('SELECT uid, flags, keywords, size, internal_date, save_date, modseq FROM message WHERE mailbox_id = ? ORDER BY uid'),
    msgId: q<{ id: number }>('SELECT id FROM message WHERE mailbox_id = ? AND uid = ?'),
    msgForFlags: q<{ id: number; uid: number; flags: number; keywords: string; modseq: number }>(`SELECT id, uid, flags, keywords, modseq FROM message WHERE mailbox_id = ? AND ${inUids} ORDER BY uid`),
    msgSetFlags: q('UPDATE message SET flags = ?, keywords = ?, modseq = ? WHERE id = ?'),
    msgSources: q<SourceRow>(`SELECT id, uid, flags, keywords, size, internal_date FROM message WHERE mailbox_id = ? AND ${inUids} ORDER BY uid`),
    msgAllSources: q<GoneRow>('SELECT id, uid, flags, size FROM message WHERE mailbox_id = ? ORDER BY uid'),
    msgExpungeAll: q<GoneRow>('DELETE FROM message WHERE mailbox_id = ? AND (flags & 8) != 0 RETURNING id, uid, flags, size'),
    msgExpungeSome: q<GoneRow>(`DELETE FROM message WHERE mailbox_id = ? AND (flags & 8) != 0 AND ${inUids} RETURNING id, uid, flags, size`),
    msgDeleteMailbox: q<GoneRow>('DELETE FROM message WHERE mailbox_id = ? RETURNING id, uid, flags, size'),
    // New UIDs follow source UID order: destination uid = base + rank - 1.
    msgCopy: q<{ id: number; uid: number }>(`INSERT INTO message (mailbox_id, uid, modseq, createseq, flags, keywords, size, internal_date, save_date)
      SELECT ?1, ?2 + row_number() OVER (ORDER BY uid) - 1, ?3, ?3, flags, keywords, size, internal_date, ?4
      FROM message WHERE mailbox_id = ?5 AND uid IN (SELECT value FROM json_each(?6)) RETURNING id, uid`),
    msgMove: q(`UPDATE message SET mailbox_id = ?1, uid = ?2 + s.rn - 1, modseq = ?3, createseq = ?3, save_date = ?4
      FROM (SELECT id, row_number() OVER (ORDER BY uid) AS rn FROM message WHERE mailbox_id = ?5 AND uid IN (SELECT value FROM json_each(?6))) AS s
      WHERE message.id = s.id`),
    msgMoveAll: q('UPDATE message SET mailbox_id = ? WHERE mailbox_id = ?'),

    tombstones: q('INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) SELECT ?, value, ? FROM json_each(?)'),
    fileRemovalAdd: q('INSERT OR IGNORE INTO file_removal (message_id) SELECT value FROM json_each(?)'),
    fileRemovalDone: q('DELETE FROM file_removal WHERE message_id IN (SELECT value FROM json_each(?))'),
    fileRemovalAll: q<{ message_id: number }>('SELECT message_id FROM file_removal'),

    kwAdd: q('INSERT OR IGNORE INTO mailbox_keyword (mailbox_id, keyword) VALUES (?, ?)'),
    kwList: q<{ keyword: string }>('SELECT keyword FROM mailbox_keyword WHERE mailbox_id = ? ORDER BY keyword'),
    kwCopyAll: q('INSERT OR IGNORE INTO mailbox_keyword (mailbox_id, keyword) SELECT ?, keyword FROM mailbox_keyword WHERE mailbox_id = ?'),

    subAdd: q('INSERT OR IGNORE INTO subscription (name) VALUES (?)'),
    subDel: q('DELETE FROM subscription WHERE name = ?'),
    subAll: q<{ name: string }>('SELECT name FROM subscription'),
    subRename: q('UPDATE OR REPLACE subscription SET name = ? WHERE name = ?'),
  };
}

/** uids as a JSON array for json_each(). */
/** The file must hold exactly the bytes the caller counted. */
function checkSize(input: AppendInput, size: number): void {
  if (size !== input.size) throw new StoreError('SERVERBUG', `message file has ${size} bytes, expected ${input.size}`);
}

/** An appendGrouped() call waiting for its group commit. */
interface PendingAppend {
  mailboxId: number;
  inputs: readonly AppendInput[];
  resolve: (r: AppendResult[]) => void;
  reject: (e: unknown) => void;
  result: AppendResult[] | null;
  error: unknown;
  /** Where its files went, under ids reserved for them. */
  placed: Array<{ id: number; path: string }>;
}

function jsonUids(uids: ArrayLike<number>): string {
  let s = '[';
  for (let i = 0; i < uids.length; i++) s += (i ? ',' : '') + (uids[i] >>> 0);
  return s + ']';
}

/** [first, last] when `uids` (ascending) are dense enough that one range scan reads
 * fewer rows than twice their number: cheaper than a json_each IN list. */
function denseRange(uids: ArrayLike<number>): [number, number] | null {
  const n = uids.length;
  if (n < 32) return null;
  for (let i = 1; i < n; i++) if (uids[i] <= uids[i - 1]) return null;
  const lo = uids[0];
  const hi = uids[n - 1];
  return hi - lo + 1 <= 2 * n ? [lo, hi] : null;
}

interface ByUid { some: Statement; range: Statement }

/** One column for these messages (`uids` ascending), by UID; missing UIDs are skipped. */
function byUid<V>(q: ByUid, mailboxId: number, uids: ArrayLike<number>): Map<number, V> {
  const r = denseRange(uids);
  const rows = (r ? q.range.values(mailboxId, r[0], r[1]) : q.some.values(mailboxId, jsonUids(uids))) as Array<[number, V]>;
  // A range may hold UIDs that were not asked for.
  const want = r && rows.length !== uids.length ? new Set(Array.from(uids)) : null;
  const out = new Map<number, V>();
  for (const [uid, v] of rows) if (!want || want.has(uid)) out.set(uid, v);
  return out;
}

function splitKeywords(s: string): string[] {
  return s === '' ? [] : s.split(' ');
}

/** Valid keywords, deduplicated case-insensitively (first spelling wins). */
function checkKeywords(keywords: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const k of keywords) {
    if (!KEYWORD_RE.test(k)) throw new StoreError('CANNOT', `invalid keyword ${JSON.stringify(k)}`);
    const l = k.toLowerCase();
    if (!seen.has(l)) {
      seen.add(l);
      out.push(k);
    }
  }
  return out;
}

function applyKeywords(mode: FlagsMode, current: string[], given: string[], givenLower: Set<string>): string[] {
  if (mode === 'set') return given;
  if (mode === 'remove') return current.filter((k) => !givenLower.has(k.toLowerCase()));
  const have = new Set(current.map((k) => k.toLowerCase()));
  const add = given.filter((k) => !have.has(k.toLowerCase()));
  return add.length ? current.concat(add) : current;
}

function sameKeywords(a: string[], b: string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  const la = new Set(a.map((k) => k.toLowerCase()));
  return b.every((k) => la.has(k.toLowerCase()));
}

/** UIDs are 32-bit (RFC 9051 §2.3.1.1); a full mailbox needs a new UIDVALIDITY (CLI). */
function checkUidSpace(mb: MailboxRow, n: number): void {
  if (mb.uid_next + n - 1 > 0xffffffff) throw new StoreError('LIMIT', 'mailbox has run out of UIDs');
}

function sumCounts(rows: ReadonlyArray<{ flags: number; size: number }>): Counts {
  const c = { total: 0, unseen: 0, deleted: 0, size: 0 };
  for (const r of rows) {
    c.total++;
    if (!(r.flags & SysFlag.Seen)) c.unseen++;
    if (r.flags & SysFlag.Deleted) c.deleted++;
    c.size += r.size;
  }
  return c;
}

function mailboxInfo(r: MailboxRow): MailboxInfo {
  return { id: r.id, name: r.name, uidValidity: r.uid_validity, uidNext: r.uid_next, specialUse: splitKeywords(r.special_use), modseq: BigInt(r.modseq) };
}

function mailboxCounts(r: MailboxRow): MailboxCounts {
  return { messages: r.total, unseen: r.unseen, deleted: r.deleted, size: r.size, uidNext: r.uid_next, uidValidity: r.uid_validity, highestModseq: BigInt(r.highest_modseq) };
}

function storedMessage(t: MessageTable, i: number): StoredMessage {
  return { uid: t.uid[i], flags: t.flags[i], keywords: splitKeywords(t.keywords[i]), size: t.size[i], internalDate: t.internalDate[i], saveDate: t.saveDate[i], modseq: BigInt(t.modseq[i]) };
}

export class Account {
  private readonly s: ReturnType<typeof prepareStatements>;
  private readonly buckets: Buckets;
  private readonly listeners = new Set<ChangeListener>();
  private readonly holds = new Map<number, Set<MailboxHold>>();
  private readonly fileRefs: FileRefs;
  /** Message ids whose files were unlinked; their file_removal rows go in the next write. */
  private unlinked: number[] = [];
  private inWrite = false;
  /** APPENDs waiting for the next group commit (appendGrouped). */
  private appendQueue: PendingAppend[] = [];
  private closed = false;
  /** Commits so far, and how many of them an fsync of the WAL has made durable. */
  private commits = 0;
  private durableCommits = 0;
  private walSync: Promise<void> | null = null;
  private walFdOpen = -1;
  /** Metadata of the mailboxes read lately (table.ts), and the database's data_version
   * they reflect: another process's commit changes it and drops them. */
  private tables = new Map<number, MessageTable>();
  private tablesVersion = -1;
  /** Upload files created ahead (takeTmpFile). */
  private tmpPool: Array<{ path: string; fd: number }> = [];
  private tmpPending = 0;
  /** Message ids reserved (reserveIds) and not handed out yet: [idNext, idEnd). */
  private idNext = 0;
  private idEnd = 0;
  /** Files whose rows are gone, waiting for the removing commit to be durable. */
  private unlinkAfterSync: Array<{ id: number; commit: number }> = [];

  /** The database file's inode when opened: stillOnDisk() compares. */
  private readonly dbIno: number;

  private constructor(readonly dir: string, readonly name: string, private readonly db: Database, private readonly log: Logger) {
    this.dbIno = statSync(join(dir, DB_FILE)).ino;
    this.s = prepareStatements(db);
    this.buckets = new Buckets(dir);
    this.fileRefs = new FileRefs((id) => this.unlinkWhenDurable(id));
  }

  /**
   * Open (creating on first use) the account in `accountDir`: creates msg/ and tmp/,
   * removes stale uploads, migrates the schema, creates INBOX and the special-use
   * mailboxes (subscribed) for a new account, and unlinks files left by a crash.
   */
  static open(accountDir: string, opts: AccountOpenOptions): Account {
    const log = (opts.log ?? new Logger('warn')).child({ account: opts.name });
    const stale = prepareAccountDirs(accountDir);
    if (stale) log.info('removed stale upload files', { count: stale });
    const db = new Database(join(accountDir, DB_FILE), { create: true, strict: true });
    try {
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
      db.exec('PRAGMA foreign_keys = ON');
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      const from = migrate(db);
      if (from > 0 && from < SCHEMA_VERSION) log.info('account schema migrated', { from, to: SCHEMA_VERSION });
      const a = new Account(accountDir, opts.name, db, log);
      a.initialize(opts);
      a.removeLeftoverFiles();
      // The WAL file's directory entry, once, so a later WAL fsync is enough; and its
      // descriptor, kept for those fsyncs.
      syncDir(accountDir);
      a.walFd();
      return a;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private initialize(opts: AccountOpenOptions): void {
    if (this.s.accountRow.get()) return;
    const d = opts.defaultMailboxes;
    this.write((tx) => {
      if (this.s.accountRow.get()) return;
      this.s.accountInsert.run(Math.floor(tx.now / 1000), tx.now);
      this.createWithParents(tx, 'INBOX', [], true);
      const defaults: Array<[string, string]> = [[d.drafts, '\\Drafts'], [d.sent, '\\Sent'], [d.archive, '\\Archive'], [d.junk, '\\Junk'], [d.trash, '\\Trash']];
      for (const [name, use] of defaults) this.createWithParents(tx, this.validName(name), [use], true);
    });
    this.log.info('account created');
  }

  private removeLeftoverFiles(): void {
    const ids = this.s.fileRemovalAll.all().map((r) => r.message_id);
    if (!ids.length) return;
    for (const id of ids) removeFile(messageFilePath(this.dir, id));
    this.write(() => this.s.fileRemovalDone.run(JSON.stringify(ids)));
    this.log.info('removed files of messages removed before a restart', { count: ids.length });
  }

  /** Unlinks files still held, and closes the database. Listeners are dropped. */
  close(): void {
    if (this.closed) return;
    try {
      this.durableNow();
    } catch (e) {
      this.log.error('fsync of the database log failed at close', { err: String(e) });
    }
    for (const f of this.tmpPool.splice(0)) {
      closeSync(f.fd);
      removeFile(f.path);
    }
    for (const set of [...this.holds.values()]) for (const h of [...set]) h.close();
    this.listeners.clear();
    this.closed = true;
    this.db.close();
    if (this.walFdOpen >= 0) closeSync(this.walFdOpen);
    this.walFdOpen = -1;
  }

  /** Whether the database this Account has open is still the one at its path (an
   * operator may have removed the account, and maybe added it again, meanwhile). */
  stillOnDisk(): boolean {
    try {
      return statSync(join(this.dir, DB_FILE)).ino === this.dbIno;
    } catch {
      return false;
    }
  }

  private walFd(): number {
    if (this.walFdOpen < 0) this.walFdOpen = openSync(join(this.dir, DB_FILE + '-wal'), 'r');
    return this.walFdOpen;
  }

  /** Commits so far; a command that sees it change has written something. */
  get commitCount(): number {
    return this.commits;
  }

  /**
   * Resolves once every commit made before the call survives power loss, and the files
   * those commits removed are unlinked: one fsync of the WAL off the event loop, shared
   * by every caller waiting at the time.
   */
  async durable(): Promise<void> {
    const target = this.commits;
    while (this.durableCommits < target) {
      if (this.closed) throw new StoreError('SERVERBUG', 'account is closed');
      if (!this.walSync) {
        const upto = this.commits;
        this.walSync = fdatasyncAsync(this.walFd())
          .then(() => this.madeDurable(upto))
          .finally(() => {
            this.walSync = null;
          });
      }
      await this.walSync;
    }
  }

  /** durable() for synchronous callers: blocks the event loop for the fsync. */
  private durableNow(): void {
    if (this.durableCommits >= this.commits) return;
    fdatasyncSync(this.walFd());
    this.madeDurable(this.commits);
  }

  private madeDurable(upto: number): void {
    if (upto <= this.durableCommits) return;
    this.durableCommits = upto;
    const waiting = this.unlinkAfterSync;
    this.unlinkAfterSync = [];
    for (const w of waiting) {
      if (w.commit <= upto) this.unlinkMessageFile(w.id);
      else this.unlinkWhenDurable(w.id, w.commit);
    }
  }

  /** A file goes only once the commit that removed its row is durable: else a power
   * loss could bring the row back without its file. Rows are removed by the latest
   * commit at the latest. */
  private unlinkWhenDurable(id: number, commit = this.commits): void {
    if (this.durableCommits >= commit) {
      this.unlinkMessageFile(id);
      return;
    }
    this.unlinkAfterSync.push({ id, commit });
    if (this.unlinkAfterSync.length === 1) {
      void this.durable().catch((e) => this.log.error('fsync of the database log failed', { err: String(e) }));
    }
  }

  get tmpDir(): string {
    return tmpDir(this.dir);
  }

  /**
   * A new empty file in tmp/ for an upload in progress, open for writing; pass its path
   * to append(). Files are created ahead, off the event loop: creating one is a journal
   * operation that waits behind other sessions' fsyncs (a quarter of the server's time
   * under 50 concurrent APPENDs when it was done here).
   */
  takeTmpFile(): { path: string; fd: number } {
    const f = this.tmpPool.pop();
    this.refillTmpPool();
    if (f) return f;
    const path = newTmpFile(this.dir);
    return { path, fd: openSync(path, 'wx', 0o600) };
  }

  private refillTmpPool(): void {
    while (!this.closed && this.tmpPool.length + this.tmpPending < TMP_POOL) {
      this.tmpPending++;
      const path = newTmpFile(this.dir);
      open(path, 'wx', 0o600, (err, fd) => {
        this.tmpPending--;
        if (err) return this.log.warn('creating an upload file failed', { err: String(err) });
        if (this.closed) {
          closeSync(fd);
          removeFile(path);
        } else {
          this.tmpPool.push({ path, fd });
        }
      });
    }
  }

  // ---- transactions and broadcast ----

  private write<T>(fn: (tx: Tx) => T): T {
    if (this.closed) throw new StoreError('SERVERBUG', 'account is closed');
    if (this.inWrite) throw new StoreError('SERVERBUG', 'nested store write');
    const tx = new Tx(() => this.s.nextModseq.get()!.modseq);
    const purged = this.unlinked.length;
    let result: T;
    this.inWrite = true;
    try {
      this.s.begin.run();
      try {
        if (purged) this.s.fileRemovalDone.run(JSON.stringify(this.unlinked.slice(0, purged)));
        result = fn(tx);
        this.s.commit.run();
        this.commits++;
      } catch (e) {
        if (this.db.inTransaction) this.s.rollback.run();
        this.tables.clear();
        for (const f of tx.onRollback) {
          try {
            f();
          } catch (e2) {
            this.log.error('cleanup after rollback failed', { err: String(e2) });
          }
        }
        throw e;
      }
    } finally {
      this.inWrite = false;
    }
    this.unlinked.splice(0, purged);
    for (const f of tx.afterCommit) {
      try {
        f();
      } catch (e) {
        this.log.error('work after commit failed', { err: String(e) });
      }
    }
    this.emit(tx.changes);
    return result;
  }

  private emit(changes: readonly Change[]): void {
    if (!changes.length) return;
    for (const l of [...this.listeners]) {
      try {
        l(changes);
      } catch (e) {
        this.log.error('change listener failed', { err: String(e), stack: (e as Error)?.stack });
      }
    }
  }

  /** Call `listener` with the changes of every later commit. Returns the unsubscribe function. */
  subscribeChanges(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- mailboxes ----

  private validName(name: string): string {
    const n = normalizeMailboxName(name);
    const problem = mailboxNameProblem(n);
    if (problem) throw new StoreError('CANNOT', problem);
    return n;
  }

  private row(mailboxId: number, missing: StoreErrorCode): MailboxRow {
    const r = this.s.mbById.get(mailboxId);
    if (!r) throw new StoreError(missing, 'mailbox does not exist');
    return r;
  }

  mailboxes(): MailboxInfo[] {
    return this.s.mbAll.all().map(mailboxInfo);
  }

  findMailbox(name: string): MailboxInfo | null {
    const r = this.s.mbByName.get(normalizeMailboxName(name));
    return r ? mailboxInfo(r) : null;
  }

  /** The mailbox, or StoreError(opts.missing): TRYCREATE for APPEND/COPY/MOVE targets,
   * NONEXISTENT for SELECT/STATUS and the like. */
  mailboxByName(name: string, opts: { missing: 'TRYCREATE' | 'NONEXISTENT' }): MailboxInfo {
    const m = this.findMailbox(name);
    if (!m) throw new StoreError(opts.missing, 'mailbox does not exist');
    return m;
  }

  mailboxById(id: number): MailboxInfo | null {
    const r = this.s.mbById.get(id);
    return r ? mailboxInfo(r) : null;
  }

  private insertMailbox(tx: Tx, name: string, specialUse: string[], subscribe: boolean, uidNext = 1): MailboxRow {
    const m = tx.modseq();
    const uv = this.s.nextUidValidity.get(Math.floor(tx.now / 1000))!.v;
    if (uv > 0xffffffff) throw new StoreError('SERVERBUG', 'uidvalidity space exhausted');
    const r = this.s.mbInsert.get(name, uv, uidNext, specialUse.join(' '), m, m, m)!;
    tx.changes.push({ kind: 'mailbox-created', mailboxId: r.id, name });
    if (subscribe && this.s.subAdd.run(name).changes) tx.changes.push({ kind: 'subscription', name, subscribed: true });
    return r;
  }

  /** Create the missing ancestors of `name`, outermost first. */
  private createParents(tx: Tx, name: string): void {
    for (const p of parentNames(name)) {
      if (!this.s.mbByName.get(p)) this.insertMailbox(tx, p, [], false);
    }
  }

  private createWithParents(tx: Tx, name: string, specialUse: string[], subscribe: boolean): MailboxRow {
    if (this.s.mbByName.get(name)) throw new StoreError('ALREADYEXISTS', 'mailbox already exists');
    this.createParents(tx, name);
    return this.insertMailbox(tx, name, specialUse, subscribe);
  }

  /**
   * CREATE (RFC 9051 §6.3.4, RFC 6154 §3): creates missing parents too. The protocol
   * layer strips the one trailing separator a client may send. Errors: CANNOT (invalid
   * name), USEATTR (special-use other than \All \Archive \Drafts \Flagged \Junk \Sent
   * \Trash), ALREADYEXISTS.
   */
  createMailbox(name: string, opts: { specialUse?: string[]; subscribe?: boolean } = {}): MailboxInfo {
    const n = this.validName(name);
    const uses = normalizeSpecialUse(opts.specialUse ?? []);
    if (!uses) throw new StoreError('USEATTR', 'unsupported special-use attribute');
    return mailboxInfo(this.write((tx) => this.createWithParents(tx, n, uses, opts.subscribe ?? false)));
  }

  /**
   * DELETE (RFC 9051 §6.3.5): INBOX cannot be deleted (CANNOT); a mailbox with inferior
   * names is refused (HASCHILDREN), like Dovecot, instead of becoming \Noselect. Its
   * messages go (files unlinked after commit, or when released by holds); its
   * subscription stays.
   */
  deleteMailbox(name: string): void {
    const n = normalizeMailboxName(name);
    if (isInbox(n)) throw new StoreError('CANNOT', 'INBOX cannot be deleted');
    this.write((tx) => {
      const mb = this.s.mbByName.get(n);
      if (!mb) throw new StoreError('NONEXISTENT', 'mailbox does not exist');
      if (this.s.mbHasChildren.get(n, n)) throw new StoreError('HASCHILDREN', 'mailbox has children, delete them first');
      const gone = this.s.msgDeleteMailbox.all(mb.id);
      this.tables.delete(mb.id);
      this.forgetFiles(tx, mb.id, gone, true);
      this.s.mbDelete.run(mb.id);
      tx.changes.push({ kind: 'mailbox-deleted', mailboxId: mb.id, name: n });
    });
  }

  /**
   * RENAME (RFC 9051 §6.3.6): renames inferiors and subscriptions along; creates missing
   * parents of the new name; the mailbox keeps its id and UIDVALIDITY. Renaming INBOX
   * moves its messages into a new mailbox (new UIDVALIDITY, same UIDs) and leaves INBOX
   * empty, with its children in place. Errors: NONEXISTENT, ALREADYEXISTS, CANNOT (invalid
   * name, or a new name below the old one). Returns the mailbox under its new name.
   */
  renameMailbox(from: string, to: string): MailboxInfo {
    const f = normalizeMailboxName(from);
    const t = this.validName(to);
    return mailboxInfo(this.write((tx) => {
      const src = this.s.mbByName.get(f);
      if (!src) throw new StoreError('NONEXISTENT', 'mailbox does not exist');
      if (this.s.mbByName.get(t)) throw new StoreError('ALREADYEXISTS', 'mailbox already exists');
      const inbox = isInbox(f);
      if (!inbox && isInferior(t, f)) throw new StoreError('CANNOT', 'cannot rename a mailbox to below itself');
      this.createParents(tx, t);
      if (inbox) return this.renameInbox(tx, src, t);
      const m = tx.modseq();
      const moves: Array<[MailboxRow, string]> = [[src, t]];
      for (const c of this.s.mbChildren.all(f, f)) moves.push([c, t + c.name.slice(f.length)]);
      for (const [mb, newName] of moves) {
        if (mb !== src) {
          const problem = mailboxNameProblem(newName);
          if (problem) throw new StoreError('CANNOT', problem);
          if (this.s.mbByName.get(newName)) throw new StoreError('ALREADYEXISTS', `mailbox ${newName} already exists`);
        }
        this.s.mbRename.run(newName, m, mb.id);
        this.s.subRename.run(newName, mb.name);
        tx.changes.push({ kind: 'mailbox-renamed', mailboxId: mb.id, oldName: mb.name, newName });
      }
      return this.s.mbById.get(src.id)!;
    }));
  }

  private renameInbox(tx: Tx, inbox: MailboxRow, to: string): MailboxRow {
    const dst = this.insertMailbox(tx, to, [], false, inbox.uid_next);
    const rows = this.s.msgAllSources.all(inbox.id);
    this.s.msgMoveAll.run(dst.id, inbox.id);
    this.tables.delete(inbox.id);
    this.s.kwCopyAll.run(dst.id, inbox.id);
    const c = sumCounts(rows);
    this.s.mbAddCounts.run(c.total, c.unseen, c.deleted, c.size, inbox.uid_next, tx.modseq(), dst.id);
    if (rows.length) this.removedFromMailbox(tx, inbox.id, rows, false);
    return this.s.mbById.get(dst.id)!;
  }

  subscribe(name: string): boolean {
    const n = this.validName(name);
    return this.write((tx) => {
      const changed = this.s.subAdd.run(n).changes > 0;
      if (changed) tx.changes.push({ kind: 'subscription', name: n, subscribed: true });
      return changed;
    });
  }

  unsubscribe(name: string): boolean {
    const n = normalizeMailboxName(name);
    return this.write((tx) => {
      const changed = this.s.subDel.run(n).changes > 0;
      if (changed) tx.changes.push({ kind: 'subscription', name: n, subscribed: false });
      return changed;
    });
  }

  subscriptions(): Set<string> {
    return new Set(this.s.subAll.all().map((r) => r.name));
  }

  /** Keywords ever used in the mailbox, sorted case-insensitively. */
  keywords(mailboxId: number): string[] {
    return this.s.kwList.all(mailboxId).map((r) => r.keyword);
  }

  // ---- counts ----

  /** STATUS material, from the incrementally kept counts. */
  counts(mailboxId: number): MailboxCounts {
    return mailboxCounts(this.row(mailboxId, 'NONEXISTENT'));
  }

  /**
   * Recompute counts, UIDNEXT (never lowered) and HIGHESTMODSEQ of one or all mailboxes
   * from their rows, store them, and report before and after (for the CLI and tests).
   */
  recalculateCounts(mailboxId?: number): RecalculatedCounts[] {
    return this.write(() => {
      const rows = mailboxId === undefined ? this.s.mbAll.all() : [this.row(mailboxId, 'NONEXISTENT')];
      return rows.map((mb) => {
        const r = this.s.mbRecount.get(mb.id)!;
        const x = this.s.mbRecountExpunged.get(mb.id)!;
        const uidNext = Math.max(mb.uid_next, r.max_uid + 1, x.max_uid + 1);
        const highest = Math.max(mb.createseq, mb.modseq, r.max_modseq, x.max_modseq);
        const after: MailboxRow = { ...mb, total: r.total, unseen: r.unseen, deleted: r.deleted, size: r.size, uid_next: uidNext, highest_modseq: highest };
        const wrong = (['total', 'unseen', 'deleted', 'size', 'uid_next', 'highest_modseq'] as const).some((k) => mb[k] !== after[k]);
        if (wrong) {
          this.s.mbSetCounts.run(r.total, r.unseen, r.deleted, r.size, uidNext, highest, mb.id);
          this.log.warn('mailbox counts were wrong', { mailbox: mb.name });
        }
        return { mailboxId: mb.id, name: mb.name, before: mailboxCounts(mb), after: mailboxCounts(after) };
      });
    });
  }

  // ---- messages ----

  /**
   * Append one message. The tmp file is synced, moved to msg/, its directory synced,
   * then the row commits. Errors: TRYCREATE (mailbox gone), CANNOT (bad keyword).
   */
  append(mailboxId: number, input: AppendInput): AppendResult {
    return this.appendMany(mailboxId, [input])[0];
  }

  /** MULTIAPPEND: all messages or none, in one transaction; results in input order. */
  appendMany(mailboxId: number, inputs: readonly AppendInput[]): AppendResult[] {
    try {
      for (const i of inputs) checkSize(i, syncFile(i.tmpPath));
      const out = this.write((tx) => {
        const dirty = new Set<string>();
        const out = this.insertAppends(tx, mailboxId, inputs, dirty);
        Buckets.syncDirty(dirty);
        return out;
      });
      this.durableNow();
      return out;
    } finally {
      for (const i of inputs) removeFile(i.tmpPath);
    }
  }

  /**
   * appendMany for a server with many sessions: the call joins the APPENDs of other
   * sessions that arrive in the same turn of the event loop. Their files are fsynced in
   * parallel off the event loop, then one transaction records them all (a savepoint per
   * call, so a failing call fails alone), with one fsync per directory and one WAL
   * commit. Each call is still all-or-nothing, and resolves only after the commit.
   */
  appendGrouped(mailboxId: number, inputs: readonly AppendInput[]): Promise<AppendResult[]> {
    return new Promise((resolve, reject) => {
      this.appendQueue.push({ mailboxId, inputs, resolve, reject, result: null, error: null, placed: [] });
      if (this.appendQueue.length === 1) setImmediate(() => void this.flushAppends());
    });
  }

  private async flushAppends(): Promise<void> {
    const jobs = this.appendQueue;
    this.appendQueue = [];
    // Files go to their final names first, under ids reserved for them, so that every
    // file and directory fsync of the group runs at once off the event loop; the rows
    // commit after. A crash before the commit leaves orphan files at ids never used again.
    const dirty = new Set<string>();
    const syncs: Array<Promise<unknown>> = [];
    for (const j of jobs) {
      try {
        const first = this.reserveIds(j.inputs.length);
        j.placed = j.inputs.map((inp, k) => {
          const id = first + k;
          const dest = this.buckets.prepare(id, dirty);
          moveFile(inp.tmpPath, dest);
          syncs.push(syncFileAsync(dest).then((size) => checkSize(inp, size)).catch((e) => { j.error ??= e; }));
          return { id, path: dest };
        });
      } catch (e) {
        j.error = e;
      }
    }
    for (const d of dirty) syncs.push(syncDirAsync(d).catch((e) => { for (const j of jobs) j.error ??= e; }));
    await Promise.all(syncs);
    const live = jobs.filter((j) => j.error === null);
    if (live.length) {
      try {
        this.write((tx) => {
          // Take the modseq before any savepoint, so a rolled-back call cannot undo it.
          tx.modseq();
          const dirty = new Set<string>();
          for (const j of live) {
            const changes = tx.changes.length;
            const undo = tx.onRollback.length;
            this.s.savepoint.run();
            try {
              j.result = this.insertAppends(tx, j.mailboxId, j.inputs, j.placed);
              this.s.releaseSavepoint.run();
            } catch (e) {
              this.s.rollbackSavepoint.run();
              this.s.releaseSavepoint.run();
              this.tables.delete(j.mailboxId);
              for (const f of tx.onRollback.splice(undo)) f();
              tx.changes.length = changes;
              j.error = e;
            }
          }
        });
      } catch (e) {
        for (const j of live) if (j.error === null) j.error = e;
      }
    }
    for (const j of jobs) {
      for (const i of j.inputs) removeFile(i.tmpPath);
      if (j.error !== null) for (const f of j.placed) removeFile(f.path);
    }
    if (live.some((j) => j.error === null)) {
      try {
        await this.durable();
      } catch (e) {
        for (const j of live) if (j.error === null) j.error = e;
      }
    }
    for (const j of jobs) {
      if (j.error !== null) j.reject(j.error);
      else j.resolve(j.result!);
    }
  }

  /** The first of `n` message ids that AUTOINCREMENT will never hand out again. Ids are
   * reserved by the block, one transaction per ID_BLOCK messages; ids left unused when
   * the account closes are gaps, which nothing minds. */
  private reserveIds(n: number): number {
    if (this.idEnd - this.idNext < n) {
      const take = Math.max(n, ID_BLOCK);
      const last = this.write(() => {
        this.s.seqEnsure.run();
        return this.s.seqReserve.get(take)!.seq;
      });
      this.idNext = last - take + 1;
      this.idEnd = last + 1;
    }
    const first = this.idNext;
    this.idNext += n;
    return first;
  }

  /**
   * Rows, files and counts of new messages, inside the caller's transaction. The files
   * are moved in here (their directories recorded in the `placed` set), unless `placed`
   * lists where each already is, under an id from reserveIds().
   */
  private insertAppends(tx: Tx, mailboxId: number, inputs: readonly AppendInput[], placed: ReadonlyArray<{ id: number }> | Set<string>): AppendResult[] {
    const kws = inputs.map((i) => checkKeywords(i.keywords));
    const mb = this.row(mailboxId, 'TRYCREATE');
    if (!inputs.length) return [];
    checkUidSpace(mb, inputs.length);
    const m = tx.modseq();
    const out: AppendResult[] = [];
    const used = new Set<string>();
    const flags = inputs.map((inp) => inp.flags & ALL_FLAGS);
    const table = this.tables.get(mailboxId);
    inputs.forEach((inp, i) => {
      const uid = mb.uid_next + i;
      const kw = kws[i].join(' ');
      const date = inp.internalDate ?? tx.now;
      const given = placed instanceof Set ? null : placed[i].id;
      const id = this.s.msgInsert.get(given, mailboxId, uid, m, flags[i], kw, inp.size, date, tx.now)!.id;
      table?.push(uid, flags[i], kw, inp.size, date, tx.now, m);
      if (inp.structure) this.s.dataInsert.run(id, JSON.stringify(inp.structure));
      if (inp.searchHeaders !== undefined) this.s.searchInsert.run(id, inp.searchHeaders);
      if (inp.rendered) this.s.renderInsert.run(id, inp.rendered);
      if (placed instanceof Set) {
        const dest = this.buckets.prepare(id, placed);
        moveFile(inp.tmpPath, dest);
        tx.onRollback.push(() => removeFile(dest));
      }
      out.push({ uid, uidValidity: mb.uid_validity, modseq: BigInt(m) });
      for (const k of kws[i]) used.add(k);
      tx.changes.push({ kind: 'added', mailboxId, uid, flags: flags[i], keywords: kws[i], modseq: BigInt(m) });
    });
    const c = sumCounts(inputs.map((inp, i) => ({ flags: flags[i], size: inp.size })));
    this.s.mbAddCounts.run(c.total, c.unseen, c.deleted, c.size, mb.uid_next + inputs.length, m, mailboxId);
    for (const k of used) this.s.kwAdd.run(mailboxId, k);
    return out;
  }

  /**
   * The mailbox's message metadata (table.ts), read from the database on first use and
   * kept current by this account's writes. Read-only for callers; valid until the next
   * write or await.
   */
  messageTable(mailboxId: number): MessageTable {
    const v = this.s.dataVersion.get()!.data_version;
    if (v !== this.tablesVersion) {
      this.tables.clear();
      this.tablesVersion = v;
    }
    let t = this.tables.get(mailboxId);
    if (!t) {
      t = MessageTable.fromRows(this.s.msgTable.values(mailboxId) as TableRow[]);
      this.tables.set(mailboxId, t);
    }
    return t;
  }

  /** All UIDs of the mailbox, ascending. */
  uids(mailboxId: number): Uint32Array {
    const t = this.messageTable(mailboxId);
    return t.uid.slice(0, t.n);
  }

  /** The same without a copy: the first `count` entries of `uids`, which the store never
   * changes in place (table.ts); the caller copies before writing to it. */
  sharedUids(mailboxId: number): { uids: Uint32Array; count: number } {
    const t = this.messageTable(mailboxId);
    return { uids: t.uid, count: t.n };
  }

  /** Messages by UID (all when `uids` is omitted), ascending; missing UIDs are skipped. */
  messages(mailboxId: number, uids?: ArrayLike<number>): StoredMessage[] {
    const t = this.messageTable(mailboxId);
    const out: StoredMessage[] = [];
    if (uids === undefined) {
      for (let i = 0; i < t.n; i++) out.push(storedMessage(t, i));
      return out;
    }
    let want = uids;
    for (let j = 1; j < want.length; j++) {
      if (want[j] <= want[j - 1]) {
        want = Array.from(uids).sort((x, y) => x - y);
        break;
      }
    }
    // Both ascending: one walk from the first UID asked for.
    let i = want.length ? t.lowerBound(want[0]) : 0;
    for (let j = 0; j < want.length; j++) {
      const u = want[j];
      if (j > 0 && u === want[j - 1]) continue;
      while (i < t.n && t.uid[i] < u) i++;
      if (i < t.n && t.uid[i] === u) out.push(storedMessage(t, i));
    }
    return out;
  }

  /** The parsed structures of these messages (stored at APPEND), by UID; `uids` ascending; missing UIDs are skipped. */
  structures(mailboxId: number, uids: ArrayLike<number>): Map<number, MessageInfo | null> {
    const out = new Map<number, MessageInfo | null>();
    for (const [uid, json] of byUid<string | null>(this.s.msgStructures, mailboxId, uids)) out.set(uid, json === null ? null : (JSON.parse(json) as MessageInfo));
    return out;
  }

  /** What AppendInput.rendered gave for these messages, by UID (null where none was
   * given); `uids` ascending; missing UIDs are skipped. */
  renderedItems(mailboxId: number, uids: ArrayLike<number>): Map<number, Uint8Array | null> {
    return byUid(this.s.msgRendered, mailboxId, uids);
  }

  /** The header fields recorded for SEARCH (message/searchheaders.ts), by UID; null for
   * messages stored before they were recorded; `uids` ascending; missing UIDs are skipped. */
  searchHeaders(mailboxId: number, uids: ArrayLike<number>): Map<number, string | null> {
    return byUid(this.s.msgSearchHeaders, mailboxId, uids);
  }

  /** Lowest UID without \Seen (IMAP4rev1 SELECT's UNSEEN), or null. */
  firstUnseenUid(mailboxId: number): number | null {
    const t = this.messageTable(mailboxId);
    for (let i = 0; i < t.n; i++) if (!(t.flags[i] & SysFlag.Seen)) return t.uid[i];
    return null;
  }

  message(mailboxId: number, uid: number): StoredMessage | null {
    const t = this.messageTable(mailboxId);
    const i = t.indexOf(uid);
    return i < 0 ? null : storedMessage(t, i);
  }

  /** Path of the message's file, also for an expunged UID a hold still keeps.
   * NONEXISTENT otherwise. */
  messagePath(mailboxId: number, uid: number): string {
    const r = this.s.msgId.get(mailboxId, uid);
    if (r) return messageFilePath(this.dir, r.id);
    for (const h of this.holds.get(mailboxId) ?? []) {
      const id = h.heldFile(uid);
      if (id !== undefined) return messageFilePath(this.dir, id);
    }
    throw new StoreError('NONEXISTENT', 'no such message');
  }

  /**
   * STORE (RFC 9051 §6.4.6, RFC 7162 §3.2). Messages whose flags and keywords end up
   * unchanged get no new modseq and are not returned; with `unchangedSince`, messages
   * with a higher modseq are left alone and listed in `result.modified`.
   */
  setFlags(mailboxId: number, uids: readonly number[], mode: FlagsMode, flags: number, keywords: readonly string[], opts: { unchangedSince?: bigint } = {}): SetFlagsResult {
    const kws = checkKeywords(keywords);
    const kwLower = new Set(kws.map((k) => k.toLowerCase()));
    const mask = flags & ALL_FLAGS;
    const since = opts.unchangedSince === undefined ? null : Number(opts.unchangedSince);
    const out = [] as FlagsUpdate[] as SetFlagsResult;
    out.modified = [];
    if (!uids.length) return out;
    return this.write((tx) => {
      this.row(mailboxId, 'NONEXISTENT');
      let dUnseen = 0;
      let dDeleted = 0;
      const table = this.tables.get(mailboxId);
      for (const r of this.s.msgForFlags.all(mailboxId, jsonUids(uids))) {
        if (since !== null && r.modseq > since) {
          out.modified.push(r.uid);
          continue;
        }
        const nf = mode === 'set' ? mask : mode === 'add' ? r.flags | mask : r.flags & ~mask;
        const ok = splitKeywords(r.keywords);
        const nk = applyKeywords(mode, ok, kws, kwLower);
        if (nf === r.flags && sameKeywords(ok, nk)) continue;
        const m = tx.modseq();
        const kw = nk.join(' ');
        this.s.msgSetFlags.run(nf, kw, m, r.id);
        table?.setFlags(r.uid, nf, kw, m);
        dUnseen += (r.flags & SysFlag.Seen ? 1 : 0) - (nf & SysFlag.Seen ? 1 : 0);
        dDeleted += (nf & SysFlag.Deleted ? 1 : 0) - (r.flags & SysFlag.Deleted ? 1 : 0);
        out.push({ uid: r.uid, flags: nf, keywords: nk, modseq: BigInt(m) });
        tx.changes.push({ kind: 'flags', mailboxId, uid: r.uid, flags: nf, keywords: nk, modseq: BigInt(m) });
      }
      if (out.length) {
        this.s.mbAddCounts.run(0, dUnseen, dDeleted, 0, 0, tx.modseq(), mailboxId);
        if (mode !== 'remove') for (const k of kws) this.s.kwAdd.run(mailboxId, k);
      }
      return out;
    });
  }

  /**
   * EXPUNGE / UID EXPUNGE (RFC 9051 §6.4.3, §6.4.9): removes the messages with \Deleted,
   * only among `uids` when given. Leaves tombstones; returns the UIDs, ascending.
   */
  expunge(mailboxId: number, uids?: readonly number[]): number[] {
    if (uids && !uids.length) return [];
    return this.write((tx) => {
      this.row(mailboxId, 'NONEXISTENT');
      const gone = uids ? this.s.msgExpungeSome.all(mailboxId, jsonUids(uids)) : this.s.msgExpungeAll.all(mailboxId);
      if (!gone.length) return [];
      gone.sort((a, b) => a.uid - b.uid);
      this.removedFromMailbox(tx, mailboxId, gone, true);
      return gone.map((g) => g.uid);
    });
  }

  /** What COPY and MOVE both start from: the destination, the source rows, the first new UID. */
  private transfer(tx: Tx, fromMailboxId: number, uids: readonly number[], toMailboxId: number) {
    this.row(fromMailboxId, 'NONEXISTENT');
    const dst = this.row(toMailboxId, 'TRYCREATE');
    const rows = uids.length ? this.s.msgSources.all(fromMailboxId, jsonUids(uids)) : [];
    if (rows.length) checkUidSpace(dst, rows.length);
    return { dst, rows, base: dst.uid_next, m: rows.length ? tx.modseq() : 0 };
  }

  /** COPY (RFC 9051 §6.4.7): new rows and hard-linked files; flags and keywords kept. */
  copy(fromMailboxId: number, uids: readonly number[], toMailboxId: number): CopyResult {
    return this.write((tx) => {
      const { dst, rows, base, m } = this.transfer(tx, fromMailboxId, uids, toMailboxId);
      if (!rows.length) return { uidValidity: dst.uid_validity, pairs: [] };
      const added = this.s.msgCopy.all(toMailboxId, base, m, tx.now, fromMailboxId, jsonUids(rows.map((r) => r.uid)));
      const dirty = new Set<string>();
      for (const a of added) {
        const source = rows[a.uid - base].id;
        for (const c of this.s.copyData) c.run(a.id, source);
        const from = messageFilePath(this.dir, source);
        const dest = this.buckets.prepare(a.id, dirty);
        linkFile(from, dest);
        tx.onRollback.push(() => removeFile(dest));
      }
      Buckets.syncDirty(dirty);
      return { uidValidity: dst.uid_validity, pairs: this.addedToMailbox(tx, toMailboxId, rows, base) };
    });
  }

  /** MOVE (RFC 6851): the rows change mailbox and UID (files stay); the source keeps
   * tombstones. Moving into the same mailbox is refused (CANNOT). */
  move(fromMailboxId: number, uids: readonly number[], toMailboxId: number): CopyResult {
    if (fromMailboxId === toMailboxId) throw new StoreError('CANNOT', 'source and destination are the same mailbox');
    return this.write((tx) => {
      const { dst, rows, base, m } = this.transfer(tx, fromMailboxId, uids, toMailboxId);
      if (!rows.length) return { uidValidity: dst.uid_validity, pairs: [] };
      this.s.msgMove.run(toMailboxId, base, m, tx.now, fromMailboxId, jsonUids(rows.map((r) => r.uid)));
      const pairs = this.addedToMailbox(tx, toMailboxId, rows, base);
      this.removedFromMailbox(tx, fromMailboxId, rows, false);
      return { uidValidity: dst.uid_validity, pairs };
    });
  }

  /** Counts, keywords and changes for `rows` (ascending source UIDs) now at UIDs base... */
  private addedToMailbox(tx: Tx, mailboxId: number, rows: SourceRow[], base: number): Array<[number, number]> {
    const m = tx.modseq();
    const c = sumCounts(rows);
    this.s.mbAddCounts.run(c.total, c.unseen, c.deleted, c.size, base + rows.length, m, mailboxId);
    const used = new Set<string>();
    const pairs: Array<[number, number]> = [];
    const table = this.tables.get(mailboxId);
    rows.forEach((r, i) => {
      table?.push(base + i, r.flags, r.keywords, r.size, r.internal_date, tx.now, m);
      const keywords = splitKeywords(r.keywords);
      for (const k of keywords) used.add(k);
      pairs.push([r.uid, base + i]);
      tx.changes.push({ kind: 'added', mailboxId, uid: base + i, flags: r.flags, keywords, modseq: BigInt(m) });
    });
    for (const k of used) this.s.kwAdd.run(mailboxId, k);
    return pairs;
  }

  /** Tombstones, counts, holds, file removal and the change for messages (ascending UIDs)
   * that left a mailbox. `rowsDeleted`: their rows are gone, so are their files. */
  private removedFromMailbox(tx: Tx, mailboxId: number, gone: GoneRow[], rowsDeleted: boolean): void {
    const m = tx.modseq();
    const uids = gone.map((g) => g.uid);
    this.tables.get(mailboxId)?.remove(uids);
    this.s.tombstones.run(mailboxId, m, JSON.stringify(uids));
    const c = sumCounts(gone);
    this.s.mbAddCounts.run(-c.total, -c.unseen, -c.deleted, -c.size, 0, m, mailboxId);
    this.forgetFiles(tx, mailboxId, gone, rowsDeleted);
    tx.changes.push({ kind: 'expunged', mailboxId, uids, modseq: BigInt(m) });
  }

  /** After commit: holds of the mailbox keep the files of `gone`; files of deleted rows
   * are unlinked unless held (and listed in file_removal until then). */
  private forgetFiles(tx: Tx, mailboxId: number, gone: GoneRow[], rowsDeleted: boolean): void {
    if (!gone.length) return;
    if (rowsDeleted) this.s.fileRemovalAdd.run(JSON.stringify(gone.map((g) => g.id)));
    tx.afterCommit.push(() => {
      for (const h of this.holds.get(mailboxId) ?? []) for (const g of gone) h.keep(g.uid, g.id);
      if (rowsDeleted) for (const g of gone) this.fileRefs.drop(g.id);
    });
  }

  private unlinkMessageFile(id: number): void {
    try {
      removeFile(messageFilePath(this.dir, id));
      this.unlinked.push(id);
    } catch (e) {
      this.log.error('removing message file failed', { id, err: String(e) });
    }
  }

  // ---- holds ----

  /** Hold a mailbox while a session has it selected; see the module header. */
  holdMailbox(mailboxId: number): MailboxHold {
    let set = this.holds.get(mailboxId);
    if (!set) this.holds.set(mailboxId, (set = new Set()));
    const h = new MailboxHold(mailboxId, this.fileRefs, (x) => {
      set.delete(x);
      if (!set.size && this.holds.get(mailboxId) === set) this.holds.delete(mailboxId);
    });
    set.add(h);
    return h;
  }
}
