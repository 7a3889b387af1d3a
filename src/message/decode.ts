// Content-Transfer-Encoding decoding (RFC 2045 §6) for BINARY[] (RFC 3516) and for
// SEARCH BODY/TEXT, in streaming form (bounded memory for any part size) and as
// whole-buffer helpers.
//
// Decoders never throw. They decode leniently (skip bad base64 characters, keep a bad
// quoted-printable escape as written) and set `invalid` where Dovecot would refuse the
// data: base64 with a character outside the alphabet, data after the padding or a
// truncated last group; quoted-printable with a bad "=XY" escape or a lone "=" at the
// end. Dovecot answers such a BINARY fetch with `NO [PARSE]`; since BINARY needs the
// decoded size before the literal, a caller decodes once to size it (and sees
// `invalid` then), and again to send. An unknown encoding has no decoder: the caller
// answers `NO [UNKNOWN-CTE]`.

import { decodeCharset, decodeUnknown } from './encodedword.ts';
import type { Part } from './types.ts';

export interface Decoder {
  /** Decode a chunk; returns the bytes ready so far (may be empty). */
  push(chunk: Uint8Array): Uint8Array;
  /** Flush what is pending at the end of the data. */
  end(): Uint8Array;
  /** Set once the data is something Dovecot would refuse (see the module comment). */
  readonly invalid: boolean;
}

const EMPTY = new Uint8Array(0);

export class IdentityDecoder implements Decoder {
  readonly invalid = false;
  push(chunk: Uint8Array): Uint8Array {
    return chunk;
  }
  end(): Uint8Array {
    return EMPTY;
  }
}

const B64 = new Int16Array(256).fill(-1);
{
  const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < a.length; i++) B64[a.charCodeAt(i)] = i;
}
const isWs = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;

export class Base64Decoder implements Decoder {
  invalid = false;
  private acc = 0;
  private n = 0; // sextets in acc (0..3)
  private padded = false;
  private pads = 0;

  push(chunk: Uint8Array): Uint8Array {
    const out = new Uint8Array(Math.floor(((chunk.length + 4) * 3) / 4));
    let o = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      const v = B64[c];
      if (v >= 0) {
        if (this.padded) {
          this.invalid = true; // data after the padding
          continue;
        }
        this.acc = (this.acc << 6) | v;
        if (++this.n === 4) {
          out[o++] = (this.acc >> 16) & 0xff;
          out[o++] = (this.acc >> 8) & 0xff;
          out[o++] = this.acc & 0xff;
          this.acc = 0;
          this.n = 0;
        }
      } else if (c === 0x3d) {
        if (!this.padded) {
          this.padded = true;
          o = this.flushPartial(out, o);
        } else if (++this.pads > 1) this.invalid = true;
      } else if (!isWs(c)) {
        this.invalid = true;
      }
    }
    return out.subarray(0, o);
  }

  /** At the first '=': emit the 1 or 2 bytes of a partial group. */
  private flushPartial(out: Uint8Array, o: number): number {
    if (this.n === 2) {
      out[o++] = (this.acc >> 4) & 0xff;
      this.pads = 0; // one more '=' expected
    } else if (this.n === 3) {
      out[o++] = (this.acc >> 10) & 0xff;
      out[o++] = (this.acc >> 2) & 0xff;
      this.pads = 1; // complete already
    } else {
      this.invalid = true; // '=' where no padding belongs
      this.pads = 1;
    }
    this.acc = 0;
    this.n = 0;
    return o;
  }

  end(): Uint8Array {
    if (this.padded) {
      if (this.pads !== 1) this.invalid = true; // "xx=" missing its second '='
      return EMPTY;
    }
    if (this.n === 0) return EMPTY;
    this.invalid = true; // truncated group without padding
    const out = new Uint8Array(2);
    const o = this.flushPartial(out, 0);
    this.invalid = true;
    return out.subarray(0, o);
  }
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Quoted-printable: "=XY" escapes (either case), soft line breaks ("=" then optional
 * whitespace then the line end), trailing whitespace on a line removed, CRLF kept. */
export class QpDecoder implements Decoder {
  invalid = false;
  private pending: Uint8Array = EMPTY;

  push(chunk: Uint8Array): Uint8Array {
    let data = chunk;
    if (this.pending.length > 0) {
      data = new Uint8Array(this.pending.length + chunk.length);
      data.set(this.pending);
      data.set(chunk, this.pending.length);
    }
    const [out, used] = this.decode(data, false);
    this.pending = used < data.length ? data.slice(used) : EMPTY;
    return out;
  }

  end(): Uint8Array {
    const [out] = this.decode(this.pending, true);
    this.pending = EMPTY;
    return out;
  }

  /** Decode data; returns the output and how many input bytes were consumed (the rest
   * is held until more input shows how it ends). */
  private decode(data: Uint8Array, final: boolean): [Uint8Array, number] {
    const n = data.length;
    const out = new Uint8Array(n);
    let o = 0;
    let i = 0;
    while (i < n) {
      const c = data[i];
      if (c === 0x3d) {
        if (i + 1 >= n && !final) break;
        const h1 = i + 1 < n ? hexVal(data[i + 1]) : -1;
        if (h1 >= 0) {
          if (i + 2 >= n && !final) break;
          const h2 = i + 2 < n ? hexVal(data[i + 2]) : -1;
          if (h2 >= 0) {
            out[o++] = h1 * 16 + h2;
            i += 3;
            continue;
          }
        }
        // Soft line break: "=" [whitespace] line end.
        let j = i + 1;
        while (j < n && (data[j] === 0x20 || data[j] === 0x09)) j++;
        if (j >= n) {
          if (!final) break;
          this.invalid = true; // "=" at the very end
          i = n;
          continue;
        }
        if (data[j] === 0x0a) {
          i = j + 1;
          continue;
        }
        if (data[j] === 0x0d) {
          if (j + 1 >= n && !final) break;
          if (j + 1 < n && data[j + 1] === 0x0a) {
            i = j + 2;
            continue;
          }
        }
        this.invalid = true;
        out[o++] = c;
        i++;
        continue;
      }
      if (c === 0x20 || c === 0x09) {
        let j = i;
        while (j < n && (data[j] === 0x20 || data[j] === 0x09)) j++;
        if (j >= n && !final) break;
        const atEol = j >= n || data[j] === 0x0a || (data[j] === 0x0d && (j + 1 >= n || data[j + 1] === 0x0a));
        if (atEol && data[j] === 0x0d && j + 1 >= n && !final) break;
        if (!atEol) {
          out.set(data.subarray(i, j), o);
          o += j - i;
        }
        i = j;
        continue;
      }
      out[o++] = c;
      i++;
    }
    return [out.subarray(0, o), i];
  }
}

/** The kind of decoding an encoding needs, or null when it is unknown. */
export function transferEncoding(encoding: string): 'identity' | 'base64' | 'quoted-printable' | null {
  switch (encoding.toLowerCase()) {
    case '7bit':
    case '8bit':
    case 'binary':
    case '':
      return 'identity';
    case 'base64':
      return 'base64';
    case 'quoted-printable':
      return 'quoted-printable';
    default:
      return null;
  }
}

/** A fresh streaming decoder for a Content-Transfer-Encoding; null = unknown (UNKNOWN-CTE). */
export function createDecoder(encoding: string): Decoder | null {
  switch (transferEncoding(encoding)) {
    case 'identity':
      return new IdentityDecoder();
    case 'base64':
      return new Base64Decoder();
    case 'quoted-printable':
      return new QpDecoder();
    default:
      return null;
  }
}

/** Whole-buffer decoding; null for an unknown encoding. */
export function decodeBody(encoding: string, data: Uint8Array): { data: Uint8Array; invalid: boolean } | null {
  const d = createDecoder(encoding);
  if (d === null) return null;
  const a = d.push(data);
  const b = d.end();
  if (b.length === 0) return { data: a, invalid: d.invalid };
  const all = new Uint8Array(a.length + b.length);
  all.set(a);
  all.set(b, a.length);
  return { data: all, invalid: d.invalid };
}

/** Decoded size without keeping the data (BINARY.SIZE); null for an unknown encoding. */
export function decodedSize(encoding: string, chunks: Iterable<Uint8Array>): { size: number; invalid: boolean } | null {
  const d = createDecoder(encoding);
  if (d === null) return null;
  let size = 0;
  for (const c of chunks) size += d.push(c).length;
  size += d.end().length;
  return { size, invalid: d.invalid };
}

/** SEARCH BODY/TEXT: the text of a text/* part (its body bytes given), transfer-decoded
 * and read in its charset (unknown charset or encoding: the bytes as UTF-8, else
 * windows-1252). Other types give "". */
export function bodyText(part: Part, body: Uint8Array): string {
  if (part.type !== 'text') return '';
  const decoded = decodeBody(part.encoding, body)?.data ?? body;
  let charset: string | null = null;
  for (const [k, v] of part.params) {
    if (k === 'charset') {
      charset = v;
      break;
    }
  }
  if (charset === null) return decodeUnknown(decoded);
  return decodeCharset(decoded, charset) ?? decodeUnknown(decoded);
}
