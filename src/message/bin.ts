// Binary strings: one JS char per byte (latin1), so header bytes — 8-bit or not — survive
// a round trip exactly. Never use TextDecoder('latin1') for this: the WHATWG "latin1"
// label is windows-1252 and remaps 0x80-0x9F.

/** Bytes → binary string. */
export function toBinary(b: Uint8Array, start = 0, end = b.length): string {
  if (end - start <= 0) return '';
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}

/** Binary string → bytes (chars above 0xFF are not expected; they are truncated to a byte). */
export function fromBinary(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

/** True when the binary string holds a byte >= 0x80. */
export function has8bit(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return true;
  return false;
}
