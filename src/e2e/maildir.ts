// Maildirs for the end-to-end tests of sync clients (mbsync, offlineimap): generated messages
// written as maildir files, maildirs and the server read back as snapshots (folder -> Message-ID
// -> content hash + flags) and compared, the changes both sides make between syncs, and the
// server under test with a checker client.
//
// Messages are compared by content with CRLF turned into LF and one client-added header (given
// per client) removed; flags as sorted maildir letters (DFPRST), mapped from IMAP system flags.

import { afterAll, beforeAll, expect } from 'bun:test';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { startDovecot } from '../../bench/dovecot.ts';
import { ImapClient, pick, quote, text } from '../imap/client.ts';
import { rng } from '../message/testutil.ts';
import { startServer, type Account } from './harness.ts';

// ---- generated messages (LF line endings, as in a maildir) ----

/** How a test's messages look. Message n with Message-ID `<id@example.test>` is deterministic. */
export interface MessageStyle {
  /** Filenames start `<stamp>.<pid>_<counter>.test`. */
  stamp: number;
  /** The PRNG seed is `n * seed + id.length`. */
  seed: number;
  words: readonly string[];
  /** Body lines: at least 40 characters of random words each. */
  lines: (n: number, r: () => number) => number;
  /** The header lines, in order, Message-ID among them. */
  headers: (id: string, n: number) => string[];
  /** Bytes of a random base64 attachment (multipart/mixed), or 0 for a plain text message. */
  attachment: (n: number, r: () => number) => number;
  /** Maildir flag letters a generated message starts with, each with when it applies. */
  flags: Record<string, (n: number) => boolean>;
}

/** `<id>@example.test` */
export const key = (prefix: string, n: number) => `${prefix}-${n}@example.test`;

export const sortFlags = (f: string) => [...f].sort().join('');

export class MaildirMessages {
  private fileCounter = 0;
  constructor(private readonly style: MessageStyle) {}

  /** Message `id` as a maildir file holds it. */
  text(id: string, n: number): string {
    const { seed, words, lines: lineCount, headers, attachment } = this.style;
    const r = rng(n * seed + id.length);
    const lines: string[] = [];
    const count = lineCount(n, r);
    for (let k = 0; k < count; k++) {
      let l = '';
      while (l.length < 40 + r() * 30) l += (l ? ' ' : '') + words[Math.floor(r() * words.length)];
      lines.push(l);
    }
    const head = headers(id, n);
    const size = attachment(n, r);
    if (size > 0) {
      const att = Buffer.from(Uint8Array.from({ length: size }, () => Math.floor(r() * 256))).toString('base64');
      return [...head, 'MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="=_${n}"`, '', `--=_${n}`, 'Content-Type: text/plain; charset=utf-8', '',
        ...lines, `--=_${n}`, 'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', '', ...(att.match(/.{1,76}/g) ?? []), `--=_${n}--`, ''].join('\n');
    }
    return [...head, '', ...lines, ''].join('\n');
  }

  /** Maildir flag letters message n starts with. */
  initialFlags(n: number): string {
    return Object.entries(this.style.flags).filter(([, on]) => on(n)).map(([letter]) => letter).join('');
  }

  write(folderDir: string, id: string, n: number, flags: string): void {
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(folderDir, d), { recursive: true });
    const base = `${this.style.stamp}.${process.pid}_${++this.fileCounter}.test`;
    // Unread messages without flags sit in new/, as a delivery agent leaves them.
    if (flags === '') writeFileSync(join(folderDir, 'new', base), this.text(id, n));
    else writeFileSync(join(folderDir, 'cur', `${base}:2,${flags}`), this.text(id, n));
  }

  /** Writes messages 1..count of each folder (Message-IDs `<prefix>-<n>`) with their initial flags; records them in `expected`. */
  fill(root: string, folders: ReadonlyArray<readonly [folder: string, count: number, prefix: string]>, expected: Expected): void {
    for (const [folder, count, prefix] of folders) {
      const want = new Map<string, string>();
      for (let n = 1; n <= count; n++) {
        this.write(join(root, folder), `${prefix}-${n}`, n, this.initialFlags(n));
        want.set(key(prefix, n), sortFlags(this.initialFlags(n)));
      }
      expected.set(folder, want);
    }
  }
}

// ---- snapshots: folder -> Message-ID -> content hash + flags ----

export interface Entry { hash: string; flags: string }
export type Snapshot = Map<string, Map<string, Entry>>;
/** The expected state: folder -> Message-ID -> flags. */
export type Expected = Map<string, Map<string, string>>;

/** Maildir letters of the IMAP system flags. */
export const LETTER: Record<string, string> = { '\\Draft': 'D', '\\Flagged': 'F', '\\Answered': 'R', '\\Seen': 'S', '\\Deleted': 'T' };

export interface SnapshotOptions {
  /** The header the client may add to what it uploads (with any continuation lines it should drop). */
  ignoreHeader: RegExp;
  /** Only these folders: the server's are not LISTed, and a folder missing on one side counts as empty. */
  folders?: readonly string[];
  /** The folder name of a maildir at the root itself. */
  rootFolder?: string;
  skipDotDirs?: boolean;
}

/** Reading and comparing snapshots the way one client's test does. */
export function snapshots(o: SnapshotOptions) {
  const normalise = (content: Buffer | string): { id: string; hash: string } => {
    let s = (typeof content === 'string' ? content : content.toString('latin1')).replace(/\r\n/g, '\n');
    const end = s.indexOf('\n\n');
    const head = (end < 0 ? s : s.slice(0, end + 1)).replace(o.ignoreHeader, '');
    s = head + (end < 0 ? '' : s.slice(end + 1));
    const id = /^Message-ID:\s*<([^>]+)>/im.exec(head)?.[1] ?? `(no id ${createHash('sha1').update(s).digest('hex')})`;
    return { id, hash: createHash('sha1').update(s).digest('hex').slice(0, 16) };
  };

  const readMaildir = (root: string): Snapshot => {
    const snap: Snapshot = new Map();
    const walk = (dir: string) => {
      if (existsSync(join(dir, 'cur'))) {
        const msgs = new Map<string, Entry>();
        for (const sub of ['cur', 'new']) {
          for (const name of readdirSync(join(dir, sub))) {
            const m = /:2,([A-Za-z]*)$/.exec(name);
            const { id, hash } = normalise(readFileSync(join(dir, sub, name)));
            if (msgs.has(id)) throw new Error(`${dir}: message ${id} twice`);
            msgs.set(id, { hash, flags: sortFlags((m?.[1] ?? '').replace(/[^DFPRST]/g, '')) });
          }
        }
        snap.set(relative(root, dir) || (o.rootFolder ?? ''), msgs);
      }
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory() && !['cur', 'new', 'tmp'].includes(e.name) && !(o.skipDotDirs && e.name.startsWith('.'))) walk(join(dir, e.name));
      }
    };
    walk(root);
    return snap;
  };

  const readServer = async (c: ImapClient): Promise<Snapshot> => {
    const snap: Snapshot = new Map();
    const boxes = o.folders ?? pick(await c.ok('LIST "" "*"'), 'LIST').filter((l) => !l.attrs.some((a) => /^\\(Noselect|NonExistent)$/i.test(a))).map((l) => l.name);
    for (const box of boxes) {
      const msgs = new Map<string, Entry>();
      const exists = pick(await c.ok(`EXAMINE ${quote(box)}`), 'EXISTS')[0]?.num ?? 0;
      if (exists > 0) {
        for (const f of pick(await c.ok('UID FETCH 1:* (FLAGS BODY.PEEK[])', { timeoutMs: 60_000 }), 'FETCH')) {
          const body = f.attrs['BODY[]'];
          if (!(body instanceof Uint8Array)) continue;
          const { id, hash } = normalise(Buffer.from(body));
          const flags = Array.isArray(f.attrs.FLAGS) ? f.attrs.FLAGS.map((x) => LETTER[text(x) ?? ''] ?? '').join('') : '';
          msgs.set(id, { hash, flags: sortFlags(flags) });
        }
        expect({ box, fetched: msgs.size }).toEqual({ box, fetched: exists });
      }
      snap.set(box, msgs);
    }
    return snap;
  };

  /** Readable differences between two snapshots (empty when equal). */
  const diff = (aName: string, a: Snapshot, bName: string, b: Snapshot, max = 15): string[] => {
    const out: string[] = [];
    const none = o.folders ? new Map<string, Entry>() : undefined; // a folder missing on one side, with fixed folders
    for (const folder of o.folders ?? new Set([...a.keys(), ...b.keys()])) {
      const x = a.get(folder) ?? none;
      const y = b.get(folder) ?? none;
      if (!x || !y) {
        if ((x?.size ?? 0) + (y?.size ?? 0) > 0) out.push(`${folder}: only in ${x ? aName : bName} (${(x ?? y)!.size} messages)`);
        continue;
      }
      for (const id of new Set([...x.keys(), ...y.keys()])) {
        const p = x.get(id);
        const q = y.get(id);
        if (!p) out.push(`${folder}/${id}: only in ${bName}`);
        else if (!q) out.push(`${folder}/${id}: only in ${aName}`);
        else if (p.hash !== q.hash) out.push(`${folder}/${id}: content differs`);
        else if (p.flags !== q.flags) out.push(`${folder}/${id}: flags ${aName} "${p.flags}" vs ${bName} "${q.flags}"`);
      }
    }
    return out.length > max ? [...out.slice(0, max), `... and ${out.length - max} more`] : out;
  };

  return { normalise, readMaildir, readServer, diff };
}

/** Non-empty folders only: an empty folder may or may not exist on the other side yet. */
export function nonEmpty(s: Snapshot): Snapshot {
  return new Map([...s].filter(([, m]) => m.size > 0));
}

/** The expected state with the content hashes a snapshot (of the maildir the messages were written to) has. */
export function expectedSnapshot(expected: Expected, hashes: Snapshot): Snapshot {
  const want: Snapshot = new Map();
  for (const [folder, msgs] of expected) {
    want.set(folder, new Map([...msgs].map(([id, flags]) => [id, { hash: hashes.get(folder)?.get(id)?.hash ?? '(missing in A)', flags }])));
  }
  return want;
}

// ---- changes on both sides between syncs ----

/** first..last, by step (1 when left out). */
export type Range = readonly [first: number, last: number, step?: number];

function each([first, last, step = 1]: Range): number[] {
  const out: number[] = [];
  for (let n = first; n <= last; n += step) out.push(n);
  return out;
}

/** New messages: `<prefix>-<k>` for k in 1..count, generated as message `base + k`, with `flags(k)`. */
type New<F> = readonly [prefix: string, count: number, base: number, flags: (k: number) => F];

export interface Changes {
  /** Message-ID prefix of the generated INBOX messages the changes pick. */
  prefix: string;
  /** In the maildir's INBOX: mark seen, unflag, delete (other messages than on the server); new messages in INBOX and Lists. */
  maildir: { seen: Range; unflag: Range; remove: Range; inbox: New<string>; lists: New<string> };
  /** On the server's INBOX: flag, mark unseen, expunge; APPENDs (with IMAP flags). */
  server: { flag: Range; unseen: Range; expunge: Range; append: New<string[]> };
}

/**
 * Makes the changes in `maildir` (flag changes by renaming, deletions by unlinking, new files)
 * and on the server through `c` (STORE, EXPUNGE, APPEND), and updates `expected` to match.
 */
export async function change(
  { c, maildir, gen, normalise, expected }: { c: ImapClient; maildir: string; gen: MaildirMessages; normalise: (content: Buffer) => { id: string }; expected: Expected },
  { prefix, maildir: local, server }: Changes,
): Promise<void> {
  const inbox = expected.get('INBOX')!;
  const lists = expected.get('Lists')!;
  const ids = (r: Range) => each(r).map((n) => key(prefix, n));

  const files = new Map<string, string>();
  for (const sub of ['cur', 'new']) {
    for (const name of readdirSync(join(maildir, 'INBOX', sub))) {
      const p = join(maildir, 'INBOX', sub, name);
      files.set(normalise(readFileSync(p)).id, p);
    }
  }
  const setFlags = (id: string, flags: string) => {
    const p = files.get(id)!;
    const to = join(maildir, 'INBOX', 'cur', `${p.split('/').pop()!.replace(/:2,.*$/, '')}:2,${sortFlags(flags)}`);
    renameSync(p, to);
    files.set(id, to);
    inbox.set(id, sortFlags(flags));
  };
  for (const id of ids(local.seen)) setFlags(id, inbox.get(id)! + 'S');
  for (const id of ids(local.unflag)) setFlags(id, inbox.get(id)!.replace('F', ''));
  for (const id of ids(local.remove)) {
    unlinkSync(files.get(id)!);
    inbox.delete(id);
  }
  for (const [folder, want, [p, count, base, flags]] of [['INBOX', inbox, local.inbox], ['Lists', lists, local.lists]] as const) {
    for (let k = 1; k <= count; k++) {
      gen.write(join(maildir, folder), `${p}-${k}`, base + k, flags(k));
      want.set(key(p, k), flags(k));
    }
  }

  await c.ok('SELECT INBOX');
  const uidOf = new Map<string, number>();
  for (const f of pick(await c.ok('UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (Message-ID)])', { timeoutMs: 60_000 }), 'FETCH')) {
    const id = /<([^>]+)>/.exec(text(f.attrs['BODY[HEADER.FIELDS (MESSAGE-ID)]']) ?? '')?.[1];
    if (id) uidOf.set(id, Number(f.attrs.UID));
  }
  const uids = (r: Range) => ids(r).map((id) => uidOf.get(id)!).join(',');
  await c.ok(`UID STORE ${uids(server.flag)} +FLAGS.SILENT (\\Flagged)`);
  for (const id of ids(server.flag)) inbox.set(id, sortFlags(inbox.get(id)!.replace('F', '') + 'F'));
  await c.ok(`UID STORE ${uids(server.unseen)} -FLAGS.SILENT (\\Seen)`);
  for (const id of ids(server.unseen)) inbox.set(id, inbox.get(id)!.replace('S', ''));
  await c.ok(`UID STORE ${uids(server.expunge)} +FLAGS.SILENT (\\Deleted)`);
  await c.ok(`UID EXPUNGE ${uids(server.expunge)}`);
  for (const id of ids(server.expunge)) inbox.delete(id);
  const [p, count, base, flags] = server.append;
  for (let k = 1; k <= count; k++) {
    expect((await c.append('INBOX', gen.text(`${p}-${k}`, base + k).replace(/\n/g, '\r\n'), { flags: flags(k) })).status).toBe('OK');
    inbox.set(key(p, k), sortFlags(flags(k).map((f) => LETTER[f]).join('')));
  }
  await c.ok('UNSELECT');
}

// ---- the server under test, a client and a scratch directory ----

export interface SyncTarget { dir: string; port: number; c: ImapClient }

/**
 * For the enclosing describe: a scratch directory (kept with POSTERN_E2E_KEEP), the server
 * (postern, or a throwaway Dovecot) with `user`, and a checker client logged in as `user`.
 * The fields are set by beforeAll.
 */
export function syncTarget(target: 'postern' | 'dovecot', user: Account, dirPrefix: string): SyncTarget {
  const t: SyncTarget = { dir: '', port: 0, c: undefined as unknown as ImapClient };
  let stopTarget: () => Promise<void> = async () => {};
  beforeAll(async () => {
    t.dir = mkdtempSync(join(tmpdir(), dirPrefix));
    if (target === 'dovecot') {
      const d = await startDovecot({ users: [{ user: user.address, password: user.password }] });
      t.port = d.port;
      stopTarget = () => d.stop();
    } else {
      const s = await startServer({ tls: false, accounts: [user] });
      t.port = s.port;
      stopTarget = () => s.stop();
    }
    t.c = await ImapClient.connect({ port: t.port, name: 'checker', timeoutMs: 60_000 });
    await t.c.login(user.address, user.password);
  });
  afterAll(async () => {
    t.c?.close();
    await stopTarget();
    if (t.dir && !process.env.POSTERN_E2E_KEEP) rmSync(t.dir, { recursive: true, force: true });
  });
  return t;
}

/** Runs a sync client (HOME a temporary directory) until it exits or the deadline kills it. */
export async function runClient(argv: string[], timeoutMs: number): Promise<{ log: string; code: number; signal: string | number | null }> {
  const p = Bun.spawn(argv, { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore', env: { ...process.env, HOME: tmpdir() } });
  const timer = setTimeout(() => p.kill(9), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { log: (out + err).trim(), code, signal: p.signalCode };
}
