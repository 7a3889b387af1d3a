// A small MD5 (RFC 1321) that exposes its compression state.
//
// node:crypto cannot export the internal state of a hash, and CRAM-MD5's stored secret
// (as Dovecot keeps it) is exactly that: the MD5 state after one 64-byte block of
// key^ipad and of key^opad. With it, HMAC-MD5 over any challenge is finished without the
// password. Everything else that needs MD5 should use node:crypto.
//
// Invariants: a state is four 32-bit words (a, b, c, d); its byte form is the words in
// little-endian order, which is also how MD5 writes its digest.

const S = [
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
  5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/** K[i] = floor(abs(sin(i + 1)) * 2^32) */
const K = new Uint32Array(64);
for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 0x100000000) >>> 0;

export const MD5_IV: readonly number[] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

/** Run the compression function over one 64-byte block at `off`, updating `st` in place. */
export function md5Compress(st: Uint32Array, block: Uint8Array, off = 0): void {
  const m = new Uint32Array(16);
  for (let i = 0; i < 16; i++) {
    const o = off + i * 4;
    m[i] = (block[o] | (block[o + 1] << 8) | (block[o + 2] << 16) | (block[o + 3] << 24)) >>> 0;
  }
  let a = st[0], b = st[1], c = st[2], d = st[3];
  for (let i = 0; i < 64; i++) {
    let f: number, g: number;
    if (i < 16) { f = (b & c) | (~b & d); g = i; }
    else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) & 15; }
    else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) & 15; }
    else { f = c ^ (b | ~d); g = (7 * i) & 15; }
    const t = (a + f + K[i] + m[g]) >>> 0;
    a = d; d = c; c = b;
    b = (b + ((t << S[i]) | (t >>> (32 - S[i])))) >>> 0;
  }
  st[0] = (st[0] + a) >>> 0; st[1] = (st[1] + b) >>> 0;
  st[2] = (st[2] + c) >>> 0; st[3] = (st[3] + d) >>> 0;
}

/** The state as 16 bytes (little-endian words). */
export function md5StateBytes(st: Uint32Array): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    out[i * 4] = st[i] & 0xff; out[i * 4 + 1] = (st[i] >>> 8) & 0xff;
    out[i * 4 + 2] = (st[i] >>> 16) & 0xff; out[i * 4 + 3] = (st[i] >>> 24) & 0xff;
  }
  return out;
}

/** Parse 16 bytes back into a state. */
export function md5StateFromBytes(b: Uint8Array, off = 0): Uint32Array {
  if (b.length - off < 16) throw new Error('md5 state needs 16 bytes');
  const st = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    const o = off + i * 4;
    st[i] = (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
  }
  return st;
}

/**
 * Finish an MD5 whose first `prefixLen` bytes (a multiple of 64) were already compressed
 * into `state`, over `data`; returns the 16-byte digest. With the IV and prefixLen 0 this
 * is plain MD5.
 */
export function md5Finish(state: ArrayLike<number>, prefixLen: number, data: Uint8Array): Uint8Array {
  if (prefixLen % 64 !== 0) throw new Error('md5 prefix length must be a multiple of 64');
  const st = Uint32Array.from(state);
  const full = data.length - (data.length % 64);
  for (let o = 0; o < full; o += 64) md5Compress(st, data, o);
  const rest = data.length - full;
  const tail = new Uint8Array(rest < 56 ? 64 : 128);
  tail.set(data.subarray(full));
  tail[rest] = 0x80;
  // Bit length, 64-bit little-endian; 2^53 bits is far beyond anything we hash.
  const bits = (prefixLen + data.length) * 8;
  const lenOff = tail.length - 8;
  const lo = bits % 0x100000000, hi = Math.floor(bits / 0x100000000);
  for (let i = 0; i < 4; i++) {
    tail[lenOff + i] = (lo >>> (8 * i)) & 0xff;
    tail[lenOff + 4 + i] = (hi >>> (8 * i)) & 0xff;
  }
  for (let o = 0; o < tail.length; o += 64) md5Compress(st, tail, o);
  return md5StateBytes(st);
}

/** Plain MD5 of `data`. */
export function md5(data: Uint8Array): Uint8Array {
  return md5Finish(MD5_IV, 0, data);
}
