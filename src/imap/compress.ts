// COMPRESS=DEFLATE (RFC 4978): raw deflate in both directions, as a transport layer
// (transport.ts) that sits inside TLS.
//
// Why this shape (what the server in ../shared/seed/change-notes.txt got wrong: clients
// that flush with Z_PARTIAL_FLUSH, as iOS Mail does, stalled because its inflater held
// decodable bytes back until a sync marker arrived):
// - Inflate is incremental and hands out every byte that can be decoded from what has
//   arrived: after Z_PARTIAL_FLUSH (an empty static block, not byte aligned), Z_SYNC_FLUSH,
//   Z_FULL_FLUSH, or mid-block. fflate's Inflate does that (PLATFORM.md); node:zlib's sync
//   streaming is not usable in Bun 1.4 (a second `_processChunk` call fails).
// - Input is inflated lazily, a slice of compressed bytes at a time, when the parser
//   wants more (`pull()`): a few KiB of compressed input can hold gigabytes, and the
//   line and literal limits act on the inflated bytes as the parser consumes them, so
//   memory stays bounded by one slice's output (deflate expands at most ~1032x).
// - Deflate: each burst of output (the end of a command's responses, an IDLE
//   notification, a continuation request, or every 64 KiB of a large FETCH) is
//   compressed by one call of node:zlib's deflateRawSync ending in Z_SYNC_FLUSH, so the
//   client can decode everything it has received. The history across bursts is kept as
//   the last 4 KiB of plaintext, passed as the preset dictionary: the client's inflater
//   holds those same bytes in its window, so references into it decode. 4 KiB, not the
//   32 KiB deflate allows: zlib hashes the whole dictionary on every call, and measured on
//   IMAP responses a 200-byte burst costs 25 µs with 4 KiB and 90 µs with 32 KiB, for the
//   same ratio (22% of plaintext; 48% with no history at all). No compressor state lives
//   between bursts, and an idle connection drops the window too (the next burst simply
//   does not refer back), so an idle compressed connection costs little.
//   fflate's deflate cannot be used: its sync flush corrupts about a third of streams
//   (PLATFORM.md).

import { deflateRawSync, constants as zc } from 'node:zlib';
import { Inflate } from 'fflate';
import type { Layer } from './transport.ts';

/** Compressed bytes inflated per pull: bounds one pull's output to ~4 MiB. */
const INFLATE_SLICE = 4096;
/** Plaintext gathered before it is compressed without waiting for the end of the burst. */
const DEFLATE_CHUNK = 64 * 1024;
/** History passed to each burst's compressor: references reach back this far. */
const DICTIONARY = 4 * 1024;
const EMPTY = new Uint8Array(0);

/** Compresses what we send; every call's output can be decoded completely by the peer. */
export interface DeflateCodec {
  compress(data: Uint8Array): Uint8Array;
  /** Forget the history (after this, output refers to nothing sent before). */
  release(): void;
}

/** Decompresses what we receive, incrementally; throws on a corrupt stream. */
export interface InflateCodec {
  push(data: Uint8Array): Uint8Array;
}

/** node:zlib raw deflate per burst, the previous 4 KiB of plaintext as dictionary. */
export class ZlibDeflate implements DeflateCodec {
  private window: Uint8Array = EMPTY;

  constructor(private readonly level: number) {}

  compress(data: Uint8Array): Uint8Array {
    const out = deflateRawSync(data, {
      level: this.level,
      finishFlush: zc.Z_SYNC_FLUSH,
      ...(this.window.length ? { dictionary: this.window } : {}),
    });
    this.window = slideWindow(this.window, data);
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }

  release(): void {
    this.window = EMPTY;
  }
}

/** The last DICTIONARY bytes of `window` followed by `data`, as a compact copy. */
export function slideWindow(window: Uint8Array, data: Uint8Array): Uint8Array {
  if (data.length >= DICTIONARY) return data.slice(data.length - DICTIONARY);
  const keep = Math.min(window.length, DICTIONARY - data.length);
  const out = new Uint8Array(keep + data.length);
  out.set(window.subarray(window.length - keep));
  out.set(data, keep);
  return out;
}

/** fflate's streaming raw inflate. */
export class FflateInflate implements InflateCodec {
  private out: Uint8Array = EMPTY;
  private ended = false;
  private readonly inflate = new Inflate((chunk) => {
    this.out = chunk;
  });

  push(data: Uint8Array): Uint8Array {
    // After a final block, fflate ignores further input but keeps appending it to its
    // buffer (copied on every push): a client could freeze the server that way. An IMAP
    // stream never ends before the connection does, so more input is a corrupt stream.
    if (this.ended) throw new Error('data after the end of the deflate stream');
    this.out = EMPTY;
    this.inflate.push(data);
    // fflate 0.8's state (pinned; src/imap/compress.test.ts checks it): `f` marks the
    // final block, `l` a block in progress.
    const st = (this.inflate as unknown as { s: { f?: number; l?: unknown } }).s;
    if (st.f && !st.l) this.ended = true;
    return this.out;
  }
}

/** Thrown by pull() when the client's stream cannot be inflated. */
export class CorruptStreamError extends Error {}

export class DeflateLayer implements Layer {
  private inQueue: Uint8Array[] = [];
  private inBytes = 0;
  private outQueue: Uint8Array[] = [];
  private outBytes = 0;
  /** Bytes in and out, before and after compression, for the log line at close. */
  readonly stats = { wireIn: 0, plainIn: 0, plainOut: 0, wireOut: 0 };

  constructor(
    private readonly deflate: DeflateCodec,
    private readonly inflate: InflateCodec,
  ) {}

  /** Compressed input is kept until the parser asks for it (pull). */
  input(data: Uint8Array): Uint8Array[] {
    if (data.length) {
      this.inQueue.push(data);
      this.inBytes += data.length;
      this.stats.wireIn += data.length;
    }
    return [];
  }

  /** Compressed bytes waiting to be inflated. */
  get pending(): number {
    return this.inBytes;
  }

  /** Inflate the next slice of input: its plaintext (maybe empty), or null when none is left. */
  pull(): Uint8Array | null {
    if (this.inBytes === 0) return null;
    const head = this.inQueue[0];
    const slice = head.length <= INFLATE_SLICE ? head : head.subarray(0, INFLATE_SLICE);
    if (slice === head) this.inQueue.shift();
    else this.inQueue[0] = head.subarray(INFLATE_SLICE);
    this.inBytes -= slice.length;
    let out: Uint8Array;
    try {
      out = this.inflate.push(slice);
    } catch (e) {
      this.inQueue = [];
      this.inBytes = 0;
      throw new CorruptStreamError(`corrupt deflate stream: ${(e as Error).message}`);
    }
    this.stats.plainIn += out.length;
    return out;
  }

  output(data: Uint8Array, flush: boolean): Uint8Array[] {
    if (data.length) {
      this.outQueue.push(data);
      this.outBytes += data.length;
    }
    if (this.outBytes === 0 || (!flush && this.outBytes < DEFLATE_CHUNK)) return [];
    const plain = this.outQueue.length === 1 ? this.outQueue[0] : concat(this.outQueue, this.outBytes);
    this.outQueue = [];
    this.outBytes = 0;
    const wire = this.deflate.compress(plain);
    this.stats.plainOut += plain.length;
    this.stats.wireOut += wire.length;
    return [wire];
  }

  /** The connection is idle: hold no compression history. */
  releaseIdle(): void {
    this.deflate.release();
  }
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** The layer COMPRESS DEFLATE adds. */
export function deflateLayer(level: number): DeflateLayer {
  return new DeflateLayer(new ZlibDeflate(level), new FflateInflate());
}
