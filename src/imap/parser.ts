// IMAP command parser: an incremental framer (bytes in, events out) and the command
// grammar (RFC 9051 §9, RFC 3501 §9 and the extensions we serve) over complete commands.
//
// Pure: no sockets, no store, no session; imports nothing of ours but the types and limits.
//
// Invariants callers (the session) must keep:
// - feed() chunks in arrival order and never modify a chunk after feeding it. Values in
//   events (mailbox names, strings, literal data) are views into the fed chunks or into
//   the parser's own buffer; neither is ever overwritten, so views stay valid for good.
// - After a `literal` event call acceptLiteral() or rejectLiteral() before the next
//   next(). For a synchronizing literal send `+` only when acceptLiteral() returned true.
// - setLineMode() is switched between commands (after a command event, before the next).
// - After a fatal error (line too long, too much refused literal data) the parser is dead:
//   feed() drops input and next() returns need-more until reset(). The session sends
//   `* BYE` and closes.
//
// Framing is independent of the grammar: a command is the text up to a line end that
// does not end in a literal header, with each literal header's data in between. The
// grammar then parses the complete command. So a syntax error costs one command, never
// the connection, and the bytes after it are the next command.
//
// Refused literals: the command's error event comes at the next next(), at once. For a
// synchronizing literal the command ends there (the client waits for a `+` that never
// comes). A non-synchronizing one was sent anyway: the rest of the command is read and
// dropped without an event (its answer is already out), up to maxDiscard bytes of refused
// literal data per command; a literal header that would pass it, or whose size cannot be
// read, gives a fatal error before its data (RFC 7888 §4: the server may close).
//
// Memory: a command that lies inside one fed chunk is parsed in place (values are
// `subarray` views of the chunk). Only a command that spans chunks is accumulated: its
// text in one growable buffer, and each buffered literal read from then on in an array of
// exactly its size (no regrowth copies, no slack); together bounded by maxLine +
// maxLiteralTotal. Streamed literals (APPEND message data) and dropped literals are never
// kept, and a refused command's buffers are let go when it is refused.

import {
  MAX_AUTH_LINE,
  MAX_DISCARD,
  MAX_LINE,
  MAX_LITERAL,
  MAX_LITERALS,
  MAX_LITERAL_SIZE,
  MAX_LITERAL_TOTAL,
  MAX_SEARCH_DEPTH,
  MAX_TAG,
} from './limits.ts';
import type {
  AppendMessage,
  Bytes,
  Command,
  FetchAtt,
  ImapDate,
  ImapDateTime,
  ListReturn,
  LiteralSpan,
  ParseEvent,
  Partial,
  SearchKey,
  Section,
  SeqNumber,
  SequenceSet,
  StoreMode,
} from './parser-types.ts';

export * from './parser-types.ts';

// ---- bytes and character classes ----------------------------------------------------

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const DQ = 0x22;
const DOLLAR = 0x24;
const LP = 0x28;
const RP = 0x29;
const STAR = 0x2a;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const COLON = 0x3a;
const LT = 0x3c;
const EQ = 0x3d;
const GT = 0x3e;
const LBR = 0x5b;
const BS = 0x5c;
const RBR = 0x5d;
const LB = 0x7b;
const RB = 0x7d;
const TILDE = 0x7e;

const C_ATOM = 1; // ATOM-CHAR
const C_ASTRING = 2; // ASTRING-CHAR = ATOM-CHAR / resp-specials
const C_TAG = 4; // ASTRING-CHAR except "+"
const C_LIST = 8; // list-char = ATOM-CHAR / list-wildcards / resp-specials
const C_DIGIT = 16;
const C_NAME = 32; // fetch-att and section keyword letters: A-Z a-z 0-9 . -
const C_B64 = 64; // base64 alphabet without "="

const CLS = new Uint8Array(256);
for (let b = 0x21; b < 0x7f; b++) {
  const ch = String.fromCharCode(b);
  let f = 0;
  if ('(){%*"\\]'.indexOf(ch) < 0) f |= C_ATOM | C_ASTRING | C_LIST | C_TAG;
  else if (ch === ']') f |= C_ASTRING | C_LIST | C_TAG;
  else if (ch === '%' || ch === '*') f |= C_LIST;
  if (ch === '+') f &= ~C_TAG;
  if (b >= 0x30 && b <= 0x39) f |= C_DIGIT;
  if (/[A-Za-z0-9.-]/.test(ch)) f |= C_NAME;
  if (/[A-Za-z0-9+/]/.test(ch)) f |= C_B64;
  CLS[b] = f;
}

const EMPTY: Bytes = new Uint8Array(0);

// Short tokens (command names, keywords, flags, header field names) repeat from command
// to command; building them char by char costs more than parsing. They are interned:
// hash the bytes, and reuse the cached string when it matches byte for byte (so a hash
// collision only costs a miss). The cache is bounded and shared by all connections.
const INTERN_MAX_LEN = 64;
const INTERN_MAX = 8192;
const interned = new Map<number, string>();

function token(buf: Uint8Array, s: number, e: number, up: boolean): string {
  const n = e - s;
  if (n > INTERN_MAX_LEN) return build(buf, s, e, up);
  let h = 0x811c9dc5 ^ n;
  for (let i = s; i < e; i++) {
    let b = buf[i];
    if (up && b >= 0x61 && b <= 0x7a) b -= 0x20;
    h = Math.imul(h ^ b, 0x01000193);
  }
  const hit = interned.get(h);
  if (hit !== undefined && hit.length === n) {
    let k = 0;
    for (; k < n; k++) {
      let b = buf[s + k];
      if (up && b >= 0x61 && b <= 0x7a) b -= 0x20;
      if (hit.charCodeAt(k) !== b) break;
    }
    if (k === n) return hit;
  }
  const str = build(buf, s, e, up);
  if (hit === undefined && interned.size < INTERN_MAX) interned.set(h, str);
  return str;
}

function build(buf: Uint8Array, s: number, e: number, up: boolean): string {
  let r = '';
  for (let i = s; i < e; i++) {
    let b = buf[i];
    if (up && b >= 0x61 && b <= 0x7a) b -= 0x20;
    r += String.fromCharCode(b);
  }
  return r;
}

/** Bytes to a string, one char per byte. For short tokens (atoms, keywords, flags). */
function latin1(buf: Uint8Array, s: number, e: number): string {
  return token(buf, s, e, false);
}

/** Like latin1() with ASCII letters upper-cased. */
function upper(buf: Uint8Array, s: number, e: number): string {
  return token(buf, s, e, true);
}

// ---- cursor and errors ----------------------------------------------------------------

/** A syntax error; its message is the text of the tagged BAD. */
export class ParseError extends Error {
  override name = 'ParseError';
}

function fail(msg: string): never {
  throw new ParseError(msg);
}

/**
 * A position in a complete command. With `lits` (framed mode, as the framer parses) a
 * literal is recognised only where the framer saw its header and the grammar jumps over
 * its data; without (standalone use in tests and tools), literals are parsed inline:
 * `{n}` CRLF then n bytes.
 */
export class Cursor {
  pos: number;
  end: number;
  /** Index of the next literal in `lits`. */
  lit = 0;
  constructor(
    readonly buf: Uint8Array,
    pos = 0,
    end = buf.length,
    readonly lits: readonly LiteralSpan[] | null = null,
  ) {
    this.pos = pos;
    this.end = end;
  }
}

const NO_LITS: readonly LiteralSpan[] = Object.freeze([]);

function peek(c: Cursor): number {
  return c.pos < c.end ? c.buf[c.pos] : -1;
}

function isEnd(c: Cursor): boolean {
  return c.pos >= c.end;
}

/** SP, exactly one. */
export function readSP(c: Cursor): void {
  if (c.pos >= c.end) fail('missing argument');
  if (c.buf[c.pos] !== SP) fail('expected a single space');
  c.pos++;
}

function expect(c: Cursor, b: number, what: string): void {
  if (c.pos >= c.end || c.buf[c.pos] !== b) fail(`expected ${what}`);
  c.pos++;
}

// ---- tokens ---------------------------------------------------------------------------

/** tag = 1*<any ASTRING-CHAR except "+">, at most MAX_TAG bytes. */
export function readTag(c: Cursor): string {
  const s = c.pos;
  let i = s;
  while (i < c.end && CLS[c.buf[i]] & C_TAG) i++;
  if (i === s) fail('missing or invalid tag');
  if (i - s > MAX_TAG) fail('tag too long');
  c.pos = i;
  return latin1(c.buf, s, i);
}

/** The tag at the start of a command, or null when it is unreadable (answer `* BAD`). */
function tagOf(buf: Uint8Array, s: number, e: number): string | null {
  let i = s;
  const lim = Math.min(e, s + MAX_TAG + 1);
  while (i < lim && CLS[buf[i]] & C_TAG) i++;
  if (i === s || i - s > MAX_TAG) return null;
  if (i < e && buf[i] !== SP) return null;
  return latin1(buf, s, i);
}

/** Upper-cased command name after the tag, "UID X" for UID commands; "" if none yet. */
function commandNameOf(buf: Uint8Array, s: number, e: number): string {
  let i = s;
  while (i < e && CLS[buf[i]] & C_TAG) i++;
  if (i >= e || buf[i] !== SP) return '';
  const ns = ++i;
  while (i < e && CLS[buf[i]] & C_ATOM) i++;
  const name = upper(buf, ns, i);
  if (name !== 'UID' || i >= e || buf[i] !== SP) return name;
  const ss = ++i;
  while (i < e && CLS[buf[i]] & C_ATOM) i++;
  return i > ss ? 'UID ' + upper(buf, ss, i) : name;
}

/** atom = 1*ATOM-CHAR, as bytes. */
export function readAtom(c: Cursor): Bytes {
  const s = c.pos;
  let i = s;
  while (i < c.end && CLS[c.buf[i]] & C_ATOM) i++;
  if (i === s) fail('expected an atom');
  c.pos = i;
  return c.buf.subarray(s, i);
}

/** An atom, upper-cased (keywords are case-insensitive). */
export function readAtomUpper(c: Cursor): string {
  const s = c.pos;
  let i = s;
  while (i < c.end && CLS[c.buf[i]] & C_ATOM) i++;
  if (i === s) fail('expected an atom');
  c.pos = i;
  return upper(c.buf, s, i);
}

/** The upper-cased atom at the cursor without consuming it; "" if none. */
function peekAtomUpper(c: Cursor): string {
  let i = c.pos;
  while (i < c.end && CLS[c.buf[i]] & C_ATOM) i++;
  return upper(c.buf, c.pos, i);
}

/** number = 1*DIGIT, at most `max` (2^32-1 for number, 2^53-1 where number64 is allowed). */
export function readNumber(c: Cursor, max = 0xffff_ffff): number {
  const s = c.pos;
  let n = 0;
  let i = s;
  while (i < c.end) {
    const b = c.buf[i];
    if (b < 0x30 || b > 0x39) break;
    n = n * 10 + (b - 0x30);
    if (n > max) fail('number too large');
    i++;
  }
  if (i === s) fail('expected a number');
  c.pos = i;
  return n;
}

/** nz-number = digit-nz *DIGIT. */
export function readNzNumber(c: Cursor, max = 0xffff_ffff): number {
  const b = peek(c);
  if (b === 0x30) fail('number must not be zero or have leading zeros');
  return readNumber(c, max);
}

const MAX_MODSEQ = (1n << 63n) - 1n;

/** mod-sequence-value (nonzero) or mod-sequence-valzer (RFC 7162), up to 2^63-1. */
export function readModSeq(c: Cursor, allowZero: boolean): bigint {
  const s = c.pos;
  let i = s;
  while (i < c.end && CLS[c.buf[i]] & C_DIGIT) i++;
  if (i === s) fail('expected a mod-sequence number');
  if (i - s > 19) fail('mod-sequence too large');
  const v = BigInt(latin1(c.buf, s, i));
  if (v > MAX_MODSEQ) fail('mod-sequence too large');
  if (v === 0n && !allowZero) fail('mod-sequence must not be zero');
  c.pos = i;
  return v;
}

/** quoted = DQUOTE *QUOTED-CHAR DQUOTE; only \" and \\ escapes; UTF-8 allowed (RFC 9051). */
export function readQuoted(c: Cursor): Bytes {
  expect(c, DQ, 'a quoted string');
  const buf = c.buf;
  const s = c.pos;
  let escapes = 0;
  let i = s;
  for (;;) {
    if (i >= c.end) fail('unterminated quoted string');
    const b = buf[i];
    if (b === DQ) break;
    if (b === BS) {
      i++;
      if (i >= c.end) fail('unterminated quoted string');
      const e = buf[i];
      if (e !== DQ && e !== BS) fail('invalid escape in quoted string (only \\" and \\\\)');
      escapes++;
    } else if (b === CR || b === LF || b === 0) {
      fail('invalid character in quoted string');
    }
    i++;
  }
  c.pos = i + 1;
  if (escapes === 0) return buf.subarray(s, i);
  const out = new Uint8Array(i - s - escapes);
  let o = 0;
  for (let j = s; j < i; j++) {
    let b = buf[j];
    if (b === BS) b = buf[++j];
    out[o++] = b;
  }
  return out;
}

/** A literal as the grammar sees it. `data` is null when the session streamed it. */
export interface LiteralValue {
  index: number;
  size: number;
  binary: boolean;
  data: Bytes | null;
}

/** literal / literal8 (`~{n}`, RFC 3516) where the grammar allows it. */
export function readLiteral(c: Cursor, allowBinary: boolean): LiteralValue {
  const p = c.pos;
  const b = peek(c);
  if (b !== LB && b !== TILDE) fail('expected a literal');
  if (c.lits !== null) {
    const L = c.lits[c.lit];
    if (L === undefined || L.start !== p) fail('invalid literal');
    if (L.binary && !allowBinary) fail('literal8 not allowed here');
    const index = c.lit++;
    c.pos = L.dataEnd;
    return { index, size: L.size, binary: L.binary, data: L.streamed ? null : (L.data ?? c.buf.subarray(L.dataStart, L.dataEnd)) };
  }
  // Standalone: parse the header and take the data inline.
  let binary = false;
  if (b === TILDE) {
    if (!allowBinary) fail('literal8 not allowed here');
    binary = true;
    c.pos++;
  }
  expect(c, LB, 'a literal');
  const size = readNumber(c, MAX_LITERAL_SIZE);
  if (peek(c) === PLUS) c.pos++;
  expect(c, RB, '"}"');
  if (peek(c) === CR) c.pos++;
  expect(c, LF, 'CRLF after literal header');
  if (c.end - c.pos < size) fail('truncated literal');
  const data = c.buf.subarray(c.pos, c.pos + size);
  c.pos += size;
  return { index: c.lit++, size, binary, data };
}

function literalBytes(c: Cursor): Bytes {
  const v = readLiteral(c, false);
  if (v.data === null) fail('literal not available');
  return v.data;
}

/** string = quoted / literal. */
export function readString(c: Cursor): Bytes {
  const b = peek(c);
  if (b === DQ) return readQuoted(c);
  if (b === LB) return literalBytes(c);
  fail('expected a string');
}

/** astring = 1*ASTRING-CHAR / string. */
export function readAstring(c: Cursor): Bytes {
  const b = peek(c);
  if (b === DQ) return readQuoted(c);
  if (b === LB) return literalBytes(c);
  if (b === TILDE && c.pos + 1 < c.end && c.buf[c.pos + 1] === LB) fail('literal8 not allowed here');
  const s = c.pos;
  let i = s;
  while (i < c.end && CLS[c.buf[i]] & C_ASTRING) i++;
  if (i === s) fail(b < 0 ? 'missing argument' : 'expected an atom or string');
  c.pos = i;
  return c.buf.subarray(s, i);
}

/** nstring = string / nil. */
export function readNstring(c: Cursor): Bytes | null {
  const b = peek(c);
  if (b === DQ || b === LB) return readString(c);
  if (readAtomUpper(c) !== 'NIL') fail('expected a string or NIL');
  return null;
}

/** mailbox = "INBOX" / astring; INBOX in any case stays bytes (the session normalises). */
export function readMailbox(c: Cursor): Bytes {
  return readAstring(c);
}

/** list-mailbox = 1*list-char / string (RFC 9051: list-char allows "%", "*" and "]"). */
export function readListMailbox(c: Cursor): Bytes {
  const b = peek(c);
  if (b === DQ) return readQuoted(c);
  if (b === LB) return literalBytes(c);
  const s = c.pos;
  let i = s;
  while (i < c.end && CLS[c.buf[i]] & C_LIST) i++;
  if (i === s) fail('expected a mailbox pattern');
  c.pos = i;
  return c.buf.subarray(s, i);
}

// ---- sequence sets --------------------------------------------------------------------

function readSeqNumber(c: Cursor): SeqNumber {
  if (peek(c) === STAR) {
    c.pos++;
    return '*';
  }
  const b = peek(c);
  if (b < 0x30 || b > 0x39) fail('invalid sequence set');
  if (b === 0x30) fail('sequence numbers start at 1');
  return readNumber(c);
}

/**
 * sequence-set = (seq-number / seq-range) ["," sequence-set], or "$" alone (RFC 5182).
 * Ranges are normalised: [low, high] for numbers, [n, "*"] when one end is "*".
 */
export function readSequenceSet(c: Cursor): SequenceSet {
  if (peek(c) === DOLLAR) {
    c.pos++;
    const n = peek(c);
    if (n === COMMA || n === COLON) fail('"$" must stand alone in a sequence set');
    return { saved: true };
  }
  const ranges: Array<[SeqNumber, SeqNumber]> = [];
  for (;;) {
    const a = readSeqNumber(c);
    let b = a;
    if (peek(c) === COLON) {
      c.pos++;
      b = readSeqNumber(c);
    }
    if (a === '*') ranges.push([b, a]);
    else if (b === '*' || a <= b) ranges.push([a, b]);
    else ranges.push([b, a]);
    if (peek(c) !== COMMA) break;
    c.pos++;
  }
  return { saved: false, ranges };
}

// ---- flags ----------------------------------------------------------------------------

const SYSTEM_FLAGS: Record<string, string> = {
  ANSWERED: '\\Answered',
  FLAGGED: '\\Flagged',
  DELETED: '\\Deleted',
  SEEN: '\\Seen',
  DRAFT: '\\Draft',
};

/**
 * flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword.
 * System flags come back in canonical case; keywords as sent. `\Recent` and unknown
 * backslash flags are refused: these flags are for APPEND and STORE.
 */
export function readFlag(c: Cursor): string {
  if (peek(c) === BS) {
    c.pos++;
    const s = c.pos;
    let i = s;
    while (i < c.end && CLS[c.buf[i]] & C_ATOM) i++;
    if (i === s) fail('invalid flag');
    c.pos = i;
    const name = upper(c.buf, s, i);
    const f = SYSTEM_FLAGS[name];
    if (f !== undefined) return f;
    if (name === 'RECENT') fail('\\Recent cannot be set');
    fail(`unknown system flag \\${latin1(c.buf, s, i)}`);
  }
  const s = c.pos;
  let i = s;
  while (i < c.end && CLS[c.buf[i]] & C_ATOM) i++;
  if (i === s) fail('invalid flag');
  c.pos = i;
  return latin1(c.buf, s, i);
}

/** flag-list = "(" [flag *(SP flag)] ")". */
export function readFlagList(c: Cursor): string[] {
  expect(c, LP, '"(" to start a flag list');
  const flags: string[] = [];
  if (peek(c) === RP) {
    c.pos++;
    return flags;
  }
  for (;;) {
    flags.push(readFlag(c));
    const b = peek(c);
    if (b === RP) {
      c.pos++;
      return flags;
    }
    if (b !== SP) fail('unterminated flag list');
    c.pos++;
  }
}

// ---- dates ----------------------------------------------------------------------------

const MONTHS = 'janfebmaraprmayjunjulaugsepoctnovdec';

function readMonth(c: Cursor): number {
  if (c.end - c.pos < 3) fail('invalid month');
  const b = c.buf;
  const m = String.fromCharCode(b[c.pos] | 0x20, b[c.pos + 1] | 0x20, b[c.pos + 2] | 0x20);
  const i = MONTHS.indexOf(m);
  if (i < 0 || i % 3 !== 0) fail('invalid month');
  c.pos += 3;
  return i / 3 + 1;
}

function digits(c: Cursor, n: number, what: string): number {
  if (c.end - c.pos < n) fail(`invalid ${what}`);
  let v = 0;
  for (let k = 0; k < n; k++) {
    const b = c.buf[c.pos + k];
    if (b < 0x30 || b > 0x39) fail(`invalid ${what}`);
    v = v * 10 + (b - 0x30);
  }
  c.pos += n;
  return v;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function dateText(c: Cursor, day: number): ImapDate {
  expect(c, MINUS, '"-" in date');
  const month = readMonth(c);
  expect(c, MINUS, '"-" in date');
  const year = digits(c, 4, 'year');
  if (day < 1 || day > daysInMonth(year, month)) fail('invalid day of month');
  return { year, month, day };
}

/** date = date-text / DQUOTE date-text DQUOTE; date-text = date-day "-" date-month "-" date-year. */
export function readDate(c: Cursor): ImapDate {
  const quoted = peek(c) === DQ;
  if (quoted) c.pos++;
  const b1 = peek(c);
  if (b1 < 0x30 || b1 > 0x39) fail('invalid date');
  let day = b1 - 0x30;
  c.pos++;
  const b2 = peek(c);
  if (b2 >= 0x30 && b2 <= 0x39) {
    day = day * 10 + (b2 - 0x30);
    c.pos++;
  }
  const d = dateText(c, day);
  if (quoted) expect(c, DQ, 'closing quote of date');
  return d;
}

/**
 * date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE,
 * date-day-fixed = (SP DIGIT) / 2DIGIT (a single digit is accepted too).
 */
export function readDateTime(c: Cursor): ImapDateTime {
  expect(c, DQ, 'a quoted date-time');
  let day: number;
  if (peek(c) === SP) {
    c.pos++;
    day = digits(c, 1, 'day');
  } else {
    day = digits(c, 1, 'day');
    const b = peek(c);
    if (b >= 0x30 && b <= 0x39) day = day * 10 + digits(c, 1, 'day');
  }
  const d = dateText(c, day);
  expect(c, SP, 'space before time');
  const hh = digits(c, 2, 'time');
  expect(c, COLON, '":" in time');
  const mm = digits(c, 2, 'time');
  expect(c, COLON, '":" in time');
  const ss = digits(c, 2, 'time');
  if (hh > 23 || mm > 59 || ss > 60) fail('invalid time');
  expect(c, SP, 'space before zone');
  const sign = peek(c);
  if (sign !== PLUS && sign !== MINUS) fail('invalid zone');
  c.pos++;
  const zh = digits(c, 2, 'zone');
  const zm = digits(c, 2, 'zone');
  if (zm > 59) fail('invalid zone');
  expect(c, DQ, 'closing quote of date-time');
  const zoneMinutes = sign === MINUS ? 0 - (zh * 60 + zm) : zh * 60 + zm; // never -0
  const t = new Date(0);
  t.setUTCFullYear(d.year, d.month - 1, d.day);
  t.setUTCHours(hh, mm, Math.min(ss, 59), 0);
  return { ms: t.getTime() - zoneMinutes * 60_000, zoneMinutes };
}

// ---- FETCH ----------------------------------------------------------------------------

function readName(c: Cursor, what: string): string {
  const s = c.pos;
  let i = s;
  while (i < c.end && CLS[c.buf[i]] & C_NAME) i++;
  if (i === s) fail(`expected ${what}`);
  c.pos = i;
  return upper(c.buf, s, i);
}

/** section-part = nz-number *("." nz-number); reads until a "." not followed by a digit. */
function readPartNumbers(c: Cursor): number[] {
  const part: number[] = [];
  for (;;) {
    part.push(readNzNumber(c));
    if (peek(c) !== DOT) return part;
    const n = c.pos + 1 < c.end ? c.buf[c.pos + 1] : -1;
    if (n < 0x30 || n > 0x39) return part;
    c.pos++;
  }
}

/** header-list = "(" header-fld-name *(SP header-fld-name) ")"; names upper-cased. */
export function readHeaderList(c: Cursor): string[] {
  expect(c, LP, '"(" to start a header list');
  const fields: string[] = [];
  for (;;) {
    let name: string;
    const first = peek(c);
    if (first === DQ || first === LB) {
      const f = readAstring(c);
      name = upper(f, 0, f.length);
    } else {
      const s = c.pos;
      let i = s;
      while (i < c.end && CLS[c.buf[i]] & C_ASTRING) i++;
      if (i === s) fail('expected a header field name');
      c.pos = i;
      name = upper(c.buf, s, i);
    }
    if (name.length === 0) fail('empty header field name');
    fields.push(name);
    const b = peek(c);
    if (b === RP) {
      c.pos++;
      return fields;
    }
    if (b !== SP) fail('unterminated header list');
    c.pos++;
  }
}

/**
 * section = "[" [section-spec] "]"; section-spec = section-msgtext / (section-part ["."
 * section-text]); section-text = section-msgtext / "MIME" (MIME only after a part).
 */
export function readSection(c: Cursor): Section {
  expect(c, LBR, '"["');
  const sec: Section = { part: [], text: null, fields: [] };
  if (peek(c) === RBR) {
    c.pos++;
    return sec;
  }
  const b = peek(c);
  let needText = true;
  if (b >= 0x30 && b <= 0x39) {
    sec.part = readPartNumbers(c);
    if (peek(c) === DOT) c.pos++;
    else needText = false;
  }
  if (needText) {
    const t = readName(c, 'a section');
    switch (t) {
      case 'HEADER':
      case 'TEXT':
        sec.text = t;
        break;
      case 'HEADER.FIELDS':
      case 'HEADER.FIELDS.NOT':
        sec.text = t;
        readSP(c);
        sec.fields = readHeaderList(c);
        break;
      case 'MIME':
        if (sec.part.length === 0) fail('MIME needs a part number');
        sec.text = t;
        break;
      default:
        fail('invalid section');
    }
  }
  expect(c, RBR, '"]" to end the section');
  return sec;
}

/** section-binary = "[" [section-part] "]". */
export function readSectionBinary(c: Cursor): number[] {
  expect(c, LBR, '"["');
  if (peek(c) === RBR) {
    c.pos++;
    return [];
  }
  const part = readPartNumbers(c);
  expect(c, RBR, '"]" to end the section');
  return part;
}

/** partial = "<" number64 "." nz-number64 ">", or null when absent. */
export function readPartial(c: Cursor): Partial | null {
  if (peek(c) !== LT) return null;
  c.pos++;
  const offset = readNumber(c, Number.MAX_SAFE_INTEGER);
  expect(c, DOT, '"." in partial');
  const count = readNzNumber(c, Number.MAX_SAFE_INTEGER);
  expect(c, GT, '">" to end partial');
  return { offset, count };
}

const SIMPLE_ATTS: Record<string, FetchAtt> = {};
for (const k of [
  'ENVELOPE', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'BODYSTRUCTURE', 'UID', 'RFC822',
  'RFC822.HEADER', 'RFC822.TEXT', 'MODSEQ', 'SAVEDATE', 'EMAILID', 'THREADID', 'BODY',
] as const) {
  SIMPLE_ATTS[k] = Object.freeze({ kind: k });
}

/** fetch-att (RFC 9051 §9, RFC 3516 BINARY, RFC 7162 MODSEQ, RFC 8514 SAVEDATE, RFC 8474). */
export function readFetchAtt(c: Cursor): FetchAtt {
  return fetchAttNamed(c, readName(c, 'a fetch attribute'));
}

function fetchAttNamed(c: Cursor, name: string): FetchAtt {
  switch (name) {
    case 'BODY':
    case 'BODY.PEEK': {
      if (peek(c) !== LBR) {
        if (name === 'BODY') return SIMPLE_ATTS.BODY;
        fail('BODY.PEEK needs a section');
      }
      const section = readSection(c);
      return { kind: 'BODY[]', peek: name === 'BODY.PEEK', section, partial: readPartial(c) };
    }
    case 'BINARY':
    case 'BINARY.PEEK': {
      const part = readSectionBinary(c);
      return { kind: 'BINARY[]', peek: name === 'BINARY.PEEK', part, partial: readPartial(c) };
    }
    case 'BINARY.SIZE':
      return { kind: 'BINARY.SIZE', part: readSectionBinary(c) };
    default: {
      const a = SIMPLE_ATTS[name];
      if (a === undefined) fail(`unknown fetch attribute ${name}`);
      return a;
    }
  }
}

const MACROS: Record<string, FetchAtt[]> = {
  ALL: [SIMPLE_ATTS.FLAGS, SIMPLE_ATTS.INTERNALDATE, SIMPLE_ATTS['RFC822.SIZE'], SIMPLE_ATTS.ENVELOPE],
  FAST: [SIMPLE_ATTS.FLAGS, SIMPLE_ATTS.INTERNALDATE, SIMPLE_ATTS['RFC822.SIZE']],
  FULL: [SIMPLE_ATTS.FLAGS, SIMPLE_ATTS.INTERNALDATE, SIMPLE_ATTS['RFC822.SIZE'], SIMPLE_ATTS.ENVELOPE, SIMPLE_ATTS.BODY],
};

/** "ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")"; macros expanded. */
export function readFetchAtts(c: Cursor): FetchAtt[] {
  if (peek(c) === LP) {
    c.pos++;
    const atts: FetchAtt[] = [];
    for (;;) {
      atts.push(readFetchAtt(c));
      const b = peek(c);
      if (b === RP) {
        c.pos++;
        return atts;
      }
      if (b !== SP) fail('unterminated fetch attribute list');
      c.pos++;
    }
  }
  const name = readName(c, 'a fetch attribute');
  const m = MACROS[name];
  if (m !== undefined && peek(c) !== LBR) return m.slice();
  return [fetchAttNamed(c, name)];
}

// ---- SEARCH ---------------------------------------------------------------------------

const FLAG_KEYS = new Set([
  'ALL', 'ANSWERED', 'DELETED', 'FLAGGED', 'SEEN', 'DRAFT', 'NEW', 'OLD', 'RECENT',
  'UNANSWERED', 'UNDELETED', 'UNFLAGGED', 'UNSEEN', 'UNDRAFT',
]);
const FLAG_KEY_OBJ: Record<string, SearchKey> = {};
for (const k of FLAG_KEYS) FLAG_KEY_OBJ[k] = Object.freeze({ op: k } as SearchKey);

/** search-key (RFC 9051 §6.4.4, RFC 3501 §6.4.4, RFC 5032 WITHIN, RFC 7162 MODSEQ). */
export function readSearchKey(c: Cursor, depth = 0): SearchKey {
  if (depth >= MAX_SEARCH_DEPTH) fail('search keys nested too deeply');
  const b = peek(c);
  if (b === LP) {
    c.pos++;
    const keys = [readSearchKey(c, depth + 1)];
    for (;;) {
      const n = peek(c);
      if (n === RP) break;
      if (n !== SP) fail('unterminated search key list');
      c.pos++;
      keys.push(readSearchKey(c, depth + 1));
    }
    c.pos++;
    return keys.length === 1 ? keys[0] : { op: 'AND', keys };
  }
  if ((b >= 0x30 && b <= 0x39) || b === STAR || b === DOLLAR) return { op: 'SEQ', set: readSequenceSet(c) };
  if (b < 0) fail('missing search key');
  const op = readAtomUpper(c);
  const fk = FLAG_KEY_OBJ[op];
  if (fk !== undefined) return fk;
  switch (op) {
    case 'BCC':
    case 'BODY':
    case 'CC':
    case 'FROM':
    case 'SUBJECT':
    case 'TEXT':
    case 'TO':
      readSP(c);
      return { op, value: readAstring(c) };
    case 'KEYWORD':
    case 'UNKEYWORD': {
      readSP(c);
      const a = readAtom(c);
      return { op, flag: latin1(a, 0, a.length) };
    }
    case 'HEADER': {
      readSP(c);
      const f = readAstring(c);
      readSP(c);
      return { op, field: upper(f, 0, f.length), value: readAstring(c) };
    }
    case 'BEFORE':
    case 'ON':
    case 'SINCE':
    case 'SENTBEFORE':
    case 'SENTON':
    case 'SENTSINCE':
      readSP(c);
      return { op, date: readDate(c) };
    case 'LARGER':
    case 'SMALLER':
      readSP(c);
      return { op, size: readNumber(c, Number.MAX_SAFE_INTEGER) };
    case 'OLDER':
    case 'YOUNGER':
      readSP(c);
      return { op, seconds: readNzNumber(c) };
    case 'UID':
      readSP(c);
      return { op, set: readSequenceSet(c) };
    case 'MODSEQ': {
      readSP(c);
      if (peek(c) === DQ) {
        // search-modsequence-ext = SP entry-name SP entry-type-req: parsed and ignored.
        readQuoted(c);
        readSP(c);
        const t = readAtomUpper(c);
        if (t !== 'PRIV' && t !== 'SHARED' && t !== 'ALL') fail('invalid MODSEQ entry type');
        readSP(c);
      }
      return { op, modseq: readModSeq(c, true) };
    }
    case 'NOT':
      readSP(c);
      return { op, key: readSearchKey(c, depth + 1) };
    case 'OR': {
      readSP(c);
      const a = readSearchKey(c, depth + 1);
      readSP(c);
      return { op, a, b: readSearchKey(c, depth + 1) };
    }
    default:
      fail(`unknown search key ${op}`);
  }
}

// ---- commands -------------------------------------------------------------------------

const UID_COMMANDS = new Set(['FETCH', 'STORE', 'COPY', 'MOVE', 'SEARCH', 'EXPUNGE']);
const NO_ARG_COMMANDS = new Set([
  'CAPABILITY', 'NOOP', 'LOGOUT', 'STARTTLS', 'CHECK', 'CLOSE', 'UNSELECT', 'NAMESPACE', 'IDLE',
]);
const STATUS_ITEMS = new Set([
  'MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'DELETED', 'SIZE', 'RECENT', 'HIGHESTMODSEQ',
  'APPENDLIMIT', 'MAILBOXID', 'DELETED-STORAGE',
]);
const SEARCH_RETURN = new Set(['MIN', 'MAX', 'ALL', 'COUNT', 'SAVE']);
const USE_ATTRS: Record<string, string> = {
  ALL: '\\All', ARCHIVE: '\\Archive', DRAFTS: '\\Drafts', FLAGGED: '\\Flagged', JUNK: '\\Junk',
  SENT: '\\Sent', TRASH: '\\Trash', IMPORTANT: '\\Important',
};

/** Reads `"(" item *(SP item) ")"` (or with `empty`, also "()"), calling `item` for each. */
function parenList(c: Cursor, empty: boolean, what: string, item: () => void): void {
  expect(c, LP, `"(" to start ${what}`);
  if (peek(c) === RP) {
    if (!empty) fail(`empty ${what}`);
    c.pos++;
    return;
  }
  for (;;) {
    item();
    const b = peek(c);
    if (b === RP) {
      c.pos++;
      return;
    }
    if (b !== SP) fail(`unterminated ${what}`);
    c.pos++;
  }
}

/** status-att list: "(" status-att *(SP status-att) ")", upper-cased. */
export function readStatusAtts(c: Cursor): string[] {
  const items: string[] = [];
  parenList(c, false, 'status item list', () => {
    const a = readAtomUpper(c);
    if (!STATUS_ITEMS.has(a)) fail(`unknown status item ${a}`);
    items.push(a);
  });
  return items;
}

/**
 * Parse one complete command: the text from the tag to before the final CRLF, with the
 * data of buffered literals inline. Throws ParseError on a syntax error.
 */
export function parseCommand(raw: Uint8Array, lits: readonly LiteralSpan[] | null = null): Command {
  const c = new Cursor(raw, 0, raw.length, lits);
  const tag = readTag(c);
  if (isEnd(c)) fail('missing command');
  readSP(c);
  let name = readAtomUpper(c);
  let uid = false;
  if (name === 'UID') {
    readSP(c);
    name = readAtomUpper(c);
    if (!UID_COMMANDS.has(name)) fail(`UID ${name} is not a command`);
    uid = true;
  }
  const cmd = commandArgs(c, tag, name, uid);
  if (!isEnd(c)) fail(`unexpected characters after ${name} arguments`);
  return cmd;
}

function commandArgs(c: Cursor, tag: string, name: string, uid: boolean): Command {
  if (NO_ARG_COMMANDS.has(name)) return { tag, name: name as 'NOOP', uid };
  switch (name) {
    case 'EXPUNGE': {
      // RFC 9051 §6.4.3; UID EXPUNGE: RFC 4315 §2.1, RFC 9051 §6.4.9.
      let set: SequenceSet | null = null;
      if (uid) {
        readSP(c);
        set = readSequenceSet(c);
      }
      return { tag, name, uid, set };
    }
    case 'LOGIN': {
      readSP(c);
      const user = readAstring(c);
      readSP(c);
      return { tag, name, uid, user, pass: readAstring(c) };
    }
    case 'AUTHENTICATE': {
      readSP(c);
      const mechanism = readAtomUpper(c);
      let initial: Bytes | null = null;
      if (!isEnd(c)) {
        readSP(c);
        initial = readInitialResponse(c);
      }
      return { tag, name, uid, mechanism, initial };
    }
    case 'ENABLE': {
      // RFC 5161: "ENABLE" 1*(SP capability).
      const caps: string[] = [];
      do {
        readSP(c);
        caps.push(readAtomUpper(c));
      } while (!isEnd(c));
      return { tag, name, uid, caps };
    }
    case 'ID': {
      // RFC 2971: id_params_list ::= "(" #(string SPACE nstring) ")" / nil.
      readSP(c);
      if (peek(c) !== LP) {
        if (readAtomUpper(c) !== 'NIL') fail('expected ID parameter list or NIL');
        return { tag, name, uid, params: null };
      }
      const params: Array<[Bytes, Bytes | null]> = [];
      parenList(c, true, 'ID parameter list', () => {
        const k = readString(c);
        readSP(c);
        params.push([k, readNstring(c)]);
      });
      return { tag, name, uid, params };
    }
    case 'COMPRESS':
      // RFC 4978: "COMPRESS" SP algorithm.
      readSP(c);
      return { tag, name, uid, mechanism: readAtomUpper(c) };
    case 'SELECT':
    case 'EXAMINE': {
      readSP(c);
      const mailbox = readMailbox(c);
      let condstore = false;
      if (!isEnd(c)) {
        // RFC 4466 select-params; RFC 7162 CONDSTORE.
        readSP(c);
        parenList(c, false, 'select parameters', () => {
          const p = readAtomUpper(c);
          if (p !== 'CONDSTORE') fail(`unsupported select parameter ${p}`);
          condstore = true;
        });
      }
      return { tag, name, uid, mailbox, condstore };
    }
    case 'CREATE': {
      readSP(c);
      const mailbox = readMailbox(c);
      const specialUse: string[] = [];
      if (!isEnd(c)) {
        // RFC 4466 create-params; RFC 6154 §3: "USE" SP "(" [use-attr *(SP use-attr)] ")".
        readSP(c);
        parenList(c, false, 'create parameters', () => {
          const p = readAtomUpper(c);
          if (p !== 'USE') fail(`unsupported create parameter ${p}`);
          readSP(c);
          parenList(c, true, 'USE list', () => {
            expect(c, BS, 'a special-use attribute');
            const a = readAtom(c);
            specialUse.push(USE_ATTRS[upper(a, 0, a.length)] ?? '\\' + latin1(a, 0, a.length));
          });
        });
      }
      return { tag, name, uid, mailbox, specialUse };
    }
    case 'DELETE':
    case 'SUBSCRIBE':
    case 'UNSUBSCRIBE':
      readSP(c);
      return { tag, name, uid, mailbox: readMailbox(c) };
    case 'RENAME': {
      readSP(c);
      const from = readMailbox(c);
      readSP(c);
      return { tag, name, uid, from, to: readMailbox(c) };
    }
    case 'LIST':
      return listArgs(c, tag, uid);
    case 'LSUB': {
      readSP(c);
      const reference = readMailbox(c);
      readSP(c);
      return { tag, name, uid, reference, pattern: readListMailbox(c) };
    }
    case 'STATUS': {
      readSP(c);
      const mailbox = readMailbox(c);
      readSP(c);
      return { tag, name, uid, mailbox, items: readStatusAtts(c) };
    }
    case 'APPEND':
      return appendArgs(c, tag, uid);
    case 'FETCH':
      return fetchArgs(c, tag, uid);
    case 'STORE':
      return storeArgs(c, tag, uid);
    case 'COPY':
    case 'MOVE': {
      readSP(c);
      const set = readSequenceSet(c);
      readSP(c);
      return { tag, name, uid, set, mailbox: readMailbox(c) };
    }
    case 'SEARCH':
      return searchArgs(c, tag, uid);
    default:
      fail(`unknown command ${name}`);
  }
}

/** AUTHENTICATE initial response (RFC 4959): base64, or "=" for an empty response. Not decoded. */
function readInitialResponse(c: Cursor): Bytes {
  const s = c.pos;
  if (peek(c) === EQ && c.pos + 1 === c.end) {
    c.pos++;
    return EMPTY;
  }
  let i = s;
  while (i < c.end && CLS[c.buf[i]] & C_B64) i++;
  let pad = 0;
  while (i < c.end && c.buf[i] === EQ && pad < 2) {
    i++;
    pad++;
  }
  if (i === s || i < c.end) fail('invalid base64 initial response');
  c.pos = i;
  return c.buf.subarray(s, i);
}

/**
 * LIST: RFC 9051 §6.3.9, RFC 5258 (LIST-EXTENDED), RFC 6154 (SPECIAL-USE), RFC 5819
 * (LIST-STATUS). `extended` when selection options (even "()"), a parenthesised pattern
 * list or RETURN options are present (RFC 5258 §3).
 */
function listArgs(c: Cursor, tag: string, uid: boolean): Command {
  readSP(c);
  const selection: string[] = [];
  let extended = false;
  if (peek(c) === LP) {
    extended = true;
    let base = false;
    let recursive = false;
    parenList(c, true, 'LIST selection options', () => {
      const o = readAtomUpper(c);
      switch (o) {
        case 'SUBSCRIBED':
        case 'SPECIAL-USE':
          base = true;
          break;
        case 'RECURSIVEMATCH':
          recursive = true;
          break;
        case 'REMOTE':
          break;
        default:
          fail(`unknown LIST selection option ${o}`);
      }
      if (!selection.includes(o)) selection.push(o);
    });
    if (recursive && !base) fail('RECURSIVEMATCH needs another selection option');
    readSP(c);
  }
  const reference = readMailbox(c);
  readSP(c);
  const patterns: Bytes[] = [];
  if (peek(c) === LP) {
    extended = true;
    parenList(c, false, 'mailbox pattern list', () => {
      patterns.push(readListMailbox(c));
    });
  } else {
    patterns.push(readListMailbox(c));
  }
  const returns: ListReturn = { children: false, subscribed: false, specialUse: false, status: null };
  if (!isEnd(c)) {
    readSP(c);
    if (readAtomUpper(c) !== 'RETURN') fail('expected RETURN');
    readSP(c);
    extended = true;
    parenList(c, true, 'LIST return options', () => {
      const o = readAtomUpper(c);
      switch (o) {
        case 'CHILDREN':
          returns.children = true;
          break;
        case 'SUBSCRIBED':
          returns.subscribed = true;
          break;
        case 'SPECIAL-USE':
          returns.specialUse = true;
          break;
        case 'STATUS':
          if (returns.status !== null) fail('duplicate STATUS return option');
          readSP(c);
          returns.status = readStatusAtts(c);
          break;
        default:
          fail(`unknown LIST return option ${o}`);
      }
    });
  }
  return { tag, name: 'LIST', uid, selection, reference, patterns, returns, extended };
}

/**
 * APPEND: RFC 9051 §6.3.12, RFC 3502 (MULTIAPPEND), RFC 4466 §2.3, RFC 3516 (literal8).
 * append = "APPEND" SP mailbox 1*append-message;
 * append-message = [SP flag-list] [SP date-time] SP (literal / literal8).
 */
function appendArgs(c: Cursor, tag: string, uid: boolean): Command {
  readSP(c);
  const mailbox = readMailbox(c);
  const messages: AppendMessage[] = [];
  do {
    readSP(c);
    let flags: string[] = [];
    let date: ImapDateTime | null = null;
    if (peek(c) === LP) {
      flags = readFlagList(c);
      readSP(c);
    }
    if (peek(c) === DQ) {
      date = readDateTime(c);
      readSP(c);
    }
    const b = peek(c);
    if (b !== LB && b !== TILDE) fail('expected message literal');
    const lit = readLiteral(c, true);
    messages.push({ flags, date, binary: lit.binary, literal: lit.index, size: lit.size, data: lit.data });
  } while (!isEnd(c));
  return { tag, name: 'APPEND', uid, mailbox, messages };
}

/**
 * FETCH: RFC 9051 §6.4.5; modifiers RFC 4466 §2.4, RFC 7162 §3.1.4 (CHANGEDSINCE) and
 * §3.2.6 (VANISHED: UID FETCH only, with CHANGEDSINCE).
 */
function fetchArgs(c: Cursor, tag: string, uid: boolean): Command {
  readSP(c);
  const set = readSequenceSet(c);
  readSP(c);
  const atts = readFetchAtts(c);
  let changedSince: bigint | null = null;
  let vanished = false;
  if (!isEnd(c)) {
    readSP(c);
    parenList(c, false, 'fetch modifiers', () => {
      const m = readAtomUpper(c);
      if (m === 'CHANGEDSINCE') {
        if (changedSince !== null) fail('duplicate CHANGEDSINCE');
        readSP(c);
        changedSince = readModSeq(c, true);
      } else if (m === 'VANISHED') {
        if (!uid) fail('VANISHED needs UID FETCH');
        vanished = true;
      } else {
        fail(`unknown fetch modifier ${m}`);
      }
    });
    if (vanished && changedSince === null) fail('VANISHED needs CHANGEDSINCE');
  }
  return { tag, name: 'FETCH', uid, set, atts, changedSince, vanished };
}

/**
 * STORE: RFC 9051 §6.4.6; modifiers RFC 4466, RFC 7162 §3.1.3 (UNCHANGEDSINCE).
 * store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag))).
 */
function storeArgs(c: Cursor, tag: string, uid: boolean): Command {
  readSP(c);
  const set = readSequenceSet(c);
  readSP(c);
  let unchangedSince: bigint | null = null;
  if (peek(c) === LP) {
    parenList(c, false, 'store modifiers', () => {
      const m = readAtomUpper(c);
      if (m !== 'UNCHANGEDSINCE') fail(`unknown store modifier ${m}`);
      if (unchangedSince !== null) fail('duplicate UNCHANGEDSINCE');
      readSP(c);
      unchangedSince = readModSeq(c, true);
    });
    readSP(c);
  }
  let item = readAtomUpper(c);
  let mode: StoreMode = 'set';
  if (item.charCodeAt(0) === PLUS) mode = 'add';
  else if (item.charCodeAt(0) === MINUS) mode = 'remove';
  if (mode !== 'set') item = item.slice(1);
  let silent = false;
  if (item === 'FLAGS.SILENT') silent = true;
  else if (item !== 'FLAGS') fail('expected FLAGS, +FLAGS or -FLAGS');
  readSP(c);
  let flags: string[];
  if (peek(c) === LP) {
    flags = readFlagList(c);
  } else {
    flags = [readFlag(c)];
    while (peek(c) === SP) {
      c.pos++;
      flags.push(readFlag(c));
    }
  }
  return { tag, name: 'STORE', uid, set, mode, silent, flags, unchangedSince };
}

/**
 * SEARCH: RFC 9051 §6.4.4, RFC 3501 §6.4.4; RETURN: RFC 4731 (ESEARCH), RFC 5182
 * (SAVE); "RETURN ()" means ALL. Several top-level keys are an implicit AND.
 */
function searchArgs(c: Cursor, tag: string, uid: boolean): Command {
  readSP(c);
  let returns: string[] | null = null;
  let charset: string | null = null;
  if (peekAtomUpper(c) === 'RETURN') {
    c.pos += 6;
    readSP(c);
    const r: string[] = [];
    parenList(c, true, 'search return options', () => {
      const o = readAtomUpper(c);
      if (!SEARCH_RETURN.has(o)) fail(`unknown search return option ${o}`);
      if (!r.includes(o)) r.push(o);
    });
    returns = r.length === 0 ? ['ALL'] : r;
    readSP(c);
  }
  if (peekAtomUpper(c) === 'CHARSET') {
    c.pos += 7;
    readSP(c);
    const cs = peek(c) === DQ ? readQuoted(c) : readAtom(c);
    charset = upper(cs, 0, cs.length);
    readSP(c);
  }
  const first = readSearchKey(c);
  let key = first;
  if (!isEnd(c)) {
    const keys = [first];
    while (!isEnd(c)) {
      readSP(c);
      keys.push(readSearchKey(c));
    }
    key = { op: 'AND', keys };
  }
  return { tag, name: 'SEARCH', uid, charset, returns, key };
}

// ---- the framer -----------------------------------------------------------------------

const NEED_MORE: ParseEvent = Object.freeze({ kind: 'need-more' });

const PH_LINE = 0; // reading a line segment of a command
const PH_AWAIT = 1; // literal event returned; waiting for acceptLiteral/rejectLiteral
const PH_LIT = 2; // reading literal data
const PH_DEAD = 3; // fatal error returned

const LM_BUFFER = 0; // literal data is part of the command
const LM_STREAM = 1; // literal data goes out as literal-data events
const LM_SKIP = 2; // literal data is discarded (refused non-synchronizing literal)

interface Header {
  /** Absolute offset of "{" or "~". */
  start: number;
  size: number;
  sync: boolean;
  binary: boolean;
}

/**
 * A literal header at the end of a line segment: "{" number ["+"] "}" or "~{...}".
 * `s`..`e` is the segment text without its line end. Returns null if there is none.
 * The size may be over MAX_LITERAL_SIZE (Infinity past 10 digits): the caller refuses it.
 */
function detectLiteral(buf: Uint8Array, s: number, e: number): Header | null {
  let j = e - 1;
  if (j < s || buf[j] !== RB) return null;
  j--;
  let sync = true;
  if (j >= s && buf[j] === PLUS) {
    sync = false;
    j--;
  }
  const de = j + 1;
  while (j >= s && buf[j] >= 0x30 && buf[j] <= 0x39) j--;
  const ds = j + 1;
  if (ds === de || j < s || buf[j] !== LB) return null;
  let start = j;
  let binary = false;
  if (j - 1 >= s && buf[j - 1] === TILDE) {
    binary = true;
    start = j - 1;
  }
  let k = ds;
  while (k < de - 1 && buf[k] === 0x30) k++;
  let size = de - k > 10 ? Infinity : 0;
  for (; k < de && size !== Infinity; k++) size = size * 10 + (buf[k] - 0x30);
  return { start, size, sync, binary };
}

function errorEvent(status: 'BAD' | 'NO', code: string | null, text: string, tag: string | null, fatal: boolean): ParseEvent {
  return { kind: 'error', tag, status, code, text, fatal };
}

export interface CommandParserOptions {
  /** Command text excluding literal data, all segments, CRLFs included. */
  maxLine?: number;
  /** One buffered literal. */
  maxLiteral?: number;
  /** Literals in one command (buffered or streamed). */
  maxLiterals?: number;
  /** Bytes of buffered literals in one command. */
  maxLiteralTotal?: number;
  /** One line in line mode; defaults to maxLine when that is given, else MAX_AUTH_LINE. */
  maxAuthLine?: number;
  /** Bytes of refused non-synchronizing literals one command may make us read and drop. */
  maxDiscard?: number;
}

/**
 * The incremental command framer. feed() bytes, pull events with next(). See the module
 * comment for the contract.
 */
export class CommandParser {
  readonly maxLine: number;
  readonly maxLiteral: number;
  readonly maxLiterals: number;
  readonly maxLiteralTotal: number;
  readonly maxAuthLine: number;
  readonly maxDiscard: number;
  /** The most the accumulation buffer may ever hold. */
  readonly bufferLimit: number;

  // Input: the chunk being read and the chunks fed after it.
  private cur: Uint8Array | null = null;
  private pos = 0;
  private queue: Uint8Array[] = [];
  private qHead = 0;

  // The command being framed. In direct mode it lies in `cur` from cmdStart to pos; in
  // accumulated mode in acc up to accLen. acc is append-only: bytes handed out as views
  // are never overwritten (it is replaced when it grows and after each command).
  private phase = PH_LINE;
  private started = false;
  private direct = true;
  private cmdStart = 0;
  private acc: Uint8Array = EMPTY;
  private accLen = 0;
  private lineBytes = 0;
  /** Command-relative start of the current line segment. */
  private segStart = 0;
  private lits: LiteralSpan[] | null = null;
  private litTotal = 0;
  private litMode = LM_BUFFER;
  private litRemaining = 0;
  /** The buffered literal being read when it is kept apart from the command text, and
   * how much of it has arrived. */
  private litBuf: Uint8Array | null = null;
  private litFill = 0;
  /** The command was refused: its rest is read and dropped. */
  private discarding = false;
  /** Refused literal bytes of this command, counted against maxDiscard. */
  private discarded = 0;
  /** Events decided before the client's bytes that follow (a refusal, then maybe BYE). */
  private due: ParseEvent[] = [];
  private tag: string | null = null;
  private cmdName = '';
  /** MULTIAPPEND: the last message literal and the mailbox, to resume the prefix parse. */
  private appendLit = -1;
  private appendBox: Bytes | null = null;
  private lineMode = false;

  constructor(opts: CommandParserOptions = {}) {
    this.maxLine = opts.maxLine ?? MAX_LINE;
    this.maxLiteral = opts.maxLiteral ?? MAX_LITERAL;
    this.maxLiterals = opts.maxLiterals ?? MAX_LITERALS;
    this.maxLiteralTotal = opts.maxLiteralTotal ?? MAX_LITERAL_TOTAL;
    this.maxAuthLine = opts.maxAuthLine ?? opts.maxLine ?? MAX_AUTH_LINE;
    this.maxDiscard = opts.maxDiscard ?? MAX_DISCARD;
    this.bufferLimit = Math.max(this.maxLine, this.maxAuthLine) + this.maxLiteralTotal;
  }

  /** Append input. The chunk is kept by reference, copied only if a command spans chunks. */
  feed(chunk: Uint8Array): void {
    if (this.phase === PH_DEAD || chunk.length === 0) return;
    if (this.cur === null) {
      this.cur = chunk;
      this.pos = 0;
    } else {
      this.queue.push(chunk);
    }
  }

  /** In line mode next() returns each raw line (for IDLE's DONE and AUTHENTICATE responses). */
  setLineMode(on: boolean): void {
    this.lineMode = on;
  }

  /** True when input bytes remain that no event has consumed yet (incl. a partial command). */
  hasBuffered(): boolean {
    if (this.started || this.due.length > 0) return true;
    if (this.cur !== null && this.pos < this.cur.length) return true;
    return this.qHead < this.queue.length;
  }

  /** Capacity of the accumulation buffer (never above bufferLimit). */
  get bufferSize(): number {
    return this.acc.length;
  }

  /**
   * Hand back the input not consumed yet and forget it: after COMPRESS, what the client
   * sent behind the command is compressed and must go through the inflater first. Only
   * between commands.
   */
  takeUnread(): Uint8Array[] {
    if (this.started || this.due.length > 0) throw new Error('CommandParser.takeUnread inside a command');
    const out: Uint8Array[] = [];
    if (this.cur !== null && this.pos < this.cur.length) out.push(this.cur.subarray(this.pos));
    for (let i = this.qHead; i < this.queue.length; i++) if (this.queue[i].length) out.push(this.queue[i]);
    this.cur = null;
    this.pos = 0;
    this.queue = [];
    this.qHead = 0;
    return out;
  }

  /** Drop all input and partial state (after STARTTLS); leaves line mode. */
  reset(): void {
    this.cur = null;
    this.pos = 0;
    this.queue = [];
    this.qHead = 0;
    this.acc = EMPTY;
    this.accLen = 0;
    this.direct = true;
    this.lineMode = false;
    this.due = [];
    this.endCommand();
  }

  /** Pull the next event. */
  next(): ParseEvent {
    if (this.phase === PH_AWAIT) throw new Error('CommandParser: call acceptLiteral() or rejectLiteral() after a literal event');
    for (;;) {
      if (this.due.length > 0) return this.due.shift()!;
      if (this.phase === PH_DEAD) return NEED_MORE;
      if (this.phase === PH_LIT && this.litRemaining === 0) {
        // A streamed literal of size 0.
        this.finishLiteral();
        return { kind: 'literal-data', data: EMPTY, done: true };
      }
      let cur = this.cur;
      if (cur === null || this.pos >= cur.length) {
        if (!this.advance()) return NEED_MORE;
        cur = this.cur!;
      }
      if (this.phase === PH_LIT) {
        const take = Math.min(cur.length - this.pos, this.litRemaining);
        const from = this.pos;
        this.pos += take;
        this.litRemaining -= take;
        if (this.litMode === LM_STREAM) {
          const done = this.litRemaining === 0;
          if (done) this.finishLiteral();
          return { kind: 'literal-data', data: cur.subarray(from, from + take), done };
        }
        if (this.litBuf !== null) {
          this.litBuf.set(cur.subarray(from, from + take), this.litFill);
          this.litFill += take;
        }
        if (this.litRemaining === 0) this.finishLiteral();
        continue;
      }
      // PH_LINE
      if (!this.started) {
        this.started = true;
        if (this.direct) this.cmdStart = this.pos;
      }
      const lf = cur.indexOf(LF, this.pos);
      const stop = lf < 0 ? cur.length : lf + 1;
      const n = stop - this.pos;
      if (this.lineBytes + n > (this.lineMode ? this.maxAuthLine : this.maxLine)) {
        return this.fatal(this.lineMode ? 'line too long' : 'command line too long');
      }
      this.lineBytes += n;
      if (!this.direct) this.append(cur, this.pos, stop);
      this.pos = stop;
      if (lf < 0) continue;
      const ev = this.segmentDone();
      if (ev !== null) return ev;
    }
  }

  /**
   * Accept the literal of the last `literal` event. 'buffer': its data becomes part of the
   * command (limits enforced; over a limit this refuses it with NO [TOOBIG] and returns
   * false). 'stream': its data comes out as literal-data events and is not kept.
   */
  acceptLiteral(mode: 'buffer' | 'stream'): boolean {
    if (this.phase !== PH_AWAIT) throw new Error('CommandParser: no literal to accept');
    const lits = this.lits!;
    const L = lits[lits.length - 1];
    if (lits.length > this.maxLiterals) {
      this.rejectLiteral('TOOBIG', `too many literals in one command (at most ${this.maxLiterals})`);
      return false;
    }
    if (mode === 'buffer') {
      if (L.size > this.maxLiteral) {
        this.rejectLiteral('TOOBIG', `literal too large (at most ${this.maxLiteral} bytes)`);
        return false;
      }
      if (this.litTotal + L.size > this.maxLiteralTotal) {
        this.rejectLiteral('TOOBIG', `literals too large in total (at most ${this.maxLiteralTotal} bytes per command)`);
        return false;
      }
      this.litTotal += L.size;
      this.litMode = LM_BUFFER;
      if (!this.direct && L.size > 0) {
        this.litBuf = new Uint8Array(L.size);
        this.litFill = 0;
      }
    } else {
      L.streamed = true;
      this.litMode = LM_STREAM;
      this.toAcc();
    }
    this.litRemaining = L.size;
    this.phase = PH_LIT;
    if (L.size === 0 && mode === 'buffer') this.finishLiteral();
    return true;
  }

  /**
   * Refuse the literal of the last `literal` event. The command fails with `NO [code]
   * text` at the next next(), before the literal's data; the data of a non-synchronizing
   * literal and the rest of its command are then dropped as they arrive (module comment).
   */
  rejectLiteral(code: string | null, text: string, status: 'NO' | 'BAD' = 'NO'): void {
    if (this.phase !== PH_AWAIT) throw new Error('CommandParser: no literal to reject');
    const L = this.lits![this.lits!.length - 1];
    this.refuse(errorEvent(status, code, text, this.tag, false), L);
  }

  // ---- internals ----

  /** A line segment ended (the LF is consumed). Returns an event, or null to go on. */
  private segmentDone(): ParseEvent | null {
    const buf = this.direct ? this.cur! : this.acc;
    const base = this.direct ? this.cmdStart : 0;
    const end = this.cmdLen();
    let textEnd = end - 1;
    if (textEnd > this.segStart && buf[base + textEnd - 1] === CR) textEnd--;
    if (this.lineMode) {
      const line = buf.subarray(base + this.segStart, base + textEnd);
      this.endCommand();
      return { kind: 'line', line };
    }
    const h = detectLiteral(buf, base + this.segStart, base + textEnd);
    if (this.discarding) return this.discardSegment(h);
    if (h === null) {
      if (textEnd === 0) {
        // An empty line between commands: ignored.
        this.endCommand();
        return null;
      }
      const raw = buf.subarray(base, base + textEnd);
      const lits = this.lits ?? NO_LITS;
      this.endCommand();
      return commandEvent(raw, lits);
    }
    if (this.lits === null) {
      this.lits = [];
      this.tag = tagOf(buf, base, base + textEnd);
      this.cmdName = commandNameOf(buf, base, base + textEnd);
    }
    if (h.size > MAX_LITERAL_SIZE) {
      this.refuse(errorEvent('BAD', null, 'literal size too large', this.tag, false), h);
      return null;
    }
    if (this.tag === null) {
      this.refuse(errorEvent('BAD', null, 'missing or invalid tag', null, false), h);
      return null;
    }
    const index = this.lits.length;
    this.lits.push({ start: h.start - base, size: h.size, sync: h.sync, binary: h.binary, dataStart: end, dataEnd: end, streamed: false, data: null });
    const target = this.cmdName === 'APPEND' ? this.appendTarget(buf, base, index) : null;
    if (target instanceof ParseError) {
      // The APPEND is already malformed before this literal: refuse it before `+`.
      this.refuse(errorEvent('BAD', null, target.message, this.tag, false), h);
      return null;
    }
    this.phase = PH_AWAIT;
    const appendMailbox = target;
    return {
      kind: 'literal',
      tag: this.tag,
      command: this.cmdName,
      size: h.size,
      sync: h.sync,
      binary: h.binary,
      index,
      appendMailbox,
    };
  }

  /**
   * Whether literal `index` is APPEND message data, by the APPEND grammar over the text
   * before its header: the mailbox bytes if so, null when it is the mailbox name itself,
   * and the ParseError when the text before it is not a valid APPEND prefix.
   */
  private appendTarget(buf: Uint8Array, base: number, index: number): Bytes | null | ParseError {
    const lits = this.lits!;
    const view = buf.subarray(base, base + lits[index].start);
    const c = new Cursor(view, 0, view.length, lits);
    try {
      let mailbox: Bytes;
      if (this.appendLit >= 0) {
        c.pos = lits[this.appendLit].dataEnd;
        c.lit = this.appendLit + 1;
        mailbox = this.appendBox!;
      } else {
        readTag(c);
        readSP(c);
        if (readAtomUpper(c) !== 'APPEND') return null;
        readSP(c);
        if (isEnd(c)) return null; // the literal is the mailbox name
        mailbox = readMailbox(c);
      }
      for (;;) {
        readSP(c);
        if (isEnd(c)) break;
        if (peek(c) === LP) {
          readFlagList(c);
          readSP(c);
          if (isEnd(c)) break;
        }
        if (peek(c) === DQ) {
          readDateTime(c);
          readSP(c);
          if (isEnd(c)) break;
        }
        readLiteral(c, true);
      }
      this.appendLit = index;
      this.appendBox = mailbox;
      return mailbox;
    } catch (e) {
      if (e instanceof ParseError) return e;
      throw e;
    }
  }

  private cmdLen(): number {
    return this.direct ? (this.started ? this.pos - this.cmdStart : 0) : this.accLen;
  }

  private finishLiteral(): void {
    this.phase = PH_LINE;
    const len = this.cmdLen();
    if (this.litMode !== LM_SKIP) {
      const L = this.lits![this.lits!.length - 1];
      L.dataEnd = len;
      L.data = this.litBuf;
      this.litBuf = null;
    }
    this.segStart = len;
  }

  /**
   * Refuse the command at literal `h`: its answer `ev` is due at once. A synchronizing
   * literal ends the command; a non-synchronizing one starts dropping the rest of it.
   */
  private refuse(ev: ParseEvent, h: { size: number; sync: boolean }): void {
    this.due.push(ev);
    if (h.sync) {
      this.endCommand();
      return;
    }
    this.discarding = true;
    // Nothing of the command is needed any more: let its buffers go now, not at its end
    // (views already handed out keep their own bytes).
    this.lits = null;
    this.direct = false;
    this.acc = EMPTY;
    this.accLen = 0;
    this.segStart = 0;
    this.discardLiteral(h.size);
  }

  /** A line segment of a refused command ended; `h` is its literal header, if any. */
  private discardSegment(h: Header | null): null {
    // The answer is out: the command's end, or a synchronizing literal (whose `+` the
    // client waits for in vain), ends it silently.
    if (h === null || h.sync) {
      this.endCommand();
      return null;
    }
    // Only a segment's tail can hold a literal header: the text before is not kept (this
    // buffer, new since the refusal, was never handed out).
    this.accLen = 0;
    this.discardLiteral(h.size);
    return null;
  }

  /** Drop the next `size` bytes, or give up on the connection past maxDiscard. */
  private discardLiteral(size: number): void {
    this.discarded += size;
    if (this.discarded > this.maxDiscard) {
      this.due.push(this.fatal(`too much literal data in a refused command (at most ${this.maxDiscard} bytes)`));
      return;
    }
    this.litMode = LM_SKIP;
    this.litRemaining = size;
    this.phase = PH_LIT;
    if (size === 0) this.finishLiteral();
  }

  private endCommand(): void {
    if (!this.direct) {
      // The buffer holds only the command that just ended: let it go (views handed out
      // keep their bytes), so an idle connection holds no accumulation buffer.
      this.acc = EMPTY;
      this.accLen = 0;
    }
    this.phase = PH_LINE;
    this.started = false;
    this.direct = true;
    this.lineBytes = 0;
    this.segStart = 0;
    this.lits = null;
    this.litTotal = 0;
    this.litRemaining = 0;
    this.litBuf = null;
    this.discarding = false;
    this.discarded = 0;
    this.tag = null;
    this.cmdName = '';
    this.appendLit = -1;
    this.appendBox = null;
  }

  private fatal(text: string): ParseEvent {
    let tag = this.tag;
    if (tag === null && this.started) {
      tag = this.direct ? tagOf(this.cur!, this.cmdStart, this.cur!.length) : tagOf(this.acc, 0, this.accLen);
    }
    this.endCommand();
    this.phase = PH_DEAD;
    this.cur = null;
    this.pos = 0;
    this.queue = [];
    this.qHead = 0;
    return errorEvent('BAD', null, text, tag, true);
  }

  /** `cur` is used up: keep a partial command, move to the next chunk. */
  private advance(): boolean {
    if (this.started && this.direct) this.toAcc();
    if (this.qHead >= this.queue.length) {
      this.cur = null;
      this.pos = 0;
      if (this.queue.length > 0) {
        this.queue = [];
        this.qHead = 0;
      }
      return false;
    }
    const next = this.queue[this.qHead];
    this.queue[this.qHead++] = EMPTY;
    if (this.qHead >= 1024 && this.qHead * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.qHead);
      this.qHead = 0;
    }
    this.cur = next;
    this.pos = 0;
    return true;
  }

  /**
   * Move the command from the chunk into the accumulation buffer; the part read of a
   * buffered literal in progress goes to an array of its own size, like the rest of it.
   */
  private toAcc(): void {
    if (!this.direct) return;
    this.direct = false;
    if (!this.started) return;
    let textEnd = this.pos;
    if (this.phase === PH_LIT && this.litMode === LM_BUFFER) {
      const L = this.lits![this.lits!.length - 1];
      textEnd = this.cmdStart + L.dataStart;
      this.litBuf = new Uint8Array(L.size);
      this.litBuf.set(this.cur!.subarray(textEnd, this.pos));
      this.litFill = this.pos - textEnd;
    }
    this.append(this.cur!, this.cmdStart, textEnd);
  }

  private append(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (n === 0) return;
    this.ensureAcc(n);
    this.acc.set(src.subarray(from, to), this.accLen);
    this.accLen += n;
  }

  /** Room for `extra` more bytes of the current command. Never overwrites handed-out bytes. */
  private ensureAcc(extra: number): void {
    if (this.accLen + extra <= this.acc.length) return;
    const need = this.accLen + extra;
    const cap = Math.max(need, Math.min(this.bufferLimit, Math.max(4096, need * 2)));
    const nb = new Uint8Array(cap);
    nb.set(this.acc.subarray(0, this.accLen));
    this.acc = nb;
  }
}

function commandEvent(raw: Uint8Array, lits: readonly LiteralSpan[]): ParseEvent {
  try {
    return { kind: 'command', command: parseCommand(raw, lits), raw, lits };
  } catch (e) {
    if (e instanceof ParseError) return errorEvent('BAD', null, e.message, tagOf(raw, 0, raw.length), false);
    throw e;
  }
}

const utf8 = new TextDecoder();

/**
 * A command event's text for the trace log: the same whatever the chunking, with each
 * literal's data replaced by its size (secrets and message bodies stay out of logs).
 */
export function commandText(raw: Bytes, lits: readonly LiteralSpan[]): string {
  let out = '';
  let pos = 0;
  for (const L of lits) {
    out += utf8.decode(raw.subarray(pos, L.dataStart)) + `<${L.size} bytes>`;
    pos = L.dataEnd;
  }
  return out + utf8.decode(raw.subarray(pos));
}
