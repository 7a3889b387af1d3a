// RFC 5322 / RFC 2045 lexical parsing of header values, tuned to answer what Dovecot
// answers for the same bytes (ENVELOPE addresses, BODYSTRUCTURE types and parameters).
// Values are binary strings (one char per byte); nothing here throws on any input.
//
// The scanner mirrors the classic "skip CFWS, read a token, report whether input
// remains" style: most readers return 1 when input remains after them, 0 at the end of
// input and -1 on a syntax error, so callers can tell "ended cleanly" from "broken".

import type { Address } from './types.ts';

// Character classes: 1 = atext, 2 = atext that is also a MIME token char
// (alphanumerics and 8-bit), 4 = atext but a MIME tspecial ('/', '=', '?').
const CLASS = new Uint8Array(256);
{
  for (let c = 0x80; c < 0x100; c++) CLASS[c] = 2;
  for (let c = 0x30; c <= 0x39; c++) CLASS[c] = 2;
  for (let c = 0x41; c <= 0x5a; c++) CLASS[c] = 2;
  for (let c = 0x61; c <= 0x7a; c++) CLASS[c] = 2;
  for (const ch of "!#$%&'*+-^_`{|}~") CLASS[ch.charCodeAt(0)] = 1;
  for (const ch of '/=?') CLASS[ch.charCodeAt(0)] = 4;
}
const isAtext = (c: number): boolean => c >= 0 && CLASS[c] !== 0;
const isTokenChar = (c: number): boolean => c >= 0 && (CLASS[c] & 3) !== 0;

export class Lexer {
  i = 0;
  readonly end: number;
  /** Text of the last comment skipped, when tracking comments (address display names). */
  lastComment: string | null;

  constructor(readonly s: string, trackComments = false, start = 0) {
    this.end = s.length;
    this.i = start;
    this.lastComment = trackComments ? '' : null;
  }

  /** Char code at the cursor, -1 at the end. */
  peek(): number {
    return this.i < this.end ? this.s.charCodeAt(this.i) : -1;
  }

  private skipComment(): number {
    let level = 1;
    let text = '';
    let start = ++this.i;
    for (; this.i < this.end; this.i++) {
      const c = this.s.charCodeAt(this.i);
      if (c === 0x28) level++;
      else if (c === 0x29) {
        if (--level === 0) {
          if (this.lastComment !== null) this.lastComment = text + this.s.slice(start, this.i);
          this.i++;
          return this.i < this.end ? 1 : 0;
        }
      } else if (c === 0x5c) {
        text += this.s.slice(start, this.i);
        start = this.i + 1;
        this.i++;
        if (this.i >= this.end) return -1;
      }
    }
    return -1;
  }

  /** Skip whitespace (including CR/LF) and comments. */
  skipCfws(): number {
    while (this.i < this.end) {
      const c = this.s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) {
        this.i++;
        continue;
      }
      if (c !== 0x28) break;
      if (this.lastComment !== null) this.lastComment = '';
      if (this.skipComment() < 0) return -1;
    }
    return this.i < this.end ? 1 : 0;
  }

  /** atom = 1*atext, then CFWS. */
  atom(): [number, string] {
    if (!isAtext(this.peek())) return [-1, ''];
    const start = this.i++;
    while (this.i < this.end && isAtext(this.s.charCodeAt(this.i))) this.i++;
    const v = this.s.slice(start, this.i);
    if (this.i >= this.end) return [0, v];
    return [this.skipCfws(), v];
  }

  /** dot-atom, allowing CFWS around the dots (RFC 822). */
  dotAtom(): [number, string] {
    if (!isAtext(this.peek())) return [-1, ''];
    let out = '';
    let start = this.i++;
    while (this.i < this.end) {
      if (isAtext(this.s.charCodeAt(this.i))) {
        this.i++;
        continue;
      }
      out += this.s.slice(start, this.i);
      let r = this.skipCfws();
      if (r <= 0) return [r, out];
      if (this.s.charCodeAt(this.i) !== 0x2e) return [1, out];
      this.i++;
      out += '.';
      r = this.skipCfws();
      if (r <= 0 || !isAtext(this.peek())) return [-1, out];
      start = this.i;
    }
    return [0, out + this.s.slice(start, this.i)];
  }

  /** Local part with lenient dots (leading, trailing or doubled dots are kept);
   * CFWS around dots is allowed as in RFC 822. */
  localAtom(): [number, string] {
    const c0 = this.peek();
    if (!isAtext(c0) && c0 !== 0x2e) return [-1, ''];
    let out = '';
    for (;;) {
      const start = this.i;
      while (this.i < this.end) {
        const c = this.s.charCodeAt(this.i);
        if (!isAtext(c) && c !== 0x2e) break;
        this.i++;
      }
      out += this.s.slice(start, this.i);
      if (this.i >= this.end) return [0, out];
      const r = this.skipCfws();
      if (r <= 0) return [r, out];
      const c = this.peek();
      if (c === 0x2e) continue;
      if (isAtext(c) && out.endsWith('.')) continue;
      return [1, out];
    }
  }

  /** MIME token (may be empty), then CFWS. */
  token(): [number, string] {
    const start = this.i;
    while (this.i < this.end) {
      const c = this.s.charCodeAt(this.i);
      if (!isTokenChar(c) && c !== 0x2e) {
        const v = this.s.slice(start, this.i);
        return [this.skipCfws(), v];
      }
      this.i++;
    }
    return [0, this.s.slice(start, this.i)];
  }

  /** quoted-string (cursor on the opening quote): content unescaped, folding CRLF removed. */
  quoted(): [number, string] {
    this.i++;
    let out = '';
    let start = this.i;
    for (; this.i < this.end; this.i++) {
      const c = this.s.charCodeAt(this.i);
      if (c === 0x22) {
        out += this.s.slice(start, this.i);
        this.i++;
        return [this.skipCfws(), out];
      }
      if (c === 0x0a) {
        let e = this.i;
        if (e > start && this.s.charCodeAt(e - 1) === 0x0d) e--;
        out += this.s.slice(start, e);
        start = this.i + 1;
      } else if (c === 0x5c) {
        this.i++;
        if (this.i >= this.end) return [-1, out];
        out += this.s.slice(start, this.i - 1);
        start = this.i;
      }
    }
    return [-1, out];
  }

  private atomOrDot(): [number, string] {
    const start = this.i;
    while (this.i < this.end) {
      const c = this.s.charCodeAt(this.i);
      if (isAtext(c) || c === 0x2e) this.i++;
      else {
        const v = this.s.slice(start, this.i);
        return [this.skipCfws(), v];
      }
    }
    return [0, this.s.slice(start, this.i)];
  }

  /** phrase: words joined by single spaces (obs-phrase allows dots). */
  phrase(): [number, string] {
    if (this.i >= this.end) return [0, ''];
    if (this.peek() === 0x2e) return [-1, ''];
    let out = '';
    for (;;) {
      const [r, w] = this.peek() === 0x22 ? this.quoted() : this.atomOrDot();
      out += w;
      if (r <= 0) return [r, out];
      const c = this.peek();
      if (!isAtext(c) && c !== 0x22 && c !== 0x2e) break;
      out += ' ';
    }
    return [this.skipCfws(), out];
  }

  private domainLiteral(): [number, string] {
    const start = this.i;
    for (; this.i < this.end; this.i++) {
      const c = this.s.charCodeAt(this.i);
      if (c === 0x5c) {
        this.i++;
        if (this.i >= this.end) break;
      } else if (c === 0x5d) {
        this.i++;
        const v = this.s.slice(start, this.i);
        return [this.skipCfws(), v];
      }
    }
    return [-1, ''];
  }

  /** domain after '@' (cursor on '@'). */
  domain(): [number, string] {
    this.i++;
    if (this.skipCfws() <= 0) return [-1, ''];
    return this.peek() === 0x5b ? this.domainLiteral() : this.dotAtom();
  }
}

// ---------------------------------------------------------------------------
// Addresses (RFC 5322 §3.4 with obsolete forms), Dovecot-compatible results:
// missing parts are filled with MISSING_MAILBOX / MISSING_DOMAIN, a broken
// angle address gets the domain SYNTAX_ERROR, groups become start/end markers.

interface Draft {
  name: string | null;
  route: string | null;
  mailbox: string | null;
  domain: string | null;
}

class AddressParser {
  readonly out: Address[] = [];
  private a: Draft = { name: null, route: null, mailbox: null, domain: null };

  constructor(private readonly p: Lexer) {}

  private add(): void {
    const a = this.a;
    this.out.push({ name: a.name, adl: a.route, mailbox: a.mailbox, host: a.domain });
    this.a = { name: null, route: null, mailbox: null, domain: null };
  }

  private localPart(): number {
    const [r, v] = this.p.peek() === 0x22 ? this.p.quoted() : this.p.localAtom();
    if (r < 0) return -1;
    this.a.mailbox = v;
    return r;
  }

  private domainPart(): number {
    const [r, v] = this.p.domain();
    if (r < 0) return -1;
    this.a.domain = v;
    return r;
  }

  private domainList(): number {
    const p = this.p;
    let route = '';
    for (;;) {
      if (p.i >= p.end) return 0;
      if (p.peek() !== 0x40) break;
      if (route !== '') route += ',';
      route += '@';
      const [r, v] = p.domain();
      route += v;
      if (r <= 0) return r;
      while (p.skipCfws() > 0 && p.peek() === 0x2c) p.i++;
    }
    this.a.route = route;
    return 1;
  }

  private angleAddr(): number {
    const p = this.p;
    p.i++; // '<'
    let r = p.skipCfws();
    if (r <= 0) return -1;
    if (p.peek() === 0x3e) {
      // "<>": an empty address, not a syntax error
      p.i++;
      return p.skipCfws();
    }
    if (p.peek() === 0x40) {
      if (this.domainList() > 0 && p.peek() === 0x3a) p.i++;
      else this.a.mailbox = 'MISSING_MAILBOX';
      r = p.skipCfws();
      if (r <= 0) return -1;
    }
    r = this.localPart();
    if (r <= 0) return -1;
    if (p.peek() === 0x40) {
      r = this.domainPart();
      if (r <= 0) return -1;
    }
    if (p.peek() !== 0x3e) return -1;
    p.i++;
    return p.skipCfws();
  }

  private nameAddr(): number {
    const p = this.p;
    const [r, name] = p.phrase();
    if (r <= 0 || p.peek() !== 0x3c) return -1;
    this.a.name = name === '' ? null : name;
    if (this.angleAddr() < 0) this.a.domain = 'SYNTAX_ERROR';
    return p.i < p.end ? 1 : 0;
  }

  private addrSpec(): number {
    const p = this.p;
    if (p.lastComment !== null) p.lastComment = '';
    const quoted = p.peek() === 0x22;
    let r = this.localPart();
    let r2 = -2;
    if (r !== 0 && p.peek() === 0x40) {
      r2 = this.domainPart();
      if (r2 <= 0) r = r2;
    }
    if (p.lastComment) {
      this.a.name = p.lastComment;
    } else if (r2 === -2) {
      // "user" without @domain: a lone word is a mailbox; more words make it a name.
      const base = (this.a.mailbox ?? '') + ' ';
      const [, more] = p.phrase();
      if (more !== '') {
        this.a.mailbox = null;
        this.a.name = base + more;
      } else if (!quoted) {
        this.a.domain = '';
      }
      r = -1;
    }
    return r;
  }

  private mailbox(): number {
    const p = this.p;
    const start = p.i;
    let r = this.nameAddr();
    if (r < 0) {
      p.i = start;
      this.a = { name: null, route: null, mailbox: null, domain: null };
      r = this.addrSpec();
    }
    if (this.a.mailbox === null || this.a.mailbox === '') this.a.mailbox = 'MISSING_MAILBOX';
    if (this.a.domain === null || this.a.domain === '') this.a.domain = 'MISSING_DOMAIN';
    this.add();
    return r;
  }

  private group(): number {
    const p = this.p;
    const [r0, name] = p.phrase();
    if (r0 <= 0 || p.peek() !== 0x3a) return -1;
    p.i++;
    let r = p.skipCfws();
    this.a.mailbox = name;
    this.add();
    if (r > 0 && p.peek() !== 0x3b) {
      for (;;) {
        if (this.mailbox() <= 0) {
          r = -1;
          break;
        }
        if (p.i >= p.end) {
          r = 0;
          break;
        }
        if (p.peek() !== 0x2c) break;
        p.i++;
        if (p.skipCfws() <= 0) {
          r = -1;
          break;
        }
      }
    }
    if (r >= 0) {
      if (p.i >= p.end || p.peek() !== 0x3b) r = -1;
      else {
        p.i++;
        r = p.skipCfws();
      }
    }
    this.add(); // group end marker
    return r === 0 ? 0 : 1;
  }

  private address(): number {
    const p = this.p;
    const start = p.i;
    const r = this.group();
    if (r >= 0) return r;
    p.i = start;
    this.a = { name: null, route: null, mailbox: null, domain: null };
    return this.mailbox();
  }

  list(): void {
    const p = this.p;
    for (let n = 0; n < 10000; n++) {
      if (this.address() === 0) break;
      if (p.i >= p.end || p.peek() !== 0x2c) break;
      p.i++;
      if (p.skipCfws() <= 0) break;
    }
  }
}

/** Parse an address header value (unfolded binary string). null when it holds no address. */
export function parseAddresses(value: string): Address[] | null {
  const p = new Lexer(value, true);
  if (p.skipCfws() <= 0) return null;
  const ap = new AddressParser(p);
  ap.list();
  return ap.out.length > 0 ? ap.out : null;
}

// ---------------------------------------------------------------------------
// Content-Type and parameters (RFC 2045 §5.1, RFC 2231).

/** Parameters as sent: [name, value] pairs, RFC 2231 continuations merged the way Dovecot does. */
export type Params = Array<[string, string]>;

/** One `; attribute=value`. Returns [status, key, value]: status 0 at the end, -1 when broken. */
function contentParam(p: Lexer): [number, string, string] {
  if (p.i >= p.end) return [0, '', ''];
  if (p.peek() !== 0x3b) return [-1, '', ''];
  p.i++;
  if (p.skipCfws() <= 0) return [-1, '', ''];
  const [rk, key] = p.token();
  if (rk <= 0) return [-1, '', ''];
  if (p.peek() !== 0x3d) return [-1, '', ''];
  p.i++;
  let r = p.skipCfws();
  let value = '';
  if (r <= 0) {
    // no value
  } else if (p.peek() === 0x22) {
    [r, value] = p.quoted();
  } else if (p.peek() === 0x3d) {
    // broken input such as name==?utf-8?b?...?=
    const start = p.i;
    while (p.i < p.end) {
      const c = p.s.charCodeAt(p.i);
      if (c === 0x3b || c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) break;
      p.i++;
    }
    value = p.s.slice(start, p.i);
  } else {
    [r, value] = p.token();
  }
  return [r < 0 ? -1 : 1, key, value];
}

interface Rfc2231Piece {
  key: string;
  value: string;
  idx: number;
  extended: boolean;
  order: number;
}

/** Read all parameters from the cursor and merge RFC 2231 sections: `name*0`, `name*1`...
 * are joined into `name` (or `name*` when any section is extended, keeping the encoded
 * form); incomplete sequences keep their numbered names. */
export function parseParams(p: Lexer): Params {
  const result: Params = [];
  const pieces: Rfc2231Piece[] = [];
  let idx = 0; // deliberately carried over between parameters (Dovecot does so too)
  for (let guard = 0; guard < 100000; guard++) {
    const [r, key, value] = contentParam(p);
    if (r === 0) break;
    if (r < 0) {
      if (p.i >= p.end) break;
      p.i++;
      continue;
    }
    const star = key.indexOf('*');
    if (star < 0) {
      result.push([key, value]);
      continue;
    }
    let j = star;
    if (j + 1 < key.length) {
      j++;
      idx = 0;
      while (j < key.length && key.charCodeAt(j) >= 0x30 && key.charCodeAt(j) <= 0x39) {
        idx = idx * 10 + key.charCodeAt(j) - 0x30;
        j++;
      }
    }
    let extended = false;
    if (key.charCodeAt(j) === 0x2a) {
      extended = true;
      j++;
    }
    if (j < key.length) {
      result.push([key, value]);
      continue;
    }
    pieces.push({ key: key.slice(0, star), value, idx, extended, order: pieces.length });
  }
  if (pieces.length === 0) return result;
  pieces.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.idx - b.idx || a.order - b.order));
  for (let i = 0; i < pieces.length; ) {
    let ok = true;
    let haveExt = false;
    let next = 0;
    let j = i;
    for (; j < pieces.length; j++) {
      if (pieces[j].key.toLowerCase() !== pieces[i].key.toLowerCase()) break;
      if (pieces[j].idx !== next) ok = false;
      if (pieces[j].extended) haveExt = true;
      next++;
    }
    if (!ok) {
      for (let k = i; k < j; k++) {
        const q = pieces[k];
        result.push([`${q.key}*${q.idx}${q.extended ? '*' : ''}`, q.value]);
      }
    } else {
      let v = !pieces[i].extended && haveExt ? "''" : '';
      for (let k = i; k < j; k++) {
        const q = pieces[k];
        v += !q.extended && haveExt ? q.value.replace(/%/g, '%25') : q.value;
      }
      result.push([haveExt ? pieces[i].key + '*' : pieces[i].key, v]);
    }
    i = j;
  }
  return result;
}

export interface ContentType {
  /** As sent; "" for both when the value is broken. */
  type: string;
  subtype: string;
  params: Params;
}

/** Content-Type value → type, subtype, parameters. A lone type token gives an empty
 * subtype; anything else malformed gives "" / "" and no parameters (as Dovecot). */
export function parseContentType(value: string): ContentType {
  const p = new Lexer(value);
  const broken: ContentType = { type: '', subtype: '', params: [] };
  if (p.skipCfws() <= 0) return broken;
  const [r1, type] = p.token();
  if (type === '') return broken;
  if (r1 === 0) return { type, subtype: '', params: [] };
  if (r1 < 0 || p.peek() !== 0x2f) return broken;
  p.i++;
  if (p.skipCfws() <= 0) return broken;
  const [r2, subtype] = p.token();
  if (subtype === '' || r2 < 0) return broken;
  if (r2 > 0 && p.peek() !== 0x3b) return broken;
  return { type, subtype, params: parseParams(p) };
}

/** Content-Transfer-Encoding: a single token, else null (treated as absent). */
export function parseEncoding(value: string): string | null {
  const p = new Lexer(value);
  p.skipCfws();
  const [r, tok] = p.token();
  if (r < 0 || tok === '') return null;
  if (p.skipCfws() !== 0) return null;
  return tok;
}

/** Content-Disposition: type token (possibly empty) and parameters; null when unusable. */
export function parseDisposition(value: string): { type: string; params: Params } | null {
  const p = new Lexer(value);
  p.skipCfws();
  const [r, type] = p.token();
  if (r < 0) return null;
  return { type, params: parseParams(p) };
}

/** Content-Language: a list of atoms separated by commas; null when none. */
export function parseLanguage(value: string): string[] | null {
  const p = new Lexer(value);
  p.skipCfws();
  const out: string[] = [];
  for (let n = 0; n < 1000; n++) {
    const [r, a] = p.atom();
    if (r < 0) break;
    out.push(a);
    if (p.i >= p.end || p.peek() !== 0x2c) break;
    p.i++;
    p.skipCfws();
  }
  return out.length > 0 ? out : null;
}
