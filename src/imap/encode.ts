// Response writer: one growable buffer per turn, filled by a small vocabulary of
// writers. Pure: imports nothing of ours but utf7.
//
// Invariant: strings from the outside world only reach the wire through `string`,
// `nstring`, `astring` or `mailbox`, which choose quoted or literal form, so a value
// can never inject CRLF or a fake response. Only `crlf()` ends a line.

import { encodeUtf7 } from './utf7.ts';

const enc = new TextEncoder();
const NO_BYTES = new Uint8Array(0);
const CRLF = 0x0d0a;

export class ResponseWriter {
  private buf: Uint8Array;
  private len = 0;
  /** The session enabled IMAP4rev2 or UTF8=ACCEPT: 8-bit strings go quoted and
   * mailbox names as UTF-8 instead of modified UTF-7. */
  utf8 = false;

  /** The buffer is allocated on first use and handed off by take(), so an idle
   * connection holds none. `initial` is the size of each turn's first allocation. */
  constructor(private readonly initial = 4096) {
    this.buf = NO_BYTES;
  }

  get length(): number {
    return this.len;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = Math.max(this.buf.length * 2, this.initial);
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Protocol text we control (keywords, numbers, punctuation). Must be ASCII without CR/LF. */
  raw(s: string): this {
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
    return this.raw(String(n));
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
    this.raw(`{${b.length}}`).crlf();
    return this.bytes(b);
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
