// A small IMAP client over Bun sockets, for tests, the bench and (later) the CLI.
//
// Invariants:
// - Every wait (greeting, tagged answer, continuation, unsolicited response, write) has a
//   timeout, default 10 s, that rejects naming what was pending plus the tail of the trace,
//   so a test never hangs.
// - Writes honour backpressure: bytes the socket does not accept are kept and resent on
//   `drain` (Bun does not queue them; PLATFORM.md).
// - Server bytes are parsed incrementally into responses, literals included; a response is
//   routed to the pending command with its tag, untagged ones to the oldest pending command,
//   and anything else (no command pending, unknown tag) to the inbox that the low-level
//   readers (`readResponse`, `readLine`, `waitFor`) consume.
// - The trace (`C:`/`S:` lines) never shows LOGIN/AUTHENTICATE secrets, nor literal bodies
//   (shown as their length). The last lines are kept even with tracing off, for errors.
// - The response parser is written here, independently of the server's encoder, so the tests
//   do not share a bug with the code they test. Same for the modified UTF-7 helpers, and
//   for COMPRESS: node:zlib streams as mail clients use them, where the server uses fflate
//   and per-burst deflate (src/imap/compress.ts). The trace shows the protocol in plaintext.

import type { Socket, SocketHandler, TLSOptions } from 'bun';
import { constants as zc, createDeflateRaw, createInflateRaw } from 'node:zlib';

export type Status = 'OK' | 'NO' | 'BAD';

/** A parsed token of a server response: atom or quoted string, literal bytes, NIL, list. */
export type Value = string | Uint8Array | null | Value[];

interface Raw { raw: string }
export type Untagged =
  | (Raw & { type: 'OK' | 'NO' | 'BAD' | 'BYE' | 'PREAUTH'; code: string | null; text: string })
  | (Raw & { type: 'CAPABILITY' | 'ENABLED'; caps: string[] })
  | (Raw & { type: 'EXISTS' | 'EXPUNGE' | 'RECENT'; num: number })
  | (Raw & { type: 'FETCH'; seq: number; attrs: Record<string, Value>; items: Value[] })
  | (Raw & { type: 'FLAGS'; flags: string[] })
  | (Raw & { type: 'LIST' | 'LSUB'; attrs: string[]; delimiter: string | null; name: string; ext: Record<string, Value> })
  | (Raw & { type: 'STATUS'; mailbox: string; items: Record<string, number> })
  | (Raw & { type: 'SEARCH'; nums: number[] })
  | (Raw & { type: 'ID'; params: Record<string, string | null> | null })
  | (Raw & { type: 'NAMESPACE'; personal: Namespace[] | null; other: Namespace[] | null; shared: Namespace[] | null })
  /** Anything else (ESEARCH, VANISHED, METADATA, ...): the keyword and its tokens. */
  | (Raw & { type: 'OTHER'; name: string; values: Value[] });

export interface Namespace { prefix: string; delimiter: string | null }

export type ServerResponse =
  | { kind: 'tagged'; tag: string; status: Status; code: string | null; text: string; raw: string }
  | { kind: 'continuation'; text: string; raw: string }
  | { kind: 'untagged'; untagged: Untagged; raw: string };

export interface CommandResult {
  tag: string;
  /** The command as traced (secrets redacted, literals as `{n}`). */
  command: string;
  status: Status;
  /** Response code without brackets, e.g. `APPENDUID 38505 3955`; null if none. */
  code: string | null;
  text: string;
  untagged: Untagged[];
  /** Continuation requests (`+`) the server sent for this command. */
  continued: number;
}

export interface ConnectOptions {
  host?: string;
  port: number;
  /** Implicit TLS. */
  tls?: boolean;
  /** Verify the server certificate (default true: a test against a self-signed cert opts out). */
  rejectUnauthorized?: boolean;
  /** SNI name and name to verify; default `localhost`. */
  servername?: string;
  /** More TLS options (client certificate, ...), merged into what Bun.connect gets. */
  tlsOptions?: TLSOptions;
  /** Trace `C:`/`S:` lines: true prints to stderr; also on when POSTERN_TRACE is set. */
  trace?: boolean | ((line: string) => void);
  /** Name in trace lines and errors. */
  name?: string;
  /** Default timeout of every wait, ms (default 10000). */
  timeoutMs?: number;
}

export interface AppendOptions {
  flags?: string[];
  /** A Date, or an IMAP date-time string sent as is (e.g. `01-Jan-2020 10:00:00 +0100`). */
  date?: Date | string;
  /** Send `{n+}` (LITERAL+) instead of waiting for `+`. */
  literalPlus?: boolean;
  /** Send as literal8 `~{n}` (BINARY). */
  binary?: boolean;
  timeoutMs?: number;
}

export interface AppendResult extends CommandResult {
  appendUid: { uidValidity: number; uid: number } | null;
}

export interface SelectInfo {
  result: CommandResult;
  exists: number | null;
  recent: number | null;
  flags: string[] | null;
  permanentFlags: string[] | null;
  uidValidity: number | null;
  uidNext: number | null;
  readOnly: boolean;
  /** The LIST response IMAP4rev2 servers send on SELECT, if any. */
  list: UntaggedOf<'LIST'> | null;
}

export interface IdleHandle {
  /** Every untagged response received since IDLE was accepted. */
  readonly untagged: Untagged[];
  /** The next untagged response not yet returned by next/waitFor. */
  next(timeoutMs?: number): Promise<Untagged>;
  /** Skip untagged responses until one matches. */
  waitFor(pred: (u: Untagged) => boolean, timeoutMs?: number): Promise<Untagged>;
  /** Send DONE and wait for the tagged answer. */
  done(timeoutMs?: number): Promise<CommandResult>;
}

/** A literal argument of `command()`. */
export interface Literal {
  readonly literal: Uint8Array;
  /** Non-synchronizing `{n+}`. */
  readonly plus: boolean;
  /** literal8 `~{n}`. */
  readonly binary: boolean;
}
export type CommandPart = string | Uint8Array | Literal;

const enc = new TextEncoder();
const dec = new TextDecoder();
const toBytes = (d: string | Uint8Array): Uint8Array => (typeof d === 'string' ? enc.encode(d) : d);

export function literal(data: string | Uint8Array, opts: { plus?: boolean; binary?: boolean } = {}): Literal {
  return { literal: toBytes(data), plus: opts.plus ?? false, binary: opts.binary ?? false };
}

function isLiteral(p: CommandPart): p is Literal {
  return typeof p === 'object' && !(p instanceof Uint8Array);
}

/** An IMAP quoted string. Throws for CR/LF/NUL (use a literal). */
export function quote(s: string): string {
  if (/[\r\n\0]/.test(s)) throw new Error('quote: CR, LF or NUL needs a literal');
  return '"' + s.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

/** The name of a response code: `APPENDUID 1 2` → `APPENDUID`. */
export function codeName(code: string | null): string | null {
  if (code === null) return null;
  const m = /^[^\s]+/.exec(code);
  return m ? m[0].toUpperCase() : '';
}

/** The variant of Untagged whose `type` can be T. */
export type UntaggedOf<T extends Untagged['type']> = Untagged extends infer U ? (U extends { type: infer K } ? (T extends K ? U : never) : never) : never;

/** Untagged responses of one type, typed. */
export function pick<T extends Untagged['type']>(from: CommandResult | Untagged[], type: T): Array<UntaggedOf<T>> {
  const list = Array.isArray(from) ? from : from.untagged;
  return list.filter((u): u is UntaggedOf<T> => u.type === type);
}

/** The first untagged OK/NO/BAD/BYE with a response code of this name; its arguments. */
export function untaggedCode(from: CommandResult | Untagged[], name: string): string | null {
  const list = Array.isArray(from) ? from : from.untagged;
  for (const u of list) {
    if ((u.type === 'OK' || u.type === 'NO' || u.type === 'BAD' || u.type === 'BYE' || u.type === 'PREAUTH') && codeName(u.code) === name.toUpperCase()) {
      return (u.code ?? '').slice(name.length).trim();
    }
  }
  return null;
}

/** A Value as text: literal bytes decoded as UTF-8, NIL as null. */
export function text(v: Value | undefined): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return dec.decode(v);
  throw new Error('expected a string, got a list');
}

/** An IMAP date-time string for a Date, in UTC. */
export function imapDateTime(d: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}-${months[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

// ---- modified UTF-7 (RFC 3501 §5.1.3), independent of the server's implementation ----

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';

export function utf7Encode(s: string): string {
  let out = '';
  let run: number[] = [];
  const flush = () => {
    if (!run.length) return;
    const bytes: number[] = [];
    for (const u of run) bytes.push(u >> 8, u & 0xff);
    let bits = 0, acc = 0, b = '';
    for (const x of bytes) {
      acc = (acc << 8) | x; bits += 8;
      while (bits >= 6) { bits -= 6; b += B64[(acc >> bits) & 63]; }
    }
    if (bits > 0) b += B64[(acc << (6 - bits)) & 63];
    out += '&' + b + '-';
    run = [];
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      flush();
      out += c === 0x26 ? '&-' : s[i];
    } else run.push(c);
  }
  flush();
  return out;
}

export function utf7Decode(s: string): string {
  return s.replace(/&([^-]*)-/g, (_, b: string) => {
    if (b === '') return '&';
    let bits = 0, acc = 0;
    const units: number[] = [];
    let pending: number[] = [];
    for (const ch of b) {
      const v = B64.indexOf(ch);
      if (v < 0) throw new Error('bad modified UTF-7: ' + s);
      acc = (acc << 6) | v; bits += 6;
      if (bits >= 8) { bits -= 8; pending.push((acc >> bits) & 0xff); }
      if (pending.length === 2) { units.push((pending[0] << 8) | pending[1]); pending = []; }
    }
    return String.fromCharCode(...units);
  });
}

// ---- incremental response reader ----

/** One response: its line segments (text) with literal bytes between them. */
type Unit = Array<string | Uint8Array>;

const LITERAL_AT_END = /~?\{(\d+)\+?\}$/;

export class ResponseReader {
  private buf = new Uint8Array(0);
  private start = 0;
  private end = 0;
  private parts: Unit = [];
  private literalLeft = -1;

  /** Bytes received but not yet part of a complete response. */
  get buffered(): number {
    return this.end - this.start;
  }

  /**
   * The responses completed by `chunk`. With `stopAfter`, stops after the first response it
   * accepts and keeps the bytes behind it (see takeBuffered).
   */
  feed(chunk: Uint8Array, stopAfter?: (u: Unit) => boolean): Unit[] {
    this.append(chunk);
    const out: Unit[] = [];
    for (;;) {
      if (this.literalLeft >= 0) {
        if (this.end - this.start < this.literalLeft) break;
        this.parts.push(this.buf.slice(this.start, this.start + this.literalLeft));
        this.start += this.literalLeft;
        this.literalLeft = -1;
        continue;
      }
      const nl = this.buf.subarray(this.start, this.end).indexOf(10);
      if (nl < 0) break;
      let lineEnd = this.start + nl;
      const next = lineEnd + 1;
      if (lineEnd > this.start && this.buf[lineEnd - 1] === 13) lineEnd--;
      const line = dec.decode(this.buf.subarray(this.start, lineEnd));
      this.start = next;
      this.parts.push(line);
      const m = LITERAL_AT_END.exec(line);
      if (m) {
        this.literalLeft = Number(m[1]);
        continue;
      }
      out.push(this.parts);
      this.parts = [];
      if (stopAfter?.(out[out.length - 1])) break;
    }
    if (this.start === this.end) this.start = this.end = 0;
    return out;
  }

  /** Hand over the bytes received after the last complete response, and forget them. */
  takeBuffered(): Uint8Array {
    if (this.parts.length || this.literalLeft >= 0) throw new Error('ResponseReader.takeBuffered inside a response');
    const rest = this.buf.slice(this.start, this.end);
    this.start = this.end = 0;
    return rest;
  }

  private append(chunk: Uint8Array): void {
    if (this.end + chunk.length > this.buf.length) {
      const live = this.end - this.start;
      if (live + chunk.length <= this.buf.length && this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        const nb = new Uint8Array(Math.max(4096, (live + chunk.length) * 2));
        nb.set(this.buf.subarray(this.start, this.end));
        this.buf = nb;
      }
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }
}

class Tokens {
  private pi = 0;
  pos = 0;
  constructor(private readonly parts: Unit) {}

  get s(): string {
    return this.parts[this.pi] as string;
  }
  peek(): string {
    return this.s[this.pos] ?? '';
  }
  /** End of the whole response. */
  done(): boolean {
    return this.pos >= this.s.length && this.pi >= this.parts.length - 1;
  }
  sp(): void {
    while (this.peek() === ' ') this.pos++;
  }
  atom(): string {
    const s = this.s;
    const st = this.pos;
    let depth = 0;
    while (this.pos < s.length) {
      const c = s[this.pos];
      if (depth > 0) {
        if (c === '[') depth++;
        else if (c === ']') depth--;
      } else if (c === '[') depth++;
      else if (c === ' ' || c === '(' || c === ')') break;
      this.pos++;
    }
    if (this.pos === st && this.pos < s.length) this.pos++;
    return s.slice(st, this.pos);
  }
  /** The rest of the current line segment. */
  rest(): string {
    const r = this.s.slice(this.pos);
    this.pos = this.s.length;
    return r;
  }
  value(): Value {
    this.sp();
    const c = this.peek();
    if (c === '(') {
      this.pos++;
      const list: Value[] = [];
      for (;;) {
        this.sp();
        if (this.peek() === ')') { this.pos++; return list; }
        if (this.done() || (this.pos >= this.s.length)) throw new Error('unterminated list');
        list.push(this.value());
      }
    }
    if (c === '"') {
      let out = '';
      this.pos++;
      const s = this.s;
      while (this.pos < s.length && s[this.pos] !== '"') {
        if (s[this.pos] === '\\') this.pos++;
        out += s[this.pos++] ?? '';
      }
      if (s[this.pos] !== '"') throw new Error('unterminated quoted string');
      this.pos++;
      return out;
    }
    if (c === '{' || (c === '~' && this.s[this.pos + 1] === '{')) {
      const m = LITERAL_AT_END.exec(this.s.slice(this.pos));
      if (!m || m.index !== 0) throw new Error('literal marker not at end of line');
      const lit = this.parts[this.pi + 1] as Uint8Array;
      this.pi += 2;
      this.pos = 0;
      return lit;
    }
    if (c === '') throw new Error('unexpected end of response');
    const a = this.atom();
    return a.toUpperCase() === 'NIL' ? null : a;
  }
  /** `[code] text` */
  respText(): { code: string | null; text: string } {
    this.sp();
    let code: string | null = null;
    if (this.peek() === '[') {
      const s = this.s;
      let depth = 0;
      let i = this.pos;
      for (; i < s.length; i++) {
        if (s[i] === '[') depth++;
        else if (s[i] === ']' && --depth === 0) break;
      }
      code = s.slice(this.pos + 1, i);
      this.pos = Math.min(i + 1, s.length);
      if (this.peek() === ' ') this.pos++;
    }
    return { code, text: this.rest() };
  }
}

/** A response as sent: each line part ends with its literal's `{n}`, then CRLF and the literal's bytes. */
function unitRaw(u: Unit): string {
  let out = '';
  for (const p of u) out += typeof p === 'string' ? p : '\r\n' + dec.decode(p);
  return out;
}

function asString(v: Value): string {
  return text(v) ?? '';
}

function pairs(list: Value): Record<string, Value> {
  const out: Record<string, Value> = {};
  if (!Array.isArray(list)) return out;
  for (let i = 0; i + 1 < list.length; i += 2) out[asString(list[i]).toUpperCase()] = list[i + 1];
  return out;
}

function namespaces(v: Value): Namespace[] | null {
  if (!Array.isArray(v)) return null;
  return v.map((n) => {
    const a = Array.isArray(n) ? n : [];
    return { prefix: asString(a[0] ?? ''), delimiter: text(a[1]) };
  });
}

export function parseResponse(unit: Unit): ServerResponse {
  const raw = unitRaw(unit);
  const t = new Tokens(unit);
  const first = t.atom();
  if (first === '+') {
    if (t.peek() === ' ') t.pos++;
    return { kind: 'continuation', text: t.rest(), raw };
  }
  t.sp();
  if (first !== '*') {
    const st = t.atom().toUpperCase();
    const status: Status = st === 'OK' || st === 'NO' ? st : 'BAD';
    const { code, text } = t.respText();
    return { kind: 'tagged', tag: first, status, code, text, raw };
  }
  return { kind: 'untagged', untagged: parseUntagged(t, raw), raw };
}

function parseUntagged(t: Tokens, raw: string): Untagged {
  const word = t.atom();
  let kw = word.toUpperCase();
  try {
    if (/^\d+$/.test(word)) {
      const num = Number(word);
      t.sp();
      kw = t.atom().toUpperCase();
      if (kw === 'EXISTS' || kw === 'EXPUNGE' || kw === 'RECENT') return { type: kw, num, raw };
      if (kw === 'FETCH') {
        const items = t.value();
        const list = Array.isArray(items) ? items : [];
        return { type: 'FETCH', seq: num, attrs: pairs(list), items: list, raw };
      }
      const values: Value[] = [word];
      while (!t.done()) values.push(t.value());
      return { type: 'OTHER', name: kw, values, raw };
    }
    switch (kw) {
      case 'OK': case 'NO': case 'BAD': case 'BYE': case 'PREAUTH':
        return { type: kw, ...t.respText(), raw };
      case 'CAPABILITY': case 'ENABLED':
        return { type: kw, caps: t.rest().split(' ').filter(Boolean), raw };
      case 'FLAGS': {
        const v = t.value();
        return { type: 'FLAGS', flags: Array.isArray(v) ? v.map(asString) : [], raw };
      }
      case 'LIST': case 'LSUB': {
        const attrs = t.value();
        const delimiter = text(t.value());
        const name = asString(t.value());
        t.sp();
        const ext = t.done() ? {} : pairs(t.value());
        return { type: kw, attrs: Array.isArray(attrs) ? attrs.map(asString) : [], delimiter, name, ext, raw };
      }
      case 'STATUS': {
        const mailbox = asString(t.value());
        const items: Record<string, number> = {};
        for (const [k, v] of Object.entries(pairs(t.value()))) items[k] = Number(text(v));
        return { type: 'STATUS', mailbox, items, raw };
      }
      case 'SEARCH':
        return { type: 'SEARCH', nums: t.rest().split(' ').filter((x) => /^\d+$/.test(x)).map(Number), raw };
      case 'ID': {
        const v = t.value();
        if (!Array.isArray(v)) return { type: 'ID', params: null, raw };
        const params: Record<string, string | null> = {};
        for (let i = 0; i + 1 < v.length; i += 2) params[asString(v[i])] = text(v[i + 1]);
        return { type: 'ID', params, raw };
      }
      case 'NAMESPACE': {
        const personal = namespaces(t.value());
        const other = namespaces(t.value());
        const shared = namespaces(t.value());
        return { type: 'NAMESPACE', personal, other, shared, raw };
      }
    }
    const values: Value[] = [];
    while (!t.done()) values.push(t.value());
    return { type: 'OTHER', name: kw, values, raw };
  } catch {
    return { type: 'OTHER', name: kw, values: [], raw };
  }
}

// ---- COMPRESS=DEFLATE (RFC 4978) ----

/** A predicate for ResponseReader.feed: the tagged answer to `tag`. */
export function answerTo(tag: string): (u: Array<string | Uint8Array>) => boolean {
  const prefix = tag + ' ';
  return (u) => typeof u[0] === 'string' && u[0].startsWith(prefix);
}

/**
 * The client side of COMPRESS DEFLATE, as mail clients build it: one raw deflate stream for
 * what we send, sync-flushed after every write, and one raw inflate stream for what we
 * receive, which hands out whatever it can decode as it arrives. node:zlib streams are
 * asynchronous: their output comes out in order, in later callbacks.
 */
export class DeflateStreams {
  private readonly deflater = createDeflateRaw();
  private readonly inflater = createInflateRaw();

  /** `wire`: compressed bytes to send, in order; `plain`: inflated bytes received. */
  constructor(h: { wire(data: Uint8Array): void; plain(data: Uint8Array): void; error(e: Error): void }) {
    this.deflater.on('data', (d: Buffer) => h.wire(d));
    this.inflater.on('data', (d: Buffer) => h.plain(d));
    this.deflater.on('error', (e) => h.error(new Error(`deflate: ${e.message}`)));
    this.inflater.on('error', (e) => h.error(new Error(`inflate: ${e.message}`)));
  }

  /** Compressed bytes received from the peer. */
  input(data: Uint8Array): void {
    this.inflater.write(data);
  }

  /** Compress and sync-flush; resolves once all of it has gone to `wire`. */
  output(data: Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      this.deflater.write(data);
      // The flush callback may run before the last 'data' event: one turn later it has run.
      this.deflater.flush(zc.Z_SYNC_FLUSH, () => setImmediate(resolve));
    });
  }

  /** Call `f` once everything given to input() so far has gone to `plain`. */
  drained(f: () => void): void {
    if (this.inflater.destroyed) f();
    else this.inflater.flush(() => setImmediate(f));
  }

  close(): void {
    this.deflater.close();
    this.inflater.close();
  }
}

// ---- the client ----

export class ImapTimeoutError extends Error {}
export class ConnectionClosedError extends Error {}

interface Pending {
  tag: string;
  command: string;
  untagged: Untagged[];
  conts: ServerResponse[];
  result: CommandResult | null;
  continued: number;
}

interface Waiter {
  check(): boolean; // true when settled
  fail(e: Error): void;
}

interface OutChunk {
  data: Uint8Array;
  off: number;
  done: () => void;
  fail: (e: Error) => void;
}

const TRACE_KEEP = 40;
const TRACE_LINE_MAX = 300;

export class ImapClient {
  greeting!: Untagged;
  /** The last `* BYE` received. */
  bye: Untagged | null = null;
  closed = false;
  closeError: Error | null = null;
  /** The last response received, whoever took it. */
  lastResponse: ServerResponse | null = null;
  /** Responses nobody was waiting for (no command pending, unknown tag, or `+`). */
  readonly inbox: ServerResponse[] = [];

  private sock!: Socket<undefined>;
  private layer = 0;
  private reader = new ResponseReader();
  private pending: Pending[] = [];
  private waiters = new Set<Waiter>();
  private out: OutChunk[] = [];
  private nextTag = 1;
  private authTag: string | null = null;
  private readonly traceTail: string[] = [];
  private readonly traceFn: ((line: string) => void) | null;
  private readonly name: string;
  readonly timeoutMs: number;
  private handshake: { ok: () => void; fail: (e: Error) => void } | null = null;
  /** On once COMPRESS DEFLATE was answered OK. */
  private zlib: DeflateStreams | null = null;
  /** The tag of a COMPRESS in flight: its answer ends the plaintext (onData). */
  private compressTag: string | null = null;
  /** The last compressed chunk handed to the socket; a compressed write waits for it. */
  private lastWire: Promise<void> = Promise.resolve();

  private constructor(private readonly opts: ConnectOptions) {
    const tr = opts.trace ?? (process.env.POSTERN_TRACE ? true : false);
    this.name = opts.name ?? `imap:${opts.port}`;
    this.traceFn = typeof tr === 'function' ? tr : tr ? (l) => process.stderr.write(l + '\n') : null;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** Connect and read the greeting. */
  static async connect(opts: ConnectOptions): Promise<ImapClient> {
    const c = new ImapClient(opts);
    const tls = opts.tls ? c.tlsOptions() : undefined;
    c.trace('*', `connect ${opts.host ?? '127.0.0.1'}:${opts.port}${opts.tls ? ' (tls)' : ''}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      c.sock = await Promise.race([
        Bun.connect({ hostname: opts.host ?? '127.0.0.1', port: opts.port, tls, socket: c.handlers(0) }),
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new ImapTimeoutError(`${c.name}: timeout connecting`)), c.timeoutMs); }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    try {
      const g = await c.waitResponse(() => c.inbox.shift(), 'greeting');
      if (g.kind !== 'untagged') throw new Error(`${c.name}: bad greeting: ${g.raw}`);
      c.greeting = g.untagged;
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  private tlsOptions(): TLSOptions {
    return { rejectUnauthorized: this.opts.rejectUnauthorized ?? true, serverName: this.opts.servername ?? 'localhost', ...this.opts.tlsOptions };
  }

  private handlers(layer: number): SocketHandler<undefined> {
    return {
      binaryType: 'uint8array',
      data: (_s, data) => {
        if (layer !== this.layer) return; // STARTTLS: the raw socket sees the encrypted bytes too
        if (this.zlib) this.zlib.input(data as unknown as Uint8Array);
        else this.onData(data as unknown as Uint8Array);
      },
      drain: () => {
        if (layer === this.layer) this.flush();
      },
      close: (_s, err) => {
        if (layer < this.layer) return; // the raw socket under TLS
        // Compressed: what the server sent last (a BYE) may still be inflating.
        if (this.zlib) this.zlib.drained(() => this.onClose(err ?? null));
        else this.onClose(err ?? null);
      },
      error: (_s, err) => {
        this.trace('*', `socket error: ${err.message}`);
        if (layer === this.layer) this.onClose(err);
      },
      handshake: layer > 0 ? (_s, ok, err) => {
        const h = this.handshake;
        this.handshake = null;
        if (!h) return;
        if (ok) h.ok(); // with rejectUnauthorized: false, ok despite a certificate error
        else h.fail(new Error(`${this.name}: TLS handshake failed: ${err?.message}`));
      } : undefined,
    };
  }

  // ---- trace ----

  private trace(dir: 'C' | 'S' | '*', line: string): void {
    if (line.length > TRACE_LINE_MAX) line = line.slice(0, TRACE_LINE_MAX) + `... (${line.length} chars)`;
    const l = `${this.name} ${dir}: ${line}`;
    this.traceTail.push(l);
    if (this.traceTail.length > TRACE_KEEP) this.traceTail.shift();
    this.traceFn?.(l);
  }

  /** The last trace lines (kept even when tracing is off). */
  recentTrace(): string[] {
    return [...this.traceTail];
  }

  private redact(line: string): string {
    if (this.authTag !== null && !line.startsWith(this.authTag + ' ')) return '***';
    const login = /^(\S+ LOGIN )("(?:[^"\\]|\\.)*"|\{\d+\+?\}|\S+)(.*)$/i.exec(line);
    if (login) return login[1] + login[2] + (login[3] ? ' ***' : '');
    const auth = /^(\S+ AUTHENTICATE \S+) \S.*$/i.exec(line);
    if (auth) return auth[1] + ' ***';
    return line;
  }

  private traceOut(data: Uint8Array | string): void {
    const s = typeof data === 'string' ? data : dec.decode(data);
    const lines = s.split('\r\n');
    if (lines[lines.length - 1] === '') lines.pop();
    for (const l of lines) {
      const m = /^(\S+) AUTHENTICATE /i.exec(l);
      const shown = this.redact(l);
      if (m) this.authTag = m[1];
      this.trace('C', shown);
    }
  }

  // ---- input ----

  /** Plaintext from the server (inflated, once COMPRESS is on). */
  private onData(chunk: Uint8Array): void {
    const ztag = this.compressTag;
    let units: Unit[];
    try {
      units = this.reader.feed(chunk, ztag === null ? undefined : answerTo(ztag));
    } catch (e) {
      this.trace('*', `reader error: ${(e as Error).message}`);
      this.close();
      return;
    }
    for (const u of units) {
      for (const p of u) this.trace('S', typeof p === 'string' ? p : `<${p.length} bytes>`);
      this.route(parseResponse(u));
    }
    const last = this.lastResponse;
    if (ztag !== null && last?.kind === 'tagged' && last.tag === ztag) {
      this.compressTag = null;
      if (last.status === 'OK') this.startCompression();
      else if (this.reader.buffered) {
        this.onData(new Uint8Array(0)); // refused: read on in plaintext
        return;
      }
    }
    this.wake();
  }

  /** After COMPRESS's OK (RFC 4978 §3): what follows it, both ways, is raw deflate. */
  private startCompression(): void {
    const behind = this.reader.takeBuffered();
    this.zlib = new DeflateStreams({
      wire: (d) => {
        const p = this.writeRaw(d);
        p.catch(() => {}); // a writer waiting on lastWire gets the error
        this.lastWire = p;
      },
      plain: (d) => this.onData(d),
      error: (e) => {
        this.trace('*', e.message);
        this.close();
      },
    });
    this.trace('*', 'COMPRESS DEFLATE on');
    if (behind.length) this.zlib.input(behind);
  }

  private route(r: ServerResponse): void {
    this.lastResponse = r;
    if (r.kind === 'untagged' && r.untagged.type === 'BYE') this.bye = r.untagged;
    if (r.kind === 'tagged') {
      if (r.tag === this.authTag) this.authTag = null;
      const i = this.pending.findIndex((p) => p.tag === r.tag);
      if (i >= 0) {
        const p = this.pending[i];
        this.pending.splice(i, 1);
        p.result = { tag: p.tag, command: p.command, status: r.status, code: r.code, text: r.text, untagged: p.untagged, continued: p.continued };
        return;
      }
    } else if (r.kind === 'continuation') {
      const p = this.pending[this.pending.length - 1];
      if (p) {
        p.continued++;
        p.conts.push(r);
        return;
      }
    } else if (this.pending.length) {
      this.pending[0].untagged.push(r.untagged);
      return;
    }
    this.inbox.push(r);
  }

  private onClose(err: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = err;
    this.trace('*', `closed${err ? ': ' + err.message : ''}`);
    this.zlib?.close();
    const e = new ConnectionClosedError(`${this.name}: connection closed${this.bye ? ` (${this.bye.raw})` : ''}`);
    for (const o of this.out.splice(0)) o.fail(e);
    this.handshake?.fail(e);
    this.handshake = null;
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) if (w.check()) this.waiters.delete(w);
  }

  /**
   * Wait until `take` returns something, re-checking whenever input arrives; reject on
   * timeout, or when the connection closed and `take` has nothing.
   */
  private waitResponse<T>(take: () => T | undefined, what: string, timeoutMs = this.timeoutMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const w: Waiter = {
        check: () => {
          let v: T | undefined;
          try {
            v = take();
          } catch (e) {
            w.fail(e as Error);
            return true;
          }
          if (v !== undefined) {
            clearTimeout(timer);
            resolve(v);
            return true;
          }
          if (this.closed) {
            w.fail(new ConnectionClosedError(`${this.name}: connection closed while waiting for ${what}${this.bye ? ` (${this.bye.raw})` : ''}\n${this.recentTrace().join('\n')}`));
            return true;
          }
          return false;
        },
        fail: (e) => {
          clearTimeout(timer);
          this.waiters.delete(w);
          reject(e);
        },
      };
      if (w.check()) return;
      timer = setTimeout(() => {
        w.fail(new ImapTimeoutError(`${this.name}: timeout after ${timeoutMs} ms waiting for ${what}\nlast trace lines:\n${this.recentTrace().join('\n')}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  // ---- output ----

  /** Write raw bytes (traced; backpressure honoured). Resolves once the socket took them all. */
  send(data: string | Uint8Array, timeoutMs = this.timeoutMs): Promise<void> {
    const bytes = toBytes(data);
    this.traceOut(bytes.length > 4096 ? dec.decode(bytes.subarray(0, 4096)) + `... (${bytes.length} bytes)` : bytes);
    return this.write(bytes, timeoutMs);
  }

  private write(data: Uint8Array, timeoutMs = this.timeoutMs): Promise<void> {
    if (!this.zlib || this.closed || data.length === 0) return this.writeRaw(data, timeoutMs);
    // Waited for like a response, so that a close or the timeout ends the wait.
    let deflated = false;
    void this.zlib.output(data).then(() => { deflated = true; this.wake(); });
    return this.waitResponse(() => deflated || undefined, `deflating ${data.length} bytes`, timeoutMs).then(() => this.lastWire);
  }

  /** Bytes to the socket as they are. */
  private writeRaw(data: Uint8Array, timeoutMs = this.timeoutMs): Promise<void> {
    if (this.closed) return Promise.reject(new ConnectionClosedError(`${this.name}: write on a closed connection`));
    if (data.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ImapTimeoutError(`${this.name}: timeout after ${timeoutMs} ms writing ${data.length} bytes (server not reading?)`)), timeoutMs);
      this.out.push({
        data, off: 0,
        done: () => { clearTimeout(timer); resolve(); },
        fail: (e) => { clearTimeout(timer); reject(e); },
      });
      if (this.out.length === 1) this.flush();
    });
  }

  private flush(): void {
    while (this.out.length) {
      const o = this.out[0];
      let n: number;
      try {
        n = this.sock.write(o.data.subarray(o.off));
      } catch {
        n = -1;
      }
      if (n < 0) {
        this.onClose(new Error('write failed: socket closed'));
        return;
      }
      o.off += n;
      if (o.off < o.data.length) return; // the rest goes on drain
      this.out.shift();
      o.done();
    }
  }

  // ---- commands ----

  private newTag(): string {
    return `A${this.nextTag++}`;
  }

  /**
   * Send a command and wait for its tagged answer. `cmd` is the text after the tag, or parts
   * where `literal(...)` values are sent as literals (waiting for `+` unless `{n+}`); if the
   * server answers before `+`, the rest is not sent and that answer is the result.
   */
  async command(cmd: string | CommandPart[], opts: { tag?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    const tag = opts.tag ?? this.newTag();
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const parts = typeof cmd === 'string' ? [cmd] : cmd;
    const shown = parts.map((p) => (isLiteral(p) ? `${p.binary ? '~' : ''}{${p.literal.length}${p.plus ? '+' : ''}}` : typeof p === 'string' ? p : `<${p.length} bytes>`)).join('');
    const p = this.register(tag, this.redact(`${tag} ${shown}`));
    // After a literal, the rest of a LOGIN/AUTHENTICATE line may be the secret.
    const secret = /^\s*(LOGIN|AUTHENTICATE)\b/i.test(typeof parts[0] === 'string' ? parts[0] : '');
    let line: Uint8Array[] = [enc.encode(tag + ' ')];
    let flushes = 0;
    const flushLine = async (final: boolean) => {
      if (final) line.push(enc.encode('\r\n'));
      const total = Buffer.concat(line);
      line = [];
      if (secret && flushes++ > 0) this.trace('C', '***');
      else this.traceOut(total);
      await this.write(total, timeoutMs);
    };
    try {
      for (const part of parts) {
        if (!isLiteral(part)) {
          line.push(toBytes(part));
          continue;
        }
        line.push(enc.encode(`${part.binary ? '~' : ''}{${part.literal.length}${part.plus ? '+' : ''}}\r\n`));
        await flushLine(false);
        if (!part.plus) {
          // The server may refuse the literal instead of sending `+`: that is the answer.
          const refused = await this.waitResponse(() => (p.result ? true : p.conts.shift() ? false : undefined), `continuation for ${p.command}`, timeoutMs);
          if (refused) return p.result!;
        }
        this.trace('C', `<${part.literal.length} bytes>`);
        await this.write(part.literal, timeoutMs);
      }
      await flushLine(true);
      return await this.waitResponse(() => p.result ?? undefined, `the answer to ${p.command}`, timeoutMs);
    } finally {
      this.unregister(p);
    }
  }

  private register(tag: string, command: string): Pending {
    const p: Pending = { tag, command, untagged: [], conts: [], result: null, continued: 0 };
    this.pending.push(p);
    return p;
  }

  /** Forget a command that failed locally (timeout, closed); a late answer goes to the inbox. */
  private unregister(p: Pending): void {
    const i = this.pending.indexOf(p);
    if (i >= 0 && p.result === null) this.pending.splice(i, 1);
  }

  /** `command`, throwing unless the answer is OK. */
  async ok(cmd: string | CommandPart[], opts?: { timeoutMs?: number }): Promise<CommandResult> {
    return expectStatus(await this.command(cmd, opts), 'OK');
  }

  /** `command`, throwing unless the answer is NO (with this response code, if given). */
  async no(cmd: string | CommandPart[], code?: string, opts?: { timeoutMs?: number }): Promise<CommandResult> {
    return expectStatus(await this.command(cmd, opts), 'NO', code);
  }

  /** `command`, throwing unless the answer is BAD (with this response code, if given). */
  async bad(cmd: string | CommandPart[], code?: string, opts?: { timeoutMs?: number }): Promise<CommandResult> {
    return expectStatus(await this.command(cmd, opts), 'BAD', code);
  }

  // ---- low-level reading ----

  /** The next response nobody waited for. */
  readResponse(timeoutMs = this.timeoutMs): Promise<ServerResponse> {
    return this.waitResponse(() => this.inbox.shift(), 'a response', timeoutMs);
  }

  /** The next response nobody waited for, as its raw text (literals inline, no final CRLF). */
  async readLine(timeoutMs = this.timeoutMs): Promise<string> {
    return (await this.readResponse(timeoutMs)).raw;
  }

  /** Consume inbox responses until one matches; the skipped ones are dropped. */
  waitFor(pred: (r: ServerResponse) => boolean, timeoutMs = this.timeoutMs, what = 'a matching response'): Promise<ServerResponse> {
    return this.waitResponse(() => {
      while (this.inbox.length) {
        const r = this.inbox.shift()!;
        if (pred(r)) return r;
      }
      return undefined;
    }, what, timeoutMs);
  }

  /** Wait for the tagged answer to a command sent raw with `send`. */
  async waitTagged(tag: string, timeoutMs = this.timeoutMs): Promise<Extract<ServerResponse, { kind: 'tagged' }>> {
    const r = await this.waitFor((x) => x.kind === 'tagged' && x.tag === tag, timeoutMs, `tagged answer ${tag}`);
    return r as Extract<ServerResponse, { kind: 'tagged' }>;
  }

  /** Everything that arrives unsolicited within `ms` (for "nothing more must come" checks). */
  async collect(ms: number): Promise<ServerResponse[]> {
    await Bun.sleep(ms);
    return this.inbox.splice(0);
  }

  /** Wait until the server closes the connection. */
  waitClosed(timeoutMs = this.timeoutMs): Promise<void> {
    return this.waitResponse(() => (this.closed ? true : undefined), 'the server to close the connection', timeoutMs).then(() => undefined);
  }

  // ---- sugar ----

  async capabilities(): Promise<string[]> {
    const r = await this.ok('CAPABILITY');
    return pick(r, 'CAPABILITY').flatMap((u) => u.caps);
  }

  login(user: string, password: string): Promise<CommandResult> {
    return this.ok(`LOGIN ${quote(user)} ${quote(password)}`);
  }

  /**
   * COMPRESS DEFLATE (RFC 4978): once answered OK, everything after the answer is raw
   * deflate both ways. Send it with no other command in flight. Returns the answer.
   */
  async compress(): Promise<CommandResult> {
    if (this.pending.length) throw new Error(`${this.name}: COMPRESS with ${this.pending.length} command(s) in flight`);
    const tag = this.newTag();
    this.compressTag = tag;
    try {
      return await this.command('COMPRESS DEFLATE', { tag });
    } finally {
      this.compressTag = null;
    }
  }

  /** STARTTLS, then the TLS handshake on the same connection. */
  async startTLS(): Promise<CommandResult> {
    const r = await this.command('STARTTLS');
    if (r.status === 'OK') await this.upgrade(r.tag);
    return r;
  }

  /**
   * Start TLS now, after the STARTTLS with this tag was answered OK (e.g. one sent raw).
   * Throws if the server sent anything after that OK before the handshake (an injection).
   */
  async upgrade(afterTag: string): Promise<void> {
    const last = this.lastResponse;
    if (this.reader.buffered > 0 || last?.kind !== 'tagged' || last.tag !== afterTag) {
      throw new Error(`${this.name}: data received in plaintext after the STARTTLS answer: ${this.reader.buffered} bytes buffered, last response: ${last?.raw}`);
    }
    const done = new Promise<void>((ok, fail) => { this.handshake = { ok, fail }; });
    this.layer++;
    this.reader = new ResponseReader();
    this.trace('*', 'TLS handshake');
    const [, tls] = this.sock.upgradeTLS({ tls: this.tlsOptions(), socket: this.handlers(this.layer) });
    this.sock = tls;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([done, new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new ImapTimeoutError(`${this.name}: timeout in the TLS handshake`)), this.timeoutMs); })]);
    } finally {
      clearTimeout(timer);
    }
    this.trace('*', 'TLS established');
  }

  async select(mailbox: string, opts: { examine?: boolean; params?: string } = {}): Promise<SelectInfo> {
    const r = await this.ok(`${opts.examine ? 'EXAMINE' : 'SELECT'} ${quote(mailbox)}${opts.params ? ' ' + opts.params : ''}`);
    const num = (type: 'EXISTS' | 'RECENT') => pick(r, type)[0]?.num ?? null;
    const codeNum = (n: string) => { const v = untaggedCode(r, n); return v === null ? null : Number(v); };
    const pf = untaggedCode(r, 'PERMANENTFLAGS');
    const rc = codeName(r.code);
    return {
      result: r,
      exists: num('EXISTS'),
      recent: num('RECENT'),
      flags: pick(r, 'FLAGS')[0]?.flags ?? null,
      permanentFlags: pf === null ? null : pf.replace(/^\(|\)$/g, '').split(' ').filter(Boolean),
      uidValidity: codeNum('UIDVALIDITY'),
      uidNext: codeNum('UIDNEXT'),
      readOnly: rc === 'READ-ONLY',
      list: pick(r, 'LIST')[0] ?? null,
    };
  }

  async status(mailbox: string, items: string[]): Promise<Record<string, number>> {
    const r = await this.ok(`STATUS ${quote(mailbox)} (${items.join(' ')})`);
    const s = pick(r, 'STATUS')[0];
    if (!s) throw new Error(`${this.name}: no STATUS response to ${r.command}`);
    return s.items;
  }

  async list(ref: string, pattern: string, extra = ''): Promise<Array<UntaggedOf<'LIST'>>> {
    return pick(await this.ok(`LIST ${quote(ref)} ${quote(pattern)}${extra ? ' ' + extra : ''}`), 'LIST');
  }

  /** APPEND one message; parses APPENDUID. Returns whatever the server answered. */
  async append(mailbox: string, message: string | Uint8Array, opts: AppendOptions = {}): Promise<AppendResult> {
    let head = `APPEND ${quote(mailbox)} `;
    if (opts.flags) head += `(${opts.flags.join(' ')}) `;
    if (opts.date !== undefined) head += `${quote(typeof opts.date === 'string' ? opts.date : imapDateTime(opts.date))} `;
    const r = await this.command([head, literal(message, { plus: opts.literalPlus, binary: opts.binary })], { timeoutMs: opts.timeoutMs });
    const m = codeName(r.code) === 'APPENDUID' ? /^\S+ (\d+) (\d+)$/.exec(r.code ?? '') : null;
    return { ...r, appendUid: m ? { uidValidity: Number(m[1]), uid: Number(m[2]) } : null };
  }

  /** IDLE: resolves once the server sent `+`; throws if it refused. */
  async idle(timeoutMs = this.timeoutMs): Promise<IdleHandle> {
    const tag = this.newTag();
    const p = this.register(tag, `${tag} IDLE`);
    try {
      await this.send(`${tag} IDLE\r\n`, timeoutMs);
      await this.waitResponse(() => p.result ?? p.conts.shift(), `continuation for ${tag} IDLE`, timeoutMs);
    } catch (e) {
      this.unregister(p);
      throw e;
    }
    if (p.result) throw new Error(`${this.name}: IDLE refused: ${p.result.status} ${p.result.code ? `[${p.result.code}] ` : ''}${p.result.text}`);
    let cursor = 0;
    const next = (pred: (u: Untagged) => boolean, t: number, what: string) =>
      this.waitResponse(() => {
        while (cursor < p.untagged.length) {
          const u = p.untagged[cursor++];
          if (pred(u)) return u;
        }
        return undefined;
      }, what, t);
    return {
      untagged: p.untagged,
      next: (t = this.timeoutMs) => next(() => true, t, `an untagged response in ${tag} IDLE`),
      waitFor: (pred, t = this.timeoutMs) => next(pred, t, `a matching untagged response in ${tag} IDLE`),
      done: async (t = this.timeoutMs) => {
        try {
          await this.send('DONE\r\n', t);
          return await this.waitResponse(() => p.result ?? undefined, `the answer to ${tag} IDLE after DONE`, t);
        } finally {
          this.unregister(p);
        }
      },
    };
  }

  /** LOGOUT, then close. */
  async logout(): Promise<CommandResult> {
    const r = await this.command('LOGOUT');
    this.close();
    return r;
  }

  /** Close the connection now (idempotent). */
  close(): void {
    if (this.closed) return;
    try {
      this.sock.end();
    } catch {
      // already gone
    }
    this.onClose(null);
  }
}

/** Throw unless the result has this status (and response code name). */
export function expectStatus(r: CommandResult, status: Status, code?: string): CommandResult {
  if (r.status !== status || (code !== undefined && codeName(r.code) !== code.toUpperCase())) {
    const want = `${status}${code ? ` [${code}]` : ''}`;
    const got = `${r.status}${r.code !== null ? ` [${r.code}]` : ''} ${r.text}`;
    throw new Error(`expected ${want} for \`${r.command}\`, got: ${got}`);
  }
  return r;
}
