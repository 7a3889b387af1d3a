// Tests for the command parser (STYLE.md items 10 and 11): tables of input -> events,
// each input fed whole, byte by byte, split at every index (sampled for large inputs)
// and in seeded random chunks, with identical results; the literal flows; every limit at
// its edge; malformed commands followed by a NOOP that must still parse; and a seeded
// fuzzer over real client commands.

import { describe, expect, test } from 'bun:test';
import {
  CommandParser,
  Cursor,
  commandText,
  ParseError,
  parseCommand,
  readAstring,
  readDate,
  readDateTime,
  readFetchAtts,
  readFlagList,
  readListMailbox,
  readNstring,
  readPartial,
  readQuoted,
  readSearchKey,
  readSection,
  readSequenceSet,
  type CommandParserOptions,
  type ParseEvent,
} from './parser.ts';
import { MAX_DISCARD, MAX_LINE, MAX_LITERAL, MAX_LITERALS, MAX_LITERAL_TOTAL, MAX_SEARCH_DEPTH } from './limits.ts';

/** Timeout for the tests that push megabytes through every split. */
const SLOW = 60_000;

// ---- helpers ------------------------------------------------------------------------------

const te = new TextEncoder();
const td = new TextDecoder();
const enc = (s: string): Uint8Array => te.encode(s);
/** Bytes of a string with one byte per char (for NUL and 8-bit test data). */
const bin = (s: string): Uint8Array => Uint8Array.from(s, (ch) => ch.charCodeAt(0));

/**
 * Events and commands with byte values turned into strings, for toEqual. A command event's
 * raw becomes its text: whether literal data lies in raw depends on the chunking.
 */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return td.decode(v);
  if (isCommandEvent(v)) return { kind: 'command', command: norm(v.command), raw: commandText(v.raw, v.lits) };
  if (Array.isArray(v)) return v.map(norm);
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = norm(x);
    return o;
  }
  return v;
}

type LiteralEvent = Extract<ParseEvent, { kind: 'literal' }>;
type CommandEvent = Extract<ParseEvent, { kind: 'command' }>;

function isCommandEvent(v: unknown): v is CommandEvent {
  return v !== null && typeof v === 'object' && (v as { kind?: unknown }).kind === 'command' && 'lits' in v;
}
type Action = 'buffer' | 'stream' | { reject: string | null; text: string };
type Policy = (ev: LiteralEvent) => Action;

/** What the session does: stream APPEND message data, buffer anything else. */
const sessionPolicy: Policy = (ev) => (ev.appendMailbox !== null ? 'stream' : 'buffer');

interface RunOpts {
  policy?: Policy;
  parser?: CommandParserOptions;
  /** Feed every chunk before pulling events (exercises the input queue). */
  feedAllFirst?: boolean;
  /** Like the session: line mode after IDLE/AUTHENTICATE, off after each line. */
  lineModeAfter?: boolean;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Drive a parser over chunks; consecutive literal-data events are merged into one. */
function run(chunks: Uint8Array[], o: RunOpts = {}, p = new CommandParser(o.parser)): unknown[] {
  const out: unknown[] = [];
  const policy = o.policy ?? sessionPolicy;
  let data: Uint8Array[] | null = null;
  const pull = (): void => {
    for (;;) {
      const ev = p.next();
      if (p.bufferSize > p.bufferLimit) throw new Error(`buffer ${p.bufferSize} over limit ${p.bufferLimit}`);
      switch (ev.kind) {
        case 'need-more':
          return;
        case 'literal': {
          out.push(norm(ev));
          const a = policy(ev);
          if (a === 'buffer' || a === 'stream') {
            const ok = p.acceptLiteral(a);
            out.push({ accepted: ok });
          } else {
            p.rejectLiteral(a.reject, a.text);
          }
          break;
        }
        case 'literal-data':
          (data ??= []).push(ev.data);
          if (ev.done) {
            out.push({ kind: 'literal-data', data: td.decode(concat(data)) });
            data = null;
          }
          break;
        case 'command':
          out.push(norm(ev));
          if (o.lineModeAfter && (ev.command.name === 'IDLE' || ev.command.name === 'AUTHENTICATE')) p.setLineMode(true);
          break;
        case 'line':
          out.push(norm(ev));
          if (o.lineModeAfter) p.setLineMode(false);
          break;
        case 'error':
          out.push(norm(ev));
          break;
      }
    }
  };
  if (o.feedAllFirst) {
    for (const c of chunks) p.feed(c);
    pull();
  } else {
    for (const c of chunks) {
      p.feed(c);
      pull();
    }
  }
  if (data !== null) out.push({ kind: 'literal-data', partial: td.decode(concat(data)) });
  return out;
}

function rng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomChunks(b: Uint8Array, r: () => number, max: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < b.length) {
    const n = 1 + Math.floor(r() * max);
    out.push(b.slice(i, i + n));
    i += n;
  }
  return out;
}

/** Ways to cut an input: whole, byte by byte, at every index (sampled when large), random. */
function variants(b: Uint8Array, seed = 7): Array<[string, Uint8Array[]]> {
  const v: Array<[string, Uint8Array[]]> = [['whole', [b.slice()]]];
  if (b.length <= 300_000) v.push(['bytes', Array.from(b, (_, i) => b.slice(i, i + 1))]);
  const r = rng(seed);
  const idx: number[] = [];
  const big = b.length > 300_000;
  if (b.length <= 1500) for (let i = 1; i < b.length; i++) idx.push(i);
  else {
    for (let k = 0; k < (big ? 8 : 40); k++) idx.push(1 + Math.floor(r() * (b.length - 1)));
    idx.push(1, 2, b.length - 2, b.length - 1);
  }
  for (const i of idx) v.push([`split@${i}`, [b.slice(0, i), b.slice(i)]]);
  for (const max of big ? [7, 300, 70_000] : [2, 3, 7, 64, 1000, 70_000]) v.push([`random<=${max}`, randomChunks(b, r, max)]);
  return v;
}

/** Run all variants and assert identical events; returns them. */
function allSplits(input: Uint8Array | string, o: RunOpts = {}): unknown[] {
  const b = typeof input === 'string' ? enc(input) : input;
  const ref = run([b.slice()], o);
  for (const [name, chunks] of variants(b)) {
    const got = run(chunks, o);
    if (!Bun.deepEquals(got, ref)) {
      expect({ variant: name, events: got }).toEqual({ variant: name, events: ref });
    }
    if (name === 'whole' || name.startsWith('random<=7')) {
      const queued = run(chunks, { ...o, feedAllFirst: true });
      expect({ variant: name + ' queued', events: queued }).toEqual({ variant: name + ' queued', events: ref });
    }
  }
  return ref;
}

const NOOP_B = { kind: 'command', command: { tag: 'b', name: 'NOOP', uid: false }, raw: 'b NOOP' };

function commandsOf(evs: unknown[]): unknown[] {
  return evs.filter((e) => (e as { kind?: string }).kind === 'command').map((e) => (e as { command: unknown }).command);
}

function cur(s: string | Uint8Array): Cursor {
  return new Cursor(typeof s === 'string' ? enc(s) : s);
}

// ---- grammar: valid commands ----------------------------------------------------------------

const R0 = { children: false, subscribed: false, specialUse: false, status: null };
const EMPTY_SEC = { part: [], text: null, fields: [] };
const set = (...ranges: Array<[number | '*', number | '*']>) => ({ saved: false, ranges });
const FLAGS = { kind: 'FLAGS' };
const INTERNALDATE = { kind: 'INTERNALDATE' };
const SIZE = { kind: 'RFC822.SIZE' };
const ENVELOPE = { kind: 'ENVELOPE' };

const OK: Array<[string, Record<string, unknown>]> = [
  ['a CAPABILITY', { tag: 'a', name: 'CAPABILITY', uid: false }],
  ['A0001 noop', { tag: 'A0001', name: 'NOOP', uid: false }],
  ['x.y]z LOGOUT', { tag: 'x.y]z', name: 'LOGOUT', uid: false }],
  ['a StartTLS', { tag: 'a', name: 'STARTTLS', uid: false }],
  ['a CHECK', { name: 'CHECK' }],
  ['a CLOSE', { name: 'CLOSE' }],
  ['a UNSELECT', { name: 'UNSELECT' }],
  ['a NAMESPACE', { name: 'NAMESPACE' }],
  ['a IDLE', { name: 'IDLE' }],
  ['a EXPUNGE', { name: 'EXPUNGE', uid: false, set: null }],
  ['a UID EXPUNGE 1:3,5', { name: 'EXPUNGE', uid: true, set: set([1, 3], [5, 5]) }],
  ['a uid expunge $', { name: 'EXPUNGE', uid: true, set: { saved: true } }],
  ['a LOGIN joe "se\\"cr\\\\et"', { name: 'LOGIN', user: 'joe', pass: 'se"cr\\et' }],
  ['a LOGIN {3+}\r\njoe {4+}\r\np\r\ns', { name: 'LOGIN', user: 'joe', pass: 'p\r\ns' }],
  ['a LOGIN {0+}\r\n {0+}\r\n', { name: 'LOGIN', user: '', pass: '' }],
  ['a login "" ""', { name: 'LOGIN', user: '', pass: '' }],
  ['a LOGIN "jöe" "pässwörd"', { name: 'LOGIN', user: 'jöe', pass: 'pässwörd' }],
  ['a LOGIN inbox ]x', { name: 'LOGIN', user: 'inbox', pass: ']x' }],
  ['a AUTHENTICATE PLAIN', { name: 'AUTHENTICATE', mechanism: 'PLAIN', initial: null }],
  ['a authenticate scram-sha-256 AGpvZQBwYXNz', { mechanism: 'SCRAM-SHA-256', initial: 'AGpvZQBwYXNz' }],
  ['a AUTHENTICATE PLAIN AGpvZQBwYXM=', { initial: 'AGpvZQBwYXM=' }],
  ['a AUTHENTICATE PLAIN =', { mechanism: 'PLAIN', initial: '' }],
  ['a ENABLE CONDSTORE utf8=accept', { name: 'ENABLE', caps: ['CONDSTORE', 'UTF8=ACCEPT'] }],
  ['a ID NIL', { name: 'ID', params: null }],
  ['a ID ()', { name: 'ID', params: [] }],
  ['a ID ("name" "Thunderbird" "version" NIL)', { params: [['name', 'Thunderbird'], ['version', null]] }],
  ['a ID ({4+}\r\nname "x")', { params: [['name', 'x']] }],
  ['a COMPRESS deflate', { name: 'COMPRESS', mechanism: 'DEFLATE' }],
  ['a SELECT INBOX', { name: 'SELECT', mailbox: 'INBOX', condstore: false }],
  ['a select inbox', { name: 'SELECT', mailbox: 'inbox', condstore: false }],
  ['a EXAMINE "Sent Items" (condstore)', { name: 'EXAMINE', mailbox: 'Sent Items', condstore: true }],
  ['a SELECT {5+}\r\nINBOX', { name: 'SELECT', mailbox: 'INBOX' }],
  ['a CREATE foo', { name: 'CREATE', mailbox: 'foo', specialUse: [] }],
  ['a CREATE Drafts (USE (\\Drafts))', { mailbox: 'Drafts', specialUse: ['\\Drafts'] }],
  ['a CREATE x (use (\\sent \\Archive \\XCustom))', { specialUse: ['\\Sent', '\\Archive', '\\XCustom'] }],
  ['a CREATE x (USE ())', { specialUse: [] }],
  ['a DELETE "a b"', { name: 'DELETE', mailbox: 'a b' }],
  ['a SUBSCRIBE foo/bar', { name: 'SUBSCRIBE', mailbox: 'foo/bar' }],
  ['a UNSUBSCRIBE {3+}\r\nfoo', { name: 'UNSUBSCRIBE', mailbox: 'foo' }],
  ['a RENAME old "new one"', { name: 'RENAME', from: 'old', to: 'new one' }],
  ['a LIST "" *', { name: 'LIST', selection: [], reference: '', patterns: ['*'], returns: R0, extended: false }],
  ['a LIST "" %/x]y', { patterns: ['%/x]y'], extended: false }],
  ['a list ~/Mail "Sent*"', { reference: '~/Mail', patterns: ['Sent*'] }],
  ['a LIST () "" "%"', { selection: [], patterns: ['%'], extended: true }],
  ['a LIST "" ("a")', { patterns: ['a'], extended: true }],
  ['a LIST "" % RETURN ()', { patterns: ['%'], returns: R0, extended: true }],
  ['a list (special-use) "" *', { selection: ['SPECIAL-USE'], extended: true }],
  [
    'a LIST (SUBSCRIBED REMOTE RECURSIVEMATCH) "" (INBOX "Sent*" %) RETURN (CHILDREN SUBSCRIBED SPECIAL-USE STATUS (MESSAGES UNSEEN))',
    {
      selection: ['SUBSCRIBED', 'REMOTE', 'RECURSIVEMATCH'],
      reference: '',
      patterns: ['INBOX', 'Sent*', '%'],
      returns: { children: true, subscribed: true, specialUse: true, status: ['MESSAGES', 'UNSEEN'] },
      extended: true,
    },
  ],
  ['a LSUB "" *', { name: 'LSUB', reference: '', pattern: '*' }],
  [
    'a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT)',
    { name: 'STATUS', mailbox: 'INBOX', items: ['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'DELETED', 'SIZE', 'RECENT', 'HIGHESTMODSEQ', 'APPENDLIMIT'] },
  ],
  ['a status x (messages)', { items: ['MESSAGES'] }],
  [
    'a APPEND INBOX {3+}\r\nabc',
    { name: 'APPEND', mailbox: 'INBOX', messages: [{ flags: [], date: null, binary: false, literal: 0, size: 3, data: null }] },
  ],
  [
    'a APPEND INBOX (\\Seen $Forwarded) "05-Mar-2024 13:14:15 -0700" ~{3+}\r\na\0c',
    {
      messages: [
        { flags: ['\\Seen', '$Forwarded'], date: { ms: Date.UTC(2024, 2, 5, 20, 14, 15), zoneMinutes: -420 }, binary: true, literal: 0, size: 3, data: null },
      ],
    },
  ],
  [
    'a APPEND box (\\Seen) {3+}\r\nabc (\\Draft) " 1-Jan-2020 00:00:00 +0130" {4+}\r\nabcd ~{1+}\r\nx',
    {
      mailbox: 'box',
      messages: [
        { flags: ['\\Seen'], date: null, binary: false, literal: 0, size: 3, data: null },
        { flags: ['\\Draft'], date: { ms: Date.UTC(2020, 0, 1) - 90 * 60_000, zoneMinutes: 90 }, binary: false, literal: 1, size: 4, data: null },
        { flags: [], date: null, binary: true, literal: 2, size: 1, data: null },
      ],
    },
  ],
  ['a APPEND {5+}\r\nINBOX () {0+}\r\n', { mailbox: 'INBOX', messages: [{ flags: [], date: null, binary: false, literal: 1, size: 0, data: null }] }],
  ['a FETCH 1 ALL', { name: 'FETCH', uid: false, set: set([1, 1]), atts: [FLAGS, INTERNALDATE, SIZE, ENVELOPE], changedSince: null, vanished: false }],
  ['a FETCH 1:* fast', { set: set([1, '*']), atts: [FLAGS, INTERNALDATE, SIZE] }],
  ['a fetch 2,4:6 FULL', { set: set([2, 2], [4, 6]), atts: [FLAGS, INTERNALDATE, SIZE, ENVELOPE, { kind: 'BODY' }] }],
  ['a FETCH 5:2,*:3,7 UID', { set: set([2, 5], [3, '*'], [7, 7]), atts: [{ kind: 'UID' }] }],
  ['a FETCH $ FLAGS', { set: { saved: true }, atts: [FLAGS] }],
  ['a FETCH 4294967295 FLAGS', { set: set([4294967295, 4294967295]) }],
  ['a FETCH 1 BODY[]', { atts: [{ kind: 'BODY[]', peek: false, section: EMPTY_SEC, partial: null }] }],
  [
    'a FETCH 1 (BODY.PEEK[1.2.MIME] body[2.HEADER]<0.1024> BINARY[1]<10.5> BINARY.PEEK[] BINARY.SIZE[1.1] BODY[3] BODY[TEXT] BODY[4.TEXT])',
    {
      atts: [
        { kind: 'BODY[]', peek: true, section: { part: [1, 2], text: 'MIME', fields: [] }, partial: null },
        { kind: 'BODY[]', peek: false, section: { part: [2], text: 'HEADER', fields: [] }, partial: { offset: 0, count: 1024 } },
        { kind: 'BINARY[]', peek: false, part: [1], partial: { offset: 10, count: 5 } },
        { kind: 'BINARY[]', peek: true, part: [], partial: null },
        { kind: 'BINARY.SIZE', part: [1, 1] },
        { kind: 'BODY[]', peek: false, section: { part: [3], text: null, fields: [] }, partial: null },
        { kind: 'BODY[]', peek: false, section: { part: [], text: 'TEXT', fields: [] }, partial: null },
        { kind: 'BODY[]', peek: false, section: { part: [4], text: 'TEXT', fields: [] }, partial: null },
      ],
    },
  ],
  [
    'a FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE MODSEQ SAVEDATE EMAILID THREADID ENVELOPE BODYSTRUCTURE INTERNALDATE BODY FLAGS UID)',
    {
      atts: ['RFC822', 'RFC822.HEADER', 'RFC822.TEXT', 'RFC822.SIZE', 'MODSEQ', 'SAVEDATE', 'EMAILID', 'THREADID', 'ENVELOPE', 'BODYSTRUCTURE', 'INTERNALDATE', 'BODY', 'FLAGS', 'UID'].map(
        (kind) => ({ kind }),
      ),
    },
  ],
  [
    'a FETCH 1 body[header.fields.not (x-foo "Received" {4+}\r\nDate)]',
    { atts: [{ kind: 'BODY[]', peek: false, section: { part: [], text: 'HEADER.FIELDS.NOT', fields: ['X-FOO', 'RECEIVED', 'DATE'] }, partial: null }] },
  ],
  [
    'a1 UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])',
    {
      tag: 'a1',
      uid: true,
      atts: [
        { kind: 'UID' },
        SIZE,
        FLAGS,
        {
          kind: 'BODY[]',
          peek: true,
          section: {
            part: [],
            text: 'HEADER.FIELDS',
            fields: ['FROM', 'TO', 'CC', 'BCC', 'SUBJECT', 'DATE', 'MESSAGE-ID', 'PRIORITY', 'X-PRIORITY', 'REFERENCES', 'NEWSGROUPS', 'IN-REPLY-TO', 'CONTENT-TYPE', 'REPLY-TO'],
          },
          partial: null,
        },
      ],
    },
  ],
  ['a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)', { uid: true, atts: [FLAGS], changedSince: 12345n, vanished: true }],
  ['a FETCH 1 FLAGS (changedsince 9223372036854775807)', { changedSince: 9223372036854775807n, vanished: false }],
  ['a STORE 1 FLAGS (\\Seen)', { name: 'STORE', set: set([1, 1]), mode: 'set', silent: false, flags: ['\\Seen'], unchangedSince: null }],
  ['a UID STORE 1:* +FLAGS.SILENT (\\Deleted $Junk)', { uid: true, mode: 'add', silent: true, flags: ['\\Deleted', '$Junk'] }],
  ['a STORE 2 -flags \\seen \\FLAGGED \\answered \\draft', { mode: 'remove', silent: false, flags: ['\\Seen', '\\Flagged', '\\Answered', '\\Draft'] }],
  ['a STORE 1 (UNCHANGEDSINCE 0) FLAGS ()', { mode: 'set', flags: [], unchangedSince: 0n }],
  ['a COPY 1:3 Trash', { name: 'COPY', uid: false, set: set([1, 3]), mailbox: 'Trash' }],
  ['a UID MOVE 4 "Archive/2024"', { name: 'MOVE', uid: true, set: set([4, 4]), mailbox: 'Archive/2024' }],
  ['a SEARCH ALL', { name: 'SEARCH', uid: false, charset: null, returns: null, key: { op: 'ALL' } }],
  ['a UID SEARCH UNSEEN UNDELETED', { uid: true, key: { op: 'AND', keys: [{ op: 'UNSEEN' }, { op: 'UNDELETED' }] } }],
  ['a SEARCH CHARSET utf-8 SUBJECT "ü"', { charset: 'UTF-8', key: { op: 'SUBJECT', value: 'ü' } }],
  ['a SEARCH CHARSET "US-ASCII" ALL', { charset: 'US-ASCII', key: { op: 'ALL' } }],
  ['a SEARCH RETURN (MIN MAX COUNT) 1:*', { returns: ['MIN', 'MAX', 'COUNT'], key: { op: 'SEQ', set: set([1, '*']) } }],
  ['a SEARCH RETURN () ALL', { returns: ['ALL'], key: { op: 'ALL' } }],
  ['a UID SEARCH RETURN (SAVE) CHARSET UTF-8 SINCE 1-Feb-2024', { returns: ['SAVE'], charset: 'UTF-8', key: { op: 'SINCE', date: { year: 2024, month: 2, day: 1 } } }],
  ['a SEARCH OR FROM a TO b', { key: { op: 'OR', a: { op: 'FROM', value: 'a' }, b: { op: 'TO', value: 'b' } } }],
  ['a SEARCH NOT (SEEN FLAGGED)', { key: { op: 'NOT', key: { op: 'AND', keys: [{ op: 'SEEN' }, { op: 'FLAGGED' }] } } }],
  ['a SEARCH (DELETED)', { key: { op: 'DELETED' } }],
  ['a SEARCH header Message-ID "<x@y>"', { key: { op: 'HEADER', field: 'MESSAGE-ID', value: '<x@y>' } }],
  ['a SEARCH KEYWORD $Forwarded UNKEYWORD Junk', { key: { op: 'AND', keys: [{ op: 'KEYWORD', flag: '$Forwarded' }, { op: 'UNKEYWORD', flag: 'Junk' }] } }],
  [
    'a SEARCH BEFORE "2-Mar-2023" ON 29-Feb-2024 SENTBEFORE 1-jan-2000 SENTON 01-JAN-2000 SENTSINCE 31-Dec-1999',
    {
      key: {
        op: 'AND',
        keys: [
          { op: 'BEFORE', date: { year: 2023, month: 3, day: 2 } },
          { op: 'ON', date: { year: 2024, month: 2, day: 29 } },
          { op: 'SENTBEFORE', date: { year: 2000, month: 1, day: 1 } },
          { op: 'SENTON', date: { year: 2000, month: 1, day: 1 } },
          { op: 'SENTSINCE', date: { year: 1999, month: 12, day: 31 } },
        ],
      },
    },
  ],
  ['a SEARCH LARGER 1000 SMALLER 5000000000', { key: { op: 'AND', keys: [{ op: 'LARGER', size: 1000 }, { op: 'SMALLER', size: 5000000000 }] } }],
  ['a SEARCH OLDER 3600 YOUNGER 60', { key: { op: 'AND', keys: [{ op: 'OLDER', seconds: 3600 }, { op: 'YOUNGER', seconds: 60 }] } }],
  ['a SEARCH UID 1:5 $', { key: { op: 'AND', keys: [{ op: 'UID', set: set([1, 5]) }, { op: 'SEQ', set: { saved: true } }] } }],
  ['a SEARCH MODSEQ 0', { key: { op: 'MODSEQ', modseq: 0n } }],
  ['a SEARCH MODSEQ "/flags/\\\\draft" all 620162338', { key: { op: 'MODSEQ', modseq: 620162338n } }],
  [
    'a SEARCH NEW OLD RECENT ANSWERED UNANSWERED DRAFT UNDRAFT UNFLAGGED BCC x CC y BODY z TEXT {3+}\r\nw w',
    {
      key: {
        op: 'AND',
        keys: [
          { op: 'NEW' }, { op: 'OLD' }, { op: 'RECENT' }, { op: 'ANSWERED' }, { op: 'UNANSWERED' }, { op: 'DRAFT' }, { op: 'UNDRAFT' }, { op: 'UNFLAGGED' },
          { op: 'BCC', value: 'x' }, { op: 'CC', value: 'y' }, { op: 'BODY', value: 'z' }, { op: 'TEXT', value: 'w w' },
        ],
      },
    },
  ],
];

describe('grammar: valid commands at every split', () => {
  for (const [input, want] of OK) {
    test(JSON.stringify(input).slice(0, 100), () => {
      const evs = allSplits(input + '\r\nb NOOP\r\n');
      const cmds = evs.filter((e) => (e as { kind: string }).kind === 'command');
      const errors = evs.filter((e) => (e as { kind: string }).kind === 'error');
      expect(errors).toEqual([]);
      expect(cmds.length).toBe(2);
      expect((cmds[0] as { command: unknown }).command).toMatchObject(want);
      expect(cmds[1]).toEqual(NOOP_B);
    });
  }

  test('full objects for a few commands (no extra fields)', () => {
    expect(norm(parseCommand(enc('t1 SELECT "Sent"')))).toEqual({ tag: 't1', name: 'SELECT', uid: false, mailbox: 'Sent', condstore: false });
    expect(norm(parseCommand(enc('t2 NOOP')))).toEqual({ tag: 't2', name: 'NOOP', uid: false });
    expect(norm(parseCommand(enc('t3 SEARCH SEEN')))).toEqual({ tag: 't3', name: 'SEARCH', uid: false, charset: null, returns: null, key: { op: 'SEEN' } });
  });

  test('raw is the command without the final CRLF; literal data lies in it or in lits', () => {
    const commandOf = (chunks: string[]): CommandEvent => {
      const p = new CommandParser();
      for (const ch of chunks) p.feed(enc(ch));
      expect(p.next()).toMatchObject({ kind: 'literal' });
      p.acceptLiteral('buffer');
      return p.next() as CommandEvent;
    };
    const w = commandOf(['a LOGIN {1+}\r\nx y\r\n']);
    expect(td.decode(w.raw)).toBe('a LOGIN {1+}\r\nx y');
    expect(w.lits).toMatchObject([{ size: 1, data: null }]);
    const sp = commandOf(['a LOGIN {1+}\r\n', 'x y\r\n']);
    expect(td.decode(sp.raw)).toBe('a LOGIN {1+}\r\n y');
    expect(norm(sp.lits)).toMatchObject([{ size: 1, data: 'x' }]);
    for (const ev of [w, sp]) expect(commandText(ev.raw, ev.lits)).toBe('a LOGIN {1+}\r\n<1 bytes> y');
  });

  test('bare LF ends a line too', () => {
    expect(commandsOf(allSplits('a NOOP\nb LOGIN {1}\nx y\n'))).toEqual([
      { tag: 'a', name: 'NOOP', uid: false },
      { tag: 'b', name: 'LOGIN', uid: false, user: 'x', pass: 'y' },
    ]);
  });

  test('empty lines between commands are ignored', () => {
    expect(allSplits('\r\n\r\na NOOP\r\n\r\nb NOOP\r\n').length).toBe(2);
  });

  test('buffered APPEND data is in the command', () => {
    const evs = allSplits('a APPEND INBOX (\\Seen) {5}\r\nhello\r\n', { policy: () => 'buffer' });
    expect(commandsOf(evs)).toEqual([
      { tag: 'a', name: 'APPEND', uid: false, mailbox: 'INBOX', messages: [{ flags: ['\\Seen'], date: null, binary: false, literal: 0, size: 5, data: 'hello' }] },
    ]);
  });
});

// ---- grammar: malformed commands ------------------------------------------------------------

const BAD: Array<[string | Uint8Array, string | null, string?]> = [
  // [input, expected tag, text substring]
  ['a', 'a', 'missing command'],
  [' NOOP', null],
  ['+ NOOP', null],
  ['NOOP', 'NOOP', 'missing command'],
  ['x'.repeat(200) + ' NOOP', null],
  ['a FOO', 'a', 'unknown command'],
  ['a NOOP extra', 'a', 'unexpected'],
  ['a NOOP ', 'a'],
  ['a  NOOP', 'a'],
  ['a UID NOOP', 'a', 'UID NOOP'],
  ['a UID', 'a'],
  ['a LOGIN joe', 'a', 'missing argument'],
  ['a LOGIN "joe pass', 'a', 'unterminated'],
  ['a LOGIN "joe\\', 'a', 'unterminated'],
  ['a LOGIN "j\\oe" x', 'a', 'escape'],
  [bin('a LOGIN jo\0e x'), 'a'],
  [bin('a LOGIN "jo\0e" x'), 'a', 'invalid character'],
  [bin('a\0 NOOP'), null],
  [bin('a NOOP\0'), 'a'],
  ['a LOGIN "jo\re" x', 'a'],
  ['a LOGIN {3}x y', 'a', 'literal'],
  ['a LOGIN {3 y', 'a'],
  ['a LOGIN ~{3+}\r\nabc x', 'a', 'literal8'],
  ['a LOGIN {99999999999}', 'a', 'literal size'],
  ['a LOGIN {4294967296}', 'a', 'literal size'],
  ['a SELECT INBOX (QRESYNC (1 2))', 'a', 'QRESYNC'],
  ['a SELECT INBOX ()', 'a'],
  ['a SELECT INBOX (CONDSTORE', 'a'],
  ['a FETCH 0 FLAGS', 'a'],
  ['a FETCH 01 FLAGS', 'a'],
  ['a FETCH 1: FLAGS', 'a'],
  ['a FETCH 1,,2 FLAGS', 'a'],
  ['a FETCH 4294967296 FLAGS', 'a', 'too large'],
  ['a FETCH $,1 FLAGS', 'a', '$'],
  ['a FETCH 1,$ FLAGS', 'a'],
  ['a FETCH -1 FLAGS', 'a'],
  ['a FETCH 1 (FLAGS', 'a'],
  ['a FETCH 1 (FLAGS))', 'a'],
  ['a FETCH 1 FLAGS)', 'a'],
  ['a FETCH 1 ()', 'a'],
  ['a FETCH 1 (ALL)', 'a'],
  ['a FETCH 1 FOO', 'a', 'FOO'],
  ['a FETCH 1 BODY[MIME]', 'a', 'MIME'],
  ['a FETCH 1 BODY[0]', 'a'],
  ['a FETCH 1 BODY[1.0]', 'a'],
  ['a FETCH 1 BODY[1.]', 'a'],
  ['a FETCH 1 BODY[1.MIME', 'a'],
  ['a FETCH 1 BODY[HEADER.FIELDS ()]', 'a'],
  ['a FETCH 1 BODY[HEADER.FIELDS]', 'a'],
  ['a FETCH 1 BODY[FOO]', 'a'],
  ['a FETCH 1 BODY[]<0.0>', 'a'],
  ['a FETCH 1 BODY[]<5>', 'a'],
  ['a FETCH 1 BODY.PEEK', 'a'],
  ['a FETCH 1 BINARY.SIZE[]<0.1>', 'a'],
  ['a FETCH 1 BINARY[TEXT]', 'a'],
  ['a FETCH 1 FLAGS (VANISHED)', 'a', 'VANISHED'],
  ['a UID FETCH 1 FLAGS (VANISHED)', 'a', 'CHANGEDSINCE'],
  ['a FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)', 'a'],
  ['a FETCH 1 FLAGS (FOO 1)', 'a'],
  ['a STORE 1 FLAGS (\\Recent)', 'a', 'Recent'],
  ['a STORE 1 FLAGS (\\Foo)', 'a'],
  ['a STORE 1 FLAGS (\\*)', 'a'],
  ['a STORE 1 XFLAGS (\\Seen)', 'a'],
  ['a STORE 1 FLAGS', 'a'],
  ['a STORE 1 FLAGS (\\Seen', 'a'],
  ['a STORE 1 (UNCHANGEDSINCE x) FLAGS ()', 'a'],
  ['a STORE 1 +FLAGS \\Seen  \\Draft', 'a'],
  ['a SEARCH', 'a'],
  ['a SEARCH FOO', 'a', 'FOO'],
  ['a SEARCH SINCE 30-Feb-2024', 'a', 'day'],
  ['a SEARCH SINCE 29-Feb-2023', 'a'],
  ['a SEARCH SINCE 1-Foo-2024', 'a', 'month'],
  ['a SEARCH SINCE 1-Feb-24', 'a'],
  ['a SEARCH SINCE "1-Feb-2024', 'a'],
  ['a SEARCH SINCE 123-Feb-2024', 'a'],
  ['a SEARCH (SEEN', 'a'],
  ['a SEARCH SEEN)', 'a'],
  ['a SEARCH ()', 'a'],
  ['a SEARCH OR SEEN', 'a'],
  ['a SEARCH RETURN (FOO) ALL', 'a'],
  ['a SEARCH RETURN ALL', 'a'],
  ['a SEARCH ' + '('.repeat(MAX_SEARCH_DEPTH + 1) + 'ALL' + ')'.repeat(MAX_SEARCH_DEPTH + 1), 'a', 'deeply'],
  ['a SEARCH ' + 'NOT '.repeat(MAX_SEARCH_DEPTH + 1) + 'ALL', 'a', 'deeply'],
  ['a SEARCH OLDER 0', 'a'],
  ['a SEARCH KEYWORD \\Seen', 'a'],
  ['a SEARCH HEADER', 'a'],
  ['a SEARCH MODSEQ "/flags/x" bogus 5', 'a'],
  ['a SEARCH CHARSET', 'a'],
  ['a APPEND INBOX (\\Recent) {3+}\r\nabc', 'a', 'Recent'],
  ['a APPEND INBOX "31-Feb-2024 00:00:00 +0000" {1+}\r\nx', 'a'],
  ['a APPEND INBOX "1-Feb-2024 25:00:00 +0000" {1+}\r\nx', 'a'],
  ['a APPEND INBOX "1-Feb-2024 10:00:00 +0075" {1+}\r\nx', 'a'],
  ['a APPEND INBOX "1-Feb-2024 10:00:00" {1+}\r\nx', 'a'],
  ['a APPEND INBOX', 'a'],
  ['a APPEND INBOX "x"', 'a'],
  ['a APPEND INBOX (\\Seen)', 'a'],
  ['a APPEND INBOX {1+}\r\nx extra', 'a'],
  ['a APPEND INBOX {1+}\r\nx  {1+}\r\ny', 'a'],
  ['a APPEND INBOX "1-Feb-2024 10:00:00 +0000" (\\Seen) {1+}\r\nx', 'a'],
  ['a LIST (RECURSIVEMATCH) "" *', 'a', 'RECURSIVEMATCH'],
  ['a LIST (REMOTE RECURSIVEMATCH) "" *', 'a', 'RECURSIVEMATCH'],
  ['a LIST (FOO) "" *', 'a'],
  ['a LIST "" * RETURN (FOO)', 'a'],
  ['a LIST "" * RETURN (STATUS (FOO))', 'a'],
  ['a LIST "" * RETURN', 'a'],
  ['a LIST "" ()', 'a'],
  ['a LIST ""', 'a'],
  ['a LSUB "" * x', 'a'],
  ['a STATUS INBOX (FOO)', 'a'],
  ['a STATUS INBOX ()', 'a'],
  ['a STATUS INBOX', 'a'],
  ['a CREATE x (USE (Drafts))', 'a'],
  ['a CREATE x (FOO)', 'a'],
  ['a ENABLE', 'a'],
  ['a ID (name "x")', 'a'],
  ['a ID ("name")', 'a'],
  ['a ID', 'a'],
  ['a AUTHENTICATE PLAIN a!b', 'a', 'base64'],
  ['a AUTHENTICATE', 'a'],
  ['a AUTHENTICATE PLAIN AGpv =', 'a'],
  ['a COMPRESS', 'a'],
  ['a COPY 1', 'a'],
  ['a RENAME a', 'a'],
  ['a EXPUNGE 1', 'a'],
];

describe('grammar: malformed commands give BAD and the next command parses', () => {
  for (const [input, tag, text] of BAD) {
    const name = typeof input === 'string' ? input : td.decode(input);
    test(JSON.stringify(name).slice(0, 90), () => {
      const b = concat([typeof input === 'string' ? enc(input) : input, enc('\r\nb NOOP\r\n')]);
      const evs = allSplits(b);
      const last = evs.at(-1);
      expect(last).toEqual(NOOP_B);
      const errs = evs.filter((e) => (e as { kind: string }).kind === 'error');
      expect(errs.length).toBe(1);
      expect(errs[0]).toMatchObject({ kind: 'error', status: 'BAD', tag, fatal: false, code: null });
      if (text) expect((errs[0] as { text: string }).text).toContain(text);
      expect(commandsOf(evs).length).toBe(1);
    });
  }
});

// ---- grammar helpers ---------------------------------------------------------------------

describe('grammar helpers over a cursor', () => {
  test('readSequenceSet', () => {
    expect(readSequenceSet(cur('1'))).toEqual(set([1, 1]));
    expect(readSequenceSet(cur('3:1,*,2:*,*:9'))).toEqual(set([1, 3], ['*', '*'], [2, '*'], [9, '*']));
    expect(readSequenceSet(cur('$'))).toEqual({ saved: true });
    const c = cur('1:2 rest');
    readSequenceSet(c);
    expect(c.pos).toBe(3);
    for (const bad of ['0', '$:1', '$,1', '1:$', ':', '', '4294967296', '1:0', 'x']) {
      expect(() => readSequenceSet(cur(bad))).toThrow(ParseError);
    }
  });

  test('readAstring, readNstring, readQuoted, readListMailbox', () => {
    expect(td.decode(readAstring(cur('abc def')))).toBe('abc');
    expect(td.decode(readAstring(cur('"a\\\\b\\"c"')))).toBe('a\\b"c');
    expect(td.decode(readAstring(cur('{3}\r\nxyz')))).toBe('xyz');
    expect(td.decode(readAstring(cur('foo]bar')))).toBe('foo]bar');
    expect(readNstring(cur('nil'))).toBeNull();
    expect(td.decode(readNstring(cur('"NIL"'))!)).toBe('NIL');
    expect(() => readNstring(cur('foo'))).toThrow(ParseError);
    expect(td.decode(readListMailbox(cur('a%b*c]')))).toBe('a%b*c]');
    expect(() => readAstring(cur('%'))).toThrow(ParseError);
    expect(() => readQuoted(cur('"a\\nb"'))).toThrow(ParseError);
    expect(() => readAstring(cur('{5}\r\nab'))).toThrow(ParseError);
  });

  test('quoted strings: a view without escapes, a copy with them', () => {
    const b = enc('"plain" "es\\"c"');
    const c = new Cursor(b);
    const v1 = readQuoted(c);
    c.pos++;
    const v2 = readQuoted(c);
    expect(v1.buffer).toBe(b.buffer);
    expect(v2.buffer).not.toBe(b.buffer);
    expect(td.decode(v2)).toBe('es"c');
  });

  test('readDate and readDateTime', () => {
    expect(readDate(cur('1-Feb-2024'))).toEqual({ year: 2024, month: 2, day: 1 });
    expect(readDate(cur('"29-feb-2000"'))).toEqual({ year: 2000, month: 2, day: 29 });
    expect(() => readDate(cur('29-Feb-1900'))).toThrow(ParseError);
    expect(() => readDate(cur('0-Feb-2024'))).toThrow(ParseError);
    expect(() => readDate(cur('1-Fe-2024'))).toThrow(ParseError);
    expect(readDateTime(cur('"17-Jul-1996 02:44:25 -0700"'))).toEqual({ ms: Date.UTC(1996, 6, 17, 9, 44, 25), zoneMinutes: -420 });
    expect(readDateTime(cur('" 7-Jul-1996 02:44:25 +0000"'))).toEqual({ ms: Date.UTC(1996, 6, 7, 2, 44, 25), zoneMinutes: 0 });
    const y50 = new Date(readDateTime(cur('"7-Jul-0050 00:00:00 +0000"')).ms);
    expect(y50.getUTCFullYear()).toBe(50);
    for (const bad of ['"17-Jul-1996 02:44:25"', '"17-Jul-1996 24:00:00 +0000"', '"17-Jul-96 02:44:25 +0000"', '17-Jul-1996 02:44:25 +0000', '"17-Jul-1996 02:44:25 0700"', '"17-Jul-1996 2:44:25 +0700"']) {
      expect(() => readDateTime(cur(bad))).toThrow(ParseError);
    }
  });

  test('readFlagList', () => {
    expect(readFlagList(cur('()'))).toEqual([]);
    expect(readFlagList(cur('(\\SEEN \\answered $MDNSent foo)'))).toEqual(['\\Seen', '\\Answered', '$MDNSent', 'foo']);
    for (const bad of ['(\\Recent)', '(\\Foo)', '(', '(a', '(a  b)', '( a)', '(\\)', '("x")']) {
      expect(() => readFlagList(cur(bad))).toThrow(ParseError);
    }
  });

  test('readSection and readPartial', () => {
    expect(readSection(cur('[]'))).toEqual(EMPTY_SEC);
    expect(readSection(cur('[1.2.3]'))).toEqual({ part: [1, 2, 3], text: null, fields: [] });
    expect(readSection(cur('[1.HEADER.FIELDS (a b)]'))).toEqual({ part: [1], text: 'HEADER.FIELDS', fields: ['A', 'B'] });
    expect(readPartial(cur('<0.1>'))).toEqual({ offset: 0, count: 1 });
    expect(readPartial(cur('x'))).toBeNull();
    expect(() => readSection(cur('[MIME]'))).toThrow(ParseError);
    expect(() => readSection(cur('[1.2'))).toThrow(ParseError);
  });

  test('readFetchAtts expands macros only outside lists', () => {
    expect(readFetchAtts(cur('FAST')) as unknown).toEqual([FLAGS, INTERNALDATE, SIZE]);
    expect(() => readFetchAtts(cur('(FAST)'))).toThrow(ParseError);
  });

  test('readSearchKey is case-insensitive and nests', () => {
    expect(readSearchKey(cur('or (seen unseen) not Deleted'))).toEqual({
      op: 'OR',
      a: { op: 'AND', keys: [{ op: 'SEEN' }, { op: 'UNSEEN' }] },
      b: { op: 'NOT', key: { op: 'DELETED' } },
    });
    const ok = 'NOT '.repeat(MAX_SEARCH_DEPTH - 1) + 'ALL';
    expect(() => readSearchKey(cur(ok))).not.toThrow();
  });
});

// ---- literal flows ------------------------------------------------------------------------

const reject = (code: string | null, text: string): Policy => () => ({ reject: code, text });

describe('literals', () => {
  test('synchronizing literal accepted into the buffer', () => {
    const evs = allSplits('a LOGIN {4}\r\nuser {4}\r\npass\r\nb NOOP\r\n');
    expect(evs).toEqual([
      { kind: 'literal', tag: 'a', command: 'LOGIN', size: 4, sync: true, binary: false, index: 0, appendMailbox: null },
      { accepted: true },
      { kind: 'literal', tag: 'a', command: 'LOGIN', size: 4, sync: true, binary: false, index: 1, appendMailbox: null },
      { accepted: true },
      { kind: 'command', command: { tag: 'a', name: 'LOGIN', uid: false, user: 'user', pass: 'pass' }, raw: 'a LOGIN {4}\r\n<4 bytes> {4}\r\n<4 bytes>' },
      NOOP_B,
    ]);
  });

  test('zero-length literals', () => {
    const evs = allSplits('a LOGIN {0}\r\n {0}\r\n\r\nb NOOP\r\n');
    expect(commandsOf(evs)).toEqual([{ tag: 'a', name: 'LOGIN', uid: false, user: '', pass: '' }, NOOP_B.command]);
  });

  test('command names in literal events', () => {
    const evs = allSplits('a uid search text {1}\r\nx\r\nb {1}\r\nx\r\nc UID {1}\r\nx\r\n');
    const lits = evs.filter((e) => (e as { kind?: string }).kind === 'literal').map((e) => (e as LiteralEvent).command);
    expect(lits).toEqual(['UID SEARCH', '', 'UID']);
  });

  test('APPEND message data is streamed, then the command completes', () => {
    const evs = allSplits('a APPEND INBOX (\\Seen) {11}\r\nhello world\r\nb NOOP\r\n');
    expect(evs).toEqual([
      { kind: 'literal', tag: 'a', command: 'APPEND', size: 11, sync: true, binary: false, index: 0, appendMailbox: 'INBOX' },
      { accepted: true },
      { kind: 'literal-data', data: 'hello world' },
      {
        kind: 'command',
        command: { tag: 'a', name: 'APPEND', uid: false, mailbox: 'INBOX', messages: [{ flags: ['\\Seen'], date: null, binary: false, literal: 0, size: 11, data: null }] },
        raw: 'a APPEND INBOX (\\Seen) {11}\r\n<11 bytes>',
      },
      NOOP_B,
    ]);
  });

  test('streamed literal of size 0 gives one empty done event', () => {
    const evs = allSplits('a APPEND INBOX {0}\r\n\r\nb NOOP\r\n');
    expect(evs.slice(0, 3)).toEqual([
      { kind: 'literal', tag: 'a', command: 'APPEND', size: 0, sync: true, binary: false, index: 0, appendMailbox: 'INBOX' },
      { accepted: true },
      { kind: 'literal-data', data: '' },
    ]);
    expect(evs.at(-1)).toEqual(NOOP_B);
  });

  test('literal-data events are views of the fed chunks and end with done', () => {
    const p = new CommandParser();
    p.feed(enc('a APPEND x {10}\r\n'));
    const lit = p.next() as LiteralEvent;
    expect(lit.appendMailbox && td.decode(lit.appendMailbox)).toBe('x');
    expect(p.acceptLiteral('stream')).toBe(true);
    expect(p.next()).toEqual({ kind: 'need-more' });
    const c1 = enc('01234');
    p.feed(c1);
    const d1 = p.next() as Extract<ParseEvent, { kind: 'literal-data' }>;
    expect(d1.kind).toBe('literal-data');
    expect(d1.done).toBe(false);
    expect(d1.data.buffer).toBe(c1.buffer);
    expect(p.next().kind).toBe('need-more');
    p.feed(enc('56789\r\n'));
    const d2 = p.next() as Extract<ParseEvent, { kind: 'literal-data' }>;
    expect([td.decode(d2.data), d2.done]).toEqual(['56789', true]);
    expect(norm(p.next())).toMatchObject({ kind: 'command', command: { name: 'APPEND', mailbox: 'x' } });
  });

  test('MULTIAPPEND: every message literal knows the mailbox; a mailbox literal does not', () => {
    const evs = allSplits('a APPEND {5}\r\nSent* (\\Seen) {3}\r\nabc (\\Draft) " 1-Feb-2024 10:00:00 +0100" ~{4}\r\na\0cd\r\nb NOOP\r\n');
    const lits = evs.filter((e) => (e as { kind?: string }).kind === 'literal') as LiteralEvent[];
    expect(lits.map((l) => [l.index, l.appendMailbox, l.binary]) as unknown).toEqual([
      [0, null, false],
      [1, 'Sent*', false],
      [2, 'Sent*', true],
    ]);
    expect(evs.filter((e) => (e as { kind?: string }).kind === 'literal-data')).toEqual([
      { kind: 'literal-data', data: 'abc' },
      { kind: 'literal-data', data: 'a\0cd' },
    ]);
    expect(commandsOf(evs)[0]).toMatchObject({
      name: 'APPEND',
      mailbox: 'Sent*',
      messages: [
        { flags: ['\\Seen'], literal: 1, size: 3, data: null, binary: false },
        { flags: ['\\Draft'], literal: 2, size: 4, data: null, binary: true },
      ],
    });
  });

  test('a literal after a malformed APPEND prefix is refused with BAD before +', () => {
    for (const s of ['a APPEND INBOX (\\Seen {3}\r\n', 'a APPEND INBOX (\\Recent) {3}\r\n', 'a APPEND INBOX{3}\r\n', 'a APPEND INBOX "x" {3}\r\n']) {
      const p = new CommandParser();
      p.feed(enc(s + 'b NOOP\r\n'));
      expect(p.next()).toMatchObject({ kind: 'error', status: 'BAD', tag: 'a' });
      expect(p.next()).toMatchObject({ kind: 'command', command: { name: 'NOOP' } });
    }
  });

  test('a literal that is not APPEND data has no appendMailbox', () => {
    for (const s of ['a COPY 1 {3}\r\n', 'a APPEND {5}\r\n']) {
      const p = new CommandParser();
      p.feed(enc(s));
      expect(p.next()).toMatchObject({ kind: 'literal', appendMailbox: null });
    }
  });

  test('a refused synchronizing literal fails at once; the client sent nothing more', () => {
    const evs = allSplits('a APPEND Nope {100}\r\nb NOOP\r\n', { policy: reject('TRYCREATE', 'no such mailbox') });
    expect(evs).toEqual([
      { kind: 'literal', tag: 'a', command: 'APPEND', size: 100, sync: true, binary: false, index: 0, appendMailbox: 'Nope' },
      { kind: 'error', tag: 'a', status: 'NO', code: 'TRYCREATE', text: 'no such mailbox', fatal: false },
      NOOP_B,
    ]);
  });

  test('a refused non-synchronizing literal is discarded with the rest of the command', () => {
    const input = 'a APPEND Nope {10+}\r\n0123456789 (\\Seen) {3+}\r\nabc {2+}\r\nxy\r\nb NOOP\r\n';
    const evs = allSplits(input, { policy: reject('TRYCREATE', 'no') });
    expect(evs).toEqual([
      { kind: 'literal', tag: 'a', command: 'APPEND', size: 10, sync: false, binary: false, index: 0, appendMailbox: 'Nope' },
      { kind: 'error', tag: 'a', status: 'NO', code: 'TRYCREATE', text: 'no', fatal: false },
      NOOP_B,
    ]);
  });

  test('after a refused non-synchronizing literal, a synchronizing one ends the command', () => {
    const evs = allSplits('a APPEND Nope {3+}\r\nabc {5}\r\nb NOOP\r\n', { policy: reject(null, 'no') });
    expect(evs.slice(1)).toEqual([{ kind: 'error', tag: 'a', status: 'NO', code: null, text: 'no', fatal: false }, NOOP_B]);
  });

  test('literal data looking like commands or literal headers is data', () => {
    const evs = allSplits('a LOGIN {13}\r\nx {3}\r\nc NOOP y\r\nb NOOP\r\n');
    expect(commandsOf(evs)).toEqual([{ tag: 'a', name: 'LOGIN', uid: false, user: 'x {3}\r\nc NOOP', pass: 'y' }, NOOP_B.command]);
    const evs2 = allSplits('a APPEND Nope {14+}\r\nx {3}\r\nc NOOP\r\n\r\nb NOOP\r\n', { policy: reject(null, 'no') });
    expect(evs2.slice(1)).toEqual([{ kind: 'error', tag: 'a', status: 'NO', code: null, text: 'no', fatal: false }, NOOP_B]);
  });

  test('a literal with an unreadable tag is refused by the parser', () => {
    const evs = allSplits('+ LOGIN {3}\r\nb NOOP\r\n');
    expect(evs).toEqual([{ kind: 'error', tag: null, status: 'BAD', code: null, text: 'missing or invalid tag', fatal: false }, NOOP_B]);
    const evs2 = allSplits('+ LOGIN {3+}\r\nabc x\r\nb NOOP\r\n');
    expect(evs2).toEqual([{ kind: 'error', tag: null, status: 'BAD', code: null, text: 'missing or invalid tag', fatal: false }, NOOP_B]);
  });

  test('the answer to a refused non-synchronizing literal comes before its data', () => {
    const p = new CommandParser();
    p.feed(enc(`a LOGIN {${MAX_LITERAL + 1}+}\r\n`));
    expect(p.next()).toMatchObject({ kind: 'literal', sync: false });
    expect(p.acceptLiteral('buffer')).toBe(false);
    expect(p.next()).toMatchObject({ kind: 'error', tag: 'a', status: 'NO', code: 'TOOBIG', fatal: false });
    expect(p.next()).toEqual({ kind: 'need-more' });
    p.feed(new Uint8Array(MAX_LITERAL + 1).fill(0x7b));
    expect(p.next()).toEqual({ kind: 'need-more' });
    p.feed(enc(' pass\r\nb NOOP\r\n'));
    expect(norm(p.next())).toEqual(NOOP_B);
  });

  test('a literal whose size cannot be read: BAD; for {n+} then fatal, as its end is unknown', () => {
    expect(allSplits('a LOGIN {4294967296}\r\nb NOOP\r\n')).toEqual([
      { kind: 'error', tag: 'a', status: 'BAD', code: null, text: 'literal size too large', fatal: false },
      NOOP_B,
    ]);
    for (const size of ['4294967296', '99999999999999999999']) {
      expect(allSplits(`a LOGIN {${size}+}\r\nb NOOP\r\n`)).toEqual([
        { kind: 'error', tag: 'a', status: 'BAD', code: null, text: 'literal size too large', fatal: false },
        { kind: 'error', tag: 'a', status: 'BAD', code: null, text: expect.stringContaining('refused'), fatal: true },
      ]);
    }
  });

  test('a huge refused non-synchronizing literal is discarded in bounded memory', () => {
    const p = new CommandParser({ maxDiscard: 0xffff_ffff });
    p.feed(enc('a APPEND Nope {4294967295+}\r\n'));
    const lit = p.next() as LiteralEvent;
    expect(lit).toMatchObject({ kind: 'literal', size: 4294967295, sync: false });
    p.rejectLiteral('TOOBIG', 'too big');
    expect(p.next()).toMatchObject({ kind: 'error', code: 'TOOBIG', fatal: false });
    const chunk = new Uint8Array(1 << 20).fill(0x61);
    for (let i = 0; i < 64; i++) {
      p.feed(chunk);
      expect(p.next()).toEqual({ kind: 'need-more' });
      expect(p.bufferSize).toBeLessThanOrEqual(4096);
    }
  }, SLOW);

  test('a refused 64 MiB non-synchronizing literal, then the next command', () => {
    const size = 64 << 20;
    const p = new CommandParser({ maxDiscard: size });
    const evs: unknown[] = [];
    p.feed(enc(`a APPEND Nope {${size}+}\r\n`));
    expect(p.next()).toMatchObject({ kind: 'literal', size });
    p.rejectLiteral('TOOBIG', 'too big');
    const chunk = new Uint8Array(1 << 20).fill(0x7b);
    for (let i = 0; i < 64; i++) {
      p.feed(i === 63 ? concat([chunk, enc('\r\nb NOOP\r\n')]) : chunk);
      for (let ev = p.next(); ev.kind !== 'need-more'; ev = p.next()) evs.push(norm(ev));
      expect(p.bufferSize).toBeLessThanOrEqual(4096);
    }
    expect(evs).toEqual([{ kind: 'error', tag: 'a', status: 'NO', code: 'TOOBIG', text: 'too big', fatal: false }, NOOP_B]);
  }, SLOW);

  test('misuse: next() while a literal awaits a decision throws', () => {
    const p = new CommandParser();
    p.feed(enc('a LOGIN {1}\r\n'));
    expect(p.next().kind).toBe('literal');
    expect(() => p.next()).toThrow();
    expect(() => new CommandParser().acceptLiteral('buffer')).toThrow();
  });
});

// ---- zero copy and view stability ---------------------------------------------------------------

describe('zero copy', () => {
  test('a command inside one chunk is parsed in place', () => {
    const chunk = enc('a SELECT INBOX\r\nb LOGIN {3+}\r\nabc def\r\n');
    const p = new CommandParser();
    p.feed(chunk);
    const e1 = p.next() as CommandEvent;
    expect(p.next()).toMatchObject({ kind: 'literal', sync: false });
    p.acceptLiteral('buffer');
    const e2 = p.next() as CommandEvent;
    expect(e1.raw.buffer).toBe(chunk.buffer);
    expect((e1.command as { mailbox: Uint8Array }).mailbox.buffer).toBe(chunk.buffer);
    expect((e2.command as { user: Uint8Array }).user.buffer).toBe(chunk.buffer);
    expect(p.bufferSize).toBe(0);
  });

  test('a command read across chunks keeps each literal in an array of its own size, apart from its text', () => {
    const p = new CommandParser();
    const values: Uint8Array[] = [];
    const pull = () => {
      for (let ev = p.next(); ev.kind !== 'need-more'; ev = p.next()) {
        if (ev.kind === 'literal') p.acceptLiteral('buffer');
        if (ev.kind === 'command') values.push(...(ev.command as { key: { keys: Array<{ value: Uint8Array }> } }).key.keys.map((k) => k.value));
      }
    };
    // The first literal starts in the chunk of its header; the others after the text moved.
    for (const ch of ['a SEARCH TEXT {10+}\r\nabc', 'defghij', ` TEXT {${MAX_LITERAL}+}\r\n`, 'x'.repeat(MAX_LITERAL), ' TEXT {3+}\r\n', 'xyz\r\n']) {
      p.feed(enc(ch));
      pull();
      expect(p.bufferSize).toBeLessThanOrEqual(4096);
    }
    expect(values.map((v) => [v.length, v.buffer.byteLength])).toEqual([[10, 10], [MAX_LITERAL, MAX_LITERAL], [3, 3]]);
    expect(td.decode(values[0])).toBe('abcdefghij');
  });

  test('views from accumulated commands stay valid while later commands are parsed', () => {
    const p = new CommandParser();
    const kept: Array<[Uint8Array, string]> = [];
    for (let i = 0; i < 300; i++) {
      const name = `box-${i}-${'x'.repeat(i % 50)}`;
      const b = enc(`t${i} SELECT "${name}"\r\n`);
      for (const ch of randomChunks(b, rng(i), 5)) {
        p.feed(ch);
        for (let ev = p.next(); ev.kind !== 'need-more'; ev = p.next()) {
          if (ev.kind === 'command') kept.push([(ev.command as { mailbox: Uint8Array }).mailbox, name]);
        }
      }
    }
    expect(kept.length).toBe(300);
    for (const [v, name] of kept) expect(td.decode(v)).toBe(name);
  });
});

// ---- limits at their edges --------------------------------------------------------------------

function errorsOf(evs: unknown[]): unknown[] {
  return evs.filter((e) => (e as { kind?: string }).kind === 'error');
}

describe('limits', () => {
  test('MAX_LITERAL: a 100 KiB literal passes', () => {
    const x = 'x'.repeat(MAX_LITERAL);
    for (const plus of ['', '+']) {
      const evs = allSplits(`a LOGIN {${MAX_LITERAL}${plus}}\r\n${x} pass\r\nb NOOP\r\n`);
      expect(errorsOf(evs)).toEqual([]);
      expect(commandsOf(evs)).toEqual([{ tag: 'a', name: 'LOGIN', uid: false, user: x, pass: 'pass' }, NOOP_B.command]);
    }
  }, SLOW);

  test('MAX_LITERAL: one byte more is TOOBIG (sync and non-sync)', () => {
    const n = MAX_LITERAL + 1;
    const sync = allSplits(`a LOGIN {${n}}\r\nb NOOP\r\n`);
    expect(sync.slice(1)).toEqual([{ accepted: false }, { kind: 'error', tag: 'a', status: 'NO', code: 'TOOBIG', text: expect.any(String), fatal: false }, NOOP_B]);
    const nonsync = allSplits(`a LOGIN {${n}+}\r\n${'x'.repeat(n)} pass\r\nb NOOP\r\n`);
    expect(nonsync.slice(1)).toEqual([{ accepted: false }, { kind: 'error', tag: 'a', status: 'NO', code: 'TOOBIG', text: expect.any(String), fatal: false }, NOOP_B]);
  }, SLOW);

  test('MAX_LITERALS: 1000 literals pass, the 1001st is TOOBIG', () => {
    const ok = 'a SEARCH' + ' TEXT {1+}\r\nx'.repeat(MAX_LITERALS) + '\r\nb NOOP\r\n';
    const evs = allSplits(ok);
    expect(errorsOf(evs)).toEqual([]);
    const cmds = commandsOf(evs) as Array<{ key: { keys: unknown[] } }>;
    expect(cmds[0].key.keys.length).toBe(MAX_LITERALS);
    expect(cmds[1] as unknown).toEqual(NOOP_B.command);

    const over = 'a SEARCH' + ' TEXT {1+}\r\nx'.repeat(MAX_LITERALS + 1) + '\r\nb NOOP\r\n';
    const evs2 = allSplits(over);
    expect(evs2.filter((e) => (e as { accepted?: boolean }).accepted === false).length).toBe(1);
    expect(errorsOf(evs2)).toEqual([{ kind: 'error', tag: 'a', status: 'NO', code: 'TOOBIG', text: expect.stringContaining('literals'), fatal: false }]);
    expect(evs2.at(-1)).toEqual(NOOP_B);

    const overSync = 'a SEARCH' + ' TEXT {1+}\r\nx'.repeat(MAX_LITERALS) + ' TEXT {1}\r\nb NOOP\r\n';
    const evs3 = allSplits(overSync);
    expect(errorsOf(evs3)).toMatchObject([{ status: 'NO', code: 'TOOBIG' }]);
    expect(evs3.at(-1)).toEqual(NOOP_B);
  }, SLOW);

  test('MAX_LITERALS counts streamed literals too', () => {
    const o: RunOpts = { parser: { maxLiterals: 3 } };
    const ok = allSplits('a APPEND X {1+}\r\na {1+}\r\nb {1+}\r\nc\r\nb NOOP\r\n', o);
    expect(errorsOf(ok)).toEqual([]);
    const over = allSplits('a APPEND X {1+}\r\na {1+}\r\nb {1+}\r\nc {1+}\r\nd\r\nb NOOP\r\n', o);
    expect(errorsOf(over)).toMatchObject([{ status: 'NO', code: 'TOOBIG', tag: 'a' }]);
    expect(over.at(-1)).toEqual(NOOP_B);
  });

  test('MAX_LITERAL_TOTAL: 1 MiB of literals passes, one byte more is TOOBIG', () => {
    const full = Math.floor(MAX_LITERAL_TOTAL / MAX_LITERAL);
    const rest = MAX_LITERAL_TOTAL - full * MAX_LITERAL;
    const body = (last: number, plus: string) =>
      'a SEARCH' + ` TEXT {${MAX_LITERAL}+}\r\n${'y'.repeat(MAX_LITERAL)}`.repeat(full) + ` TEXT {${last}${plus}}\r\n`;
    const okIn = body(rest, '+') + 'z'.repeat(rest) + '\r\nb NOOP\r\n';
    const evs = allSplits(okIn);
    expect(errorsOf(evs)).toEqual([]);
    expect(commandsOf(evs).length).toBe(2);

    const overIn = body(rest + 1, '+') + 'z'.repeat(rest + 1) + '\r\nb NOOP\r\n';
    const evs2 = allSplits(overIn);
    expect(errorsOf(evs2)).toEqual([{ kind: 'error', tag: 'a', status: 'NO', code: 'TOOBIG', text: expect.stringContaining('total'), fatal: false }]);
    expect(evs2.at(-1)).toEqual(NOOP_B);

    const overSync = body(rest + 1, '') + 'b NOOP\r\n';
    const evs3 = allSplits(overSync);
    expect(errorsOf(evs3)).toMatchObject([{ status: 'NO', code: 'TOOBIG' }]);
    expect(evs3.at(-1)).toEqual(NOOP_B);
  }, SLOW);

  test('MAX_DISCARD: refused {n+} data up to the limit is dropped, the next command parses; one byte more is fatal', () => {
    const first = MAX_LITERAL + 1;
    const cmd = (second: number) =>
      `a SEARCH TEXT {${first}+}\r\n${'x'.repeat(first)} TEXT {${second}+}\r\n${'y'.repeat(second)}\r\nb NOOP\r\n`;
    const refused = [
      { kind: 'literal', tag: 'a', command: 'SEARCH', size: first, sync: false, binary: false, index: 0, appendMailbox: null },
      { accepted: false },
      { kind: 'error', tag: 'a', status: 'NO', code: 'TOOBIG', text: expect.stringContaining('literal too large'), fatal: false },
    ];
    expect(allSplits(cmd(MAX_DISCARD - first))).toEqual([...refused, NOOP_B]);
    expect(allSplits(cmd(MAX_DISCARD - first + 1))).toEqual([
      ...refused,
      { kind: 'error', tag: 'a', status: 'BAD', code: null, text: expect.stringContaining('refused'), fatal: true },
    ]);
  }, SLOW);

  test('maxDiscard counts every refused literal of a command; past it, fatal before the data', () => {
    const o: RunOpts = { parser: { maxLiteral: 5, maxDiscard: 10 } };
    const at = allSplits('a SEARCH TEXT {6+}\r\nxxxxxx TEXT {4+}\r\nyyyy TEXT {0+}\r\n\r\nb NOOP\r\n', o);
    expect(errorsOf(at)).toMatchObject([{ code: 'TOOBIG', fatal: false }]);
    expect(at.at(-1)).toEqual(NOOP_B);
    const over = allSplits('a SEARCH TEXT {6+}\r\nxxxxxx TEXT {5+}\r\nyyyyy\r\nb NOOP\r\n', o);
    expect(errorsOf(over)).toMatchObject([{ code: 'TOOBIG', fatal: false }, { status: 'BAD', fatal: true }]);
    const p = new CommandParser(o.parser);
    p.feed(enc('a LOGIN {11+}\r\n'));
    expect(p.next()).toMatchObject({ kind: 'literal', size: 11 });
    expect(p.acceptLiteral('buffer')).toBe(false);
    expect(p.next()).toMatchObject({ kind: 'error', code: 'TOOBIG', fatal: false });
    expect(p.next()).toMatchObject({ kind: 'error', fatal: true });
    p.feed(enc('xxxxxxxxxxx y\r\nb NOOP\r\n'));
    expect(p.next()).toEqual({ kind: 'need-more' });
  });

  const lineOf = (len: number) => {
    const pre = 'a SEARCH TEXT "';
    const post = '"\r\n';
    return pre + 'q'.repeat(len - pre.length - post.length) + post;
  };

  test('MAX_LINE: a line of exactly MAX_LINE bytes (CRLF included) passes', () => {
    const line = lineOf(MAX_LINE);
    expect(line.length).toBe(MAX_LINE);
    const evs = allSplits(line + 'b NOOP\r\n');
    expect(errorsOf(evs)).toEqual([]);
    expect(commandsOf(evs).length).toBe(2);
  }, SLOW);

  test('MAX_LINE: one byte more is fatal; nothing more is parsed until reset', () => {
    const evs = allSplits(lineOf(MAX_LINE + 1) + 'b NOOP\r\n');
    expect(evs).toEqual([{ kind: 'error', tag: 'a', status: 'BAD', code: null, text: 'command line too long', fatal: true }]);
    const p = new CommandParser();
    p.feed(enc(lineOf(MAX_LINE + 1)));
    expect(p.next()).toMatchObject({ kind: 'error', fatal: true });
    p.feed(enc('b NOOP\r\n'));
    expect(p.next()).toEqual({ kind: 'need-more' });
    p.reset();
    p.feed(enc('b NOOP\r\n'));
    expect(norm(p.next())).toEqual(NOOP_B);
  }, SLOW);

  test('MAX_LINE counts every segment of a command, not literal data', () => {
    const head = 'a LOGIN {3+}\r\n';
    const tail = (len: number) => ' "' + 'q'.repeat(len - head.length - 5) + '"\r\n';
    const at = head + 'abc' + tail(MAX_LINE);
    expect(at.length - 3).toBe(MAX_LINE);
    const evs = allSplits(at + 'b NOOP\r\n');
    expect(errorsOf(evs)).toEqual([]);
    expect(commandsOf(evs).length).toBe(2);
    const over = allSplits(head + 'abc' + tail(MAX_LINE + 1) + 'b NOOP\r\n');
    expect(errorsOf(over)).toMatchObject([{ status: 'BAD', fatal: true }]);
  }, SLOW);

  test('MAX_LINE: an endless line without LF is cut off without buffering it', () => {
    const p = new CommandParser();
    const chunk = enc('a'.repeat(1000));
    let ev: ParseEvent = { kind: 'need-more' };
    let fed = 0;
    while (ev.kind === 'need-more') {
      p.feed(chunk);
      fed += chunk.length;
      ev = p.next();
      expect(p.bufferSize).toBeLessThanOrEqual(p.bufferLimit);
      expect(fed).toBeLessThanOrEqual(MAX_LINE + 1000);
    }
    expect(ev).toMatchObject({ kind: 'error', status: 'BAD', fatal: true });
    expect(p.bufferSize).toBeLessThanOrEqual(2 * MAX_LINE);
  });

  test('custom limits from the constructor', () => {
    const o: RunOpts = { parser: { maxLine: 24, maxLiteral: 5, maxLiterals: 2, maxLiteralTotal: 8 } };
    expect(errorsOf(allSplits('a LOGIN {5}\r\nabcde x\r\nb NOOP\r\n', o))).toEqual([]);
    expect(errorsOf(allSplits('a LOGIN {6}\r\nb NOOP\r\n', o))).toMatchObject([{ code: 'TOOBIG' }]);
    expect(errorsOf(allSplits('a LOGIN {4}\r\nabcd {5}\r\nb NOOP\r\n', o))).toMatchObject([{ code: 'TOOBIG' }]);
    expect(errorsOf(allSplits('a LOGIN {4}\r\nabcd {4}\r\nabcd\r\nb NOOP\r\n', o))).toEqual([]);
    expect(errorsOf(allSplits('a SEARCH TEXT "0123456"\r\n', o))).toMatchObject([{ fatal: true }]);
    expect(errorsOf(allSplits('a SEARCH TEXT "012345"\r\nb NOOP\r\n', o))).toEqual([]);
  });
});

// ---- line mode, reset, hasBuffered --------------------------------------------------------------

describe('line mode', () => {
  test('IDLE then DONE, pipelined', () => {
    const evs = allSplits('a IDLE\r\nDONE\r\nb NOOP\r\n', { lineModeAfter: true });
    expect(evs).toEqual([
      { kind: 'command', command: { tag: 'a', name: 'IDLE', uid: false }, raw: 'a IDLE' },
      { kind: 'line', line: 'DONE' },
      NOOP_B,
    ]);
  });

  test('lines are raw: no literal processing, empty lines kept', () => {
    const p = new CommandParser();
    p.setLineMode(true);
    p.feed(enc('abc {5}\r\n\r\n*\n'));
    expect(norm(p.next())).toEqual({ kind: 'line', line: 'abc {5}' });
    expect(norm(p.next())).toEqual({ kind: 'line', line: '' });
    expect(norm(p.next())).toEqual({ kind: 'line', line: '*' });
    expect(p.next()).toEqual({ kind: 'need-more' });
  });

  test('a line longer than the limit is fatal; exactly at the limit passes', () => {
    const o: RunOpts = { lineModeAfter: true };
    const at = 'x'.repeat(MAX_LINE - 2);
    expect(allSplits(`a AUTHENTICATE PLAIN\r\n${at}\r\nb NOOP\r\n`, o)).toEqual([
      expect.objectContaining({ kind: 'command' }),
      { kind: 'line', line: at },
      NOOP_B,
    ]);
    expect(allSplits(`a AUTHENTICATE PLAIN\r\n${at}x\r\nb NOOP\r\n`, o)).toEqual([
      expect.objectContaining({ kind: 'command' }),
      { kind: 'error', tag: null, status: 'BAD', code: null, text: 'line too long', fatal: true },
    ]);
  }, SLOW);
});

describe('reset and hasBuffered', () => {
  test('plaintext pipelined after STARTTLS is detected and dropped', () => {
    const p = new CommandParser();
    p.feed(enc('a STARTTLS\r\nb LOGIN x y\r\n'));
    expect(p.next()).toMatchObject({ kind: 'command', command: { name: 'STARTTLS' } });
    expect(p.hasBuffered()).toBe(true);
    p.reset();
    expect(p.hasBuffered()).toBe(false);
    expect(p.next()).toEqual({ kind: 'need-more' });
    p.feed(enc('c NOOP\r\n'));
    expect(p.next()).toMatchObject({ kind: 'command', command: { tag: 'c' } });
    expect(p.hasBuffered()).toBe(false);
  });

  test('a partial command counts as buffered', () => {
    const p = new CommandParser();
    p.feed(enc('a NO'));
    expect(p.next().kind).toBe('need-more');
    expect(p.hasBuffered()).toBe(true);
    p.reset();
    p.feed(enc('OP\r\n'));
    expect(p.next()).toMatchObject({ kind: 'error', tag: 'OP', text: 'missing command' });
  });
});

// ---- fuzzing ------------------------------------------------------------------------------------

const CORPUS = [
  'a1 UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])',
  '2 capability',
  '3 ID ("name" "Thunderbird" "version" "128.3.0")',
  '4 authenticate PLAIN',
  '5 ENABLE CONDSTORE QRESYNC',
  '6 list (subscribed) "" "*" return (special-use)',
  '7 LIST "" "*" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN UIDNEXT))',
  '8 select "INBOX" (CONDSTORE)',
  '9 UID fetch 1:* (FLAGS) (CHANGEDSINCE 1234 VANISHED)',
  '10 UID STORE 4:7 +FLAGS.SILENT (\\Seen)',
  '11 UID MOVE 4 "[Gmail]/Trash"',
  '12 APPEND "Sent" (\\Seen) "22-Nov-2024 10:11:12 +0100" {42}',
  '13 UID SEARCH RETURN (ALL) UNDELETED SINCE 1-Jan-2024 OR FROM "bob" SUBJECT {5+}\r\nhello',
  'A001 EXAMINE INBOX',
  'A002 FETCH 1:20 (UID FLAGS INTERNALDATE RFC822.SIZE BODYSTRUCTURE ENVELOPE BODY.PEEK[HEADER.FIELDS (DATE FROM)])',
  'A003 UID FETCH 100 BODY.PEEK[]<0.16384>',
  'A004 IDLE',
  'A005 STATUS "Archive" (MESSAGES RECENT UNSEEN UIDVALIDITY UIDNEXT HIGHESTMODSEQ)',
  'A006 UID EXPUNGE 3:5,9',
  'a0001 LOGIN "user@example.com" {8+}\r\npass"wd)',
  'a0002 LSUB "" "*"',
  'a0003 CREATE "Drafts" (USE (\\Drafts))',
  'a0004 UID COPY 1:3 Archive',
  'a0005 APPEND INBOX (\\Seen) {3+}\r\nabc (\\Draft) ~{2+}\r\nxy',
  'a0006 SEARCH CHARSET UTF-8 TEXT "caf\u00e9" NOT DELETED (LARGER 10 SMALLER 2000) UID $',
  'x LOGIN {3}',
  'y AUTHENTICATE SCRAM-SHA-256 biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=',
  'z COMPRESS DEFLATE',
];

const SPECIAL = enc('{}()[]<>"\\~+*%$:,.-0123456789 \r\n\0\x80\xff=NILnil');

function mutate(src: Uint8Array, r: () => number): Uint8Array {
  let b = Array.from(src);
  const n = 1 + Math.floor(r() * 4);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(r() * (b.length + 1));
    const op = Math.floor(r() * 8);
    const pick = () => SPECIAL[Math.floor(r() * SPECIAL.length)];
    switch (op) {
      case 0:
        if (b.length) b[Math.min(at, b.length - 1)] = pick();
        break;
      case 1:
        b.splice(at, 0, pick());
        break;
      case 2:
        b.splice(at, 1 + Math.floor(r() * 5));
        break;
      case 3:
        b = b.slice(0, at);
        break;
      case 4: {
        const size = [0, 1, 3, 10, 4294967295, 4294967296, 99999999999][Math.floor(r() * 7)];
        const hdr = `${r() < 0.3 ? '~' : ''}{${size}${r() < 0.5 ? '+' : ''}}\r\n`;
        b.splice(at, 0, ...enc(hdr));
        break;
      }
      case 5: {
        const other = enc(CORPUS[Math.floor(r() * CORPUS.length)]);
        const from = Math.floor(r() * other.length);
        b.splice(at, 0, ...other.slice(from, from + 1 + Math.floor(r() * 30)));
        break;
      }
      case 6:
        b.splice(at, 0, ...enc('\r\n'));
        break;
      default:
        b.splice(at, 0, ...b.slice(at, at + Math.floor(r() * 20)));
    }
  }
  return Uint8Array.from(b);
}

function checkEvent(ev: ParseEvent): void {
  switch (ev.kind) {
    case 'need-more':
      return;
    case 'literal':
      if (typeof ev.tag !== 'string' || typeof ev.size !== 'number' || ev.size < 0 || ev.size > 0xffffffff) throw new Error('bad literal event');
      return;
    case 'literal-data':
      if (!(ev.data instanceof Uint8Array)) throw new Error('bad literal-data');
      return;
    case 'command':
      if (typeof ev.command.tag !== 'string' || !(ev.raw instanceof Uint8Array)) throw new Error('bad command');
      return;
    case 'line':
      if (!(ev.line instanceof Uint8Array)) throw new Error('bad line');
      return;
    case 'error':
      if ((ev.status !== 'BAD' && ev.status !== 'NO') || typeof ev.text !== 'string' || ev.text === '') throw new Error('bad error');
      return;
    default:
      throw new Error('unknown event ' + JSON.stringify(ev));
  }
}

/** A deterministic literal policy derived from the event, so splits must agree. */
const fuzzPolicy: Policy = (ev) => {
  const h = (ev.size * 31 + ev.index * 7 + (ev.sync ? 1 : 0)) % 5;
  if (ev.appendMailbox !== null && h < 3) return 'stream';
  if (h === 4) return { reject: 'TOOBIG', text: 'refused' };
  return 'buffer';
};

describe('fuzz', () => {
  test('mutated client commands only ever yield events, within limits, whatever the split', () => {
    const r = rng(20260101);
    const opts: RunOpts = { policy: fuzzPolicy, parser: { maxLine: 4096, maxLiteral: 64, maxLiterals: 8, maxLiteralTotal: 256 } };
    let commands = 0;
    let errors = 0;
    for (let i = 0; i < 3000; i++) {
      const base = enc(CORPUS[Math.floor(r() * CORPUS.length)] + '\r\n' + CORPUS[Math.floor(r() * CORPUS.length)] + '\r\n');
      const input = mutate(base, r);
      const p = new CommandParser(opts.parser);
      const chunks = randomChunks(input, r, 1 + Math.floor(r() * 40));
      const evs: unknown[] = [];
      let steps = 0;
      for (const ch of chunks) {
        p.feed(ch);
        for (;;) {
          if (++steps > 100_000) throw new Error('parser does not make progress');
          const ev = p.next();
          checkEvent(ev);
          if (p.bufferSize > p.bufferLimit) throw new Error('buffer over limit');
          if (ev.kind === 'need-more') break;
          if (ev.kind === 'command') commands++;
          if (ev.kind === 'error') errors++;
          if (ev.kind === 'literal') {
            const a = fuzzPolicy(ev);
            if (a === 'buffer' || a === 'stream') p.acceptLiteral(a);
            else p.rejectLiteral(a.reject, a.text);
          }
          evs.push(ev.kind);
        }
      }
      // Split invariance on a sample.
      if (i % 10 === 0) {
        const whole = run([input], opts);
        const split = run(randomChunks(input, r, 3), opts);
        expect(split).toEqual(whole);
      }
    }
    expect(commands).toBeGreaterThan(500);
    expect(errors).toBeGreaterThan(500);
  }, SLOW);

  test('one long-lived parser survives a stream of garbage', () => {
    const r = rng(99);
    const p = new CommandParser({ maxLine: 2048 });
    for (let i = 0; i < 2000; i++) {
      const input = mutate(enc(CORPUS[Math.floor(r() * CORPUS.length)] + '\r\n'), r);
      for (const ch of randomChunks(input, r, 50)) {
        p.feed(ch);
        for (let ev = p.next(); ev.kind !== 'need-more'; ev = p.next()) {
          checkEvent(ev);
          if (ev.kind === 'literal') {
            if (r() < 0.5) p.acceptLiteral(r() < 0.5 ? 'buffer' : 'stream');
            else p.rejectLiteral(null, 'no');
          }
          if (ev.kind === 'error' && ev.fatal) p.reset();
        }
        expect(p.bufferSize).toBeLessThanOrEqual(p.bufferLimit);
      }
    }
  }, SLOW);
});

describe('input queue', () => {
  test('many chunks fed before pulling are read in order', () => {
    const b = enc('a NOOP\r\n'.repeat(500) + 'z LOGIN {3}\r\nabc def\r\n');
    const chunks = randomChunks(b, rng(3), 3);
    expect(chunks.length).toBeGreaterThan(1024);
    const evs = run(chunks, { feedAllFirst: true });
    expect(commandsOf(evs).length).toBe(501);
    expect(commandsOf(evs).at(-1)).toEqual({ tag: 'z', name: 'LOGIN', uid: false, user: 'abc', pass: 'def' });
  });

  test('a zone of -0000 is zero minutes', () => {
    expect(Object.is(readDateTime(cur('"1-Jan-2024 00:00:00 -0000"')).zoneMinutes, 0)).toBe(true);
  });
});
