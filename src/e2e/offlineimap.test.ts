// offlineimap (Debian) against the server, as a user runs it: a generated maildir of a few
// hundred messages (INBOX and Lists; deterministic, varied) syncs up with `offlineimap -o`; a
// second, empty maildir syncs down and must equal the first; then both sides change (flags set
// and cleared, deletions, new messages, in the maildir and on the server through our client),
// both maildirs sync again, and the two maildirs and the server must hold exactly the expected
// messages (by content) with the expected flags. Filenames are ignored, and so is the
// X-OfflineIMAP header offlineimap may add to what it uploads.
//
// Every offlineimap run has a deadline. POSTERN_E2E_TARGET=dovecot runs the same against a
// throwaway Dovecot (how the test itself was checked).

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
const skip = missing('offlineimap', 'offlineimap is not installed (Debian: offlineimap)')
  || (TARGET === 'dovecot' && missing('dovecot', 'POSTERN_E2E_TARGET=dovecot but dovecot is not installed'));

const USER: Account = { address: 'user@localhost', password: 'password1234' };
const FOLDERS: Array<[string, number, string]> = [['INBOX', 300, 'o'], ['Lists', 100, 'ol']];

// ---- messages (LF line endings, as in a maildir) ----

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

const WORDS = 'offline copies of every folder stay in step with the server both ways through flags and deletions'.split(' ');

function messageText(id: string, n: number): string {
  const r = prng(n * 7_727 + id.length);
  const lines: string[] = [];
  const count = n % 150 === 5 ? 4000 : Math.floor(2 + r() * r() * 600);
  for (let k = 0; k < count; k++) {
    let l = '';
    while (l.length < 40 + r() * 30) l += (l ? ' ' : '') + WORDS[Math.floor(r() * WORDS.length)];
    lines.push(l);
  }
  const headers = [
    `From: ${['Alice <alice@example.org>', 'bob@example.net', '=?UTF-8?Q?Ren=C3=A9e?= <renee@example.fr>'][n % 3]}`,
    'To: user@localhost',
    `Subject: ${n % 5 === 0 ? '=?UTF-8?B?w4RuZGVydW5n?= ' : ''}message ${id}`,
    `Date: ${new Date(Date.UTC(2022, 5, 1) + n * 3_600_000).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${id}@example.test>`,
    ...(n % 4 === 0 ? [`In-Reply-To: <${id}-parent@example.test>`] : []),
  ];
  if (n % 5 === 0) {
    const att = Buffer.from(Uint8Array.from({ length: 300 + Math.floor(r() * 3000) }, () => Math.floor(r() * 256))).toString('base64');
    return [...headers, 'MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="=_${n}"`, '', `--=_${n}`, 'Content-Type: text/plain; charset=utf-8', '',
      ...lines, `--=_${n}`, 'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', '', ...(att.match(/.{1,76}/g) ?? []), `--=_${n}--`, ''].join('\n');
  }
  return [...headers, '', ...lines, ''].join('\n');
}

function initialFlags(n: number): string {
  let f = '';
  if (n % 7 === 0) f += 'F';
  if (n % 9 === 0) f += 'R';
  if (n % 2 === 0) f += 'S';
  return f;
}

let fileCounter = 0;
function writeMaildirMessage(folderDir: string, id: string, n: number, flags: string): void {
  for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(folderDir, d), { recursive: true });
  const base = `1650000000.${process.pid}_${++fileCounter}.test`;
  if (flags === '') writeFileSync(join(folderDir, 'new', base), messageText(id, n));
  else writeFileSync(join(folderDir, 'cur', `${base}:2,${flags}`), messageText(id, n));
}

// ---- snapshots: folder -> Message-ID -> content hash + flags ----

interface Entry { hash: string; flags: string }
type Snapshot = Map<string, Map<string, Entry>>;

function normalise(content: Buffer): { id: string; hash: string } {
  let s = content.toString('latin1').replace(/\r\n/g, '\n');
  const end = s.indexOf('\n\n');
  const head = (end < 0 ? s : s.slice(0, end + 1)).replace(/^X-OfflineIMAP: .*\n(?:[ \t].*\n)*/im, '');
  s = head + (end < 0 ? '' : s.slice(end + 1));
  const id = /^Message-ID:\s*<([^>]+)>/im.exec(head)?.[1] ?? `(no id ${createHash('sha1').update(s).digest('hex')})`;
  return { id, hash: createHash('sha1').update(s).digest('hex').slice(0, 16) };
}

const sortFlags = (f: string) => [...f].sort().join('');

function readMaildir(root: string): Snapshot {
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
      snap.set(relative(root, dir), msgs);
    }
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && !['cur', 'new', 'tmp'].includes(e.name) && !e.name.startsWith('.')) walk(join(dir, e.name));
    }
  };
  walk(root);
  return snap;
}

const LETTER: Record<string, string> = { '\\Draft': 'D', '\\Flagged': 'F', '\\Answered': 'R', '\\Seen': 'S', '\\Deleted': 'T' };

async function readServer(c: ImapClient): Promise<Snapshot> {
  const snap: Snapshot = new Map();
  for (const [box] of FOLDERS) {
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
}

function diff(aName: string, a: Snapshot, bName: string, b: Snapshot, max = 15): string[] {
  const out: string[] = [];
  for (const [folder] of FOLDERS) {
    const x = a.get(folder) ?? new Map<string, Entry>();
    const y = b.get(folder) ?? new Map<string, Entry>();
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

// ---- offlineimap ----

function writeRc(dir: string, name: string, port: number): string {
  const rc = join(dir, `offlineimaprc-${name}`);
  writeFileSync(rc, [
    '[general]', 'accounts = main', `metadata = ${join(dir, `meta-${name}`)}`, 'maxsyncaccounts = 1', '',
    '[Account main]', 'localrepository = local', 'remoterepository = remote', '',
    '[Repository local]', 'type = Maildir', `localfolders = ${join(dir, name)}`, 'sep = /', '',
    '[Repository remote]', 'type = IMAP', 'remotehost = 127.0.0.1', `remoteport = ${port}`,
    `remoteuser = ${USER.address}`, `remotepass = ${USER.password}`, 'ssl = no', 'starttls = no',
    'auth_mechanisms = PLAIN, LOGIN', 'maxconnections = 2', 'holdconnectionopen = no', 'expunge = yes',
    `folderfilter = lambda f: f in [${FOLDERS.map(([f]) => `'${f}'`).join(', ')}]`, 'timeout = 60', '',
  ].join('\n'));
  return rc;
}

async function offlineimap(rc: string, timeoutMs = 90_000): Promise<string> {
  const p = Bun.spawn(['offlineimap', '-c', rc, '-o', '-u', 'basic'], { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore', env: { ...process.env, HOME: tmpdir() } });
  const timer = setTimeout(() => p.kill(9), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  const log = (out + err).trim();
  // offlineimap can exit 0 after per-folder errors: its log says ERROR then.
  if (code !== 0 || /\bERROR\b|Traceback/.test(log)) {
    throw new Error(`offlineimap -c ${rc} exited ${p.signalCode ? `by ${p.signalCode} (deadline ${timeoutMs} ms)` : code}:\n${log.split('\n').filter((l) => !/^\s*(Copy message|Syncing|Establishing|Folder|Adding flag|Deleting flag|Deleting \d+)/.test(l)).slice(-40).join('\n')}`);
  }
  return log;
}

// ---- the test ----

let dir = '';
let port = 0;
let stopTarget: () => Promise<void> = async () => {};
let c: ImapClient;
const expected = new Map<string, Map<string, string>>();
let synced = false;

describe.skipIf(skip)(`offlineimap (${TARGET})`, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-offlineimap-'));
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

  test('a maildir syncs up; a second maildir syncs down and is identical', async () => {
    for (const [folder, count, prefix] of FOLDERS) {
      const want = new Map<string, string>();
      for (let n = 1; n <= count; n++) {
        writeMaildirMessage(join(A(), folder), `${prefix}-${n}`, n, initialFlags(n));
        want.set(`${prefix}-${n}@example.test`, sortFlags(initialFlags(n)));
      }
      expected.set(folder, want);
    }
    mkdirSync(B(), { recursive: true });

    await offlineimap(writeRc(dir, 'A', port));
    const server = await readServer(c);
    expect(diff('maildir A', readMaildir(A()), 'server', server)).toEqual([]);
    for (const [folder, count] of FOLDERS) expect(server.get(folder)?.size).toBe(count);

    await offlineimap(writeRc(dir, 'B', port));
    expect(diff('maildir A', readMaildir(A()), 'maildir B', readMaildir(B()))).toEqual([]);
    synced = true;
  });

  test('changes on both sides (flags, deletions, new messages) sync; both maildirs and the server end identical', async () => {
    expect(synced).toBe(true); // the first test passed
    const inbox = expected.get('INBOX')!;
    const lists = expected.get('Lists')!;
    const key = (prefix: string, n: number) => `${prefix}-${n}@example.test`;

    // In maildir A.
    const files = new Map<string, string>();
    for (const sub of ['cur', 'new']) {
      for (const name of readdirSync(join(A(), 'INBOX', sub))) {
        const p = join(A(), 'INBOX', sub, name);
        files.set(normalise(readFileSync(p)).id, p);
      }
    }
    const setFlags = (n: number, flags: string) => {
      const p = files.get(key('o', n))!;
      const to = join(A(), 'INBOX', 'cur', `${p.split('/').pop()!.replace(/:2,.*$/, '')}:2,${sortFlags(flags)}`);
      renameSync(p, to);
      files.set(key('o', n), to);
      inbox.set(key('o', n), sortFlags(flags));
    };
    for (let n = 1; n <= 40; n += 2) setFlags(n, inbox.get(key('o', n))! + 'S'); // 20 unseen -> seen
    for (let n = 7; n <= 70; n += 7) setFlags(n, inbox.get(key('o', n))!.replace('F', '')); // 10 unflagged
    for (let n = 101; n <= 110; n++) {
      unlinkSync(files.get(key('o', n))!);
      inbox.delete(key('o', n));
    }
    for (let n = 1; n <= 10; n++) {
      writeMaildirMessage(join(A(), 'INBOX'), `oa-${n}`, 500 + n, n % 2 ? '' : 'FS');
      inbox.set(key('oa', n), n % 2 ? '' : 'FS');
    }
    for (let n = 1; n <= 3; n++) {
      writeMaildirMessage(join(A(), 'Lists'), `oal-${n}`, 600 + n, 'S');
      lists.set(key('oal', n), 'S');
    }

    // On the server.
    await c.ok('SELECT INBOX');
    const uidOf = new Map<string, number>();
    for (const f of pick(await c.ok('UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (Message-ID)])'), 'FETCH')) {
      const id = /<([^>]+)>/.exec(text(f.attrs['BODY[HEADER.FIELDS (MESSAGE-ID)]']) ?? '')?.[1];
      if (id) uidOf.set(id, Number(f.attrs.UID));
    }
    const uids = (from: number, to: number, step = 1) => {
      const out: number[] = [];
      for (let n = from; n <= to; n += step) out.push(uidOf.get(key('o', n))!);
      return out;
    };
    await c.ok(`UID STORE ${uids(151, 170).join(',')} +FLAGS.SILENT (\\Flagged)`);
    for (let n = 151; n <= 170; n++) inbox.set(key('o', n), sortFlags(inbox.get(key('o', n))!.replace('F', '') + 'F'));
    await c.ok(`UID STORE ${uids(202, 230, 2).join(',')} -FLAGS.SILENT (\\Seen)`);
    for (let n = 202; n <= 230; n += 2) inbox.set(key('o', n), inbox.get(key('o', n))!.replace('S', ''));
    const gone = uids(251, 262);
    await c.ok(`UID STORE ${gone.join(',')} +FLAGS.SILENT (\\Deleted)`);
    await c.ok(`UID EXPUNGE ${gone.join(',')}`);
    for (let n = 251; n <= 262; n++) inbox.delete(key('o', n));
    for (let n = 1; n <= 10; n++) {
      const flags = n % 2 ? ['\\Seen'] : [];
      expect((await c.append('INBOX', messageText(`os-${n}`, 700 + n).replace(/\n/g, '\r\n'), { flags })).status).toBe('OK');
      inbox.set(key('os', n), flags.length ? 'S' : '');
    }
    await c.ok('UNSELECT');

    await offlineimap(writeRc(dir, 'A', port));
    await offlineimap(writeRc(dir, 'B', port));

    const hashes = readMaildir(A());
    const want: Snapshot = new Map();
    for (const [folder, msgs] of expected) {
      want.set(folder, new Map([...msgs].map(([id, flags]) => [id, { hash: hashes.get(folder)?.get(id)?.hash ?? '(missing in A)', flags }])));
    }
    const a = readMaildir(A());
    const server = await readServer(c);
    expect(diff('expected', want, 'maildir A', a)).toEqual([]);
    expect(diff('maildir A', a, 'maildir B', readMaildir(B()))).toEqual([]);
    expect(diff('maildir A', a, 'server', server)).toEqual([]);
    expect(server.get('INBOX')?.size).toBe(300 - 10 + 10 - 12 + 10);
    expect(server.get('Lists')?.size).toBe(100 + 3);
  });
});
