// Message files of an account: paths, durable writes, removal.
//
//   <accountDir>/index.db           the account database (schema.ts)
//   <accountDir>/msg/<bucket>/<id>  one file per message row, bucket = floor(id / 1000)
//   <accountDir>/tmp/<pid>.<n>.<r>  uploads in progress (e.g. a streamed APPEND literal)
//
// Invariants:
// - A message file is durable (data fsynced, then its directory entry fsynced) before the
//   transaction recording its row commits. A crash leaves at most an orphan file.
// - tmp/ and msg/ are on one file system, so taking over an upload is a rename.
// - A tmp file whose name carries the pid of a dead process, or that is older than
//   TMP_MAX_AGE_MS, is stale and removed when the account is opened.

import { closeSync, copyFileSync, fdatasync, fdatasyncSync, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

export const MSG_DIR = 'msg';
export const TMP_DIR = 'tmp';
export const DB_FILE = 'index.db';
const BUCKET_SIZE = 1000;
export const TMP_MAX_AGE_MS = 24 * 3600 * 1000;

export function msgDir(accountDir: string): string {
  return join(accountDir, MSG_DIR);
}

export function tmpDir(accountDir: string): string {
  return join(accountDir, TMP_DIR);
}

export function bucketDir(accountDir: string, messageId: number): string {
  return join(accountDir, MSG_DIR, String(Math.floor(messageId / BUCKET_SIZE)));
}

export function messageFilePath(accountDir: string, messageId: number): string {
  return join(bucketDir(accountDir, messageId), String(messageId));
}

let tmpCounter = 0;

/** A fresh path in tmp/ (not created). Unique within the account across processes. */
export function newTmpFile(accountDir: string): string {
  const rand = Math.floor(Math.random() * 0x100000000).toString(36);
  return join(tmpDir(accountDir), `${process.pid}.${++tmpCounter}.${rand}`);
}

/** fdatasync a file's data (and the size needed to read it back); returns its size. */
export function syncFile(path: string): number {
  const fd = openSync(path, 'r');
  try {
    fdatasyncSync(fd);
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

/** syncFile off the event loop (the fsync runs in the thread pool). */
export async function syncFileAsync(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    await fh.datasync();
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}

/** fdatasync an open descriptor off the event loop (the thread pool does it): the data
 * and the size needed to read it back, without a journal commit for the timestamps. */
export function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));
}

/** fsync a directory, making the entries created or renamed in it durable. */
export function syncDir(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** syncDir off the event loop. */
export async function syncDirAsync(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Remove a file; a missing file is not an error. */
export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/**
 * Move `from` to `to` (replacing an orphan at `to`). Across file systems it copies,
 * syncs the copy and removes the original. The caller syncs the directory of `to`.
 */
export function moveFile(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    copyFileSync(from, to);
    syncFile(to);
    removeFile(from);
  }
}

/**
 * Hard-link `from` to `to` (replacing an orphan at `to`); where the file system cannot
 * link, copy and sync. The caller syncs the directory of `to`.
 */
export function linkFile(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      removeFile(to);
      linkSync(from, to);
    } else if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EXDEV') {
      copyFileSync(from, to);
      syncFile(to);
    } else {
      throw e;
    }
  }
}

/**
 * Keeps track of which bucket directories exist, creating them on demand. A new bucket
 * makes msg/ itself dirty: both are synced by syncDirty().
 */
export class Buckets {
  private known = new Set<string>();
  constructor(private readonly accountDir: string) {}

  /** Ensure the bucket of `messageId` exists; record it (and msg/ if new) in `dirty`. */
  prepare(messageId: number, dirty: Set<string>): string {
    const dir = bucketDir(this.accountDir, messageId);
    if (!this.known.has(dir)) {
      try {
        mkdirSync(dir, { mode: 0o700 });
        dirty.add(msgDir(this.accountDir));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      this.known.add(dir);
    }
    dirty.add(dir);
    return join(dir, String(messageId));
  }

  /** Sync the directories `prepare` recorded. */
  static syncDirty(dirty: Set<string>): void {
    for (const d of dirty) syncDir(d);
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Create msg/ and tmp/ as needed and remove stale uploads. Returns the number removed. */
export function prepareAccountDirs(accountDir: string, now = Date.now()): number {
  mkdirSync(msgDir(accountDir), { recursive: true, mode: 0o700 });
  const tmp = tmpDir(accountDir);
  mkdirSync(tmp, { recursive: true, mode: 0o700 });
  let removed = 0;
  for (const name of readdirSync(tmp)) {
    const path = join(tmp, name);
    const pid = Number(name.slice(0, name.indexOf('.')));
    let stale = !(pid > 0) || !processAlive(pid);
    if (!stale) {
      try {
        stale = now - statSync(path).mtimeMs > TMP_MAX_AGE_MS;
      } catch {
        continue;
      }
    }
    if (stale) {
      removeFile(path);
      removed++;
    }
  }
  return removed;
}
