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

import { describe, expect, setDefaultTimeout, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { missing, type Account } from './harness.ts';
import { change, expectedSnapshot, MaildirMessages, runClient, snapshots, syncTarget, type Expected } from './maildir.ts';

setDefaultTimeout(150_000);

const TARGET = process.env.POSTERN_E2E_TARGET === 'dovecot' ? 'dovecot' : 'postern';
const skip = missing('offlineimap', 'offlineimap is not installed (Debian: offlineimap)')
  || (TARGET === 'dovecot' && missing('dovecot', 'POSTERN_E2E_TARGET=dovecot but dovecot is not installed'));

const USER: Account = { address: 'user@localhost', password: 'password1234' };
const FOLDERS: Array<[string, number, string]> = [['INBOX', 300, 'o'], ['Lists', 100, 'ol']];

const gen = new MaildirMessages({
  stamp: 1650000000,
  seed: 7_727,
  words: 'offline copies of every folder stay in step with the server both ways through flags and deletions'.split(' '),
  lines: (n, r) => (n % 150 === 5 ? 4000 : Math.floor(2 + r() * r() * 600)),
  headers: (id, n) => [
    `From: ${['Alice <alice@example.org>', 'bob@example.net', '=?UTF-8?Q?Ren=C3=A9e?= <renee@example.fr>'][n % 3]}`,
    'To: user@localhost',
    `Subject: ${n % 5 === 0 ? '=?UTF-8?B?w4RuZGVydW5n?= ' : ''}message ${id}`,
    `Date: ${new Date(Date.UTC(2022, 5, 1) + n * 3_600_000).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${id}@example.test>`,
    ...(n % 4 === 0 ? [`In-Reply-To: <${id}-parent@example.test>`] : []),
  ],
  attachment: (n, r) => (n % 5 === 0 ? 300 + Math.floor(r() * 3000) : 0),
  flags: { F: (n) => n % 7 === 0, R: (n) => n % 9 === 0, S: (n) => n % 2 === 0 },
});

// Only FOLDERS, on both sides; a directory whose name starts with a dot is no folder.
const { readMaildir, readServer, diff, normalise } = snapshots({
  ignoreHeader: /^X-OfflineIMAP: .*\n(?:[ \t].*\n)*/im,
  folders: FOLDERS.map(([f]) => f),
  skipDotDirs: true,
});

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
  const { log, code, signal } = await runClient(['offlineimap', '-c', rc, '-o', '-u', 'basic'], timeoutMs);
  // offlineimap can exit 0 after per-folder errors: its log says ERROR then.
  if (code !== 0 || /\bERROR\b|Traceback/.test(log)) {
    throw new Error(`offlineimap -c ${rc} exited ${signal ? `by ${signal} (deadline ${timeoutMs} ms)` : code}:\n${log.split('\n').filter((l) => !/^\s*(Copy message|Syncing|Establishing|Folder|Adding flag|Deleting flag|Deleting \d+)/.test(l)).slice(-40).join('\n')}`);
  }
  return log;
}

// ---- the test ----

const expected: Expected = new Map();
let synced = false;

describe.skipIf(skip)(`offlineimap (${TARGET})`, () => {
  const t = syncTarget(TARGET, USER, 'postern-offlineimap-');
  const A = () => join(t.dir, 'A');
  const B = () => join(t.dir, 'B');

  test('a maildir syncs up; a second maildir syncs down and is identical', async () => {
    gen.fill(A(), FOLDERS, expected);
    mkdirSync(B(), { recursive: true });

    await offlineimap(writeRc(t.dir, 'A', t.port));
    const server = await readServer(t.c);
    expect(diff('maildir A', readMaildir(A()), 'server', server)).toEqual([]);
    for (const [folder, count] of FOLDERS) expect(server.get(folder)?.size).toBe(count);

    await offlineimap(writeRc(t.dir, 'B', t.port));
    expect(diff('maildir A', readMaildir(A()), 'maildir B', readMaildir(B()))).toEqual([]);
    synced = true;
  });

  test('changes on both sides (flags, deletions, new messages) sync; both maildirs and the server end identical', async () => {
    expect(synced).toBe(true); // the first test passed
    await change({ c: t.c, maildir: A(), gen, normalise, expected }, {
      prefix: 'o',
      maildir: { seen: [1, 40, 2], unflag: [7, 70, 7], remove: [101, 110], inbox: ['oa', 10, 500, (k) => (k % 2 ? '' : 'FS')], lists: ['oal', 3, 600, () => 'S'] },
      server: { flag: [151, 170], unseen: [202, 230, 2], expunge: [251, 262], append: ['os', 10, 700, (k) => (k % 2 ? ['\\Seen'] : [])] },
    });

    await offlineimap(writeRc(t.dir, 'A', t.port));
    await offlineimap(writeRc(t.dir, 'B', t.port));

    const want = expectedSnapshot(expected, readMaildir(A()));
    const a = readMaildir(A());
    const server = await readServer(t.c);
    expect(diff('expected', want, 'maildir A', a)).toEqual([]);
    expect(diff('maildir A', a, 'maildir B', readMaildir(B()))).toEqual([]);
    expect(diff('maildir A', a, 'server', server)).toEqual([]);
    expect(server.get('INBOX')?.size).toBe(300 - 10 + 10 - 12 + 10);
    expect(server.get('Lists')?.size).toBe(100 + 3);
  });
});
