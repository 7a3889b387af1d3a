// End-to-end: SEARCH and UID SEARCH against a real server process (RFC 9051 §6.4.4,
// RFC 3501 §6.4.4, RFC 4731 ESEARCH, RFC 5182 SEARCHRES, RFC 5032 WITHIN). The message
// corpus and the query table are shared with the unit tests (search/testdata.ts), where
// each answer was checked against Dovecot 2.3.19. Each test uses its own mailbox or
// connection so that each fails alone.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { literal, pick, type CommandResult, type ImapClient } from '../imap/client.ts';
import { CORPUS, QUERIES } from '../imap/search/testdata.ts';
import { message, startServer, type TestServer } from './harness.ts';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({});
  const c = await srv.login();
  await c.ok('CREATE corpus');
  for (const m of CORPUS) {
    const r = await c.append('corpus', m.bytes, { flags: m.flags, date: m.date });
    expect(r.status).toBe('OK');
  }
});
afterAll(async () => {
  await srv?.stop();
});
afterEach(() => {
  srv?.assertHealthy();
});

/** The numbers of the one `* SEARCH` answer. */
function searchNums(r: CommandResult): number[] {
  const s = pick(r, 'SEARCH');
  expect(s.length).toBe(1);
  return s[0].nums;
}

/** The raw `* ESEARCH` lines of an answer. */
function esearch(r: CommandResult): string[] {
  return r.untagged.filter((u) => u.type === 'OTHER' && u.name === 'ESEARCH').map((u) => u.raw.replace(/\r\n$/, ''));
}

async function rev1(mailbox = 'corpus'): Promise<ImapClient> {
  const c = await srv.login();
  await c.select(mailbox);
  return c;
}

async function rev2(mailbox = 'corpus'): Promise<ImapClient> {
  const c = await srv.login(undefined, undefined, { enable: ['IMAP4rev2'] });
  await c.select(mailbox);
  return c;
}

describe('every key, as Dovecot answers for the same messages (IMAP4rev1 form)', () => {
  test('the query table', async () => {
    const c = await rev1();
    const wrong: string[] = [];
    for (const { q, want } of QUERIES) {
      const got = searchNums(await c.ok(`SEARCH ${q}`));
      if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`SEARCH ${q}: got ${got.join(' ')}, want ${want.join(' ')}`);
    }
    expect(wrong).toEqual([]);
  });

  test('UID SEARCH answers UIDs; UID sets and sequence sets mix', async () => {
    await srv.login().then((c) => c.ok('CREATE gaps'));
    const c = await rev1('gaps');
    // UIDs 1..6, then expunge 2 and 4: sequence numbers 1..4 are UIDs 1 3 5 6.
    for (let i = 1; i <= 6; i++) await c.append('gaps', message(`gap ${i}`), { flags: i === 2 || i === 4 ? ['\\Deleted'] : i === 5 ? ['\\Seen'] : [] });
    await c.ok('NOOP');
    await c.ok('EXPUNGE');
    expect(searchNums(await c.ok('SEARCH ALL'))).toEqual([1, 2, 3, 4]);
    expect(searchNums(await c.ok('UID SEARCH ALL'))).toEqual([1, 3, 5, 6]);
    expect(searchNums(await c.ok('UID SEARCH SEEN'))).toEqual([5]);
    expect(searchNums(await c.ok('SEARCH SEEN'))).toEqual([3]);
    expect(searchNums(await c.ok('UID SEARCH 2:3'))).toEqual([3, 5]);
    expect(searchNums(await c.ok('SEARCH UID 2:5'))).toEqual([2, 3]);
    expect(searchNums(await c.ok('UID SEARCH UID *'))).toEqual([6]);
    expect(searchNums(await c.ok('UID SEARCH UID 100:*'))).toEqual([6]);
    expect(searchNums(await c.ok('SEARCH 3:100'))).toEqual([3, 4]);
    expect(searchNums(await c.ok('SEARCH 100'))).toEqual([]);
  });

  test('strings as literals, 8-bit UTF-8 under CHARSET UTF-8; US-ASCII and lower-case names accepted', async () => {
    const c = await rev1();
    expect(searchNums(await c.ok(['SEARCH CHARSET UTF-8 BODY ', literal('grüße')]))).toEqual([2]);
    expect(searchNums(await c.ok(['SEARCH CHARSET UTF-8 SUBJECT ', literal('KÖLN'), ' FROM ', literal('Jürgen')]))).toEqual([2]);
    expect(searchNums(await c.ok(['SEARCH CHARSET utf-8 BODY ', literal('CAFÉ')]))).toEqual([3, 7]);
    expect(searchNums(await c.ok('SEARCH CHARSET US-ASCII BODY softbreak'))).toEqual([3]);
    expect(searchNums(await c.ok('SEARCH CHARSET "us-ascii" TEXT kiwi'))).toEqual([1]);
  });

  test('BODY finds text in base64 and quoted-printable bodies, decoded from their charset', async () => {
    await srv.login().then((c) => c.ok('CREATE encoded'));
    const c = await rev1('encoded');
    const b64 = Buffer.from('Überweisung für Ångström: 12 €\r\n', 'utf8').toString('base64');
    await c.append('encoded', `Subject: b64\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n`);
    const qp = 'Pr=E9sentation du r=E9sum=E9, tr=E8s =\r\nlongue ligne=\r\n\r\n';
    await c.append('encoded', `Subject: qp\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${qp}`);
    const koi = Uint8Array.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4]); // "Привет" in KOI8-R
    await c.append('encoded', new Uint8Array([...new TextEncoder().encode('Subject: =?KOI8-R?B?8NLJ18XU?=\r\nContent-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'), ...koi, 0x0d, 0x0a]));
    expect(searchNums(await c.ok(['SEARCH CHARSET UTF-8 BODY ', literal('für ångström')]))).toEqual([1]);
    expect(searchNums(await c.ok(['SEARCH CHARSET UTF-8 BODY ', literal('12 €')]))).toEqual([1]);
    expect(searchNums(await c.ok(['SEARCH CHARSET UTF-8 BODY ', literal('RÉSUMÉ, TRÈS LONGUE')]))).toEqual([2]);
    expect(searchNums(await c.ok(['SEARCH CHARSET UTF-8 BODY ', literal('привет')]))).toEqual([3]);
    expect(searchNums(await c.ok(['SEARCH CHARSET UTF-8 SUBJECT ', literal('ПРИВЕТ')]))).toEqual([3]);
    // The encoded form is not what is searched.
    expect(searchNums(await c.ok('SEARCH BODY "=E9"'))).toEqual([]);
    expect(searchNums(await c.ok(`SEARCH BODY "${b64.slice(0, 12)}"`))).toEqual([]);
  });

  test('OLDER and YOUNGER (WITHIN) on INTERNALDATE', async () => {
    await srv.login().then((c) => c.ok('CREATE within'));
    const c = await rev1('within');
    await c.append('within', message('old'), { date: '01-Jan-2020 00:00:00 +0000' });
    await c.append('within', message('new'));
    expect(searchNums(await c.ok('SEARCH YOUNGER 3600'))).toEqual([2]);
    expect(searchNums(await c.ok('SEARCH OLDER 3600'))).toEqual([1]);
    expect(searchNums(await c.ok('SEARCH NOT YOUNGER 3600'))).toEqual([1]);
    expect((await c.command('SEARCH YOUNGER 0')).status).toBe('BAD');
  });

  test('MODSEQ: the answer carries the highest modseq of the matches (RFC 7162 §3.1.5)', async () => {
    const c = await rev1();
    const r = await c.ok('SEARCH MODSEQ 1 SEEN');
    const line = pick(r, 'SEARCH')[0].raw;
    expect(line).toMatch(/^\* SEARCH 1 3 \(MODSEQ \d+\)\r?\n?$/);
    const none = await c.ok('SEARCH MODSEQ 1 KEYWORD nothing');
    expect(pick(none, 'SEARCH')[0].raw.trim()).toBe('* SEARCH');
  });
});

describe('answer forms', () => {
  test('IMAP4rev2 without RETURN answers ESEARCH ALL; nothing found is the bare correlator', async () => {
    const c = await rev2();
    let r = await c.command('SEARCH FLAGGED', { tag: 'A1' });
    expect(esearch(r)).toEqual(['* ESEARCH (TAG "A1") ALL 2']);
    r = await c.command('SEARCH UNSEEN', { tag: 'A2' });
    expect(esearch(r)).toEqual(['* ESEARCH (TAG "A2") ALL 2,4:7']);
    expect(pick(r, 'SEARCH')).toEqual([]);
    r = await c.command('UID SEARCH SEEN', { tag: 'A3' });
    expect(esearch(r)).toEqual(['* ESEARCH (TAG "A3") UID ALL 1,3']);
    r = await c.command('SEARCH KEYWORD nothing', { tag: 'A4' });
    expect(esearch(r)).toEqual(['* ESEARCH (TAG "A4")']);
    r = await c.command('UID SEARCH KEYWORD nothing', { tag: 'A5' });
    expect(esearch(r)).toEqual(['* ESEARCH (TAG "A5") UID']);
  });

  test('RETURN (MIN MAX ALL COUNT) in any order and combination; COUNT 0 when nothing matched', async () => {
    for (const c of [await rev1(), await rev2()]) {
      const run = async (args: string) => esearch(await c.command(args, { tag: 'T' }));
      expect(await run('SEARCH RETURN (MIN MAX) UNSEEN')).toEqual(['* ESEARCH (TAG "T") MIN 2 MAX 7']);
      expect(await run('SEARCH RETURN (COUNT) KEYWORD nothing')).toEqual(['* ESEARCH (TAG "T") COUNT 0']);
      expect(await run('SEARCH RETURN (MIN MAX ALL) KEYWORD nothing')).toEqual(['* ESEARCH (TAG "T")']);
      expect(await run('SEARCH RETURN () ALL')).toEqual(['* ESEARCH (TAG "T") ALL 1:7']);
      expect(await run('SEARCH RETURN (COUNT ALL MAX MIN) ALL')).toEqual(['* ESEARCH (TAG "T") MIN 1 MAX 7 ALL 1:7 COUNT 7']);
      expect(await run('UID SEARCH RETURN (ALL) 2:4')).toEqual(['* ESEARCH (TAG "T") UID ALL 2:4']);
      expect(await run('UID SEARCH RETURN (COUNT) OR SEEN FLAGGED')).toEqual(['* ESEARCH (TAG "T") UID COUNT 3']);
      expect(await run('SEARCH RETURN (ALL) CHARSET UTF-8 TEXT "grüße aus köln"')).toEqual(['* ESEARCH (TAG "T") ALL 2']);
    }
  });

  test('the tag is a quoted string in the correlator', async () => {
    const c = await rev2();
    const r = await c.command('SEARCH RETURN (COUNT) SEEN', { tag: 'x]1' });
    expect(esearch(r)).toEqual(['* ESEARCH (TAG "x]1") COUNT 2']);
  });
});

describe('SEARCHRES: RETURN (SAVE) and $', () => {
  test('SAVE alone answers nothing; $ is usable in SEARCH, UID SEARCH and as UID $', async () => {
    const c = await rev1();
    const r = await c.ok('SEARCH RETURN (SAVE) SEEN');
    expect(r.untagged.filter((u) => u.type === 'SEARCH' || (u.type === 'OTHER' && u.name === 'ESEARCH'))).toEqual([]);
    expect(searchNums(await c.ok('SEARCH $'))).toEqual([1, 3]);
    expect(searchNums(await c.ok('UID SEARCH UID $'))).toEqual([1, 3]);
    expect(searchNums(await c.ok('SEARCH $ ANSWERED'))).toEqual([3]);
    expect(searchNums(await c.ok('SEARCH OR $ FLAGGED'))).toEqual([1, 2, 3]);
    expect(searchNums(await c.ok('SEARCH NOT $'))).toEqual([2, 4, 5, 6, 7]);
  });

  test('SAVE with MIN/MAX keeps only those; with ALL or COUNT, everything', async () => {
    const c = await rev2();
    expect(esearch(await c.command('SEARCH RETURN (SAVE MIN) UNSEEN', { tag: 'S1' }))).toEqual(['* ESEARCH (TAG "S1") MIN 2']);
    expect(esearch(await c.command('SEARCH RETURN (ALL) $', { tag: 'S2' }))).toEqual(['* ESEARCH (TAG "S2") ALL 2']);
    await c.ok('SEARCH RETURN (SAVE MIN MAX) ALL');
    expect(esearch(await c.command('UID SEARCH RETURN (ALL) UID $', { tag: 'S3' }))).toEqual(['* ESEARCH (TAG "S3") UID ALL 1,7']);
    expect(esearch(await c.command('SEARCH RETURN (SAVE COUNT) DELETED', { tag: 'S4' }))).toEqual(['* ESEARCH (TAG "S4") COUNT 1']);
    expect(esearch(await c.command('SEARCH RETURN (ALL) $', { tag: 'S5' }))).toEqual(['* ESEARCH (TAG "S5") ALL 4']);
    expect(esearch(await c.command('SEARCH RETURN (SAVE ALL) UNSEEN UNDELETED', { tag: 'S6' }))).toEqual(['* ESEARCH (TAG "S6") ALL 2,5:7']);
    expect(esearch(await c.command('SEARCH RETURN (COUNT) $', { tag: 'S7' }))).toEqual(['* ESEARCH (TAG "S7") COUNT 4']);
  });

  test('$ in the SAVE command itself is the previous result; an empty result saves empty', async () => {
    const c = await rev1();
    await c.ok('SEARCH RETURN (SAVE) OR SEEN FLAGGED');
    await c.ok('SEARCH RETURN (SAVE) $ UNSEEN');
    expect(searchNums(await c.ok('SEARCH $'))).toEqual([2]);
    await c.ok('SEARCH RETURN (SAVE) KEYWORD nothing');
    expect(searchNums(await c.ok('SEARCH $'))).toEqual([]);
    expect(searchNums(await c.ok('UID SEARCH $'))).toEqual([]);
  });

  test('a SEARCH with SAVE that fails empties the saved result (RFC 5182 §2.1)', async () => {
    const c = await rev1();
    await c.ok('SEARCH RETURN (SAVE) SEEN');
    await c.no('SEARCH RETURN (SAVE) CHARSET KOI8-R BODY x', 'BADCHARSET');
    expect(searchNums(await c.ok('SEARCH $'))).toEqual([]);
  });
});

describe('errors', () => {
  test('an unsupported charset: NO [BADCHARSET (UTF-8 US-ASCII)], and the session goes on', async () => {
    const c = await rev1();
    for (const cs of ['ISO-8859-1', 'x-unknown', '"windows-1252"']) {
      const r = await c.no(`SEARCH CHARSET ${cs} BODY x`, 'BADCHARSET');
      expect(r.code).toBe('BADCHARSET (UTF-8 US-ASCII)');
    }
    await c.no('UID SEARCH RETURN (ALL) CHARSET ISO-2022-JP TEXT x', 'BADCHARSET');
    expect(searchNums(await c.ok('SEARCH SEEN'))).toEqual([1, 3]);
  });

  test('invalid UTF-8 in a search string is BAD (as Dovecot)', async () => {
    const c = await rev1();
    const r = await c.command(['SEARCH CHARSET UTF-8 BODY ', literal(Uint8Array.of(0x61, 0xff, 0xfe))]);
    expect(r.status).toBe('BAD');
    const r2 = await c.command(['SEARCH SUBJECT ', literal(Uint8Array.of(0xc3))]);
    expect(r2.status).toBe('BAD');
    await c.ok('NOOP');
  });

  test('SEARCH needs a selected mailbox', async () => {
    const c = await srv.login();
    expect((await c.command('SEARCH ALL')).status).toBe('BAD');
  });
});

describe('two sessions', () => {
  test('SEARCH by number gets no EXPUNGE; the expunged message no longer matches; UID SEARCH may get it', async () => {
    await srv.login().then((c) => c.ok('CREATE twosessions'));
    const a = await rev1('twosessions');
    for (let i = 1; i <= 3; i++) await a.append('twosessions', message(`two ${i}`), { flags: i === 2 ? ['\\Deleted'] : [] });
    await a.ok('NOOP');
    const b = await rev1('twosessions');
    await b.ok('EXPUNGE');
    const r = await a.ok('SEARCH ALL');
    expect(pick(r, 'EXPUNGE')).toEqual([]);
    expect(searchNums(r)).toEqual([1, 3]);
    const r2 = await a.ok('UID SEARCH ALL');
    expect(pick(r2, 'EXPUNGE').map((e) => e.num)).toEqual([2]);
    expect(searchNums(r2)).toEqual([1, 3]);
    expect(searchNums(await a.ok('SEARCH ALL'))).toEqual([1, 2]);
  });
});
