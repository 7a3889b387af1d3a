import { describe, expect, test } from 'bun:test';
import { createHash, createHmac } from 'node:crypto';
import { md5 } from './md5.ts';
import {
  DUMMY_PASSWORD_HASH, cramMd5Digest, cramMd5Secret, cramMd5Valid, decodeCramMd5, decodeScram, deriveSecrets, encodeCramMd5,
  encodeScram, saslprep, scramClientProofValid, scramSecretFor, scramServerSignature, verifyPasswordHash,
} from './secrets.ts';

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

describe('md5', () => {
  test('matches node:crypto at every length around the block boundaries', () => {
    for (let n = 0; n < 200; n++) {
      const data = new Uint8Array(n).map((_, i) => (i * 7 + n) & 0xff);
      expect(Buffer.from(md5(data)).toString('hex')).toBe(createHash('md5').update(data).digest('hex'));
    }
  });
  test('RFC 1321 test suite', () => {
    const hex = (s: string) => Buffer.from(md5(new TextEncoder().encode(s))).toString('hex');
    expect(hex('')).toBe('d41d8cd98f00b204e9800998ecf8427e');
    expect(hex('abc')).toBe('900150983cd24fb0d6963f7d28e17f72');
    expect(hex('12345678901234567890123456789012345678901234567890123456789012345678901234567890')).toBe('57edf4a22be3c955ac49da2e2107b67a');
  });
});

describe('SCRAM', () => {
  // Verify a whole exchange from the RFC with only what the server stores.
  function checkExchange(
    hash: 'SHA-1' | 'SHA-256', clientFirstBare: string, serverFirst: string, clientFinal: string, serverFinal: string,
  ) {
    const attrs = Object.fromEntries(serverFirst.split(',').map((kv) => [kv[0], kv.slice(2)]));
    const secret = scramSecretFor(hash, 'pencil', b64(attrs.s), Number(attrs.i))!;
    const withoutProof = clientFinal.slice(0, clientFinal.lastIndexOf(',p='));
    const proof = b64(clientFinal.slice(clientFinal.lastIndexOf(',p=') + 3));
    const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
    expect(scramClientProofValid(secret, authMessage, proof)).toBe(true);
    const bad = proof.slice(); bad[0] ^= 1;
    expect(scramClientProofValid(secret, authMessage, bad)).toBe(false);
    expect(scramClientProofValid(secret, authMessage, proof.subarray(1))).toBe(false);
    expect('v=' + Buffer.from(scramServerSignature(secret, authMessage)).toString('base64')).toBe(serverFinal);
    // The encoded form round-trips.
    const again = decodeScram(hash, encodeScram(secret));
    expect(again).toEqual(secret);
  }

  test('RFC 5802 §5 SCRAM-SHA-1 example', () => {
    checkExchange('SHA-1',
      'n=user,r=fyko+d2lbbFgONRv9qkxdawL',
      'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096',
      'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
      'v=rmF9pqV8S7suAoZWja4dJRkFsKQ=');
  });

  test('RFC 7677 §3 SCRAM-SHA-256 example', () => {
    checkExchange('SHA-256',
      'n=user,r=rOprNGfwEbeRWgbNEkqO',
      'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
      'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  });

  test('malformed encodings are refused', () => {
    expect(() => decodeScram('SHA-1', 'x')).toThrow();
    expect(() => decodeScram('SHA-256', '4096,AAAA,AAAA,AAAA')).toThrow();
  });
});

describe('SASLprep (RFC 4013 §3 examples)', () => {
  test('maps and normalizes', () => {
    expect(saslprep('I\u00ADX')).toBe('IX');
    expect(saslprep('user')).toBe('user');
    expect(saslprep('USER')).toBe('USER');
    expect(saslprep('\u00AA')).toBe('a');
    expect(saslprep('\u2168')).toBe('IX');
    expect(saslprep('a\u00A0b')).toBe('a b');
  });
  test('refuses prohibited and bad bidi', () => {
    expect(saslprep('\u0007')).toBeNull();
    expect(saslprep('\u0627\u0031')).toBeNull();
    expect(saslprep('\uD800')).toBeNull();
    expect(saslprep('\u0627\u0031\u0628')).toBe('\u0627\u0031\u0628');
  });
  test('a password SASLprep refuses gets no SCRAM secret but still a hash', () => {
    const s = deriveSecrets('bad\u0007pw', { iterations: 16 });
    expect(s.scramSha1).toBeNull();
    expect(s.scramSha256).toBeNull();
    expect(s.passwordHash.startsWith('$argon2id$')).toBe(true);
  });
});

describe('CRAM-MD5', () => {
  test('RFC 2195 example, finished from the stored states', () => {
    const s = cramMd5Secret('tanstaaftanstaaf');
    const challenge = '<1896.697170952@postoffice.reston.mci.net>';
    expect(cramMd5Digest(s, challenge)).toBe('b913a602c7eda7a495b4e6e7334d3890');
    expect(cramMd5Valid(s, challenge, 'B913A602C7EDA7A495B4E6E7334D3890')).toBe(true);
    expect(cramMd5Valid(s, challenge, 'b913a602c7eda7a495b4e6e7334d3891')).toBe(false);
    expect(cramMd5Valid(s, challenge, 'b913')).toBe(false);
    expect(decodeCramMd5(encodeCramMd5(s))).toEqual(s);
    expect(encodeCramMd5(s)).toMatch(/^[0-9a-f]{64}$/);
  });
  test('equals HMAC-MD5 for short, 64-byte and long keys and long challenges', () => {
    for (const pw of ['', 'x', 'p'.repeat(64), 'q'.repeat(65), 'ünïcødé'.repeat(20)]) {
      const challenge = '<' + 'c'.repeat(pw.length + 100) + '@host>';
      const want = createHmac('md5', Buffer.from(pw, 'utf8')).update(challenge).digest('hex');
      expect(cramMd5Digest(cramMd5Secret(pw), challenge)).toBe(want);
    }
  });
  test('malformed encoding is refused', () => {
    expect(() => decodeCramMd5('zz')).toThrow();
  });
});

describe('password hash', () => {
  test('verifies the right password only', async () => {
    const s = deriveSecrets('correct horse');
    expect(await verifyPasswordHash('correct horse', s.passwordHash)).toBe(true);
    expect(await verifyPasswordHash('correct horsf', s.passwordHash)).toBe(false);
    expect(await verifyPasswordHash('x', 'not a hash')).toBe(false);
    expect(s.passwordHash).not.toContain('correct');
  });
  test('the dummy hash has the parameters of a real one', () => {
    const params = (h: string) => h.split('$').slice(1, 4).join('$');
    expect(params(DUMMY_PASSWORD_HASH)).toBe(params(deriveSecrets('x').passwordHash));
  });
});
