// Modified UTF-7 for mailbox names (RFC 3501 §5.1.3, RFC 9051 §5.1.3). Pure.
// Used on the wire unless the session enabled IMAP4rev2 or UTF8=ACCEPT.

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

/** Encode a UTF-8 mailbox name as modified UTF-7. */
export function encodeUtf7(name: string): string {
  let out = '';
  let i = 0;
  while (i < name.length) {
    const c = name.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      out += c === 0x26 ? '&-' : name[i];
      i++;
      continue;
    }
    // A run of non-printable-ASCII UTF-16 code units, base64-encoded.
    let j = i;
    while (j < name.length) {
      const d = name.charCodeAt(j);
      if (d >= 0x20 && d <= 0x7e) break;
      j++;
    }
    const bytes = new Uint8Array((j - i) * 2);
    for (let k = i; k < j; k++) {
      const u = name.charCodeAt(k);
      bytes[(k - i) * 2] = u >> 8;
      bytes[(k - i) * 2 + 1] = u & 0xff;
    }
    out += '&' + base64Modified(bytes) + '-';
    i = j;
  }
  return out;
}

function base64Modified(b: Uint8Array): string {
  let s = '';
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    s += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i] << 16;
    s += B64[n >> 18] + B64[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (b[i] << 16) | (b[i + 1] << 8);
    s += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63];
  }
  return s;
}

/**
 * Decode a modified UTF-7 name strictly. Returns null when the name is not valid
 * modified UTF-7: 8-bit or control characters, an unterminated or empty shift
 * sequence other than "&-", non-zero padding bits, a shift that encodes only
 * printable ASCII, or broken UTF-16 surrogates.
 */
export function decodeUtf7(s: string): string | null {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return null;
    if (c !== 0x26) {
      out += s[i];
      i++;
      continue;
    }
    const end = s.indexOf('-', i + 1);
    if (end < 0) return null;
    if (end === i + 1) {
      out += '&';
      i = end + 1;
      continue;
    }
    let bits = 0;
    let acc = 0;
    const units: number[] = [];
    for (let k = i + 1; k < end; k++) {
      const code = s.charCodeAt(k);
      const v = code < 128 ? B64_INDEX[code] : -1;
      if (v < 0) return null;
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 16) {
        bits -= 16;
        units.push((acc >> bits) & 0xffff);
        acc &= (1 << bits) - 1;
      }
    }
    if (bits >= 6 || acc !== 0 || units.length === 0) return null;
    for (let k = 0; k < units.length; k++) {
      const u = units[k];
      if (u >= 0x20 && u <= 0x7e) return null;
      if (u >= 0xd800 && u <= 0xdbff) {
        const lo = units[k + 1];
        if (lo === undefined || lo < 0xdc00 || lo > 0xdfff) return null;
        out += String.fromCharCode(u, lo);
        k++;
      } else if (u >= 0xdc00 && u <= 0xdfff) {
        return null;
      } else {
        out += String.fromCharCode(u);
      }
    }
    i = end + 1;
    // Two adjacent shift sequences are not the shortest form.
    if (s.charCodeAt(i) === 0x26 && s.charCodeAt(i + 1) !== 0x2d) return null;
  }
  return out;
}
