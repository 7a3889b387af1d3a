// Header text decoding for SEARCH and display: RFC 2047 encoded words and RFC 2231
// parameter values. Input is a binary string (one char per byte, as stored in the
// parsed structure); output is a real JS string.
//
// Leniency (never throws): an unknown charset keeps the encoded word as written; bad
// base64 or Q escapes decode as far as they go; raw 8-bit text outside encoded words is
// read as UTF-8, or as windows-1252 when it is not valid UTF-8. Whitespace between two
// adjacent encoded words is dropped (RFC 2047 §6.2), and adjacent words in the same
// charset are decoded together so a character split across words survives.

const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;

const decoders = new Map<string, TextDecoder | null>();

/** A TextDecoder for a charset label, or null when the label is unknown. */
export function decoderFor(charset: string): TextDecoder | null {
  const label = charset.trim().toLowerCase();
  let d = decoders.get(label);
  if (d !== undefined) return d;
  try {
    d = new TextDecoder((label === 'us-ascii' || label === 'ascii' ? 'utf-8' : label) as ConstructorParameters<typeof TextDecoder>[0], { fatal: false });
  } catch {
    d = null;
  }
  decoders.set(label, d);
  return d;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const cp1252 = new TextDecoder('windows-1252');

/** Raw bytes of unknown charset: UTF-8 when valid, else windows-1252. */
export function decodeUnknown(bytes: Uint8Array): string {
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return cp1252.decode(bytes);
  }
}

/** Decode bytes in a charset; unknown charset → null. */
export function decodeCharset(bytes: Uint8Array, charset: string): string | null {
  const d = decoderFor(charset);
  if (d === null) return null;
  const label = charset.trim().toLowerCase();
  if (label === 'us-ascii' || label === 'ascii' || label === 'utf-8' || label === 'utf8') return decodeUnknown(bytes);
  return d.decode(bytes);
}

function binBytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

const B64 = new Int16Array(256).fill(-1);
{
  const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < a.length; i++) B64[a.charCodeAt(i)] = i;
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Bytes of an encoded word's text ("B" or "Q" encoding), leniently. */
function wordBytes(enc: string, text: string): Uint8Array {
  const out: number[] = [];
  if (enc === 'b' || enc === 'B') {
    let acc = 0;
    let bits = 0;
    for (let i = 0; i < text.length; i++) {
      const v = B64[text.charCodeAt(i) & 0xff];
      if (v < 0) continue;
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push((acc >> bits) & 0xff);
      }
    }
  } else {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x5f) out.push(0x20);
      else if (c === 0x3d && i + 2 < text.length + 0 && hexVal(text.charCodeAt(i + 1)) >= 0 && hexVal(text.charCodeAt(i + 2)) >= 0) {
        out.push(hexVal(text.charCodeAt(i + 1)) * 16 + hexVal(text.charCodeAt(i + 2)));
        i += 2;
      } else out.push(c & 0xff);
    }
  }
  return Uint8Array.from(out);
}

/** ASCII without line breaks or an encoded word: decoding would return it unchanged. */
function plainAscii(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80 || c === 0x0a || c === 0x0d || (c === 0x3d && value.charCodeAt(i + 1) === 0x3f)) return false;
  }
  return true;
}

/** RFC 2047: header text (binary string) → decoded, unfolded text. */
export function decodeHeaderValue(value: string): string {
  // Most header text: a SEARCH over a mailbox decodes one value per message.
  if (plainAscii(value)) return value;
  const s = value.replace(/\r?\n(?=[ \t])/g, '').replace(/\r?\n/g, '');
  let out = '';
  let last = 0;
  // Pending run of adjacent encoded words in one charset.
  let runCharset: string | null = null;
  let runBytes: Uint8Array[] = [];
  let runRaw = '';
  const flush = () => {
    if (runCharset === null) return;
    const total = runBytes.reduce((n, b) => n + b.length, 0);
    const all = new Uint8Array(total);
    let o = 0;
    for (const b of runBytes) {
      all.set(b, o);
      o += b.length;
    }
    const text = decodeCharset(all, runCharset);
    out += text === null ? runRaw : text;
    runCharset = null;
    runBytes = [];
    runRaw = '';
  };
  ENCODED_WORD.lastIndex = 0;
  for (let m = ENCODED_WORD.exec(s); m !== null; m = ENCODED_WORD.exec(s)) {
    const between = s.slice(last, m.index);
    const adjacent = runCharset !== null && /^[ \t]*$/.test(between);
    if (!adjacent) {
      flush();
      out += decodeUnknown(binBytes(between));
    } else if (runCharset !== null) {
      // whitespace between encoded words is dropped
    }
    let charset = m[1];
    const star = charset.indexOf('*');
    if (star >= 0) charset = charset.slice(0, star); // RFC 2231 language suffix
    const bytes = wordBytes(m[2], m[3]);
    if (runCharset !== null && charset.toLowerCase() !== runCharset.toLowerCase()) flush();
    if (runCharset === null) runCharset = charset;
    runBytes.push(bytes);
    runRaw += (runRaw !== '' ? '' : '') + m[0];
    last = m.index + m[0].length;
  }
  flush();
  out += decodeUnknown(binBytes(s.slice(last)));
  return out;
}

/** RFC 2231 extended value "charset'language'percent-encoded" → text. Without the two
 * quotes the value is percent-decoded as UTF-8. Unknown charset → the raw value. */
export function decodeRfc2231(value: string): string {
  let charset = 'utf-8';
  let text = value;
  const q1 = value.indexOf("'");
  const q2 = q1 >= 0 ? value.indexOf("'", q1 + 1) : -1;
  if (q2 >= 0) {
    charset = value.slice(0, q1) || 'us-ascii';
    text = value.slice(q2 + 1);
  }
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 && i + 2 < text.length + 0 && hexVal(text.charCodeAt(i + 1)) >= 0 && hexVal(text.charCodeAt(i + 2)) >= 0) {
      bytes.push(hexVal(text.charCodeAt(i + 1)) * 16 + hexVal(text.charCodeAt(i + 2)));
      i += 2;
    } else bytes.push(c & 0xff);
  }
  return decodeCharset(Uint8Array.from(bytes), charset) ?? decodeUnknown(binBytes(value));
}

/** A parameter's decoded text (e.g. a filename): `name*` (RFC 2231) wins over `name`,
 * whose value may hold encoded words (a common non-standard habit). null when absent. */
export function decodeParam(params: ReadonlyArray<readonly [string, string]>, name: string): string | null {
  const lname = name.toLowerCase();
  let plain: string | null = null;
  for (const [k, v] of params) {
    const lk = k.toLowerCase();
    if (lk === lname + '*') return decodeRfc2231(v);
    if (lk === lname && plain === null) plain = v;
  }
  return plain === null ? null : decodeHeaderValue(plain);
}
