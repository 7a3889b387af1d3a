// The account database schema and its migrations.
//
// MIGRATIONS[i] takes a database at `PRAGMA user_version` i to i + 1. Migrations are
// append-only: a released migration is never edited; a change is a new entry. Each runs
// in its own transaction together with the user_version bump, so a crash mid-migration
// leaves the previous version intact. A database newer than this code is refused.
//
// Conventions:
// - One modseq counter per account (`account.modseq`, the last one handed out). Every
//   write transaction that changes something takes exactly one new modseq and stamps it
//   on everything it touched (messages, tombstones, mailboxes, annotations).
// - `mailbox.highest_modseq` = max(createseq, modseq, its messages' and tombstones'
//   modseq); `total`, `unseen`, `deleted` and `size` are kept by every write;
//   Account.recalculateCounts() recomputes all of them from the rows.
// - A message row's file is `msg/<bucket>/<id>` (see files.ts). Ids come from
//   AUTOINCREMENT and are never reused, so a file at a fresh id is always an orphan.
// - `file_removal` lists message ids whose rows are gone but whose files may still
//   exist (held by a session, or not yet unlinked); they are unlinked once released and
//   at the next open after a crash.

import type { Database } from 'bun:sqlite';

const V1 = `
CREATE TABLE account (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  modseq INTEGER NOT NULL,
  -- the next UIDVALIDITY to hand out, at least the current time in seconds
  uidvalidity_next INTEGER NOT NULL,
  created INTEGER NOT NULL
);

CREATE TABLE mailbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  uid_validity INTEGER NOT NULL,
  uid_next INTEGER NOT NULL DEFAULT 1,
  -- space-separated special-use attributes, e.g. '\\Sent'
  special_use TEXT NOT NULL DEFAULT '',
  modseq INTEGER NOT NULL,
  createseq INTEGER NOT NULL,
  highest_modseq INTEGER NOT NULL,
  total INTEGER NOT NULL DEFAULT 0,
  unseen INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0,
  size INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE message (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  mailbox_id INTEGER NOT NULL REFERENCES mailbox(id),
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  createseq INTEGER NOT NULL,
  -- SysFlag bitmask
  flags INTEGER NOT NULL,
  -- space-separated keywords, unique case-insensitively
  keywords TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL,
  -- ms since epoch
  internal_date INTEGER NOT NULL,
  save_date INTEGER NOT NULL,
  -- parsed structure (envelope, bodystructure, part offsets), filled at delivery later
  -- (moved to message_data by V2)
  structure BLOB
);
CREATE UNIQUE INDEX message_uid ON message (mailbox_id, uid);
CREATE INDEX message_modseq ON message (mailbox_id, modseq);

-- Expunged messages, for QRESYNC VANISHED.
CREATE TABLE expunged (
  mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);

-- Every keyword ever used in a mailbox (PERMANENTFLAGS, FLAGS).
CREATE TABLE mailbox_keyword (
  mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
  keyword TEXT NOT NULL COLLATE NOCASE,
  PRIMARY KEY (mailbox_id, keyword)
) WITHOUT ROWID;

-- Subscriptions name mailboxes that need not exist.
CREATE TABLE subscription (
  name TEXT PRIMARY KEY
) WITHOUT ROWID;

-- METADATA (RFC 5464): mailbox_id NULL for server/account annotations.
CREATE TABLE annotation (
  id INTEGER PRIMARY KEY,
  mailbox_id INTEGER REFERENCES mailbox(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  value BLOB,
  is_text INTEGER NOT NULL DEFAULT 1,
  modseq INTEGER NOT NULL,
  createseq INTEGER NOT NULL
);
CREATE UNIQUE INDEX annotation_key ON annotation (ifnull(mailbox_id, 0), name);

CREATE TABLE file_removal (
  message_id INTEGER PRIMARY KEY
);
`;

// The structure and the search headers move out of the message row: rows of a few
// dozen bytes keep whole-mailbox scans (flag SEARCH, FETCH of flags, SELECT) on few pages,
// where a 2 KB structure inline made each leaf page hold two messages.
const V2 = `
CREATE TABLE message_data (
  message_id INTEGER PRIMARY KEY,
  -- parsed structure (envelope, bodystructure, part offsets) as JSON
  structure BLOB,
  -- the header fields SEARCH reads most (see searchheaders.ts), NULL when not recorded
  search_headers TEXT
);
INSERT INTO message_data (message_id, structure) SELECT id, structure FROM message WHERE structure IS NOT NULL;
ALTER TABLE message DROP COLUMN structure;
CREATE TRIGGER message_data_gone AFTER DELETE ON message BEGIN
  DELETE FROM message_data WHERE message_id = old.id;
END;
`;

// SQLite reads a column by walking the record past the ones before it, overflow pages
// included: search_headers behind a 2 KB structure cost a page chain per message. Each
// per-message value a whole-mailbox command reads gets its own table of small rows:
// message_search for SEARCH, message_render for ENVELOPE/BODY/BODYSTRUCTURE as the IMAP
// layer renders them (opaque here; imap/bodystructure.ts renderStructure), absent for
// older rows and for messages whose rendering depends on the session.
const V3 = `
CREATE TABLE message_search (
  message_id INTEGER PRIMARY KEY,
  headers TEXT NOT NULL
);
INSERT INTO message_search (message_id, headers) SELECT message_id, search_headers FROM message_data WHERE search_headers IS NOT NULL;
ALTER TABLE message_data DROP COLUMN search_headers;
CREATE TABLE message_render (
  message_id INTEGER PRIMARY KEY,
  items BLOB NOT NULL
);
DROP TRIGGER message_data_gone;
CREATE TRIGGER message_gone AFTER DELETE ON message BEGIN
  DELETE FROM message_data WHERE message_id = old.id;
  DELETE FROM message_search WHERE message_id = old.id;
  DELETE FROM message_render WHERE message_id = old.id;
END;
`;

export const MIGRATIONS: ReadonlyArray<(db: Database) => void> = [
  (db) => db.exec(V1),
  (db) => db.exec(V2),
  (db) => db.exec(V3),
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Bring the database to SCHEMA_VERSION. Returns the version it was at. */
export function migrate(db: Database): number {
  const row = db.query('PRAGMA user_version').get() as { user_version: number };
  const from = row.user_version;
  if (from > SCHEMA_VERSION) {
    throw new Error(`account database has schema version ${from}, newer than this postern (${SCHEMA_VERSION})`);
  }
  for (let v = from; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      MIGRATIONS[v](db);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    }).immediate();
  }
  return from;
}
