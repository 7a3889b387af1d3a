// A raw IMAP client for the COMPRESS=DEFLATE tests (RFC 4978), built the way mail clients
// build theirs: node:zlib `createDeflateRaw`/`createInflateRaw` streams over node:net or
// node:tls, one flush per command (or per piece of a command). The flush styles are those of
// real clients: Z_PARTIAL_FLUSH (iOS Mail), Z_SYNC_FLUSH (Thunderbird), Z_FULL_FLUSH (imapflow
// calls `flush()`, whose default is a full flush), and `split`: each command cut at seeded
// random byte positions, every piece partial-flushed on its own.
//
// Invariants:
// - Every wait has a stall timer: a response must arrive within `stallMs` of the last client
//   byte or of the previous response; otherwise the wait fails with a StallError naming the
//   command that stalled and what was received last. The test's own timeout is never the
//   failure.
// - Before COMPRESS the bytes are read as plaintext line by line, so that whatever follows
//   the tagged OK of COMPRESS in the same read goes to the inflater (RFC 4978 §3).
// - `writeRaw` puts bytes on the wire as they are (corrupt streams, precompressed bombs);
//   everything else goes through the deflater once compression is on.

import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { ResponseReader, parseResponse, type ServerResponse, type Untagged } from '../imap/client.ts';
import { rng } from '../message/testutil.ts';

export type FlushMode = 'partial' | 'sync' | 'full' | 'split';

export interface ZConnectOptions {
  port: number;
  /** 'plain' (default), 'starttls' (STARTTLS on the plain port first) or 'implicit'. */
  transport?: 'plain' | 'starttls' | 'implicit';
  /** Name in errors. */
  name?: string;
  /** A response must arrive within this many ms of the last byte either way (default 1000). */
  stallMs?: number;
  /** Seed of the split points in 'split' mode. */
  seed?: number;
}

export interface ZResult {
  tag: string;
  status: 'OK' | 'NO' | 'BAD';
  code: string | null;
  text: string;
  untagged: Untagged[];
  /** Continuation requests received for this command. */
  continued: number;
  raw: string;
}

export class StallError extends Error {}

const enc = new TextEncoder();
const toBytes = (d: string | Uint8Array): Uint8Array => (typeof d === 'string' ? enc.encode(d) : d);
const SYNC_MARKER = [0x00, 0x00, 0xff, 0xff];

const FLUSH_KIND = {
  partial: zlib.constants.Z_PARTIAL_FLUSH,
  sync: zlib.constants.Z_SYNC_FLUSH,
  full: zlib.constants.Z_FULL_FLUSH,
  split: zlib.constants.Z_PARTIAL_FLUSH,
} as const;

/**
 * Raw deflate bytes that continue any byte-aligned (sync- or full-flushed) stream and inflate
 * to `prefix` followed by `total` bytes of `fill`, built from one compressed MiB repeated, so
 * that a test holds a few hundred KB, never the plaintext.
 */
export function deflateBomb(prefix: string, fill: string, total: number): Uint8Array {
  const MiB = 1 << 20;
  const head = zlib.deflateRawSync(Buffer.from(prefix, 'latin1'), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const unit = zlib.deflateRawSync(Buffer.alloc(MiB, fill), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const n = Math.ceil(total / MiB);
  const out = new Uint8Array(head.length + unit.length * n);
  out.set(head, 0);
  for (let i = 0; i < n; i++) out.set(unit, head.length + i * unit.length);
  return out;
}

export class ZClient {
  readonly name: string;
  readonly stallMs: number;
  /** Responses received and not yet taken by a wait. */
  readonly inbox: ServerResponse[] = [];
  /** Every `* BYE` received. */
  readonly byes: string[] = [];
  /** The last responses received, for error messages. */
  private readonly tail: string[] = [];
  closed = false;
  socketError: Error | null = null;
  inflateError: Error | null = null;
  compressed = false;
  /** The bytes each flush of the deflater produced ended with the sync marker 00 00 ff ff. */
  readonly flushEnds: boolean[] = [];

  private sock!: net.Socket;
  private reader = new ResponseReader();
  private inflater: zlib.InflateRaw | null = null;
  private deflater: zlib.DeflateRaw | null = null;
  private capture: Buffer[] | null = null;
  private flushOut: Buffer[] = [];
  /** Tag of a COMPRESS sent, until its answer: plaintext is fed a line at a time meanwhile. */
  private compressTag: string | null = null;
  private waiters = new Set<() => void>();
  private lastSent = '';
  private readonly random: () => number;
  private tagN = 0;

  private constructor(opts: ZConnectOptions) {
    this.name = opts.name ?? `z:${opts.port}`;
    this.stallMs = opts.stallMs ?? 1000;
    this.random = rng(opts.seed ?? 1);
  }

  static async connect(opts: ZConnectOptions): Promise<ZClient> {
    const c = new ZClient(opts);
    const transport = opts.transport ?? 'plain';
    const sock = transport === 'implicit'
      ? tls.connect({ host: '127.0.0.1', port: opts.port, servername: 'localhost', rejectUnauthorized: false })
      : net.connect({ host: '127.0.0.1', port: opts.port });
    c.attach(sock);
    await c.waitUntil(() => c.inbox.length > 0, 'the greeting', 5000);
    const g = c.inbox.shift()!;
    if (g.kind !== 'untagged' || g.untagged.type !== 'OK') throw new Error(`${c.name}: bad greeting ${g.raw}`);
    if (transport === 'starttls') {
      const r = await c.run('STARTTLS');
      if (r.status !== 'OK') throw new Error(`${c.name}: STARTTLS refused: ${r.raw}`);
      const secure = tls.connect({ socket: c.sock, servername: 'localhost', rejectUnauthorized: false });
      c.reader = new ResponseReader();
      c.attach(secure); // from here on the plain socket's events are ignored
      await new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', () => resolve());
        secure.once('error', reject);
      });
    }
    return c;
  }

  private attach(sock: net.Socket): void {
    this.sock = sock;
    sock.on('data', (d: Buffer) => {
      if (sock !== this.sock) return;
      this.onWire(d);
    });
    sock.on('error', (e) => {
      if (sock === this.sock) this.socketError = e;
    });
    sock.on('close', () => {
      if (sock !== this.sock) return;
      // The inflater may still hold the last bytes read (a BYE, LOGOUT's OK): closed only after them.
      const inf = this.inflater;
      const done = () => {
        this.closed = true;
        this.wake();
      };
      if (inf && !inf.destroyed) inf.flush(zlib.constants.Z_SYNC_FLUSH, done);
      else done();
    });
  }

  private onWire(d: Buffer): void {
    if (this.inflater) {
      this.inflater.write(d);
      return;
    }
    if (this.compressTag === null) {
      this.onPlain(d);
      return;
    }
    // A COMPRESS is in flight: its OK ends the plaintext, whatever follows is deflated.
    let start = 0;
    while (start < d.length) {
      const nl = d.indexOf(10, start);
      const end = nl < 0 ? d.length : nl + 1;
      this.onPlain(d.subarray(start, end));
      start = end;
      const inf = this.inflater as zlib.InflateRaw | null; // set by onPlain on the OK
      if (inf) {
        if (start < d.length) inf.write(d.subarray(start));
        return;
      }
    }
  }

  private onPlain(d: Uint8Array): void {
    for (const unit of this.reader.feed(d)) {
      const r = parseResponse(unit);
      this.tail.push(r.raw.length > 200 ? r.raw.slice(0, 200) + `... (${r.raw.length} chars)` : r.raw);
      if (this.tail.length > 8) this.tail.shift();
      if (r.kind === 'untagged' && r.untagged.type === 'BYE') this.byes.push(r.raw);
      this.inbox.push(r);
      if (r.kind === 'tagged' && r.tag === this.compressTag) {
        this.compressTag = null;
        if (r.status === 'OK') this.startInflate();
      }
    }
    this.wake();
  }

  private startInflate(): void {
    const inf = zlib.createInflateRaw();
    inf.on('data', (d: Buffer) => this.onPlain(d));
    inf.on('error', (e) => {
      this.inflateError = e;
      this.wake();
    });
    this.inflater = inf;
    this.compressed = true;
  }

  private startDeflate(): void {
    const def = zlib.createDeflateRaw();
    def.on('data', (d: Buffer) => {
      this.flushOut.push(d);
      if (this.capture) this.capture.push(d);
      else this.wireWrite(d);
    });
    this.deflater = def;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private wireWrite(d: Uint8Array): void {
    if (this.closed) return;
    this.sock.write(d);
  }

  /** Bytes as they are, on the wire (under TLS if any, never through the deflater). */
  writeRaw(d: Uint8Array | string): void {
    this.wireWrite(toBytes(d));
  }

  /** Write through the deflater (after COMPRESS) and flush; resolves once the bytes were handed to the socket. */
  async send(data: string | Uint8Array, mode: FlushMode): Promise<void> {
    const bytes = toBytes(data);
    const def = this.deflater;
    if (!def) {
      this.wireWrite(bytes);
      return;
    }
    const pieces: Uint8Array[] = [];
    if (mode === 'split' && bytes.length > 1) {
      const cuts = new Set<number>();
      const n = 1 + Math.floor(this.random() * 4);
      for (let i = 0; i < n; i++) cuts.add(1 + Math.floor(this.random() * (bytes.length - 1)));
      let at = 0;
      for (const cut of [...cuts].sort((a, b) => a - b)) {
        pieces.push(bytes.subarray(at, cut));
        at = cut;
      }
      pieces.push(bytes.subarray(at));
    } else {
      pieces.push(bytes);
    }
    for (let i = 0; i < pieces.length; i++) {
      if (i > 0) await Bun.sleep(2); // separate reads on the server
      await this.deflateFlush(pieces[i], FLUSH_KIND[mode]);
    }
  }

  private async deflateFlush(piece: Uint8Array, kind: number): Promise<void> {
    const def = this.deflater!;
    this.flushOut = [];
    def.write(piece);
    await new Promise<void>((resolve) => def.flush(kind, () => resolve()));
    await new Promise<void>((resolve) => setImmediate(resolve));
    const out = Buffer.concat(this.flushOut);
    this.flushEnds.push(out.length >= 4 && SYNC_MARKER.every((b, i) => out[out.length - 4 + i] === b));
  }

  /** End the deflate stream (Z_FINISH: a final block), as no client should while it goes on talking. */
  async endStream(): Promise<void> {
    const def = this.deflater;
    if (!def) throw new Error(`${this.name}: not compressing`);
    await new Promise<void>((resolve) => def.flush(zlib.constants.Z_FINISH, () => resolve()));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Deflate and flush into a buffer instead of the socket (to pipeline after COMPRESS in one write). */
  async deflateToBuffer(data: string | Uint8Array, mode: Exclude<FlushMode, 'split'> = 'sync'): Promise<Uint8Array> {
    if (!this.deflater) this.startDeflate();
    this.capture = [];
    try {
      await this.deflateFlush(toBytes(data), FLUSH_KIND[mode]);
      return Buffer.concat(this.capture);
    } finally {
      this.capture = null;
    }
  }

  nextTag(): string {
    return `z${++this.tagN}`;
  }

  /**
   * Wait until `check` returns a value. Fails when no response has arrived for stallMs
   * (reset by every response), when the connection closes first, or after `overallMs`.
   */
  waitUntil<T>(check: () => T | undefined | false, what: string, stallMs = this.stallMs, overallMs = 30_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let stall: ReturnType<typeof setTimeout>;
      let seen = this.inbox.length;
      const overall = setTimeout(() => finish(new StallError(`${this.name}: no end after ${overallMs} ms waiting for ${what}`)), overallMs);
      const arm = () => {
        clearTimeout(stall);
        stall = setTimeout(() => finish(new StallError(`${this.name}: stalled: nothing within ${stallMs} ms waiting for ${what} (last sent: ${this.lastSent}; last received: ${JSON.stringify(this.tail.slice(-3))})`)), stallMs);
      };
      const finish = (err: Error | null, v?: T) => {
        clearTimeout(stall);
        clearTimeout(overall);
        this.waiters.delete(poll);
        if (err) reject(err);
        else resolve(v as T);
      };
      const poll = () => {
        const v = check();
        if (v !== undefined && v !== false) return finish(null, v);
        if (this.inflateError) return finish(new Error(`${this.name}: inflate failed waiting for ${what}: ${this.inflateError.message}`));
        if (this.closed) return finish(new Error(`${this.name}: connection closed waiting for ${what} (${this.socketError ? `socket error: ${this.socketError.message}; ` : ''}byes: ${JSON.stringify(this.byes)}; last received: ${JSON.stringify(this.tail.slice(-3))})`));
        if (this.inbox.length !== seen) {
          seen = this.inbox.length;
          arm();
        }
      };
      this.waiters.add(poll);
      arm();
      poll();
    });
  }

  /** Wait for the tagged answer of `tag`; takes it and everything received before it. */
  async waitTagged(tag: string, what: string, stallMs = this.stallMs): Promise<ZResult> {
    const tagged = await this.waitUntil(() => this.inbox.find((r) => r.kind === 'tagged' && r.tag === tag), what, stallMs);
    const i = this.inbox.indexOf(tagged);
    const before = this.inbox.splice(0, i + 1);
    if (tagged.kind !== 'tagged') throw new Error('unreachable');
    return {
      tag,
      status: tagged.status,
      code: tagged.code,
      text: tagged.text,
      untagged: before.flatMap((r) => (r.kind === 'untagged' ? [r.untagged] : [])),
      continued: before.filter((r) => r.kind === 'continuation').length,
      raw: tagged.raw,
    };
  }

  /** Wait for a continuation request (`+`) and take it. */
  async waitContinuation(what: string): Promise<string> {
    const r = await this.waitUntil(() => this.inbox.find((x) => x.kind === 'continuation'), what);
    this.inbox.splice(this.inbox.indexOf(r), 1);
    return r.raw;
  }

  /** Wait for an untagged response matching `pred` and take it. */
  async waitUntagged(pred: (u: Untagged) => boolean, what: string): Promise<Untagged> {
    const r = await this.waitUntil(() => this.inbox.find((x) => x.kind === 'untagged' && pred(x.untagged)), what);
    this.inbox.splice(this.inbox.indexOf(r), 1);
    if (r.kind !== 'untagged') throw new Error('unreachable');
    return r.untagged;
  }

  /**
   * Send one command (`cmd` without tag and CRLF; literals inline, use `{n+}`) flushed with
   * `mode`, and wait for its tagged answer, each response within the stall time.
   */
  async run(cmd: string | Uint8Array, mode: FlushMode = 'sync'): Promise<ZResult> {
    const tag = this.nextTag();
    const head = enc.encode(tag + ' ');
    const body = toBytes(cmd);
    const line = new Uint8Array(head.length + body.length + 2);
    line.set(head);
    line.set(body, head.length);
    line.set([13, 10], head.length + body.length);
    const shown = describe(tag, body);
    this.lastSent = shown;
    await this.send(line, mode);
    return this.waitTagged(tag, `the answer to ${JSON.stringify(shown)} (${this.compressed ? `compressed, ${mode} flush` : 'uncompressed'})`);
  }

  /** Like run(), expecting OK. */
  async ok(cmd: string | Uint8Array, mode: FlushMode = 'sync'): Promise<ZResult> {
    const r = await this.run(cmd, mode);
    if (r.status !== 'OK') throw new Error(`${this.name}: expected OK to ${JSON.stringify(describe(r.tag, toBytes(cmd)))}, got ${r.raw}`);
    return r;
  }

  /**
   * APPEND with a synchronizing literal: the command line, the `+` (within the stall time),
   * then the message and CRLF, each flushed with `mode`.
   */
  async appendSync(mailbox: string, flags: string, message: Uint8Array, mode: FlushMode): Promise<ZResult> {
    const tag = this.nextTag();
    const line = `${tag} APPEND ${mailbox}${flags ? ' ' + flags : ''} {${message.length}}`;
    this.lastSent = line;
    await this.send(line + '\r\n', mode);
    await this.waitContinuation(`the + for ${JSON.stringify(line)} (${mode} flush)`);
    const rest = new Uint8Array(message.length + 2);
    rest.set(message);
    rest.set([13, 10], message.length);
    this.lastSent = `<${message.length} bytes of ${tag}'s literal>`;
    await this.send(rest, mode);
    return this.waitTagged(tag, `the answer to ${JSON.stringify(line)} after its literal (${mode} flush)`);
  }

  /** LOGIN (uncompressed, before COMPRESS). */
  async login(user: string, password: string): Promise<void> {
    const r = await this.run(`LOGIN "${user}" "${password}"`);
    if (r.status !== 'OK') throw new Error(`${this.name}: LOGIN failed: ${r.raw}`);
  }

  /** COMPRESS DEFLATE; on OK, both directions are deflated from here on. */
  async compress(): Promise<ZResult> {
    const tag = this.nextTag();
    this.compressTag = tag;
    this.lastSent = `${tag} COMPRESS DEFLATE`;
    this.wireWrite(enc.encode(`${tag} COMPRESS DEFLATE\r\n`));
    const r = await this.waitTagged(tag, `the answer to ${tag} COMPRESS DEFLATE`);
    if (r.status === 'OK') this.startDeflate();
    else this.compressTag = null;
    return r;
  }

  /**
   * COMPRESS DEFLATE and, in the same socket write, `commands` already deflated (each with its
   * own tag and CRLF), as RFC 4978 §3 allows. Returns the tag of COMPRESS.
   */
  async compressPipelined(commands: string, mode: Exclude<FlushMode, 'split'> = 'sync'): Promise<string> {
    const tag = this.nextTag();
    const deflated = await this.deflateToBuffer(commands, mode);
    const line = enc.encode(`${tag} COMPRESS DEFLATE\r\n`);
    const packet = new Uint8Array(line.length + deflated.length);
    packet.set(line);
    packet.set(deflated, line.length);
    this.compressTag = tag;
    this.lastSent = `${tag} COMPRESS DEFLATE + ${deflated.length} deflated bytes`;
    this.wireWrite(packet);
    return tag;
  }

  /** COMPRESS DEFLATE followed, in the same socket write, by `raw` bytes as they are (a corrupt stream). */
  compressThenRaw(raw: Uint8Array): string {
    const tag = this.nextTag();
    const line = enc.encode(`${tag} COMPRESS DEFLATE\r\n`);
    const packet = new Uint8Array(line.length + raw.length);
    packet.set(line);
    packet.set(raw, line.length);
    this.compressTag = tag;
    this.lastSent = `${tag} COMPRESS DEFLATE + ${raw.length} raw bytes`;
    this.wireWrite(packet);
    return tag;
  }

  /** Wait until the server closes the connection. */
  async waitClosed(ms = 5000): Promise<void> {
    await this.waitUntil(() => this.closed || undefined, 'the server to close the connection', ms, ms);
  }

  close(): void {
    this.closed = true;
    this.inflater?.destroy();
    this.deflater?.destroy();
    this.sock.destroy();
  }
}

function describe(tag: string, body: Uint8Array): string {
  const s = new TextDecoder().decode(body.subarray(0, 120));
  return `${tag} ${s}${body.length > 120 ? `... (${body.length} bytes)` : ''}`;
}
