// Password-derived secrets: what the server keeps instead of a password, one per
// mechanism family, so that PLAIN/LOGIN, CRAM-MD5 and SCRAM-SHA-1/256 all work without
// the password ever being stored.
//
// - PLAIN and LOGIN: an argon2id hash (Bun.password), verified in constant time.
// - SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677): salt, iteration count, StoredKey
//   and ServerKey. The password is SASLprep'ed (RFC 4013) first; a password SASLprep
//   refuses gets no SCRAM secret (PLAIN still works).
// - CRAM-MD5 (RFC 2195): the MD5 states after compressing key^ipad and key^opad, as
//   Dovecot's CRAM-MD5 scheme stores them. HMAC-MD5 is finished from them per challenge.
//
// Pure: no I/O, no database. Callers keep the encoded forms (encode*/decode*).

import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { MD5_IV, md5, md5Compress, md5Finish, md5StateBytes, md5StateFromBytes } from './md5.ts';

/** RFC 7677 asks for at least 4096; Dovecot's default too. Clients pay it at every login. */
export const SCRAM_ITERATIONS = 4096;
export const SCRAM_SALT_BYTES = 16;

/** argon2id at OWASP's recommended minimum (19 MiB, 2 passes): ~50-100 ms per check. */
const ARGON2 = { algorithm: 'argon2id', memoryCost: 19456, timeCost: 2 } as const;

/**
 * A hash of a random, forgotten password with the same parameters as hashPassword():
 * checking a password against it costs what a real check costs, so an unknown account
 * answers as slowly as a known one. (A test keeps its parameters in step with ARGON2.)
 */
export const DUMMY_PASSWORD_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$ljOQwZT9S8lFHYFEq57mKXIf9NshRuY2VREtEvg4Y2c$jZQ6H6uNRILraBkVEXZ87cYl/lebwz25biCtC1P52e0';

export type ScramHash = 'SHA-1' | 'SHA-256';

export interface ScramSecret {
  hash: ScramHash;
  salt: Uint8Array;
  iterations: number;
  storedKey: Uint8Array;
  serverKey: Uint8Array;
}

export interface CramMd5Secret {
  /** MD5 state after the block key^ipad (16 bytes). */
  inner: Uint8Array;
  /** MD5 state after the block key^opad (16 bytes). */
  outer: Uint8Array;
}

export interface Secrets {
  /** PHC string ($argon2id$...). */
  passwordHash: string;
  /** null when SASLprep refuses the password. */
  scramSha1: ScramSecret | null;
  scramSha256: ScramSecret | null;
  cramMd5: CramMd5Secret;
}

/** Everything the server stores for a password. Synchronous (argon2id ~50-100 ms). */
export function deriveSecrets(password: string, opts: { iterations?: number } = {}): Secrets {
  const iterations = opts.iterations ?? SCRAM_ITERATIONS;
  return {
    passwordHash: hashPassword(password),
    scramSha1: scramSecretFor('SHA-1', password, randomBytes(SCRAM_SALT_BYTES), iterations),
    scramSha256: scramSecretFor('SHA-256', password, randomBytes(SCRAM_SALT_BYTES), iterations),
    cramMd5: cramMd5Secret(password),
  };
}

// ---- PLAIN / LOGIN ----

export function hashPassword(password: string): string {
  return Bun.password.hashSync(password, ARGON2);
}

/** Constant-time check of a password against a stored PHC hash; false on a malformed hash. */
export async function verifyPasswordHash(password: string, hash: string): Promise<boolean> {
  try {
    return await Bun.password.verify(password, hash);
  } catch {
    return false;
  }
}

// ---- SCRAM (RFC 5802, RFC 7677) ----

function nodeHash(h: ScramHash): string {
  return h === 'SHA-1' ? 'sha1' : 'sha256';
}

function hmac(h: ScramHash, key: Uint8Array, data: string | Uint8Array): Uint8Array {
  return new Uint8Array(createHmac(nodeHash(h), key).update(data).digest());
}

function digest(h: ScramHash, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(nodeHash(h)).update(data).digest());
}

/** SaltedPassword = Hi(Normalize(password), salt, i), i.e. PBKDF2 with HMAC-H. */
export function scramSaltedPassword(h: ScramHash, password: string, salt: Uint8Array, iterations: number): Uint8Array | null {
  const norm = saslprep(password);
  if (norm === null) return null;
  const len = h === 'SHA-1' ? 20 : 32;
  return new Uint8Array(pbkdf2Sync(norm, salt, iterations, len, nodeHash(h)));
}

/** StoredKey and ServerKey for a password; null when SASLprep refuses it. */
export function scramSecretFor(h: ScramHash, password: string, salt: Uint8Array, iterations: number): ScramSecret | null {
  const salted = scramSaltedPassword(h, password, salt, iterations);
  if (salted === null) return null;
  const clientKey = hmac(h, salted, 'Client Key');
  return {
    hash: h,
    salt: new Uint8Array(salt),
    iterations,
    storedKey: digest(h, clientKey),
    serverKey: hmac(h, salted, 'Server Key'),
  };
}

/**
 * Server side of the client proof: ClientKey = proof XOR HMAC(StoredKey, AuthMessage);
 * valid when H(ClientKey) equals StoredKey. Constant time in the proof's content.
 */
export function scramClientProofValid(s: ScramSecret, authMessage: string, proof: Uint8Array): boolean {
  const sig = hmac(s.hash, s.storedKey, authMessage);
  if (proof.length !== sig.length) return false;
  const clientKey = new Uint8Array(sig.length);
  for (let i = 0; i < sig.length; i++) clientKey[i] = proof[i] ^ sig[i];
  return timingSafeEqual(digest(s.hash, clientKey), s.storedKey);
}

/** ServerSignature = HMAC(ServerKey, AuthMessage), sent as "v=" in server-final-message. */
export function scramServerSignature(s: ScramSecret, authMessage: string): Uint8Array {
  return hmac(s.hash, s.serverKey, authMessage);
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/** "iterations,salt,storedKey,serverKey" (base64 fields). */
export function encodeScram(s: ScramSecret): string {
  return `${s.iterations},${b64(s.salt)},${b64(s.storedKey)},${b64(s.serverKey)}`;
}

export function decodeScram(h: ScramHash, text: string): ScramSecret {
  const parts = text.split(',');
  const iterations = Number(parts[0]);
  if (parts.length !== 4 || !Number.isInteger(iterations) || iterations < 1) throw new Error('malformed SCRAM secret');
  const len = h === 'SHA-1' ? 20 : 32;
  const s = { hash: h, iterations, salt: unb64(parts[1]), storedKey: unb64(parts[2]), serverKey: unb64(parts[3]) };
  if (s.storedKey.length !== len || s.serverKey.length !== len || s.salt.length === 0) throw new Error('malformed SCRAM secret');
  return s;
}

// ---- SASLprep (RFC 4013, profile of stringprep RFC 3454) ----

// C.1.2 non-ASCII space characters: mapped to SPACE.
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g;
// B.1 commonly mapped to nothing (U+200B is in C.1.2 too; it became a space above).
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g;
// Prohibited output: C.2.1/C.2.2 controls, C.3 private use, C.4 non-characters,
// C.6/C.7/C.8 display and structure characters, C.9 tagging. C.5 (lone surrogates) is
// checked with isWellFormed.
const PROHIBITED = /[\u{0}-\u{1F}\u{7F}-\u{9F}\u{340}\u{341}\u{6DD}\u{70F}\u{180E}\u{200E}\u{200F}\u{2028}-\u{202E}\u{2060}-\u{2063}\u{206A}-\u{206F}\u{2FF0}-\u{2FFB}\u{E000}-\u{F8FF}\u{FDD0}-\u{FDEF}\u{FEFF}\u{FFF9}-\u{FFFD}\u{FFFE}\u{FFFF}\u{1D173}-\u{1D17A}\u{E0001}\u{E0020}-\u{E007F}\u{F0000}-\u{10FFFF}]|[\u{1FFFE}\u{1FFFF}\u{2FFFE}\u{2FFFF}\u{3FFFE}\u{3FFFF}\u{4FFFE}\u{4FFFF}\u{5FFFE}\u{5FFFF}\u{6FFFE}\u{6FFFF}\u{7FFFE}\u{7FFFF}\u{8FFFE}\u{8FFFF}\u{9FFFE}\u{9FFFF}\u{AFFFE}\u{AFFFF}\u{BFFFE}\u{BFFFF}\u{CFFFE}\u{CFFFF}\u{DFFFE}\u{DFFFF}\u{EFFFE}\u{EFFFF}]/u;
// D.1 RandALCat (Hebrew, Arabic and related blocks), approximated by script property.
const RAND_AL = /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}]/u;
const L_CAT = /\p{L}/u;

/**
 * SASLprep a string: map, NFKC-normalize, refuse prohibited output, check bidi.
 * Returns null where RFC 4013 says the string must be rejected. Unassigned code points
 * are allowed (stored strings), which is what the RFC asks of queries.
 */
export function saslprep(s: string): string | null {
  const mapped = s.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
  if (!mapped.isWellFormed() || PROHIBITED.test(mapped)) return null;
  if (RAND_AL.test(mapped)) {
    // RFC 3454 §6: with any RandALCat, no LCat, and first and last must be RandALCat.
    const chars = Array.from(mapped);
    const hasL = chars.some((c) => L_CAT.test(c) && !RAND_AL.test(c));
    if (hasL || !RAND_AL.test(chars[0]) || !RAND_AL.test(chars[chars.length - 1])) return null;
  }
  return mapped;
}

// ---- CRAM-MD5 (RFC 2195, HMAC-MD5 per RFC 2104) ----

/** The inner and outer MD5 states of HMAC-MD5 keyed with the password (UTF-8). */
export function cramMd5Secret(password: string): CramMd5Secret {
  let key: Uint8Array = new TextEncoder().encode(password);
  if (key.length > 64) key = md5(key);
  const ipad = new Uint8Array(64).fill(0x36);
  const opad = new Uint8Array(64).fill(0x5c);
  for (let i = 0; i < key.length; i++) { ipad[i] ^= key[i]; opad[i] ^= key[i]; }
  const inner = Uint32Array.from(MD5_IV);
  const outer = Uint32Array.from(MD5_IV);
  md5Compress(inner, ipad);
  md5Compress(outer, opad);
  return { inner: md5StateBytes(inner), outer: md5StateBytes(outer) };
}

/** HMAC-MD5(password, challenge) as lower-case hex, finished from the stored states. */
export function cramMd5Digest(s: CramMd5Secret, challenge: string | Uint8Array): string {
  const c = typeof challenge === 'string' ? new TextEncoder().encode(challenge) : challenge;
  const innerDigest = md5Finish(md5StateFromBytes(s.inner), 64, c);
  const mac = md5Finish(md5StateFromBytes(s.outer), 64, innerDigest);
  return Buffer.from(mac).toString('hex');
}

/** Constant-time check of a client's CRAM-MD5 response digest (hex). */
export function cramMd5Valid(s: CramMd5Secret, challenge: string | Uint8Array, responseHex: string): boolean {
  const want = Buffer.from(cramMd5Digest(s, challenge), 'latin1');
  const got = Buffer.from(responseHex.toLowerCase(), 'latin1');
  return got.length === want.length && timingSafeEqual(got, want);
}

/** 64 hex digits: inner state then outer state (Dovecot's CRAM-MD5 layout). */
export function encodeCramMd5(s: CramMd5Secret): string {
  return Buffer.from(s.inner).toString('hex') + Buffer.from(s.outer).toString('hex');
}

export function decodeCramMd5(text: string): CramMd5Secret {
  if (!/^[0-9a-f]{64}$/i.test(text)) throw new Error('malformed CRAM-MD5 secret');
  const b = new Uint8Array(Buffer.from(text, 'hex'));
  return { inner: b.slice(0, 16), outer: b.slice(16, 32) };
}
