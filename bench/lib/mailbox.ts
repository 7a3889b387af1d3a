// Filled mailboxes for the read scenarios: the corpus appended to postern, and the same
// messages written as a Dovecot maildir, both cached under bench/.cache/ so that later
// runs only copy (postern) or reuse (Dovecot) them.
//
// Invariants:
// - UID n holds corpus message n-1 on both servers, with the same flags, INTERNALDATE and
//   RFC822.SIZE, so result counts can be checked across servers.
// - postern is filled through IMAP only: MULTIAPPEND commands with LITERAL+, pipelined,
//   one connection per account, in worker processes. The cache key covers the source
//   of the server (every non-test file under src/), the corpus and the accounts, so a
//   change to the server's storage or parsing refills it.
// - The Dovecot maildir is written directly (setup, not a measured figure): files in cur/
//   with LF line endings as Dovecot stores them, `,S=<size>,W=<size with CRLF>` in the
//   name, flags in the `:2,` suffix, the file time as INTERNALDATE, and a dovecot-uidlist
//   fixing the UIDs. Dovecot builds its index on first access; the scenarios warm up first.
// - A cache entry is complete only once its marker file exists; anything else is rebuilt.

import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type Corpus, corpusName, readMessages } from './corpus.ts';
import { startWorkers, results } from './pool.ts';
import { type BenchUser, REPO, startPostern } from './targets.ts';

const MARK = '.complete';

/** Hash of the server's source: every non-test .ts under src/, and package.json. */
export function sourceHash(): string {
  const h = new Bun.CryptoHasher('sha256');
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
        h.update(relative(REPO, p));
        h.update(readFileSync(p));
      }
    }
  };
  walk(join(REPO, 'src'));
  h.update(readFileSync(join(REPO, 'package.json')));
  return h.digest('hex').slice(0, 16);
}

/** Where a corpus index lives next to its data. */
export function indexPath(c: Corpus): string {
  return c.datPath.replace(/\.dat$/, '.json');
}

export interface Slice { user: BenchUser; from: number; to: number }

/**
 * A postern data dir with `slices` appended (user gets corpus [from, to) into INBOX),
 * from the cache or filled now. Returns the cached dir: copy it before serving it.
 */
export async function posternFilled(cacheDir: string, corpus: Corpus, slices: Slice[], log: (m: string) => void): Promise<{ dir: string; cached: boolean; seconds: number }> {
  const t0 = performance.now();
  const key = new Bun.CryptoHasher('sha256').update(JSON.stringify([corpusName(corpus.index.count), slices.map((s) => [s.user.user, s.user.password, s.from, s.to])])).digest('hex').slice(0, 12);
  const dir = join(cacheDir, `postern-${sourceHash()}-${key}`);
  if (existsSync(join(dir, MARK))) return { dir: join(dir, 'data'), cached: true, seconds: (performance.now() - t0) / 1000 };
  // Older fills of other source versions are of no use any more.
  for (const e of existsSync(cacheDir) ? readdirSync(cacheDir) : []) {
    if (e.startsWith('postern-') && e.endsWith(`-${key}`) && e !== `postern-${sourceHash()}-${key}`) rmSync(join(cacheDir, e), { recursive: true, force: true });
  }
  rmSync(dir, { recursive: true, force: true });
  const staging = `${dir}.tmp${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const total = slices.reduce((n, s) => n + s.to - s.from, 0);
  log(`  filling postern with ${total} messages for ${slices.length} account(s) (MULTIAPPEND, LITERAL+, pipelined; cached afterwards)`);
  const target = await startPostern({ users: slices.map((s) => s.user), dataDir: join(staging, 'data'), createAccounts: true });
  try {
    const cores = navigator.hardwareConcurrency || 2;
    // One connection per account, at most a few worker processes at a time.
    const groups: Slice[][] = [];
    for (let i = 0; i < slices.length; i += cores) groups.push(slices.slice(i, i + cores));
    for (const g of groups) {
      const jobs = g.map((s) => ({ kind: 'fill', port: target.port, user: s.user, datPath: corpus.datPath, indexPath: indexPath(corpus), from: s.from, to: s.to, window: 4, batch: 100 }));
      const { workers, readyCpu } = await startWorkers(jobs, 120_000);
      for (const w of workers) w.send({ type: 'go' });
      await results(workers, readyCpu, 3_600_000);
    }
  } finally {
    await target.stop();
  }
  writeFileSync(join(staging, MARK), new Date().toISOString());
  renameSync(staging, dir);
  const seconds = (performance.now() - t0) / 1000;
  log(`  filled in ${seconds.toFixed(1)} s`);
  return { dir: join(dir, 'data'), cached: false, seconds };
}

/** Copy a cached data dir to a fresh place under `parent`. */
export function freshCopy(from: string, to: string): void {
  cpSync(from, to, { recursive: true });
}

function lf(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  let j = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 13 && bytes[i + 1] === 10) continue;
    out[j++] = b;
  }
  return out.subarray(0, j);
}

const FLAG_LETTERS: Record<string, string> = { '\\Draft': 'D', '\\Flagged': 'F', '\\Answered': 'R', '\\Seen': 'S', '\\Deleted': 'T' };

/** Write corpus [from, to) as a maildir at `<home>/Maildir` with UIDs 1.. in order. */
export function writeMaildir(home: string, corpus: Corpus, from: number, to: number, uidValidity = 1_700_000_000): void {
  const md = join(home, 'Maildir');
  for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(md, d), { recursive: true });
  const lines: string[] = [];
  const CHUNK = 1000;
  for (let b = from; b < to; b += CHUNK) {
    const msgs = readMessages(corpus, b, Math.min(to, b + CHUNK));
    msgs.forEach((m, k) => {
      const n = b + k;
      const body = lf(m);
      const date = corpus.index.dates[n];
      const base = `${Math.floor(date / 1000)}.M${n}P${process.pid}.bench,S=${body.length},W=${m.length}`;
      const flags = corpus.index.flags[n].map((f) => FLAG_LETTERS[f] ?? '').sort().join('');
      const path = join(md, 'cur', `${base}:2,${flags}`);
      const fd = openSync(path, 'w', 0o600);
      let w = 0;
      while (w < body.length) w += writeSync(fd, body, w, body.length - w);
      closeSync(fd);
      utimesSync(path, date / 1000, date / 1000);
      lines.push(`${n - from + 1} :${base}`);
    });
  }
  const guid = new Bun.CryptoHasher('md5').update(`${home}:${from}:${to}`).digest('hex');
  writeFileSync(join(md, 'dovecot-uidlist'), `3 V${uidValidity} N${to - from + 1} G${guid}\n${lines.join('\n')}\n`);
}

/**
 * A Dovecot base dir whose users have their slices as maildirs, cached (kept across
 * runs: Dovecot's own index files accumulate in it, as on a real server).
 */
export function dovecotFilled(cacheDir: string, corpus: Corpus, slices: Slice[], log: (m: string) => void): { dir: string; cached: boolean; seconds: number } {
  const t0 = performance.now();
  const key = new Bun.CryptoHasher('sha256').update(JSON.stringify([corpusName(corpus.index.count), slices.map((s) => [s.user.user, s.from, s.to])])).digest('hex').slice(0, 12);
  const dir = join(cacheDir, `dovecot-${key}`);
  if (existsSync(join(dir, MARK)) && slices.every((s) => existsSync(join(dir, 'mail', s.user.user, 'Maildir', 'dovecot-uidlist')))) {
    return { dir, cached: true, seconds: (performance.now() - t0) / 1000 };
  }
  rmSync(dir, { recursive: true, force: true });
  log(`  writing the Dovecot maildir(s): ${slices.reduce((n, s) => n + s.to - s.from, 0)} messages (cached afterwards)`);
  writeMaildirs(dir, corpus, slices);
  writeFileSync(join(dir, MARK), new Date().toISOString());
  return { dir, cached: false, seconds: (performance.now() - t0) / 1000 };
}

/** Maildirs for each slice under `<dir>/mail/<user>` (an uncached, fresh base dir). */
export function writeMaildirs(dir: string, corpus: Corpus, slices: Slice[]): void {
  for (const s of slices) writeMaildir(join(dir, 'mail', s.user.user), corpus, s.from, s.to);
}

/** Bytes under a directory (for the setup notes). */
export function duBytes(dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else try { n += statSync(p).size; } catch { /* gone */ }
    }
  };
  if (existsSync(dir)) walk(dir);
  return n;
}
