// A lean connection for commands with very large answers (UID FETCH 1:* over 100,000
// messages): our client's incremental framing (ResponseReader from src/imap/client.ts:
// lines and literals) on a plain Bun socket, without parsing every response into values.
// ImapClient parses each response fully (~10 µs for a FETCH line), which on a 100,000-line
// answer costs the generator more CPU than either server spends producing it; framing
// only keeps the generator well below the servers.
//
// Invariants: one command at a time; every wait has a deadline; untagged response lines
// are kept only when asked (`keep` matches their first line), literal bytes never. After
// compress() (COMPRESS DEFLATE) the client's DeflateStreams sit between socket and framing;
// `wire` counts what the socket carried, so a result tells the compression ratio.

import type { Socket } from 'bun';
import { answerTo, DeflateStreams, quote, ResponseReader } from '../../src/imap/client.ts';
import { wallMs } from './stats.ts';

type Unit = Array<string | Uint8Array>;
const enc = new TextEncoder();

const FETCH = /^\* \d+ FETCH /;

export interface RawResult {
  status: string;
  /** The tagged line. */
  text: string;
  ms: number;
  /** Untagged responses. */
  untagged: number;
  /** Untagged FETCH responses. */
  fetches: number;
  /** Bytes received for the command: lines with CRLF, and literals. */
  bytes: number;
  /** Bytes the socket received for the command (compressed, after compress()). */
  wire: number;
  literal: number;
  /** First lines of untagged responses matching `keep`. */
  kept: string[];
}

export class RawImap {
  private sock!: Socket<undefined>;
  private reader = new ResponseReader();
  private onUnits: ((units: Unit[]) => void) | null = null;
  private queued: Unit[] = [];
  private closed = false;
  private seq = 0;
  private wireIn = 0;
  private zlib: DeflateStreams | null = null;
  /** The tag of a COMPRESS in flight: its answer ends the plaintext. */
  private compressTag: string | null = null;

  static async connect(port: number, timeoutMs = 60_000): Promise<RawImap> {
    const c = new RawImap();
    const closed = () => { c.closed = true; c.onUnits?.([]); };
    c.sock = await Bun.connect({
      hostname: '127.0.0.1', port,
      socket: {
        binaryType: 'uint8array',
        data: (_s, d) => {
          const bytes = d as unknown as Uint8Array;
          c.wireIn += bytes.length;
          if (c.zlib) c.zlib.input(bytes);
          else c.onPlain(bytes);
        },
        // Compressed: the last answer may still be inflating.
        close: () => { if (c.zlib) c.zlib.drained(closed); else closed(); },
        error: closed,
      },
    });
    c.sock.setNoDelay(true);
    await c.until((u) => typeof u[0] === 'string' && u[0].startsWith('* '), timeoutMs, 'greeting');
    return c;
  }

  /** Connect, log in, COMPRESS if asked, then `prelude` (each answered OK). */
  static async open(port: number, user: { user: string; password: string }, o: { compress?: boolean; prelude?: string[] } = {}): Promise<RawImap> {
    const c = await RawImap.connect(port);
    try {
      await c.login(user.user, user.password);
      if (o.compress) await c.compress();
      for (const cmd of o.prelude ?? []) {
        const r = await c.command(cmd);
        if (r.status !== 'OK') throw new Error(`${cmd}: ${r.text}`);
      }
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  private onPlain(d: Uint8Array): void {
    const ztag = this.compressTag;
    const isAnswer = ztag === null ? undefined : answerTo(ztag);
    const units = this.reader.feed(d, isAnswer);
    const last = units[units.length - 1];
    if (isAnswer && last && isAnswer(last)) {
      this.compressTag = null;
      if ((last[0] as string).startsWith(`${ztag} OK`)) {
        this.zlib = new DeflateStreams({
          wire: (w) => {
            try { this.writeWire(w); } catch { this.close(); }
          },
          plain: (p) => this.onPlain(p),
          error: () => this.close(),
        });
        const behind = this.reader.takeBuffered();
        if (behind.length) this.zlib.input(behind);
      } else {
        units.push(...this.reader.feed(new Uint8Array(0)));
      }
    }
    if (!units.length) return;
    if (this.onUnits) this.onUnits(units);
    else this.queued.push(...units);
  }

  /** Consume units until one matches; resolves with it. */
  private until(match: (u: Unit) => boolean, timeoutMs: number, what: string, each?: (u: Unit) => void): Promise<Unit> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.onUnits = null; reject(new Error(`raw imap: timeout waiting for ${what}`)); }, timeoutMs);
      const take = (units: Unit[]) => {
        for (let i = 0; i < units.length; i++) {
          const u = units[i];
          if (match(u)) {
            clearTimeout(timer);
            this.onUnits = null;
            this.queued.push(...units.slice(i + 1));
            resolve(u);
            return;
          }
          each?.(u);
        }
        if (this.closed) { clearTimeout(timer); this.onUnits = null; reject(new Error(`raw imap: connection closed waiting for ${what}`)); }
      };
      this.onUnits = take;
      const q = this.queued;
      this.queued = [];
      take(q);
    });
  }

  private writeWire(b: Uint8Array): void {
    let off = 0;
    // Commands here are short: a partial write is retried at once (loopback drains fast).
    while (off < b.length) {
      const n = this.sock.write(b.subarray(off));
      if (n < 0) throw new Error('raw imap: write on a closed socket');
      off += n;
    }
  }

  private write(s: string): void {
    // Compressed bytes go out through `wire` as the deflater makes them, in order.
    if (this.zlib) void this.zlib.output(enc.encode(s));
    else this.writeWire(enc.encode(s));
  }

  /** Send one command and frame its answer. */
  async command(cmd: string, opts: { timeoutMs?: number; keep?: RegExp; tag?: string } = {}): Promise<RawResult> {
    const tag = opts.tag ?? `R${++this.seq}`;
    const prefix = tag + ' ';
    let untagged = 0, fetches = 0, bytes = 0, literal = 0;
    const kept: string[] = [];
    const t0 = wallMs();
    const wire0 = this.wireIn;
    this.write(`${tag} ${cmd}\r\n`);
    const count = (u: Unit) => {
      for (const p of u) {
        if (typeof p === 'string') bytes += p.length + 2;
        else { bytes += p.length; literal += p.length; }
      }
    };
    const last = await this.until((u) => typeof u[0] === 'string' && u[0].startsWith(prefix), opts.timeoutMs ?? 600_000, `the answer to ${cmd.slice(0, 60)}`, (u) => {
      count(u);
      const first = u[0];
      if (typeof first === 'string' && first.startsWith('* ')) {
        untagged++;
        if (FETCH.test(first)) fetches++;
        else if (opts.keep?.test(first)) kept.push(first);
      }
    });
    const ms = wallMs() - t0;
    count(last);
    const line = last[0] as string;
    const rest = line.slice(prefix.length);
    return { status: rest.split(' ')[0], text: rest, ms, untagged, fetches, bytes, wire: this.wireIn - wire0, literal, kept };
  }

  async login(user: string, password: string): Promise<void> {
    const r = await this.command(`LOGIN ${quote(user)} ${quote(password)}`);
    if (r.status !== 'OK') throw new Error(`LOGIN: ${r.text}`);
  }

  /** COMPRESS DEFLATE (RFC 4978): everything after its OK is raw deflate both ways. */
  async compress(): Promise<void> {
    const tag = `R${++this.seq}`;
    this.compressTag = tag;
    const r = await this.command('COMPRESS DEFLATE', { tag });
    if (r.status !== 'OK') throw new Error(`COMPRESS: ${r.text}`);
  }

  close(): void {
    this.zlib?.close();
    try { this.sock.end(); } catch { /* closed */ }
  }
}
