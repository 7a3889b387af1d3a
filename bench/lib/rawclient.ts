// A lean connection for commands with very large answers (UID FETCH 1:* over 100,000
// messages): our client's incremental framing (ResponseReader from src/imap/client.ts:
// lines and literals) on a plain Bun socket, without parsing every response into values.
// ImapClient parses each response fully (~10 µs for a FETCH line), which on a 100,000-line
// answer costs the generator more CPU than either server spends producing it; framing
// only keeps the generator well below the servers.
//
// Invariants: one command at a time; every wait has a deadline; untagged response lines
// are kept only when asked (`keep` matches their first line), literal bytes never.

import type { Socket } from 'bun';
import { quote, ResponseReader } from '../../src/imap/client.ts';
import { wallMs } from './stats.ts';

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
  literal: number;
  /** First lines of untagged responses matching `keep`. */
  kept: string[];
}

export class RawImap {
  private sock!: Socket<undefined>;
  private reader = new ResponseReader();
  private onUnits: ((units: Array<Array<string | Uint8Array>>) => void) | null = null;
  private queued: Array<Array<string | Uint8Array>> = [];
  private closed = false;
  private seq = 0;

  static async connect(port: number, timeoutMs = 60_000): Promise<RawImap> {
    const c = new RawImap();
    c.sock = await Bun.connect({
      hostname: '127.0.0.1', port,
      socket: {
        binaryType: 'uint8array',
        data: (_s, d) => {
          const units = c.reader.feed(d as unknown as Uint8Array);
          if (!units.length) return;
          if (c.onUnits) c.onUnits(units);
          else c.queued.push(...units);
        },
        close: () => { c.closed = true; c.onUnits?.([]); },
        error: () => { c.closed = true; c.onUnits?.([]); },
      },
    });
    c.sock.setNoDelay(true);
    await c.until((u) => typeof u[0] === 'string' && u[0].startsWith('* '), timeoutMs, 'greeting');
    return c;
  }

  /** Consume units until one matches; resolves with it. */
  private until(match: (u: Array<string | Uint8Array>) => boolean, timeoutMs: number, what: string, each?: (u: Array<string | Uint8Array>) => void): Promise<Array<string | Uint8Array>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.onUnits = null; reject(new Error(`raw imap: timeout waiting for ${what}`)); }, timeoutMs);
      const take = (units: Array<Array<string | Uint8Array>>) => {
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

  private write(s: string): void {
    const b = new TextEncoder().encode(s);
    let off = 0;
    // Commands here are short: a partial write is retried at once (loopback drains fast).
    while (off < b.length) {
      const n = this.sock.write(b.subarray(off));
      if (n < 0) throw new Error('raw imap: write on a closed socket');
      off += n;
    }
  }

  /** Send one command and frame its answer. */
  async command(cmd: string, opts: { timeoutMs?: number; keep?: RegExp } = {}): Promise<RawResult> {
    const tag = `R${++this.seq}`;
    const prefix = tag + ' ';
    let untagged = 0, fetches = 0, bytes = 0, literal = 0;
    const kept: string[] = [];
    const t0 = wallMs();
    this.write(`${tag} ${cmd}\r\n`);
    const count = (u: Array<string | Uint8Array>) => {
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
    return { status: rest.split(' ')[0], text: rest, ms, untagged, fetches, bytes, literal, kept };
  }

  async login(user: string, password: string): Promise<void> {
    const r = await this.command(`LOGIN ${quote(user)} ${quote(password)}`);
    if (r.status !== 'OK') throw new Error(`LOGIN: ${r.text}`);
  }

  close(): void {
    try { this.sock.end(); } catch { /* closed */ }
  }
}
