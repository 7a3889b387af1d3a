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

import { describe, expect, setDefaultTimeout, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { missing, type Account } from './harness.ts';
import { change, expectedSnapshot, MaildirMessages, nonEmpty, runClient, snapshots, syncTarget, type Expected } from './maildir.ts';

setDefaultTimeout(150_000);

const TARGET = process.env.POSTERN_E2E_TARGET === 'dovecot' ? 'dovecot' : 'postern';
const skip = missing('mbsync', 'mbsync is not installed (Debian: isync)') || (TARGET === 'dovecot' && missing('dovecot', 'POSTERN_E2E_TARGET=dovecot but dovecot is not installed'));

const USER: Account = { address: 'user@localhost', password: 'password1234' };
const INBOX_COUNT = 1500;
const LISTS_COUNT = 500;

const gen = new MaildirMessages({
  stamp: 1600000000,
  seed: 104_729,
  words: 'the quick brown fox jumps over lazy dogs while mail servers sync every folder and flag in order'.split(' '),
  lines: (n, r) => (n % 400 === 7 ? 6000 : Math.floor(3 + r() * r() * 900)),
  headers: (id, n) => [
    `From: ${['Alice <alice@example.org>', 'bob@example.net', '=?UTF-8?Q?J=C3=B6rg?= <joerg@example.de>'][n % 3]}`,
    'To: user@localhost',
    ...(n % 5 === 0 ? ['Cc: "Team, All" <team@example.org>'] : []),
    `Subject: ${n % 7 === 0 ? '=?UTF-8?B?w5xiZXJzaWNodA==?= ' : ''}message ${id}`,
    `Date: ${new Date(Date.UTC(2021, 0, 1) + n * 3_600_000).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${id}@example.test>`,
    ...(n % 4 === 0 ? [`In-Reply-To: <m-${n - 1}@example.test>`, `References: <m-${n - 2}@example.test>\n <m-${n - 1}@example.test>`] : []),
    ...(n % 9 === 0 ? ['X-Long: ' + Array.from({ length: 30 }, (_, k) => `word${k}`).join('\n ')] : []),
  ],
  attachment: (n, r) => (n % 6 === 0 ? 500 + Math.floor(r() * 4000) : 0),
  flags: { D: (n) => n % 97 === 0, F: (n) => n % 11 === 0, R: (n) => n % 13 === 0, S: (n) => n % 3 !== 0 },
});

// Every mailbox the server LISTs; the maildir's root would be INBOX.
const { readMaildir, readServer, diff, normalise } = snapshots({ ignoreHeader: /^X-TUID: .*\n/im, rootFolder: 'INBOX' });

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
  const { log, code, signal } = await runClient(['mbsync', '-q', '-c', rc, '-a'], timeoutMs);
  if (code !== 0) throw new Error(`mbsync -c ${rc} -a exited ${signal ? `by ${signal} (deadline ${timeoutMs} ms)` : code}:\n${log.split('\n').slice(-30).join('\n')}`);
  return log;
}

// ---- the test ----

const expected: Expected = new Map();
let synced = false;

describe.skipIf(skip)(`mbsync (${TARGET})`, () => {
  const t = syncTarget(TARGET, USER, 'postern-mbsync-');
  const A = () => join(t.dir, 'A');
  const B = () => join(t.dir, 'B');

  test('a 2,000-message maildir syncs up; a second maildir syncs down and is identical', async () => {
    const t0 = Date.now();
    gen.fill(A(), [['INBOX', INBOX_COUNT, 'm'], ['Lists', LISTS_COUNT, 'l']], expected);
    const tGen = Date.now();
    const local = readMaildir(A());
    expect(local.get('INBOX')?.size).toBe(INBOX_COUNT);
    expect(local.get('Lists')?.size).toBe(LISTS_COUNT);

    await mbsync(writeRc(t.dir, A(), t.port));
    const tUp = Date.now();
    const server = await readServer(t.c);
    expect(diff('maildir A', nonEmpty(readMaildir(A())), 'server', nonEmpty(server))).toEqual([]);
    expect(server.get('INBOX')?.size).toBe(INBOX_COUNT);
    expect(server.get('Lists')?.size).toBe(LISTS_COUNT);

    mkdirSync(B(), { recursive: true });
    await mbsync(writeRc(t.dir, B(), t.port));
    const tDown = Date.now();
    expect(diff('maildir A', nonEmpty(readMaildir(A())), 'maildir B', nonEmpty(readMaildir(B())))).toEqual([]);
    synced = true;
    console.log(`mbsync (${TARGET}): maildir of ${INBOX_COUNT + LISTS_COUNT} messages generated in ${tGen - t0} ms; synced up in ${tUp - tGen} ms, down in ${tDown - tUp} ms (each with its check)`);
  });

  test('changes on both sides (flags, deletions, new messages) sync; both maildirs and the server end identical', async () => {
    expect(synced).toBe(true); // the first test passed
    await change({ c: t.c, maildir: A(), gen, normalise, expected }, {
      prefix: 'm',
      // 50 unseen -> seen, 10 unflagged, 20 deleted; 30 new in INBOX, 5 in Lists.
      maildir: { seen: [3, 150, 3], unflag: [11, 110, 11], remove: [201, 220], inbox: ['a', 30, 5000, (k) => (k % 2 ? '' : 'S')], lists: ['al', 5, 6000, () => 'F'] },
      // Other messages than above: 40 flagged, 15 unseen, 25 expunged; 30 appended.
      server: { flag: [301, 340], unseen: [401, 430, 2], expunge: [501, 525], append: ['s', 30, 7000, (k) => (k % 3 === 0 ? ['\\Seen', '\\Answered'] : [])] },
    });

    await mbsync(writeRc(t.dir, A(), t.port));
    await mbsync(writeRc(t.dir, B(), t.port));

    const want = expectedSnapshot(expected, readMaildir(A()));
    const a = nonEmpty(readMaildir(A()));
    const b = nonEmpty(readMaildir(B()));
    const server = nonEmpty(await readServer(t.c));
    expect(diff('expected', want, 'maildir A', a)).toEqual([]);
    expect(diff('maildir A', a, 'maildir B', b)).toEqual([]);
    expect(diff('maildir A', a, 'server', server)).toEqual([]);
    expect(server.get('INBOX')?.size).toBe(INBOX_COUNT - 20 + 30 - 25 + 30);
    expect(server.get('Lists')?.size).toBe(LISTS_COUNT + 5);

    // A third run changes nothing anywhere.
    await mbsync(writeRc(t.dir, A(), t.port));
    expect(diff('server before', server, 'server after', nonEmpty(await readServer(t.c)))).toEqual([]);
  });
});
