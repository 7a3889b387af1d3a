// postern against Dovecot, byte for byte (issue 4): the same messages are appended to a fresh
// postern and a throwaway Dovecot (bench/dovecot.ts), with the same flags and explicit
// INTERNALDATEs, then every FETCH item of ITEMS and every SEARCH of SEARCHES is sent to both
// and the untagged answers are compared as bytes.
//
// What must differ is removed first: the ESEARCH `(TAG "...")` correlator. Nothing else is
// normalised: UIDs and sequence numbers agree because both mailboxes are fresh and receive the
// same appends in the same order; INTERNALDATE agrees because every APPEND gives one, in
// +0000 (Dovecot runs with TZ=UTC). Both sessions speak IMAP4rev1 (Dovecot 2.3 has no rev2):
// no ENABLE is sent.
//
// A difference is one of:
//   status  the tagged answers differ (OK vs NO, or the response code);
//   form    same tokens, different wire form (a string quoted on one side, a literal on the
//           other): RFC 9051 §4.3 lets the server choose;
//   bytes   the tokens differ.
// KNOWN_DIFFERENCES lists the accepted ones, each with its reason; any other fails the test of
// its message or query with the bytes of both sides and where they first differ.
//
// Messages: fixtures/messages/*.eml (bare LF normalised to CRLF) plus the generated messages of
// GENERATED below, which cover the messy cases of issue 4 on their own (so the test is useful
// while the fixture set is being written).

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotAvailable, startDovecot, type Dovecot } from '../../bench/dovecot.ts';
import { parseResponse, ResponseReader, type Value } from '../imap/client.ts';
import { REPO, startServer, type TestServer } from './harness.ts';

setDefaultTimeout(60_000);

const absent = !dovecotAvailable();
if (absent) console.log('skipping: dovecot is not installed (Debian: dovecot-imapd); postern vs Dovecot comparison not run');

// ---- what is compared ----

const ITEMS = [
  'INTERNALDATE',
  'ENVELOPE',
  'BODYSTRUCTURE',
  'BODY',
  'RFC822.SIZE',
  'BODY.PEEK[]',
  'BODY.PEEK[HEADER]',
  'BODY.PEEK[TEXT]',
  'BODY.PEEK[1]',
  'BODY.PEEK[1.MIME]',
  'BODY.PEEK[HEADER.FIELDS (From Subject Date)]',
  'BODY.PEEK[HEADER.FIELDS.NOT (Received)]',
  'BODY.PEEK[]<0.100>',
  'BINARY.PEEK[1]',
  'BINARY.SIZE[1]',
];

/** One search: its text after `UID SEARCH`, or parts where a Uint8Array is sent as a literal. */
interface Query { name: string; parts: Array<string | Uint8Array> }
const utf8 = (s: string) => new TextEncoder().encode(s);
const q = (text: string): Query => ({ name: text, parts: [text] });
const SEARCHES: Query[] = [
  q('ALL'),
  q('SEEN'),
  q('UNSEEN'),
  q('FLAGGED'),
  q('ANSWERED'),
  q('FROM alice'),
  q('FROM "example.org"'),
  q('TO bob'),
  q('CC carol'),
  q('SUBJECT report'),
  q('SUBJECT "quarterly report"'),
  q('BODY lorem'),
  q('BODY "attached file"'),
  q('TEXT invoice'),
  q('TEXT "Content-Type"'),
  q('HEADER Message-ID "<gen-03@"'),
  q('HEADER X-Mailer ""'),
  q('HEADER Subject Gr'),
  q('LARGER 2000'),
  q('SMALLER 1000'),
  q('BEFORE 10-Mar-2021'),
  q('SINCE 10-Mar-2021'),
  q('ON 5-Mar-2021'),
  q('SENTBEFORE 1-Jan-2021'),
  q('SENTSINCE 1-Jan-2021'),
  q('SENTON 7-Feb-1994'),
  q('OR FROM alice SUBJECT invoice'),
  q('NOT SEEN'),
  q('NOT (FROM alice OR SEEN FLAGGED)'),
  q('OR (LARGER 1000 SMALLER 5000) ON 1-Mar-2021'),
  q('UID 2:4,7'),
  q('1:3 NOT 2'),
  q('BODY nonexistentwordxyz'),
  { name: 'CHARSET UTF-8 SUBJECT Grüße', parts: ['CHARSET UTF-8 SUBJECT ', utf8('Grüße')] },
  { name: 'CHARSET UTF-8 BODY café', parts: ['CHARSET UTF-8 BODY ', utf8('café')] },
  { name: 'CHARSET UTF-8 FROM Jörg', parts: ['CHARSET UTF-8 FROM ', utf8('Jörg')] },
  { name: 'CHARSET UTF-8 TEXT naïve', parts: ['CHARSET UTF-8 TEXT ', utf8('naïve')] },
  q('CHARSET US-ASCII SUBJECT report'),
  q('RETURN (MIN MAX COUNT ALL) ALL'),
  q('RETURN (MIN MAX COUNT ALL) UNSEEN'),
  q('RETURN (COUNT) FROM alice'),
  q('RETURN (MIN MAX COUNT ALL) BODY nonexistentwordxyz'),
  q('RETURN () SEEN'),
];

interface KnownDifference {
  /** Matches the message name, or the query name for searches (default: any). */
  subject?: RegExp;
  /** Matches the FETCH item, or `SEARCH` (default: any). */
  item?: RegExp;
  kind: 'status' | 'form' | 'bytes';
  /** Matches the two normalised responses as latin1 text ('' when a side sent none). */
  match?: (postern: string, dovecot: string) => boolean;
  reason: string;
}

/** Differences accepted on purpose. Anything not listed fails. */
const KNOWN_DIFFERENCES: KnownDifference[] = [
  {
    kind: 'form',
    reason: 'RFC 9051 §4.3: whether a string goes quoted or as a literal (RFC 3516: literal or literal8) is the server\'s choice; the token bytes are still compared (a token difference is a `bytes` difference)',
  },
  {
    item: /^BINARY/,
    kind: 'bytes',
    match: (p, d) => p === '' && /^\* \d+ FETCH \(UID \d+\)\r\n$/.test(d),
    reason: 'Dovecot 2.3 sends `* n FETCH (UID n)` before `NO [UNKNOWN-CTE]`; RFC 3516 asks only for the NO (its status is still compared)',
  },
  {
    subject: /^(05-digest|07-calendar|21-nested-depth|22-boundary-prefix|25-message-global|gen-06-deep-related)/,
    item: /^BINARY/,
    kind: 'bytes',
    reason: 'BINARY of a multipart or message part: Dovecot decodes every leaf inside and rewrites its Content-Transfer-Encoding header; RFC 3516 defines decoding for leaf parts, and postern sends such a part as stored',
  },
  {
    subject: /^(20-duplicate-headers|26-no-mime-version)/,
    item: /^BINARY/,
    kind: 'status',
    reason: 'a Content-Transfer-Encoding without MIME-Version (26) or given twice (20): Dovecot applies it and answers NO [PARSE]; postern follows RFC 2045 (no MIME-Version, no MIME fields; the first field counts) and decodes nothing',
  },
  {
    subject: /^(20-duplicate-headers|26-no-mime-version)/,
    item: /^BINARY/,
    kind: 'bytes',
    reason: 'same cause as the status difference above: postern sends the content, Dovecot only its NO',
  },
  {
    subject: /^TEXT "Content-Type"$/,
    item: /^SEARCH$/,
    kind: 'bytes',
    reason: 'message 26 says "Content-Type" in a body that Dovecot tries to decode with a Content-Transfer-Encoding postern ignores without MIME-Version (RFC 2045); postern finds the word',
  },
  {
    subject: /^(17-headers-only|gen-07-headers-only)/,
    item: /HEADER\.FIELDS/,
    kind: 'bytes',
    reason: 'HEADER.FIELDS of a message that has no empty line after its header: whether a line ending or an empty line is added is not defined by RFC 9051; postern and Dovecot differ by two bytes',
  },
  {
    subject: /^25-message-global/,
    item: /^(BODY|BODYSTRUCTURE)$/,
    kind: 'bytes',
    reason: 'message/global: RFC 9051 §7.5.2 gives message/global the envelope, body structure and line count of message/rfc822; Dovecot 2.3 treats it as an opaque leaf',
  },
  {
    subject: /^gen-06-deep-related/,
    item: /^BODY\.PEEK\[1\]$/,
    kind: 'bytes',
    reason: 'a nested multipart part ends before the CRLF that precedes the outer boundary (RFC 2046 §5.1.1: that CRLF belongs to the boundary); Dovecot includes it',
  },
  {
    subject: /^SENTBEFORE /,
    item: /^SEARCH$/,
    kind: 'bytes',
    reason: 'a message without a readable Date: header has no sent date, so no SENT* key matches it; Dovecot counts it as sent on 1 Jan 1970',
  },
];

// ---- messages ----

interface Msg { name: string; bytes: Uint8Array; flags: string[]; date: string }

/** Bare LF (and lone CR) to CRLF. */
function crlf(b: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 13) {
      out.push(13, 10);
      if (b[i + 1] === 10) i++;
    } else if (c === 10) out.push(13, 10);
    else out.push(c);
  }
  return Uint8Array.from(out);
}

const L = (...lines: string[]) => lines.join('\r\n');
const b64 = (s: string | Uint8Array, width = 76) => (Buffer.from(s).toString('base64').match(new RegExp(`.{1,${width}}`, 'g')) ?? []).join('\r\n');

/** Messages written for this test: one messy case each (names say which). */
const GENERATED: Array<[string, string]> = [
  ['gen-01-plain', L(
    'From: Alice Example <alice@example.org>', 'To: Bob <bob@example.net>', 'Subject: Quarterly report',
    'Date: Mon, 7 Feb 1994 21:52:25 -0800', 'Message-ID: <gen-01@example.org>', '',
    'Lorem ipsum dolor sit amet.', 'Second line.', '')],
  ['gen-02-utf8-encoded-words', L(
    'From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>', 'To: =?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>, bob@example.net',
    'Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=', 'Date: Tue, 2 Mar 2021 10:00:00 +0100', 'Message-ID: <gen-02@example.de>',
    'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '',
    'Ein naïve café-Text mit Umlauten: äöü ß.', '')],
  ['gen-03-alternative-qp', L(
    'From: alice@example.org', 'To: bob@example.net', 'Cc: Carol <carol@example.com>', 'Subject: invoice 42',
    'Date: Wed, 3 Mar 2021 11:30:00 +0000', 'Message-ID: <gen-03@example.org>', 'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="alt-bound"', '',
    'This is a multi-part message in MIME format.', '--alt-bound', 'Content-Type: text/plain; charset="utf-8"',
    'Content-Transfer-Encoding: quoted-printable', '', 'Caf=C3=A9 invoice =E2=82=AC 42, soft=', 'break here.', '',
    '--alt-bound', 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '',
    '<p>Caf=C3=A9 <b>invoice</b></p>', '--alt-bound--', 'epilogue text', '')],
  ['gen-04-mixed-attachment', L(
    'From: "Alice, the sender" <alice@example.org>', 'To: undisclosed-recipients:;', 'Subject: report with attached file',
    'Date: Thu, 4 Mar 2021 08:00:00 -0500', 'Message-ID: <gen-04@example.org>', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed;', ' boundary="mixed-1"', 'Content-Language: en', '',
    '--mixed-1', 'Content-Type: text/plain; charset=us-ascii', '', 'See the attached file.', '',
    '--mixed-1', 'Content-Type: application/pdf; name="report.pdf"', 'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="report.pdf"; size=120', 'Content-ID: <part2@example.org>',
    'Content-Description: The report', 'Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==', 'Content-Language: en, de',
    'Content-Location: https://example.org/report.pdf', '',
    b64('%PDF-1.4 fake pdf content '.repeat(5)), '--mixed-1--', '')],
  ['gen-05-nested-rfc822', L(
    'From: bob@example.net', 'To: alice@example.org', 'Subject: Fwd: original', 'Date: Fri, 5 Mar 2021 12:00:00 +0000',
    'Message-ID: <gen-05@example.net>', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=outer', '',
    '--outer', 'Content-Type: text/plain', '', 'Forwarded below.', '--outer', 'Content-Type: message/rfc822',
    'Content-Disposition: inline', '',
    'From: Carol <carol@example.com>', 'To: bob@example.net', 'Subject: original', 'Date: Sun, 28 Feb 2021 09:00:00 +0000',
    'Message-ID: <inner@example.com>', 'MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary=inner', '',
    '--inner', 'Content-Type: text/plain; charset=utf-8', '', 'Inner lorem text.', '--inner', 'Content-Type: text/html', '',
    '<p>Inner</p>', '--inner--', '', '--outer--', '')],
  ['gen-06-deep-related', L(
    'From: alice@example.org', 'To: bob@example.net', 'Subject: deep', 'Date: Sat, 6 Mar 2021 12:00:00 +0000',
    'Message-ID: <gen-06@example.org>', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=a1', '',
    '--a1', 'Content-Type: multipart/related; boundary=b2; type="multipart/alternative"', '',
    '--b2', 'Content-Type: multipart/alternative; boundary=c3', '',
    '--c3', 'Content-Type: text/plain', '', 'deep plain', '--c3', 'Content-Type: text/html', '', '<img src="cid:img1">', '--c3--',
    '--b2', 'Content-Type: image/png', 'Content-ID: <img1>', 'Content-Transfer-Encoding: base64', '', b64('\x89PNG fake image'), '--b2--',
    '--a1', 'Content-Type: text/plain; name=notes.txt', 'Content-Disposition: attachment', '', 'notes', '--a1--', '')],
  ['gen-07-headers-only', L(
    'From: alice@example.org', 'To: bob@example.net', 'Subject: no body at all', 'Date: Sun, 7 Mar 2021 12:00:00 +0000',
    'Message-ID: <gen-07@example.org>', '')],
  ['gen-08-body-only', L('', 'A body without any header lines.', 'lorem', '')],
  ['gen-09-broken-boundary', L(
    'From: alice@example.org', 'To: bob@example.net', 'Subject: broken multipart', 'Date: Mon, 8 Mar 2021 12:00:00 +0000',
    'Message-ID: <gen-09@example.org>', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="never-closed"', '',
    '--never-closed', 'Content-Type: text/plain', '', 'first part', '--never-closed', 'Content-Type: text/plain', '',
    'second part, and the closing delimiter is missing', '')],
  ['gen-10-no-boundary-param', L(
    'From: alice@example.org', 'Subject: multipart without boundary', 'Date: Tue, 9 Mar 2021 12:00:00 +0000',
    'Message-ID: <gen-10@example.org>', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed', '', 'just text', '')],
  ['gen-11-long-headers-addresses', L(
    'From: "Smith, John (Sales)" <john.smith@example.com>', 'Sender: secretary@example.com', 'Reply-To: list@example.com',
    'To: Team: alice@example.org, "Bob B." <bob@example.net>;, dave@example.com', 'Cc: "quoted \\"name\\"" <"odd local"@example.org>',
    'Bcc: hidden@example.org', 'In-Reply-To: <gen-01@example.org>', 'References: <gen-01@example.org> <gen-02@example.de>',
    'Subject: ' + 'very long subject '.repeat(60).trim(), 'X-Long: ' + Array.from({ length: 80 }, (_, i) => `token${i}`).join('\r\n '),
    'X-Mailer: generator', 'Received: from mx.example.org by mail.example.net; Wed, 10 Mar 2021 12:00:00 +0000',
    'Received: from client by mx.example.org; Wed, 10 Mar 2021 11:59:00 +0000', 'Date: Wed, 10 Mar 2021 12:00:00 +0000',
    'Message-ID: <gen-11@example.com>', '', 'body', '')],
  ['gen-12-8bit-header-unknown-charset-cte', L(
    'From: Jörg <joerg@example.de>', 'To: bob@example.net', 'Subject: Grüße 8-bit raw header', 'Date: Thu, 11 Mar 2021 12:00:00 +0000',
    'Message-ID: <gen-12@example.de>', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=x-unknown-charset',
    'Content-Transfer-Encoding: x-uuencode', '', 'begin 644 file.txt', '#0V%T', '`', 'end', '')],
  ['gen-13-empty-multipart', L(
    'From: alice@example.org', 'Subject: multipart with no parts', 'Date: Fri, 12 Mar 2021 12:00:00 +0000',
    'Message-ID: <gen-13@example.org>', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=empty', '',
    'preamble only', '--empty--', '')],
  ['gen-14-base64-utf8-text', L(
    'From: Carol <carol@example.com>', 'To: alice@example.org', 'Subject: =?utf-8?q?caf=C3=A9_menu?=', 'Date: Sat, 13 Mar 2021 12:00:00 +0000',
    'Message-ID: <gen-14@example.com>', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset="UTF-8"; format=flowed',
    'Content-Transfer-Encoding: base64', '', b64('Today at the café: naïve crème brûlée.\r\nLorem.\r\n'), '')],
  ['gen-15-bare-lf', 'From: alice@example.org\nTo: bob@example.net\nSubject: bare LF lines\nDate: Sun, 14 Mar 2021 12:00:00 +0000\nMessage-ID: <gen-15@example.org>\n\nline one\nline two\n'],
  ['gen-16-large', L(
    'From: bob@example.net', 'To: alice@example.org', 'Subject: large lorem', 'Date: Mon, 15 Mar 2021 12:00:00 +0000',
    'Message-ID: <gen-16@example.net>', '', ...Array.from({ length: 400 }, (_, i) => `lorem ipsum line ${i} dolor sit amet consectetur`), '')],
  ['gen-17-encoded-filename-rfc2231', L(
    'From: alice@example.org', 'To: bob@example.net', 'Subject: rfc2231 params', 'Date: Tue, 16 Mar 2021 12:00:00 +0000',
    'Message-ID: <gen-17@example.org>', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=p', '',
    '--p', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 7bit', '', 'see file', '--p',
    "Content-Type: application/octet-stream; name*=utf-8''na%C3%AFve.bin", "Content-Disposition: attachment; filename*0*=utf-8''na%C3%AF; filename*1=ve.bin",
    'Content-Transfer-Encoding: base64', '', b64(Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff)), '--p--', '')],
  ['gen-18-no-date-no-from', L('Subject: minimal', 'X-Mailer: none', '', 'text', '')],
];

function loadMessages(): Msg[] {
  const dir = join(REPO, 'fixtures/messages');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.eml')).sort() : [];
  if (!files.length) console.log('note: fixtures/messages/*.eml missing or empty: comparing the generated messages only');
  const raw: Array<[string, Uint8Array]> = [
    ...files.map((f): [string, Uint8Array] => [f, new Uint8Array(readFileSync(join(dir, f)))]),
    ...GENERATED.map(([n, s]): [string, Uint8Array] => [n, utf8(s)]),
  ];
  const FLAGS = [[], ['\\Seen'], ['\\Seen', '\\Flagged'], ['\\Answered'], ['\\Seen', '\\Answered', '$Label1']];
  return raw.map(([name, bytes], i) => {
    const day = (i % 20) + 1;
    return { name, bytes: crlf(bytes), flags: FLAGS[i % FLAGS.length], date: `${String(day).padStart(2, '0')}-Mar-2021 12:${String(i % 60).padStart(2, '0')}:00 +0000` };
  });
}

// ---- a raw connection: exact bytes of every response ----

interface Answer { tagged: string; status: string; code: string | null; untagged: Uint8Array[] }

/**
 * Sends commands one at a time and returns the exact bytes of each untagged response, literals
 * included. Independent of `ImapClient` because that client decodes lines as text.
 */
class RawConn {
  private buf = new Uint8Array(0);
  private responses: Uint8Array[] = [];
  private wake: (() => void) | null = null;
  private closed = false;
  private n = 0;
  private constructor(private sock: { write(d: Uint8Array): number; end(): void }, readonly name: string) {}

  static async open(name: string, port: number, user: string, password: string): Promise<RawConn> {
    let conn!: RawConn;
    const sock = await Bun.connect({
      hostname: '127.0.0.1', port,
      socket: {
        binaryType: 'uint8array',
        data: (_s, d) => conn.onData(d as unknown as Uint8Array),
        close: () => conn.onClose(),
        error: () => conn.onClose(),
      },
    });
    conn = new RawConn(sock, name);
    await conn.next(10_000, 'greeting');
    const login = await conn.run(['LOGIN ', utf8(user), ' ', utf8(password)]);
    if (login.status !== 'OK') throw new Error(`${name}: login failed: ${login.tagged}`);
    return conn;
  }

  private onData(d: Uint8Array): void {
    const nb = new Uint8Array(this.buf.length + d.length);
    nb.set(this.buf);
    nb.set(d, this.buf.length);
    this.buf = nb;
    // Split complete responses: a line ending in {n}/{n+}/~{n} continues after n literal bytes.
    let pos = 0;
    let scan = 0;
    for (;;) {
      const nl = this.buf.indexOf(10, scan);
      if (nl < 0) break;
      const line = Buffer.from(this.buf.subarray(Math.max(scan, nl - 24), nl)).toString('latin1').replace(/\r$/, '');
      const m = /~?\{(\d+)\+?\}$/.exec(line);
      if (m) {
        const after = nl + 1 + Number(m[1]);
        if (after > this.buf.length) break;
        scan = after;
        continue;
      }
      this.responses.push(this.buf.slice(pos, nl + 1));
      pos = scan = nl + 1;
    }
    this.buf = this.buf.slice(pos);
    this.wake?.();
  }

  private onClose(): void {
    this.closed = true;
    this.wake?.();
  }

  private async next(timeoutMs: number, what: string): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    while (!this.responses.length) {
      if (this.closed) throw new Error(`${this.name}: connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: timeout waiting for ${what}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.wake = () => { clearTimeout(t); this.wake = null; res(); };
      });
    }
    return this.responses.shift()!;
  }

  /** Send one command (a Uint8Array part is sent as a LITERAL+ literal) and collect its answer. */
  async run(parts: string | Array<string | Uint8Array>, timeoutMs = 20_000): Promise<Answer> {
    const tag = `T${++this.n}`;
    const chunks: Uint8Array[] = [utf8(tag + ' ')];
    for (const p of typeof parts === 'string' ? [parts] : parts) {
      if (typeof p === 'string') chunks.push(utf8(p));
      else chunks.push(utf8(`{${p.length}+}\r\n`), p);
    }
    chunks.push(utf8('\r\n'));
    const data = Buffer.concat(chunks);
    let off = 0;
    while (off < data.length) {
      const w = this.sock.write(data.subarray(off));
      if (w < 0) throw new Error(`${this.name}: write failed`);
      off += w;
      if (off < data.length) await Bun.sleep(1);
    }
    const untagged: Uint8Array[] = [];
    const what = `the answer to ${typeof parts === 'string' ? parts : parts.map((p) => (typeof p === 'string' ? p : `{${p.length}}`)).join('')}`;
    for (;;) {
      const r = await this.next(timeoutMs, what);
      const head = Buffer.from(r.subarray(0, Math.min(r.length, 200))).toString('latin1');
      if (head.startsWith(tag + ' ')) {
        const m = /^\S+ (\S+)(?: \[([^\]]*)\])?/.exec(head);
        return { tagged: head.trimEnd(), status: m?.[1] ?? '', code: m?.[2] ?? null, untagged };
      }
      if (head.startsWith('+')) continue;
      untagged.push(r);
    }
  }

  close(): void {
    try { this.sock.end(); } catch { /* gone */ }
  }
}

// ---- comparison ----

/** Removes what must differ between two servers. */
function normalise(r: Uint8Array): Uint8Array {
  const s = Buffer.from(r).toString('latin1').replace(/\(TAG "[^"]*"\)/, '(TAG "*")');
  return Buffer.from(s, 'latin1');
}

function canonical(v: Value): string {
  if (v === null) return 'NIL';
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Uint8Array) return JSON.stringify(new TextDecoder().decode(v));
  return '(' + v.map(canonical).join(' ') + ')';
}

/** The tokens of a response, with quoted strings and literals made equal. */
function tokens(r: Uint8Array): string {
  const units = new ResponseReader().feed(r);
  return units.map((u) => {
    const p = parseResponse(u);
    if (p.kind === 'untagged' && p.untagged.type === 'FETCH') return `FETCH ${p.untagged.seq} ${canonical(p.untagged.items)}`;
    if (p.kind === 'untagged' && p.untagged.type === 'OTHER') return `${p.untagged.name} ${p.untagged.values.map(canonical).join(' ')}`;
    return p.raw;
  }).join('\n');
}

/** Visible text: CR, LF, tabs and bytes outside ASCII escaped. */
function show(b: Uint8Array, from = 0, len = 500): string {
  const s = Buffer.from(b.subarray(from, from + len)).toString('latin1');
  const esc = s.replace(/[\x00-\x1f\x7f-\xff\\]/g, (c) => (c === '\r' ? '\\r' : c === '\n' ? '\\n' : c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return (from > 0 ? '…' : '') + esc + (from + len < b.length ? `… (${b.length} bytes)` : '');
}

interface Difference { subject: string; item: string; kind: 'status' | 'form' | 'bytes'; text: string; postern: string; dovecot: string }

function accepted(d: Difference): KnownDifference | undefined {
  return KNOWN_DIFFERENCES.find((k) => k.kind === d.kind && (!k.subject || k.subject.test(d.subject)) && (!k.item || k.item.test(d.item))
    && (!k.match || k.match(d.postern, d.dovecot)));
}

function compareAnswers(subject: string, item: string, p: Answer, d: Answer, keep: (u: Uint8Array) => boolean): Difference[] {
  const out: Difference[] = [];
  const pc = p.code?.split(' ')[0] ?? null;
  const dc = d.code?.split(' ')[0] ?? null;
  if (p.status !== d.status || pc !== dc) {
    out.push({ subject, item, kind: 'status', text: `postern: ${p.tagged}\n    dovecot: ${d.tagged}`, postern: p.tagged, dovecot: d.tagged });
  }
  const pu = p.untagged.filter(keep).map(normalise);
  const du = d.untagged.filter(keep).map(normalise);
  const n = Math.max(pu.length, du.length);
  for (let i = 0; i < n; i++) {
    const a = pu[i] ?? new Uint8Array(0);
    const b = du[i] ?? new Uint8Array(0);
    if (Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0) continue;
    let at = 0;
    while (at < a.length && at < b.length && a[at] === b[at]) at++;
    const from = Math.max(0, at - 80);
    const kind = a.length && b.length && tokens(a) === tokens(b) ? 'form' : 'bytes';
    out.push({
      subject, item, kind, postern: Buffer.from(a).toString('latin1'), dovecot: Buffer.from(b).toString('latin1'),
      text: `first difference at byte ${at}\n    postern: ${a.length ? show(a, from) : '(no response)'}\n    dovecot: ${b.length ? show(b, from) : '(no response)'}`,
    });
  }
  return out;
}

function report(diffs: Difference[]): string {
  return diffs.map((d) => `${d.subject} / ${d.item} [${d.kind}]: ${d.text}`).join('\n\n');
}

const isFetch = (u: Uint8Array) => / FETCH /.test(Buffer.from(u.subarray(0, 40)).toString('latin1'));
const isSearch = (u: Uint8Array) => /^\* E?SEARCH\b/.test(Buffer.from(u.subarray(0, 20)).toString('latin1'));

// ---- the test ----

const messages = loadMessages();
const USER = { address: 'user@localhost', password: 'password1234' };

let srv: TestServer | null = null;
let dov: Dovecot | null = null;
let pc: RawConn;
let dc: RawConn;
/** Sequence number of each message in both mailboxes; absent if it is not in both. */
const seqOf = new Map<string, number>();
const appendProblems = new Map<string, string>();

describe.skipIf(absent)('postern vs Dovecot', () => {
  beforeAll(async () => {
    [srv, dov] = await Promise.all([
      startServer({ tls: false, accounts: [USER] }),
      startDovecot({ users: [{ user: USER.address, password: USER.password }] }),
    ]);
    [pc, dc] = await Promise.all([
      RawConn.open('postern', srv.port, USER.address, USER.password),
      RawConn.open('dovecot', dov.port, USER.address, USER.password),
    ]);
    // First each message goes to a scratch mailbox on both: only those both accept go to INBOX,
    // so that UIDs stay equal on both sides.
    for (const c of [pc, dc]) await c.run('CREATE scratch');
    const appendCmd = (m: Msg, box: string): Array<string | Uint8Array> =>
      [`APPEND ${box} (${m.flags.join(' ')}) "${m.date}" `, ...(m.bytes.includes(0) ? ['~', m.bytes] : [m.bytes])];
    for (const m of messages) {
      const [p, d] = await Promise.all([pc.run(appendCmd(m, 'scratch')), dc.run(appendCmd(m, 'scratch'))]);
      if (d.status !== 'OK') appendProblems.set(m.name, `Dovecot refused the APPEND (${d.tagged}); not compared${p.status === 'OK' ? '' : `; postern too (${p.tagged})`}`);
      else if (p.status !== 'OK') appendProblems.set(m.name, `postern refused the APPEND that Dovecot accepted:\n    postern: ${p.tagged}\n    dovecot: ${d.tagged}`);
    }
    let seq = 0;
    for (const m of messages) {
      if (appendProblems.has(m.name)) continue;
      const [p, d] = await Promise.all([pc.run(appendCmd(m, 'INBOX')), dc.run(appendCmd(m, 'INBOX'))]);
      if (p.status !== 'OK' || d.status !== 'OK') throw new Error(`${m.name}: APPEND accepted once, refused now:\n  postern: ${p.tagged}\n  dovecot: ${d.tagged}`);
      seqOf.set(m.name, ++seq);
    }
    for (const c of [pc, dc]) {
      const r = await c.run('SELECT INBOX');
      if (r.status !== 'OK') throw new Error(`${c.name}: SELECT INBOX: ${r.tagged}`);
    }
  });

  afterAll(async () => {
    pc?.close();
    dc?.close();
    await Promise.all([srv?.stop(), dov?.stop()]);
  });

  test('the same messages were accepted by both', () => {
    const problems = [...appendProblems].filter(([, why]) => why.startsWith('postern'));
    for (const [name, why] of appendProblems) if (!why.startsWith('postern')) console.log(`note: ${name}: ${why}`);
    expect(problems.map(([n, w]) => `${n}: ${w}`).join('\n')).toBe('');
    expect(seqOf.size).toBeGreaterThan(0);
  });

  for (const m of messages) {
    test(`FETCH ${m.name}`, async () => {
      const seq = seqOf.get(m.name);
      if (seq === undefined) {
        expect(appendProblems.get(m.name) ?? 'not appended').not.toStartWith('postern');
        return;
      }
      const diffs: Difference[] = [];
      for (const item of ITEMS) {
        const cmd = `FETCH ${seq} (${item})`;
        const [p, d] = await Promise.all([pc.run(cmd), dc.run(cmd)]);
        diffs.push(...compareAnswers(m.name, item, p, d, isFetch));
      }
      const unexpected = diffs.filter((d) => !accepted(d));
      if (unexpected.length) throw new Error(`${unexpected.length} difference(s) from Dovecot not in KNOWN_DIFFERENCES:\n\n${report(unexpected)}`);
    });
  }

  for (const query of SEARCHES) {
    test(`UID SEARCH ${query.name}`, async () => {
      const parts = ['UID SEARCH ', ...query.parts];
      const [p, d] = await Promise.all([pc.run(parts), dc.run(parts)]);
      const diffs = compareAnswers(query.name, 'SEARCH', p, d, isSearch).filter((x) => !accepted(x));
      if (diffs.length) throw new Error(report(diffs));
      expect(d.status).toBe('OK'); // the query itself is valid IMAP
    });
  }

  test('a non-PEEK BODY[] sets \\Seen on both, and both report the new FLAGS', async () => {
    const unseen = messages.find((m) => seqOf.has(m.name) && !m.flags.includes('\\Seen'));
    expect(unseen).toBeDefined();
    const cmd = `FETCH ${seqOf.get(unseen!.name)} (BODY[HEADER.FIELDS (Subject)])`;
    const [p, d] = await Promise.all([pc.run(cmd), dc.run(cmd)]);
    const flags = (a: Answer) => a.untagged.filter(isFetch).map((u) => /FLAGS \(([^)]*)\)/.exec(Buffer.from(u).toString('latin1'))?.[1]?.split(' ').filter((f) => f !== '\\Recent').sort().join(' '));
    expect(flags(d).filter(Boolean)).toEqual(['\\Seen']);
    expect(flags(p).filter(Boolean)).toEqual(flags(d).filter(Boolean));
  });
});
