// The codecs scenario: postern's COMPRESS=DEFLATE codec candidates, run in the bench
// process on mail-like text (bench/lib/corpus.ts messages framed as FETCH BODY[]
// responses). No server runs, so there is no Dovecot column: what Dovecot's codec costs
// is in the compress scenario's server CPU per MiB.
//
// - deflate (what the server sends): node:zlib deflateRawSync per burst, ending in
//   Z_SYNC_FLUSH, at levels 1 and 6, with the previous 4 KiB of plaintext as preset
//   dictionary (`dict`: ZlibDeflate from src/imap/compress.ts, what postern ships) and
//   without (`nodict`: no match reaches into earlier bursts, and no dictionary is loaded
//   per call), for bursts of typical response sizes: 200 B (a FETCH FLAGS line), 2 KiB
//   (a few ENVELOPEs), 64 KiB (a slice of a large FETCH: the session compresses every
//   64 KiB). Every configuration compresses the same sample (windows of 64 KiB spread over
//   the text, so each sees the same mix of headers, text and base64) as one stream: once
//   untimed (its size; checked to inflate to the input with zlib), then repeatedly for the
//   rate. Figures: plaintext MiB/s, µs per burst, and wire bytes as % of plaintext (the
//   compression ratio, plaintext / wire, is in `details`).
// - fflate's deflate is not a candidate and not measured: its sync flush corrupts about a
//   third of streams (PLATFORM.md, fflate issue #267).
// - inflate (what clients send): fflate's streaming Inflate (FflateInflate, what postern
//   ships), fed 4 KiB of compressed input per push as the session pulls it, against
//   node:zlib inflateRawSync over the whole stream at once, a speed reference only (it
//   cannot hand out data as it arrives). The input is one level-6 stream of the text.

import { constants as zc, deflateRawSync, inflateRawSync } from 'node:zlib';
import { type DeflateCodec, FflateInflate, ZlibDeflate } from '../src/imap/compress.ts';
import { loadCorpus, readMessages } from './lib/corpus.ts';
import { perServer, type Figures, type RunOptions, type Scenario } from './lib/scenario.ts';
import { round } from './lib/stats.ts';

const LEVELS = [1, 6];
const BURSTS: Array<[label: string, bytes: number]> = [['200', 200], ['2k', 2048], ['64k', 65536]];
const INFLATE_PUSH = 4096;
const SAMPLE_WINDOW = 64 * 1024;
const MIB = 1024 * 1024;
const enc = new TextEncoder();

/** Corpus messages [0, n) as the FETCH BODY[] responses a server would send. */
function responseText(cacheDir: string, n: number): Uint8Array {
  const parts: Uint8Array[] = [];
  readMessages(loadCorpus(cacheDir, 2_000), 0, n).forEach((m, i) => {
    parts.push(enc.encode(`* ${i + 1} FETCH (UID ${i + 1} BODY[] {${m.length}}\r\n`), m, enc.encode(')\r\n'));
  });
  return Buffer.concat(parts);
}

/** Each burst compressed on its own: no dictionary. */
function noDict(level: number): DeflateCodec {
  return { compress: (d) => deflateRawSync(d, { level, finishFlush: zc.Z_SYNC_FLUSH }), release() {} };
}

/** `n` windows of SAMPLE_WINDOW bytes spread evenly over the text. */
function sample(text: Uint8Array, n: number): Uint8Array[] {
  const step = Math.floor((text.length - SAMPLE_WINDOW) / Math.max(1, n - 1));
  return Array.from({ length: n }, (_, i) => text.subarray(i * step, i * step + SAMPLE_WINDOW));
}

interface DeflateRun { wirePct: number; mibPerS: number; usPerBurst: number }

/**
 * The windows compressed in bursts as one stream: once untimed (its size; checked to
 * inflate with zlib, as a client would; a warm-up too), then again and again for at
 * least `minMs` (the rate).
 */
function deflateRun(windows: Uint8Array[], burst: number, make: () => DeflateCodec, minMs: number): DeflateRun {
  const pass = (each: (wire: Uint8Array) => void) => {
    const codec = make();
    for (const w of windows) for (let off = 0; off < w.length; off += burst) each(codec.compress(w.subarray(off, off + burst)));
  };
  const out: Uint8Array[] = [];
  pass((wire) => out.push(wire));
  const plain = Buffer.concat(windows);
  const stream = Buffer.concat(out);
  if (!inflateRawSync(stream, { finishFlush: zc.Z_SYNC_FLUSH }).equals(plain)) {
    throw new Error(`deflate with ${burst}-byte bursts: the stream does not inflate to its input`);
  }
  let passes = 0, bursts = 0;
  const t0 = performance.now();
  do {
    pass(() => bursts++);
    passes++;
  } while (performance.now() - t0 < minMs);
  const ms = performance.now() - t0;
  return { wirePct: (100 * stream.length) / plain.length, mibPerS: (passes * plain.length) / MIB / (ms / 1000), usPerBurst: (ms * 1000) / bursts };
}

/** MiB/s of plaintext for `f` (which inflates `bytes`), after one untimed call, for at least `minMs`. */
function inflateRate(bytes: number, minMs: number, f: () => number): number {
  f();
  let total = 0;
  const t0 = performance.now();
  do {
    if (f() !== bytes) throw new Error('inflate: wrong length');
    total += bytes;
  } while (performance.now() - t0 < minMs);
  return total / MIB / ((performance.now() - t0) / 1000);
}

export const codecsScenario: Scenario = {
  name: 'codecs',
  description: 'COMPRESS codec candidates in-process (no server): zlib deflate per burst with and without dictionary at levels 1 and 6, fflate vs zlib inflate',
  async run(opts: RunOptions) {
    const messages = opts.quick ? 300 : 2_000;
    const minMs = opts.quick ? 20 : 300;
    const text = responseText(opts.cacheDir, messages);
    const windows = sample(text, opts.quick ? 4 : 16);
    const servers = await perServer({ ...opts, servers: ['postern'] }, async () => {
      const reps: Figures[] = [];
      const ratios: Record<string, number> = {};
      const compressed = deflateRawSync(text, { level: 6, finishFlush: zc.Z_SYNC_FLUSH });
      for (let rep = 0; rep < opts.reps; rep++) {
        const f: Figures = {};
        for (const level of LEVELS) {
          for (const dict of [true, false]) {
            for (const [label, burst] of BURSTS) {
              const r = deflateRun(windows, burst, () => (dict ? new ZlibDeflate(level) : noDict(level)), minMs);
              const key = `deflate.l${level}.${dict ? 'dict' : 'nodict'}.b${label}`;
              f[`${key}.mib_per_s`] = r.mibPerS;
              f[`${key}.us_per_burst`] = r.usPerBurst;
              f[`${key}.wire_pct`] = r.wirePct;
              ratios[key] = round(100 / r.wirePct)!;
            }
          }
        }
        f['inflate.fflate_stream.mib_per_s'] = inflateRate(text.length, minMs, () => {
          const inf = new FflateInflate();
          let n = 0;
          for (let off = 0; off < compressed.length; off += INFLATE_PUSH) n += inf.push(compressed.subarray(off, off + INFLATE_PUSH)).length;
          return n;
        });
        f['inflate.zlib_oneshot.mib_per_s'] = inflateRate(text.length, minMs, () => inflateRawSync(compressed, { finishFlush: zc.Z_SYNC_FLUSH }).length);
        reps.push(f);
        opts.log(`  rep ${rep + 1}: ${LEVELS.map((l) => `l${l} dict ${BURSTS.map(([b]) => `${b}: ${round(f[`deflate.l${l}.dict.b${b}.mib_per_s`])} MiB/s`).join(', ')}`).join('; ')}; inflate fflate ${round(f['inflate.fflate_stream.mib_per_s'])}, zlib ${round(f['inflate.zlib_oneshot.mib_per_s'])} MiB/s`);
      }
      return { reps, details: { compression_ratio: ratios, inflate_input_ratio: round(text.length / compressed.length) } };
    });
    const headline = [
      ...LEVELS.flatMap((l) => [`deflate.l${l}.dict.b200.us_per_burst`, `deflate.l${l}.nodict.b200.us_per_burst`, `deflate.l${l}.dict.b2k.mib_per_s`, `deflate.l${l}.dict.b64k.mib_per_s`, `deflate.l${l}.dict.b64k.wire_pct`]),
      'inflate.fflate_stream.mib_per_s', 'inflate.zlib_oneshot.mib_per_s',
    ];
    return {
      params: { corpus_messages: messages, text_bytes: text.length, text: 'corpus messages framed as FETCH BODY[] responses', levels: LEVELS, bursts: Object.fromEntries(BURSTS), sample: `${windows.length} windows of ${SAMPLE_WINDOW} bytes spread over the text (deflate)`, min_ms_per_figure: minMs, inflate_push_bytes: INFLATE_PUSH, repetitions: opts.reps },
      caps: [],
      notes: ['fflate deflate is excluded, not measured: its sync flush corrupts streams (PLATFORM.md, fflate #267).', 'In-process codec figures, postern only: no server runs here.'],
      servers,
      headline,
    };
  },
};
