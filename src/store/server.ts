// The server database, `<data_dir>/server.db`: domains, accounts and their
// password-derived secrets (never a password). Later migrations add TLS public keys and
// login attempts.
//
// Invariants:
// - Several processes use this file at once (the server and CLI commands): WAL mode, a
//   busy timeout, and every write in a BEGIN IMMEDIATE transaction, so writers queue
//   instead of failing on a lock upgrade.
// - Addresses are stored as `localpart@domain`, the domain lower-case ASCII (IDNA), the
//   localpart as given (NFC). Lookups ignore ASCII case: `Joe@x` and `joe@x` are one
//   account, so one of them cannot be created beside the other.
// - An account's directory is `<data_dir>/accounts/<address>`; validation keeps `/`,
//   `\` and leading dots out of addresses, so the path never leaves `accounts/`.
// - Secrets are derived before a write transaction begins (argon2id is slow).
// - MIGRATIONS[i] takes `PRAGMA user_version` i to i + 1, in one transaction with the
//   version bump; released migrations are never edited. A newer database is refused.

import { Database } from 'bun:sqlite';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { domainToASCII } from 'node:url';
import {
  type CramMd5Secret, type ScramHash, type ScramSecret, DUMMY_PASSWORD_HASH, decodeCramMd5, decodeScram,
  deriveSecrets, encodeCramMd5, encodeScram, verifyPasswordHash,
} from '../sasl/secrets.ts';

export const SERVER_DB_FILE = 'server.db';
export const ACCOUNTS_DIR = 'accounts';
const BUSY_TIMEOUT_MS = 10_000;

export type ServerDbErrorCode = 'INVALID' | 'NONEXISTENT' | 'EXISTS' | 'INUSE' | 'VERSION';

/** A refusal with a one-line message meant for the operator. */
export class ServerDbError extends Error {
  constructor(readonly code: ServerDbErrorCode, message: string) {
    super(message);
    this.name = 'ServerDbError';
  }
}

export interface DomainInfo {
  name: string;
  /** ms since epoch */
  created: number;
}

export interface AccountInfo {
  id: number;
  address: string;
  domain: string;
  /** ms since epoch */
  created: number;
  disabled: boolean;
}

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE domains (
    -- lower-case ASCII (IDNA A-labels)
    name TEXT PRIMARY KEY,
    created INTEGER NOT NULL
  );
  CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    address TEXT NOT NULL UNIQUE COLLATE NOCASE,
    domain TEXT NOT NULL REFERENCES domains(name),
    created INTEGER NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX accounts_domain ON accounts(domain);
  -- What each mechanism needs, derived from the password (src/sasl/secrets.ts encodings).
  CREATE TABLE secrets (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    -- PHC string, argon2id: PLAIN, LOGIN
    password_hash TEXT NOT NULL,
    -- "iterations,salt,StoredKey,ServerKey" (base64); NULL when SASLprep refused the password
    scram_sha1 TEXT,
    scram_sha256 TEXT,
    -- 64 hex digits: MD5 states after key^ipad and key^opad
    cram_md5 TEXT NOT NULL,
    updated INTEGER NOT NULL
  );
  `,
];

export const SERVER_DB_VERSION = MIGRATIONS.length;

// RFC 5322 atext without '/', plus '.' between atoms; any non-ASCII character except
// controls and spaces (SMTPUTF8 localparts).
const LOCALPART = /^[A-Za-z0-9!#$%&'*+\-=?^_`{|}~\u0080-\u{10FFFF}]+(\.[A-Za-z0-9!#$%&'*+\-=?^_`{|}~\u0080-\u{10FFFF}]+)*$/u;
const BAD_NON_ASCII = /[\u0080-\u009F\u00A0\u1680\u2000-\u200F\u2028-\u202F\u205F\u3000\uFEFF]/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** A domain name as stored: lower-case ASCII; throws ServerDbError INVALID. */
export function normalizeDomain(name: string): string {
  const bad = (why: string) => new ServerDbError('INVALID', `invalid domain ${JSON.stringify(name)}: ${why}`);
  const ascii = /^[\x21-\x7e]*$/.test(name) ? name.toLowerCase() : domainToASCII(name.normalize('NFC'));
  if (ascii === '') throw bad('expected a domain name such as example.org');
  const d = ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
  if (d.length > 253) throw bad('longer than 253 characters');
  if (/^[\d.]+$/.test(d) || d.startsWith('[')) throw bad('IP addresses are not domain names');
  for (const label of d.split('.')) {
    if (!LABEL.test(label)) throw bad('expected labels of letters, digits and hyphens, separated by dots');
  }
  return d;
}

/** `localpart@domain` as stored; throws ServerDbError INVALID. Does not check existence. */
export function normalizeAddress(address: string): { address: string; localpart: string; domain: string } {
  const at = address.lastIndexOf('@');
  const bad = (why: string) => new ServerDbError('INVALID', `invalid address ${JSON.stringify(address)}: ${why}`);
  if (at <= 0 || at === address.length - 1) throw bad('expected localpart@domain');
  const localpart = address.slice(0, at).normalize('NFC');
  if (new TextEncoder().encode(localpart).length > 64) throw bad('localpart longer than 64 bytes');
  if (!LOCALPART.test(localpart) || BAD_NON_ASCII.test(localpart)) {
    throw bad('the localpart may hold letters, digits and !#$%&\'*+-=?^_`{|}~, and dots between them');
  }
  let domain: string;
  try {
    domain = normalizeDomain(address.slice(at + 1));
  } catch (e) {
    throw bad((e as Error).message.replace(/^invalid domain "[^"]*": /, 'domain: '));
  }
  return { address: `${localpart}@${domain}`, localpart, domain };
}

interface AccountRow { id: number; address: string; domain: string; created: number; disabled: number }
const toAccount = (r: AccountRow): AccountInfo => ({ ...r, disabled: r.disabled !== 0 });

/** How long a verified login may be reused, and how many are kept. */
const LOGIN_CACHE_MS = 60 * 60 * 1000;
const LOGIN_CACHE_MAX = 100_000;
/** Per-process key of the login cache: nothing outside this process can compute its MACs. */
const LOGIN_CACHE_KEY = randomBytes(32);

function loginMac(passwordHash: string, password: string): Buffer {
  return createHmac('sha256', LOGIN_CACHE_KEY).update(passwordHash).update('\0').update(password).digest();
}

export class ServerDb {
  private constructor(readonly dataDir: string, private readonly db: Database) {}

  /** Open (creating and migrating as needed) `<dataDir>/server.db`. */
  static open(dataDir: string): ServerDb {
    const dir = resolve(dataDir);
    mkdirSync(join(dir, ACCOUNTS_DIR), { recursive: true, mode: 0o700 });
    const db = new Database(join(dir, SERVER_DB_FILE), { create: true, strict: true });
    try {
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = FULL');
      db.exec('PRAGMA foreign_keys = ON');
      migrate(db);
    } catch (e) {
      db.close();
      throw e;
    }
    return new ServerDb(dir, db);
  }

  close(): void {
    this.db.close();
  }

  schemaVersion(): number {
    return (this.db.query('PRAGMA user_version').get() as { user_version: number }).user_version;
  }

  // ---- domains ----

  addDomain(name: string): DomainInfo {
    const d = normalizeDomain(name);
    const info = { name: d, created: Date.now() };
    this.db.transaction(() => {
      if (this.db.query('SELECT 1 FROM domains WHERE name = ?').get(d)) {
        throw new ServerDbError('EXISTS', `domain ${d} already exists`);
      }
      this.db.query('INSERT INTO domains (name, created) VALUES (?, ?)').run(d, info.created);
    }).immediate();
    return info;
  }

  /** Refused while the domain has accounts. */
  removeDomain(name: string): void {
    const d = normalizeDomain(name);
    this.db.transaction(() => {
      if (!this.db.query('SELECT 1 FROM domains WHERE name = ?').get(d)) {
        throw new ServerDbError('NONEXISTENT', `domain ${d} does not exist`);
      }
      const n = (this.db.query('SELECT count(*) AS n FROM accounts WHERE domain = ?').get(d) as { n: number }).n;
      if (n > 0) throw new ServerDbError('INUSE', `domain ${d} still has ${n} account${n === 1 ? '' : 's'}; remove ${n === 1 ? 'it' : 'them'} first`);
      this.db.query('DELETE FROM domains WHERE name = ?').run(d);
    }).immediate();
  }

  domains(): DomainInfo[] {
    return this.db.query('SELECT name, created FROM domains ORDER BY name').all() as DomainInfo[];
  }

  // ---- accounts ----

  /** Create an account in an existing domain, with secrets derived from `password`. */
  addAccount(address: string, password: string): AccountInfo {
    const a = normalizeAddress(address);
    checkPassword(password);
    const dir = join(this.dataDir, ACCOUNTS_DIR, a.address);
    const check = () => {
      if (!this.db.query('SELECT 1 FROM domains WHERE name = ?').get(a.domain)) {
        throw new ServerDbError('NONEXISTENT', `domain ${a.domain} does not exist`);
      }
      const existing = this.db.query('SELECT address FROM accounts WHERE address = ?').get(a.address) as { address: string } | null;
      if (existing) throw new ServerDbError('EXISTS', `account ${existing.address} already exists`);
      // A leftover directory (a crash during removal) must not hand old mail to a new account.
      if (existsSync(dir)) throw new ServerDbError('EXISTS', `account directory ${dir} already exists; move it away first`);
    };
    check(); // fail fast, before the slow derivation; again below, under the write lock
    const secrets = deriveSecrets(password);
    const now = Date.now();
    const info = this.db.transaction((): AccountInfo => {
      check();
      const row = this.db.query('INSERT INTO accounts (address, domain, created) VALUES (?, ?, ?) RETURNING id')
        .get(a.address, a.domain, now) as { id: number };
      this.db.query(`INSERT INTO secrets (account_id, password_hash, scram_sha1, scram_sha256, cram_md5, updated)
        VALUES (?, ?, ?, ?, ?, ?)`).run(
        row.id, secrets.passwordHash,
        secrets.scramSha1 && encodeScram(secrets.scramSha1), secrets.scramSha256 && encodeScram(secrets.scramSha256),
        encodeCramMd5(secrets.cramMd5), now,
      );
      return { id: row.id, address: a.address, domain: a.domain, created: now, disabled: false };
    }).immediate();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return info;
  }

  /** Remove the account and delete its directory (mail included). */
  removeAccount(address: string): void {
    const a = normalizeAddress(address);
    const removed = this.db.transaction(() => {
      const row = this.db.query('SELECT id, address FROM accounts WHERE address = ?').get(a.address) as { id: number; address: string } | null;
      if (!row) throw new ServerDbError('NONEXISTENT', `account ${a.address} does not exist`);
      this.db.query('DELETE FROM secrets WHERE account_id = ?').run(row.id);
      this.db.query('DELETE FROM accounts WHERE id = ?').run(row.id);
      return row.address;
    }).immediate();
    rmSync(join(this.dataDir, ACCOUNTS_DIR, removed), { recursive: true, force: true });
  }

  setPassword(address: string, password: string): void {
    const a = normalizeAddress(address);
    checkPassword(password);
    this.accountId(a.address); // fail fast, before the slow derivation
    const s = deriveSecrets(password);
    this.db.transaction(() => {
      const id = this.accountId(a.address);
      this.db.query(`UPDATE secrets SET password_hash = ?, scram_sha1 = ?, scram_sha256 = ?, cram_md5 = ?, updated = ?
        WHERE account_id = ?`).run(
        s.passwordHash, s.scramSha1 && encodeScram(s.scramSha1), s.scramSha256 && encodeScram(s.scramSha256),
        encodeCramMd5(s.cramMd5), Date.now(), id,
      );
    }).immediate();
  }

  /** A disabled account keeps its mail but cannot log in. */
  setDisabled(address: string, disabled: boolean): void {
    const a = normalizeAddress(address);
    this.db.transaction(() => {
      this.db.query('UPDATE accounts SET disabled = ? WHERE id = ?').run(disabled ? 1 : 0, this.accountId(a.address));
    }).immediate();
  }

  /** All accounts, or those of one domain, by domain then address. */
  accounts(domain?: string): AccountInfo[] {
    const rows = domain === undefined
      ? this.db.query('SELECT id, address, domain, created, disabled FROM accounts ORDER BY domain, address').all()
      : this.db.query('SELECT id, address, domain, created, disabled FROM accounts WHERE domain = ? ORDER BY address').all(normalizeDomain(domain));
    return (rows as AccountRow[]).map(toAccount);
  }

  /** The account, looked up case-insensitively; null when it does not exist or the address is malformed. */
  account(address: string): AccountInfo | null {
    let norm: string;
    try {
      norm = normalizeAddress(address).address;
    } catch {
      return null;
    }
    const row = this.db.query('SELECT id, address, domain, created, disabled FROM accounts WHERE address = ?').get(norm) as AccountRow | null;
    return row ? toAccount(row) : null;
  }

  /**
   * Check a password for PLAIN/LOGIN. Takes as long for an unknown, malformed or disabled
   * account as for a real one (a dummy hash is checked instead), so timing does not tell
   * which accounts exist.
   */
  async verifyPassword(address: string, password: string): Promise<boolean> {
    const row = this.secretRow(address);
    const live = row !== null && row.disabled === 0;
    // A repeat of a login that succeeded recently skips the deliberately slow hash. The
    // entry is a keyed MAC of the stored hash and the password, so a password change or a
    // wrong password never matches it.
    const mac = live ? loginMac(row.password_hash, password) : null;
    const cached = live ? this.verified.get(address) : undefined;
    if (mac && cached && Date.now() - cached.at < LOGIN_CACHE_MS && timingSafeEqual(cached.mac, mac)) return true;
    const ok = await verifyPasswordHash(password, row?.password_hash ?? DUMMY_PASSWORD_HASH);
    if (!ok || !live || !mac) return false;
    this.verified.delete(address);
    this.verified.set(address, { mac, at: Date.now() });
    if (this.verified.size > LOGIN_CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    return true;
  }

  /** What SCRAM-SHA-1/256 needs; null for an unknown or disabled account or a password SASLprep refused. */
  scramSecret(address: string, hash: ScramHash): ScramSecret | null {
    const row = this.secretRow(address);
    const text = hash === 'SHA-1' ? row?.scram_sha1 : row?.scram_sha256;
    return row && row.disabled === 0 && text ? decodeScram(hash, text) : null;
  }

  /** What CRAM-MD5 needs; null for an unknown or disabled account. */
  cramMd5Secret(address: string): CramMd5Secret | null {
    const row = this.secretRow(address);
    return row && row.disabled === 0 ? decodeCramMd5(row.cram_md5) : null;
  }

  /** `<data_dir>/accounts/<address>`, with the address as stored when the account exists. */
  accountDir(address: string): string {
    const stored = this.account(address)?.address ?? normalizeAddress(address).address;
    return join(this.dataDir, ACCOUNTS_DIR, stored);
  }

  private accountId(address: string): number {
    const row = this.db.query('SELECT id FROM accounts WHERE address = ?').get(address) as { id: number } | null;
    if (!row) throw new ServerDbError('NONEXISTENT', `account ${address} does not exist`);
    return row.id;
  }

  /** Recent successful logins, oldest first (verifyPassword). */
  private verified = new Map<string, { mac: Buffer; at: number }>();

  private secretRow(address: string): SecretRow | null {
    let norm: string;
    try {
      norm = normalizeAddress(address).address;
    } catch {
      return null;
    }
    return this.db.query(`SELECT s.password_hash, s.scram_sha1, s.scram_sha256, s.cram_md5, a.disabled
      FROM accounts a JOIN secrets s ON s.account_id = a.id WHERE a.address = ?`).get(norm) as SecretRow | null;
  }
}

interface SecretRow {
  password_hash: string;
  scram_sha1: string | null;
  scram_sha256: string | null;
  cram_md5: string;
  disabled: number;
}

function checkPassword(password: string): void {
  if (password.length === 0) throw new ServerDbError('INVALID', 'the password is empty');
  if (/[\r\n\x00]/.test(password)) throw new ServerDbError('INVALID', 'the password contains a line break or NUL, which IMAP LOGIN cannot send');
}

function migrate(db: Database): void {
  const version = () => (db.query('PRAGMA user_version').get() as { user_version: number }).user_version;
  if (version() === MIGRATIONS.length) return;
  db.transaction(() => {
    // Read again inside the lock: another process may have migrated meanwhile.
    let v = version();
    if (v > MIGRATIONS.length) {
      throw new ServerDbError('VERSION', `server.db has schema version ${v}, newer than this postern (${MIGRATIONS.length}); upgrade postern`);
    }
    for (; v < MIGRATIONS.length; v++) {
      db.exec(MIGRATIONS[v]);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    }
  }).immediate();
}
