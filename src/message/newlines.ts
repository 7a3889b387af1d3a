// Newline normalisation for stored messages: every bare LF becomes CRLF, so that the
// stored file is exactly what FETCH serves and RFC822.SIZE equals the bytes sent
// (Dovecot converts bare LF to CRLF when serving; postern converts when storing).
//
// Invariants: a CR not followed by LF is kept as is (it is not a line end); a CRLF
// stays one CRLF; the streaming normaliser gives the same bytes for any chunking.

const CR = 0x0d;
const LF = 0x0a;

/** Number of bare LFs (LF not preceded by CR) in data; `prevCR` tells whether the byte
 * before data[0] was a CR. */
function countBareLf(data: Uint8Array, prevCR: boolean): number {
  let n = 0;
  let i = data.indexOf(LF);
  while (i >= 0) {
    const before = i > 0 ? data[i - 1] === CR : prevCR;
    if (!before) n++;
    i = data.indexOf(LF, i + 1);
  }
  return n;
}

function convert(data: Uint8Array, prevCR: boolean, bare: number): Uint8Array {
  const out = new Uint8Array(data.length + bare);
  let o = 0;
  let start = 0;
  let i = data.indexOf(LF);
  while (i >= 0) {
    const before = i > 0 ? data[i - 1] === CR : prevCR;
    if (!before) {
      out.set(data.subarray(start, i), o);
      o += i - start;
      out[o++] = CR;
      start = i; // the LF itself is copied with the next run
    }
    i = data.indexOf(LF, i + 1);
  }
  out.set(data.subarray(start), o);
  return out;
}

/** The message with every bare LF turned into CRLF. Returns `data` itself when nothing changes. */
export function normalizeNewlines(data: Uint8Array): Uint8Array {
  const bare = countBareLf(data, false);
  return bare === 0 ? data : convert(data, false, bare);
}

/** Streaming form of normalizeNewlines: push chunks in order, concatenate the outputs.
 * A CR at the end of one chunk followed by an LF at the start of the next stays CRLF. */
export class NewlineNormalizer {
  private prevCR = false;
  /** Bytes produced so far (the normalised size). */
  size = 0;

  push(chunk: Uint8Array): Uint8Array {
    if (chunk.length === 0) return chunk;
    const bare = countBareLf(chunk, this.prevCR);
    const out = bare === 0 ? chunk : convert(chunk, this.prevCR, bare);
    this.prevCR = chunk[chunk.length - 1] === CR;
    this.size += out.length;
    return out;
  }
}
