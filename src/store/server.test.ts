import { afterEach, beforeEach, describe, expect, test, spyOn } from 'bun:test';
import { Database } from 'bun:sqlite';
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cramMd5Digest } from '../sasl/secrets.ts';
import { SERVER_DB_VERSION, ServerDb, ServerDbError, normalizeAddress, normalizeDomain } from './server.ts';

let dir: string;
let db: ServerDb;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'postern-serverdb-'));
  db = ServerDb.open(dir);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ServerDbError);
    expect((e as Error).message).not.toContain('\n');
    return (e as ServerDbError).code;
  }
  throw new Error('expected a ServerDbError');
}

describe('validation', () => {
  test('domains are lower-cased ASCII', () => {
    expect(normalizeDomain('Example.ORG')).toBe('example.org');
    expect(normalizeDomain('example.org.')).toBe('example.org');
    expect(normalizeDomain('Bücher.example')).toBe('xn--bcher-kva.example');
    for (const bad of ['', 'a..b', '-a.b', 'a_b.c', '1.2.3.4', '[::1]', 'a b', 'x'.repeat(64) + '.org']) {
      expect(code(() => normalizeDomain(bad))).toBe('INVALID');
    }
  });
  test('addresses are localpart@domain with a safe localpart', () => {
    expect(normalizeAddress('Joe.Bloggs@Example.ORG').address).toBe('Joe.Bloggs@example.org');
    expect(normalizeAddress("o'neil+tag@example.org").localpart).toBe("o'neil+tag");
    expect(normalizeAddress('jörg@example.org').address).toBe('jörg@example.org');
    for (const bad of ['', 'joe', '@example.org', 'joe@', 'a/b@example.org', '../x@example.org', '.joe@example.org',
      'joe.@example.org', 'jo..e@example.org', 'jo e@example.org', 'a\\b@example.org', 'x'.repeat(65) + '@example.org', 'joe@ex ample.org']) {
      expect(code(() => normalizeAddress(bad))).toBe('INVALID');
    }
    try { normalizeAddress('joe'); } catch (e) { expect((e as Error).message).toBe('invalid address "joe": expected localpart@domain'); }
  });
});

describe('domains', () => {
  test('add, list, remove; duplicates and unknown refused', () => {
    db.addDomain('Example.org');
    db.addDomain('b.example');
    expect(db.domains().map((d) => d.name)).toEqual(['b.example', 'example.org']);
    expect(code(() => db.addDomain('EXAMPLE.org'))).toBe('EXISTS');
    db.removeDomain('b.example');
    expect(db.domains().map((d) => d.name)).toEqual(['example.org']);
    expect(code(() => db.removeDomain('b.example'))).toBe('NONEXISTENT');
  });
  test('a domain with accounts cannot be removed', () => {
    db.addDomain('example.org');
    db.addAccount('a@example.org', 'pw');
    expect(code(() => db.removeDomain('example.org'))).toBe('INUSE');
    db.removeAccount('a@example.org');
    db.removeDomain('example.org');
  });
});

describe('accounts', () => {
  beforeEach(() => { db.addDomain('example.org'); });

  test('add needs an existing domain, a valid address and a usable password', () => {
    expect(code(() => db.addAccount('a@nowhere.example', 'pw'))).toBe('NONEXISTENT');
    expect(code(() => db.addAccount('a/b@example.org', 'pw'))).toBe('INVALID');
    expect(code(() => db.addAccount('a@example.org', ''))).toBe('INVALID');
    expect(code(() => db.addAccount('a@example.org', 'x\ny'))).toBe('INVALID');
    expect(db.accounts()).toEqual([]);
  });

  test('add, look up case-insensitively, list, remove', () => {
    const a = db.addAccount('Joe@EXAMPLE.org', 'secret');
    expect(a.address).toBe('Joe@example.org');
    expect(a.domain).toBe('example.org');
    expect(a.disabled).toBe(false);
    expect(db.account('joe@example.org')?.address).toBe('Joe@example.org');
    expect(db.account('nobody@example.org')).toBeNull();
    expect(db.account('not an address')).toBeNull();
    expect(code(() => db.addAccount('JOE@example.org', 'x'))).toBe('EXISTS');
    db.addAccount('amy@example.org', 'x');
    expect(db.accounts().map((x) => x.address)).toEqual(['amy@example.org', 'Joe@example.org']);
    expect(db.accounts('example.org').length).toBe(2);
    const d = db.accountDir('joe@example.org');
    expect(d).toBe(join(dir, 'accounts', 'Joe@example.org'));
    expect(existsSync(d)).toBe(true);
    writeFileSync(join(d, 'mail'), 'x');
    db.removeAccount('joe@example.org');
    expect(existsSync(d)).toBe(false);
    expect(db.account('joe@example.org')).toBeNull();
    expect(code(() => db.removeAccount('joe@example.org'))).toBe('NONEXISTENT');
  });

  test('a leftover account directory is not handed to a new account', () => {
    mkdirSync(join(dir, 'accounts', 'old@example.org'), { recursive: true });
    expect(code(() => db.addAccount('old@example.org', 'pw'))).toBe('EXISTS');
    expect(db.account('old@example.org')).toBeNull();
  });

  test('a repeated successful login skips the slow hash; a wrong password or a new one never hits the cache', async () => {
    db.addAccount('cache@example.org', 'right');
    const spy = spyOn(Bun.password, 'verify');
    try {
      expect(await db.verifyPassword('cache@example.org', 'right')).toBe(true);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(await db.verifyPassword('cache@example.org', 'right')).toBe(true);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(await db.verifyPassword('cache@example.org', 'wrong')).toBe(false);
      expect(spy).toHaveBeenCalledTimes(2);
      db.setPassword('cache@example.org', 'changed');
      expect(await db.verifyPassword('cache@example.org', 'right')).toBe(false);
      db.setDisabled('cache@example.org', true);
      expect(await db.verifyPassword('cache@example.org', 'changed')).toBe(false);
    } finally {
      spy.mockRestore();
    }
  });

  test('passwords verify; setPassword replaces every secret', async () => {
    db.addAccount('joe@example.org', 'first');
    expect(await db.verifyPassword('joe@example.org', 'first')).toBe(true);
    expect(await db.verifyPassword('JOE@Example.org', 'first')).toBe(true);
    expect(await db.verifyPassword('joe@example.org', 'First')).toBe(false);
    expect(await db.verifyPassword('nobody@example.org', 'first')).toBe(false);
    expect(await db.verifyPassword('garbage', 'first')).toBe(false);
    const scram1 = db.scramSecret('joe@example.org', 'SHA-256');
    db.setPassword('joe@example.org', 'second');
    expect(await db.verifyPassword('joe@example.org', 'first')).toBe(false);
    expect(await db.verifyPassword('joe@example.org', 'second')).toBe(true);
    expect(db.scramSecret('joe@example.org', 'SHA-256')).not.toEqual(scram1);
    const want = createHmac('md5', 'second').update('<1.2@host>').digest('hex');
    expect(cramMd5Digest(db.cramMd5Secret('joe@example.org')!, '<1.2@host>')).toBe(want);
    expect(db.scramSecret('joe@example.org', 'SHA-1')?.iterations).toBeGreaterThanOrEqual(4096);
    expect(code(() => db.setPassword('nobody@example.org', 'x'))).toBe('NONEXISTENT');
  });

  test('a disabled account cannot log in by any mechanism', async () => {
    db.addAccount('joe@example.org', 'pw');
    db.setDisabled('joe@example.org', true);
    expect(db.account('joe@example.org')?.disabled).toBe(true);
    expect(await db.verifyPassword('joe@example.org', 'pw')).toBe(false);
    expect(db.scramSecret('joe@example.org', 'SHA-1')).toBeNull();
    expect(db.cramMd5Secret('joe@example.org')).toBeNull();
    db.setDisabled('joe@example.org', false);
    expect(await db.verifyPassword('joe@example.org', 'pw')).toBe(true);
  });

  test('unknown accounts take about as long to refuse as wrong passwords', async () => {
    db.addAccount('joe@example.org', 'pw');
    const time = async (addr: string) => {
      const t = performance.now();
      await db.verifyPassword(addr, 'wrong');
      return performance.now() - t;
    };
    await time('joe@example.org');
    const known = Math.min(await time('joe@example.org'), await time('joe@example.org'));
    const unknown = Math.min(await time('nobody@example.org'), await time('nobody@example.org'));
    expect(unknown).toBeGreaterThan(known * 0.5);
  });

  test('no password or password-like text is stored', () => {
    db.addAccount('joe@example.org', 'hunter2-very-secret');
    db.close();
    const raw = readFileSync(join(dir, 'server.db'));
    const wal = existsSync(join(dir, 'server.db-wal')) ? readFileSync(join(dir, 'server.db-wal')) : Buffer.alloc(0);
    expect(raw.includes('hunter2')).toBe(false);
    expect(wal.includes('hunter2')).toBe(false);
    db = ServerDb.open(dir);
  });
});

describe('database', () => {
  test('WAL, synchronous=FULL, schema version', () => {
    const raw = new Database(join(dir, 'server.db'));
    expect((raw.query('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode).toBe('wal');
    expect((raw.query('PRAGMA user_version').get() as { user_version: number }).user_version).toBe(SERVER_DB_VERSION);
    raw.close();
    expect(db.schemaVersion()).toBe(SERVER_DB_VERSION);
  });

  test('a second handle (another process) sees writes at once', () => {
    const other = ServerDb.open(dir);
    try {
      db.addDomain('example.org');
      expect(other.domains().map((d) => d.name)).toEqual(['example.org']);
      other.addAccount('x@example.org', 'pw');
      expect(db.account('x@example.org')).not.toBeNull();
    } finally {
      other.close();
    }
  });

  test('a database newer than the code is refused', () => {
    db.close();
    const raw = new Database(join(dir, 'server.db'));
    raw.exec(`PRAGMA user_version = ${SERVER_DB_VERSION + 1}`);
    raw.close();
    expect(() => ServerDb.open(dir)).toThrow(/newer than this postern/);
    const fix = new Database(join(dir, 'server.db'));
    fix.exec(`PRAGMA user_version = ${SERVER_DB_VERSION}`);
    fix.close();
    db = ServerDb.open(dir);
  });
});
