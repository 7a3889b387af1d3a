// mbsync (Debian's isync) against the server, as a user runs it: a generated 2,000-message
// maildir (INBOX and a Lists folder; deterministic, varied sizes, headers and flags) is synced
// up with `mbsync -a`; a second, empty maildir is synced down and must equal the first; then
// both sides change (flags set and cleared, deletions, new messages, in the maildir and on the
// server through our client), both maildirs sync again, and the two maildirs and the server
// must hold exactly the expected messages (compared by content) with the expected flags.
// Filenames are ignored; so is the X-TUID header mbsync may add to what it uploads.
//
// Channel: Create Both, Expunge Both, SyncState *, Patterns *. Every mbsync run has a deadline.
// POSTERN_E2E_TARGET=dovecot runs the same against a throwaway Dovecot (how it was checked).

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { startDovecot } from '../../bench/dovecot.ts';
import { ImapClient, pick, quote, text } from '../imap/client.ts';
import { missing, startServer, type Account } from './harness.ts';

setDefaultTimeout(150_000);

const TARGET = process.env.POSTERN_E2E_TARGET === 'dovecot' ? 'dovecot' : 'postern';
const skip = missing('mbsync', 'mbsync is not installed (Debian: isync)') || (TARGET === 'dovecot' && missing('dovecot', 'POSTERN_E2E_TARGET=dovecot but dovecot is not installed'));

const USER: Account = { address: 'user@localhost', password: 'password1234' };
const INBOX_COUNT = 1500;
const LISTS_COUNT = 500;

// ---- messages ----

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = 'the quick brown fox jumps over lazy dogs while mail servers sync every folder and flag in order'.split(' ');

/** Message `id` as a maildir file holds it: LF line endings. */
function messageText(id: string, n: number): string {
  const r = prng(n * 104_729 + id.length);
  const lines: string[] = [];
  const big = n % 400 === 7;
  const count = big ? 6000 : Math.floor(3 + r() * r() * 900);
  for (let k = 0; k < count; k++) {
    let l = '';
    while (l.length < 40 + r() * 30) l += (l ? ' ' : '') + WORDS[Math.floor(r() * WORDS.length)];
    lines.push(l);
  }
  const headers = [
    `From: ${['Alice <alice@example.org>', 'bob@example.net', '=?UTF-8?Q?J=C3=B6rg?= <joerg@example.de>'][n % 3]}`,
    'To: user@localhost',
    ...(n % 5 === 0 ? ['Cc: "Team, All" <team@example.org>'] : []),
    `Subject: ${n % 7 === 0 ? '=?UTF-8?B?w5xiZXJzaWNodA==?= ' : ''}message ${id}`,
    `Date: ${new Date(Date.UTC(2021, 0, 1) + n * 3_600_000).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${id}@example.test>`,
    ...(n % 4 === 0 ? [`In-Reply-To: <m-${n - 1}@example.test>`, `References: <m-${n - 2}@example.test>\n <m-${n - 1}@example.test>`] : []),
    ...(n % 9 === 0 ? ['X-Long: ' + Array.from({ length: 30 }, (_, k) => `word${k}`).join('\n ')] : []),
  ];
  if (n % 6 === 0) {
    const att = Buffer.from(Uint8Array.from({ length: 500 + Math.floor(r() * 4000) }, () => Math.floor(r() * 256))).toString('base64');
    return [...headers, 'MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="=_${n}"`, '', `--=_${n}`, 'Content-Type: text/plain; charset=utf-8', '',
      ...lines, `--=_${n}`, 'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', '', ...(att.match(/.{1,76}/g) ?? []), `--=_${n}--`, ''].join('\n');
  }
  return [...headers, '', ...lines, ''].join('\n');
}

/** Maildir flag letters from the generator's choice for message n. */
function initialFlags(n: number): string {
  let f = '';
  if (n % 97 === 0) f += 'D';
  if (n % 11 === 0) f += 'F';
  if (n % 13 === 0) f += 'R';
  if (n % 3 !== 0) f += 'S';
  return f;
}

let fileCounter = 0;
function writeMaildirMessage(folderDir: string, id: string, n: number, flags: string): void {
  for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(folderDir, d), { recursive: true });
  const base = `1600000000.${process.pid}_${++fileCounter}.test`;
  // Unread messages without flags sit in new/, as a delivery agent leaves them.
  if (flags === '') writeFileSync(join(folderDir, 'new', base), messageText(id, n));
  else writeFileSync(join(folderDir, 'cur', `${base}:2,${flags}`), messageText(id, n));
}

// ---- snapshots: folder -> Message-ID -> content hash + flags ----

interface Entry { hash: string; flags: string }
type Snapshot = Map<string, Map<string, Entry>>;

function normalise(content: Buffer | string): { id: string; hash: string } {
  let s = (typeof content === 'string' ? content : content.toString('latin1')).replace(/\r\n/g, '\n');
  const end = s.indexOf('\n\n');
  const head = end < 0 ? s : s.slice(0, end + 1);
  const cleaned = head.replace(/^X-TUID: .*\n/im, '');
  s = cleaned + (end < 0 ? '' : s.slice(end + 1));
  const id = /^Message-ID:\s*<([^>]+)>/im.exec(cleaned)?.[1] ?? `(no id ${createHash('sha1').update(s).digest('hex')})`;
  return { id, hash: createHash('sha1').update(s).digest('hex').slice(0, 16) };
}

const sortFlags = (f: string) => [...f].sort().join('');

function readMaildir(root: string): Snapshot {
  const snap: Snapshot = new Map();
  const walk = (dir: string) => {
    if (existsSync(join(dir, 'cur'))) {
      const folder = relative(root, dir) || 'INBOX';
      const msgs = new Map<string, Entry>();
      for (const sub of ['cur', 'new']) {
        for (const name of readdirSync(join(dir, sub))) {
          const m = /:2,([A-Za-z]*)$/.exec(name);
          const { id, hash } = normalise(readFileSync(join(dir, sub, name)));
          if (msgs.has(id)) throw new Error(`${dir}: message ${id} twice`);
          msgs.set(id, { hash, flags: sortFlags((m?.[1] ?? '').replace(/[^DFPRST]/g, '')) });
        }
      }
      snap.set(folder, msgs);
    }
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && !['cur', 'new', 'tmp'].includes(e.name)) walk(join(dir, e.name));
    }
  };
  walk(root);
  return snap;
}

const LETTER: Record<string, string> = { '\\Draft': 'D', '\\Flagged': 'F', '\\Answered': 'R', '\\Seen': 'S', '\\Deleted': 'T' };

async function readServer(c: ImapClient): Promise<Snapshot> {
  const snap: Snapshot = new Map();
  const boxes = pick(await c.ok('LIST "" "*"'), 'LIST').filter((l) => !l.attrs.some((a) => /^\\(Noselect|NonExistent)$/i.test(a)));
  for (const b of boxes) {
    const msgs = new Map<string, Entry>();
    const ex = await c.ok(`EXAMINE ${quote(b.name)}`);
    const exists = pick(ex, 'EXISTS')[0]?.num ?? 0;
    if (exists > 0) {
      const r = await c.ok('UID FETCH 1:* (FLAGS BODY.PEEK[])', { timeoutMs: 60_000 });
      for (const f of pick(r, 'FETCH')) {
        const body = f.attrs['BODY[]'];
        if (!(body instanceof Uint8Array)) continue;
        const { id, hash } = normalise(Buffer.from(body));
        const flags = Array.isArray(f.attrs.FLAGS) ? f.attrs.FLAGS.map((x) => LETTER[text(x) ?? ''] ?? '').join('') : '';
        msgs.set(id, { hash, flags: sortFlags(flags) });
      }
      expect({ box: b.name, fetched: msgs.size }).toEqual({ box: b.name, fetched: exists });
    }
    snap.set(b.name, msgs);
  }
  return snap;
}

/** Readable differences between two snapshots (empty when equal). */
function diff(aName: string, a: Snapshot, bName: string, b: Snapshot, max = 15): string[] {
  const out: string[] = [];
  for (const folder of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(folder);
    const y = b.get(folder);
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
}

/** Non-empty folders only: an empty folder may or may not exist on the other side yet. */
function nonEmpty(s: Snapshot): Snapshot {
  return new Map([...s].filter(([, m]) => m.size > 0));
}

// ---- mbsync ----

function mbsyncVersion(): [number, number] {
  const r = Bun.spawnSync(['mbsync', '--version'], { stdout: 'pipe', stderr: 'pipe' });
  const m = /(\d+)\.(\d+)/.exec(r.stdout.toString() + r.stderr.toString());
  return m ? [Number(m[1]), Number(m[2])] : [1, 4];
}

function writeRc(dir: string, maildir: string, port: number): string {
  const [maj, min] = mbsyncVersion();
  const tls = maj > 1 || (maj === 1 && min >= 5) ? 'TLSType None' : 'SSLType None'; // TLSType since isync 1.5
  const rc = join(dir, `mbsyncrc-${relative(dir, maildir).replace(/\W/g, '')}`);
  writeFileSync(rc, [
    'IMAPAccount server', 'Host 127.0.0.1', `Port ${port}`, `User ${USER.address}`, `Pass ${USER.password}`, tls, 'AuthMechs PLAIN LOGIN', 'Timeout 60', '',
    'IMAPStore server', 'Account server', '',
    'MaildirStore local', `Path ${maildir}/`, `Inbox ${maildir}/INBOX`, 'SubFolders Verbatim', '',
    'Channel sync', 'Far :server:', 'Near :local:', 'Patterns *', 'Create Both', 'Expunge Both', 'SyncState *', '',
  ].join('\n'));
  return rc;
}

async function mbsync(rc: string, timeoutMs = 60_000): Promise<string> {
  const p = Bun.spawn(['mbsync', '-q', '-c', rc, '-a'], { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore', env: { ...process.env, HOME: tmpdir() } });
  const timer = setTimeout(() => p.kill(9), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  const log = (out + err).trim();
  if (code !== 0) throw new Error(`mbsync -c ${rc} -a exited ${p.signalCode ? `by ${p.signalCode} (deadline ${timeoutMs} ms)` : code}:\n${log.split('\n').slice(-30).join('\n')}`);
  return log;
}

// ---- the test ----

let dir = '';
let port = 0;
let stopTarget: () => Promise<void> = async () => {};
let c: ImapClient;
/** The expected end state: folder -> Message-ID -> flags. */
const expected = new Map<string, Map<string, string>>();
let synced = false;

describe.skipIf(skip)(`mbsync (${TARGET})`, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-mbsync-'));
    if (TARGET === 'dovecot') {
      const d = await startDovecot({ users: [{ user: USER.address, password: USER.password }] });
      port = d.port;
      stopTarget = () => d.stop();
    } else {
      const s = await startServer({ tls: false, accounts: [USER] });
      port = s.port;
      stopTarget = () => s.stop();
    }
    c = await ImapClient.connect({ port, name: 'checker', timeoutMs: 60_000 });
    await c.login(USER.address, USER.password);
  });
  afterAll(async () => {
    c?.close();
    await stopTarget();
    if (dir && !process.env.POSTERN_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  });

  const A = () => join(dir, 'A');
  const B = () => join(dir, 'B');

  test('a 2,000-message maildir syncs up; a second maildir syncs down and is identical', async () => {
    const t0 = Date.now();
    for (const [folder, count, prefix] of [['INBOX', INBOX_COUNT, 'm'], ['Lists', LISTS_COUNT, 'l']] as const) {
      const want = new Map<string, string>();
      for (let n = 1; n <= count; n++) {
        const id = `${prefix}-${n}`;
        writeMaildirMessage(join(A(), folder), id, n, initialFlags(n));
        want.set(`${id}@example.test`, sortFlags(initialFlags(n)));
      }
      expected.set(folder, want);
    }
    const tGen = Date.now();
    const local = readMaildir(A());
    expect(local.get('INBOX')?.size).toBe(INBOX_COUNT);
    expect(local.get('Lists')?.size).toBe(LISTS_COUNT);

    await mbsync(writeRc(dir, A(), port));
    const tUp = Date.now();
    const server = await readServer(c);
    expect(diff('maildir A', nonEmpty(readMaildir(A())), 'server', nonEmpty(server))).toEqual([]);
    expect(server.get('INBOX')?.size).toBe(INBOX_COUNT);
    expect(server.get('Lists')?.size).toBe(LISTS_COUNT);

    mkdirSync(B(), { recursive: true });
    await mbsync(writeRc(dir, B(), port));
    const tDown = Date.now();
    expect(diff('maildir A', nonEmpty(readMaildir(A())), 'maildir B', nonEmpty(readMaildir(B())))).toEqual([]);
    synced = true;
    console.log(`mbsync (${TARGET}): maildir of ${INBOX_COUNT + LISTS_COUNT} messages generated in ${tGen - t0} ms; synced up in ${tUp - tGen} ms, down in ${tDown - tUp} ms (each with its check)`);
  });

  test('changes on both sides (flags, deletions, new messages) sync; both maildirs and the server end identical', async () => {
    expect(synced).toBe(true); // the first test passed
    const inbox = expected.get('INBOX')!;
    const lists = expected.get('Lists')!;
    const key = (prefix: string, n: number) => `${prefix}-${n}@example.test`;

    // In maildir A: flag changes by renaming, deletions by unlinking, new files.
    const files = new Map<string, string>();
    for (const sub of ['cur', 'new']) {
      for (const name of readdirSync(join(A(), 'INBOX', sub))) {
        const p = join(A(), 'INBOX', sub, name);
        files.set(normalise(readFileSync(p)).id, p);
      }
    }
    const setFlags = (n: number, flags: string) => {
      const p = files.get(key('m', n))!;
      const base = p.split('/').pop()!.replace(/:2,.*$/, '');
      const to = join(A(), 'INBOX', 'cur', `${base}:2,${sortFlags(flags)}`);
      renameSync(p, to);
      files.set(key('m', n), to);
      inbox.set(key('m', n), sortFlags(flags));
    };
    for (let n = 3; n <= 150; n += 3) setFlags(n, inbox.get(key('m', n))! + 'S'); // 50 unseen -> seen
    for (let n = 11; n <= 110; n += 11) setFlags(n, inbox.get(key('m', n))!.replace('F', '')); // 10 unflagged
    for (let n = 201; n <= 220; n++) {
      unlinkSync(files.get(key('m', n))!);
      inbox.delete(key('m', n));
    }
    for (let n = 1; n <= 30; n++) {
      writeMaildirMessage(join(A(), 'INBOX'), `a-${n}`, 5000 + n, n % 2 ? '' : 'S');
      inbox.set(key('a', n), n % 2 ? '' : 'S');
    }
    for (let n = 1; n <= 5; n++) {
      writeMaildirMessage(join(A(), 'Lists'), `al-${n}`, 6000 + n, 'F');
      lists.set(key('al', n), 'F');
    }

    // On the server: STORE, EXPUNGE and APPEND through our client (other messages than above).
    await c.ok('SELECT INBOX');
    const ids = pick(await c.ok('UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (Message-ID)])', { timeoutMs: 60_000 }), 'FETCH');
    const uidOf = new Map<string, number>();
    for (const f of ids) {
      const id = /<([^>]+)>/.exec(text(f.attrs['BODY[HEADER.FIELDS (MESSAGE-ID)]']) ?? '')?.[1];
      if (id) uidOf.set(id, Number(f.attrs.UID));
    }
    const uids = (from: number, to: number, step = 1) => {
      const out: number[] = [];
      for (let n = from; n <= to; n += step) out.push(uidOf.get(key('m', n))!);
      return out;
    };
    await c.ok(`UID STORE ${uids(301, 340).join(',')} +FLAGS.SILENT (\\Flagged)`);
    for (let n = 301; n <= 340; n++) inbox.set(key('m', n), sortFlags(inbox.get(key('m', n))!.replace('F', '') + 'F'));
    await c.ok(`UID STORE ${uids(401, 430, 2).join(',')} -FLAGS.SILENT (\\Seen)`);
    for (let n = 401; n <= 430; n += 2) inbox.set(key('m', n), inbox.get(key('m', n))!.replace('S', ''));
    const gone = uids(501, 525);
    await c.ok(`UID STORE ${gone.join(',')} +FLAGS.SILENT (\\Deleted)`);
    await c.ok(`UID EXPUNGE ${gone.join(',')}`);
    for (let n = 501; n <= 525; n++) inbox.delete(key('m', n));
    for (let n = 1; n <= 30; n++) {
      const flags = n % 3 === 0 ? ['\\Seen', '\\Answered'] : [];
      const r = await c.append('INBOX', messageText(`s-${n}`, 7000 + n).replace(/\n/g, '\r\n'), { flags });
      expect(r.status).toBe('OK');
      inbox.set(key('s', n), flags.length ? 'RS' : '');
    }
    await c.ok('UNSELECT');

    await mbsync(writeRc(dir, A(), port));
    await mbsync(writeRc(dir, B(), port));

    const want: Snapshot = new Map();
    const hashes = readMaildir(A());
    for (const [folder, msgs] of expected) {
      want.set(folder, new Map([...msgs].map(([id, flags]) => [id, { hash: hashes.get(folder)?.get(id)?.hash ?? '(missing in A)', flags }])));
    }
    const a = nonEmpty(readMaildir(A()));
    const b = nonEmpty(readMaildir(B()));
    const server = nonEmpty(await readServer(c));
    expect(diff('expected', want, 'maildir A', a)).toEqual([]);
    expect(diff('maildir A', a, 'maildir B', b)).toEqual([]);
    expect(diff('maildir A', a, 'server', server)).toEqual([]);
    expect(server.get('INBOX')?.size).toBe(INBOX_COUNT - 20 + 30 - 25 + 30);
    expect(server.get('Lists')?.size).toBe(LISTS_COUNT + 5);

    // A third run changes nothing anywhere.
    await mbsync(writeRc(dir, A(), port));
    expect(diff('server before', server, 'server after', nonEmpty(await readServer(c)))).toEqual([]);
  });
});
