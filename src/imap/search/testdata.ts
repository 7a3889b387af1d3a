// Test data shared by the SEARCH unit and end-to-end tests: seven messages covering
// encoded words, base64/quoted-printable bodies in several charsets, multipart with
// preamble/epilogue, a non-text attachment, embedded messages and broken dates, and the
// answers Dovecot 2.3.19 gives for the same bytes (`dovecot` where we differ on purpose).

const CRLF = '\r\n';
const lines = (...l: string[]) => l.join(CRLF);
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** A message as bytes: `latin1` parts are written byte per char. */
export interface CorpusMessage {
  bytes: Uint8Array;
  flags: string[];
  /** INTERNALDATE as sent in APPEND. */
  date: string;
  /** INTERNALDATE, ms since epoch. */
  internalDate: number;
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

const m1 = utf8(lines(
  'From: Alice Example <alice@example.org>', 'To: bob@example.net', 'Cc: Carol <carol@example.com>',
  'Subject: Hello world', 'Date: Mon, 7 Feb 1994 21:52:25 -0800', 'X-Foo: bar', 'Message-ID: <m1@example.org>',
  '', 'Plain body text with kiwi.', ''));

const m2 = utf8(lines(
  'From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <juergen@example.de>', 'To: =?ISO-8859-1?Q?Ren=E9?= <rene@example.fr>',
  'Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus?=', ' =?UTF-8?Q?_K=C3=B6ln?=', 'Date: Tue, 1 Mar 2022 00:30:00 +0200',
  'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: base64',
  '', b64('Schöne Grüße von Jürgen, straße\r\n'), ''));

const m3 = cat(latin1(lines(
  'From: dave@example.org', 'To: bob@example.net', 'Subject: cafe', 'Date: 15 Jun 2020 12:00:00 GMT',
  'MIME-Version: 1.0', 'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: quoted-printable',
  '', 'Un caf=E9 cr=E8me, soft=', 'break here.', '')));

const m4 = utf8(lines(
  'From: eve@example.org', 'To: bob@example.net', 'Subject: multipart', 'Date: garbage date', 'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="XX"', '', 'preamble pineapple',
  '--XX', 'Content-Type: text/plain', 'X-Part: partheader', '', 'first part banana',
  '--XX', 'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', '', b64('secretword inside attachment'),
  '--XX', 'Content-Type: message/rfc822', '', 'From: inner@example.org', 'Subject: inner subject mango', '', 'inner body papaya',
  '--XX--', 'epilogue cherry', ''));

const m5 = utf8(lines('From: frank@example.org', 'Subject: no date here', '', 'Body five', ''));

const m6 = utf8(lines(
  'From: "Group" <g@example.org>', 'To: undisclosed-recipients:;', 'Subject: html', 'Date: Wed, 02 Nov 2005 23:59:59 -1100',
  'Content-Type: text/html; charset=utf-8', '', '<p>H&eacute;llo <b>strong</b> ÄÖÜ</p>', ''));

const m7 = cat(
  utf8(lines('From: x@example.org', 'Subject: json', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=b1', '',
    '--b1', 'Content-Type: application/json', '', '{"k": "jsonvalue"}',
    '--b1', 'Content-Type: text/plain; charset=x-weird', '', 'weird charset café text',
    '--b1', 'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: 8bit', '', '')),
  latin1('raw latin caf\xe9\r\n'),
  utf8(lines('--b1', 'Content-Type: message/rfc822', 'Content-Transfer-Encoding: base64', '',
    'U3ViamVjdDogYjY0aW5uZXIKCmlubmVyYm9keWI2NAo=', '--b1--', '')),
);

const msg = (bytes: Uint8Array, flags: string[], date: string): CorpusMessage => ({ bytes, flags, date, internalDate: imapDateMs(date) });

/** APPEND date-time to ms. */
function imapDateMs(s: string): number {
  const m = /^(\d{1,2})-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/.exec(s)!;
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const utc = Date.UTC(+m[3], months.indexOf(m[2]), +m[1], +m[4], +m[5], +m[6]);
  const zone = (m[7] === '-' ? -1 : 1) * (+m[8] * 60 + +m[9]);
  return utc - zone * 60_000;
}

export const CORPUS: CorpusMessage[] = [
  msg(m1, ['\\Seen'], '07-Feb-1994 21:52:25 -0800'),
  msg(m2, ['\\Flagged', '$Label1'], '01-Mar-2022 00:30:00 +0200'),
  msg(m3, ['\\Answered', '\\Seen'], '15-Jun-2020 12:00:00 +0000'),
  msg(m4, ['\\Deleted'], '31-Dec-2021 23:59:59 -0500'),
  msg(m5, ['\\Draft'], '01-Jan-2023 00:00:00 +0000'),
  msg(m6, [], '02-Nov-2005 23:59:59 -1100'),
  msg(m7, [], '02-Nov-2005 23:59:59 +0000'),
];

/** A SEARCH query (the command's arguments, UTF-8) and the sequence numbers it finds in CORPUS. */
export interface CorpusQuery {
  q: string;
  want: number[];
  /** What Dovecot answers, where we differ on purpose (the reason in `why`). */
  dovecot?: number[];
  why?: string;
}

export const QUERIES: CorpusQuery[] = [
  { q: 'ALL', want: [1, 2, 3, 4, 5, 6, 7] },
  { q: '100', want: [] },
  { q: '1:100', want: [1, 2, 3, 4, 5, 6, 7] },
  { q: '6:100', want: [6, 7] },
  { q: '*', want: [7] },
  { q: 'UID 1000', want: [] },
  { q: 'UID 3:*', want: [3, 4, 5, 6, 7] },
  { q: 'SEEN', want: [1, 3] },
  { q: 'UNSEEN', want: [2, 4, 5, 6, 7] },
  { q: 'FLAGGED', want: [2] },
  { q: 'ANSWERED', want: [3] },
  { q: 'DELETED', want: [4] },
  { q: 'UNDELETED', want: [1, 2, 3, 5, 6, 7] },
  { q: 'DRAFT', want: [5] },
  { q: 'KEYWORD $label1', want: [2] },
  { q: 'UNKEYWORD $LABEL1', want: [1, 3, 4, 5, 6, 7] },
  { q: 'OR SEEN FLAGGED', want: [1, 2, 3] },
  { q: 'NOT (SEEN FLAGGED)', want: [1, 2, 3, 4, 5, 6, 7], dovecot: [2, 3, 4, 5, 6, 7], why: 'Dovecot 2.3.19 leaves out message 1 (\\Seen only), against RFC 9051' },
  { q: 'OR UNSEEN UNFLAGGED', want: [1, 2, 3, 4, 5, 6, 7], dovecot: [2, 3, 4, 5, 6, 7], why: 'the same Dovecot 2.3.19 flag simplification bug' },
  { q: 'NOT (SEEN ANSWERED)', want: [1, 2, 4, 5, 6, 7], dovecot: [2, 4, 5, 6, 7], why: 'the same Dovecot 2.3.19 flag simplification bug' },
  { q: '2,4:5 UNSEEN', want: [2, 4, 5] },
  { q: 'LARGER 300', want: [2, 4, 7] },
  { q: 'SMALLER 200', want: [5, 6] },
  { q: 'ON 28-Feb-2022', want: [2] },
  { q: 'ON 1-Mar-2022', want: [] },
  { q: 'ON 1-Jan-2022', want: [4] },
  { q: 'BEFORE 1-Jan-2000', want: [1] },
  { q: 'SINCE 1-Jan-2022', want: [2, 4, 5] },
  { q: 'SENTON 1-Mar-2022', want: [2] },
  { q: 'SENTON 28-Feb-2022', want: [] },
  { q: 'SENTON 2-Nov-2005', want: [6] },
  { q: 'SENTON 15-Jun-2020', want: [3] },
  { q: 'SENTSINCE 1-Jan-2000', want: [2, 3, 6] },
  { q: 'SENTBEFORE 1-Jan-2000', want: [1], dovecot: [1, 4, 5, 7], why: 'a missing or unparseable Date: matches no SENT* key (Dovecot takes it as 1970)' },
  { q: 'OLDER 100000', want: [1, 2, 3, 4, 5, 6, 7] },
  { q: 'YOUNGER 100000', want: [] },
  { q: 'SUBJECT ""', want: [1, 2, 3, 4, 5, 6, 7] },
  { q: 'HEADER X-Foo ""', want: [1] },
  { q: 'HEADER X-Nope ""', want: [] },
  { q: 'BCC ""', want: [] },
  { q: 'CC ""', want: [1] },
  { q: 'CC carol', want: [1] },
  { q: 'HEADER SUBJECT hello', want: [1] },
  { q: 'HEADER "Message-ID" m1', want: [1] },
  { q: 'BODY secretword', want: [] },
  { q: 'TEXT secretword', want: [] },
  { q: 'BODY mango', want: [] },
  { q: 'TEXT mango', want: [4] },
  { q: 'BODY papaya', want: [4] },
  { q: 'BODY pineapple', want: [] },
  { q: 'TEXT pineapple', want: [] },
  { q: 'BODY cherry', want: [] },
  { q: 'BODY partheader', want: [] },
  { q: 'TEXT partheader', want: [4] },
  { q: 'TEXT subject', want: [1, 2, 3, 4, 5, 6, 7] },
  { q: 'BODY kiwi', want: [1] },
  { q: 'TEXT kiwi', want: [1] },
  { q: 'BODY ""', want: [1, 2, 3, 4, 5, 6, 7] },
  { q: 'NOT BODY ""', want: [] },
  { q: 'TEXT ""', want: [1, 2, 3, 4, 5, 6, 7] },
  { q: 'CHARSET UTF-8 BODY "grüße"', want: [2] },
  { q: 'CHARSET UTF-8 BODY "GRÜSSE"', want: [] },
  { q: 'CHARSET UTF-8 BODY "STRASSE"', want: [] },
  { q: 'CHARSET UTF-8 BODY "café"', want: [3, 7] },
  { q: 'CHARSET UTF-8 BODY "CAFÉ"', want: [3, 7] },
  { q: 'BODY "softbreak"', want: [3] },
  { q: 'CHARSET UTF-8 SUBJECT "grüße aus köln"', want: [2] },
  { q: 'CHARSET UTF-8 SUBJECT "aus  Köln"', want: [] },
  { q: 'CHARSET UTF-8 FROM "jürgen"', want: [2] },
  { q: 'FROM "juergen@example.de"', want: [2] },
  { q: 'FROM "<juergen@"', want: [2] },
  { q: 'FROM "Alice Example"', want: [1] },
  { q: 'FROM "Alice Example <alice"', want: [1], dovecot: [], why: 'address keys match the decoded header text; Dovecot matches a re-written form with quoted display names' },
  { q: 'CHARSET UTF-8 TO "René"', want: [2] },
  { q: 'TO "undisclosed"', want: [6] },
  { q: 'CHARSET UTF-8 BODY "Héllo"', want: [] },
  { q: 'BODY "eacute"', want: [6] },
  { q: 'CHARSET UTF-8 BODY "äöü"', want: [6] },
  { q: 'CHARSET UTF-8 TEXT "grüße aus köln"', want: [2] },
  { q: 'TEXT "=?UTF-8?Q?"', want: [] },
  { q: 'BODY jsonvalue', want: [] },
  { q: 'TEXT octet-stream', want: [4] },
  { q: 'TEXT "application/json"', want: [7] },
  { q: 'CHARSET UTF-8 BODY "weird charset café"', want: [7] },
  { q: 'CHARSET UTF-8 BODY "latin café"', want: [7] },
  { q: 'BODY innerbodyb64', want: [] },
  { q: 'TEXT b64inner', want: [] },
  { q: 'CHARSET UTF-8 BODY "Schöne"', want: [2] },
  { q: 'TEXT "subject: hello"', want: [1] },
  { q: 'TEXT "subject:hello"', want: [] },
  { q: 'CHARSET UTF-8 HEADER subject "grüße aus köln"', want: [2] },
  { q: 'HEADER content-type "charset=utf-8"', want: [2, 6] },
  { q: 'TEXT "X-Foo: bar"', want: [1] },
  { q: 'OR BODY kiwi (FLAGGED SUBJECT "köln")', want: [1, 2] },
  { q: 'NOT OR TEXT mango SEEN', want: [2, 5, 6, 7] },
];
