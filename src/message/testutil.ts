// Test helpers shared by the message-layer tests (not used by production code).

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Binary string → bytes, with "\n" turned into CRLF when crlf is set. */
export function msg(s: string, crlf = true): Uint8Array {
  return new Uint8Array(Buffer.from(crlf ? s.replace(/\r?\n/g, '\r\n') : s, 'latin1'));
}
