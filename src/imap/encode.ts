// Response writer: one growable buffer per turn, filled by a small vocabulary of
// writers. Pure: imports nothing of ours but utf7.
//
// Invariant: strings from the outside world only reach the wire through `string`,
// `nstring`, `astring`, `mailbox`, `quotedLatin1` or `literalLatin1`, which choose
// quoted or literal form, so a value can never inject CRLF or a fake response. Only
// `crlf()` ends a line.
//
// The writers run once per token of every FETCH line, so they copy char codes straight
// into the buffer: no TextEncoder call, subarray or String() per token.

import { encodeUtf7 } from './utf7.ts';

const enc = new TextEncoder();
const NO_BYTES = new Uint8Array(0);
const CRLF = 0x0d0a;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** "00" to "99": the two-digit fields of a date-time. */
const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => (i < 10 ? '0' : '') + i);
const DAY_MS = 86_400_000;

export class ResponseWriter {
  private buf: Uint8Array;
  private len = 0;
  private firstSize: number;
  /** The session enabled IMAP4rev2 or UTF8=ACCEPT: 8-bit strings go quoted and
   * mailbox names as UTF-8 instead of modified UTF-7. */
  utf8 = false;

  /** The buffer is allocated on first use and handed off by take(), so an idle
   * connection holds none. `initial` is the smallest first allocation of a turn; a turn
   * starts at the size the previous one needed, so a long FETCH, flushed every few
   * hundred KiB, does not grow (and copy) its buffer from `initial` every time. */
  constructor(private readonly initial = 4096) {
    this.buf = NO_BYTES;
    this.firstSize = initial;
  }

  get length(): number {
    return this.len;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = Math.max(this.buf.length * 2, this.firstSize);
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Protocol text we control (keywords, numbers, punctuation). Must be without CR/LF;
   * non-ASCII (a UTF-8 session's names) is encoded as UTF-8. */
  raw(s: string): this {
    const n = s.length;
    this.reserve(n);
    const buf = this.buf;
    let len = this.len;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return this.utf8Text(s);
      buf[len++] = c;
    }
    this.len = len;
    return this;
  }

  private utf8Text(s: string): this {
    this.reserve(s.length * 3);
    this.len += enc.encodeInto(s, this.buf.subarray(this.len)).written;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  byte(c: number): this {
    this.reserve(1);
    this.buf[this.len++] = c;
    return this;
  }

  sp(): this {
    return this.byte(0x20);
  }

  num(n: number | bigint): this {
    if (typeof n === 'number' && n >= 0 && Number.isSafeInteger(n)) return this.digits(n);
    return this.raw(String(n));
  }

  /** A non-negative safe integer in decimal, written from its last digit back. */
  private digits(n: number): this {
    let width = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) width++;
    this.reserve(width);
    let pos = this.len + width;
    this.len = pos;
    do {
      this.buf[--pos] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
    return this;
  }

  /** RFC 9051 date-time of a UTC instant: "dd-Mon-yyyy hh:mm:ss +0000", quotes included. */
  dateTime(ms: number): this {
    // Date drops a fraction of a millisecond toward zero.
    ms = Math.trunc(ms);
    const day = Math.floor(ms / DAY_MS);
    const { year, month, date } = civilDate(day);
    const secs = Math.floor((ms - day * DAY_MS) / 1000);
    this.byte(0x22).raw(TWO_DIGITS[date]).byte(0x2d).raw(MONTHS[month]).byte(0x2d).num(year).sp();
    this.raw(TWO_DIGITS[Math.floor(secs / 3600)]).byte(0x3a).raw(TWO_DIGITS[Math.floor(secs / 60) % 60]).byte(0x3a).raw(TWO_DIGITS[secs % 60]);
    return this.raw(' +0000"');
  }

  crlf(): this {
    this.reserve(2);
    this.buf[this.len++] = CRLF >> 8;
    this.buf[this.len++] = CRLF & 0xff;
    return this;
  }

  /** A string: quoted when it can be, else a literal. */
  string(value: string | Uint8Array): this {
    const b = typeof value === 'string' ? enc.encode(value) : value;
    if (quotable(b, this.utf8)) {
      this.reserve(b.length * 2 + 2);
      this.buf[this.len++] = 0x22;
      for (let i = 0; i < b.length; i++) {
        const c = b[i];
        if (c === 0x22 || c === 0x5c) this.buf[this.len++] = 0x5c;
        this.buf[this.len++] = c;
      }
      this.buf[this.len++] = 0x22;
      return this;
    }
    return this.literal(b);
  }

  /** nstring: NIL for null. */
  nstring(value: string | Uint8Array | null): this {
    return value === null ? this.raw('NIL') : this.string(value);
  }

  /** astring: an atom when the value is one, else a string. */
  astring(value: string): this {
    if (isAtom(value)) return this.raw(value);
    return this.string(value);
  }

  literal(b: Uint8Array): this {
    return this.literalHead(b.length).bytes(b);
  }

  /** `{n}` CRLF: the head of a literal of n bytes that the caller sends next. */
  literalHead(n: number): this {
    return this.byte(0x7b).num(n).byte(0x7d).crlf();
  }

  /** A binary string (one char per byte, as message header text is stored): quoted,
   * with '"' and '\' escaped, unless it holds NUL, CR or LF, or 8-bit bytes before
   * UTF-8 is on; then a literal. No length limit, unlike `string`. */
  quotedLatin1(s: string): this {
    const start = this.len;
    this.reserve(s.length * 2 + 2);
    const buf = this.buf;
    let len = start;
    buf[len++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 0 || c === 0x0a || c === 0x0d || (c >= 0x80 && !this.utf8)) {
        this.len = start;
        return this.literalLatin1(s);
      }
      if (c === 0x22 || c === 0x5c) buf[len++] = 0x5c;
      buf[len++] = c;
    }
    buf[len++] = 0x22;
    this.len = len;
    return this;
  }

  /** A binary string as a literal. */
  literalLatin1(s: string): this {
    this.literalHead(s.length).reserve(s.length);
    const buf = this.buf;
    let len = this.len;
    for (let i = 0; i < s.length; i++) buf[len++] = s.charCodeAt(i);
    this.len = len;
    return this;
  }

  /** A mailbox name: modified UTF-7 unless the session speaks UTF-8; astring form. */
  mailbox(name: string): this {
    const wire = this.utf8 ? name : encodeUtf7(name);
    if (wire === 'INBOX' || isAtom(wire)) return this.raw(wire);
    return this.string(wire);
  }

  /** Parenthesised list of protocol words (flags, attributes). */
  atomList(items: readonly string[]): this {
    this.byte(0x28);
    for (let i = 0; i < items.length; i++) {
      if (i > 0) this.sp();
      this.raw(items[i]);
    }
    return this.byte(0x29);
  }

  /** Take the bytes written so far and start again. The returned view is not reused. */
  take(): Uint8Array {
    let size = this.initial;
    while (size < this.len) size *= 2;
    this.firstSize = size;
    const out = this.buf.subarray(0, this.len);
    this.buf = NO_BYTES;
    this.len = 0;
    return out;
  }
}

/** Quoted form is possible: no NUL/CR/LF, no 8-bit bytes unless UTF-8 is allowed, not too long. */
export function quotable(b: Uint8Array, utf8: boolean): boolean {
  if (b.length > 1024) return false;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 0 || c === 0x0a || c === 0x0d) return false;
    if (c >= 0x80 && !utf8) return false;
  }
  return true;
}

/** Year, month (0-11) and day of month of a day counted from 1970-01-01, proleptic
 * Gregorian as Date uses (H. Hinnant's civil_from_days), without a Date per message. */
export function civilDate(days: number): { year: number; month: number; date: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 2 : mp - 10;
  return { year: yoe + era * 400 + (month <= 1 ? 1 : 0), month, date: doy - Math.floor((153 * mp + 2) / 5) + 1 };
}

/** ATOM-CHAR per RFC 9051, excluding ']' too so the result is also a valid astring. */
export function isAtom(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
    // atom-specials: ( ) { SP CTL % * " \ ]
    if (c === 0x28 || c === 0x29 || c === 0x7b || c === 0x25 || c === 0x2a || c === 0x22 || c === 0x5c || c === 0x5d) return false;
  }
  return s.toUpperCase() !== 'NIL';
}
