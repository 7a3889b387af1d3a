import { expect, test } from 'bun:test';
import { NewlineNormalizer, normalizeNewlines } from './newlines.ts';

const s = (b: Uint8Array) => Buffer.from(b).toString('latin1');
const b = (x: string) => new Uint8Array(Buffer.from(x, 'latin1'));

test('bare LF becomes CRLF, CRLF and lone CR stay', () => {
  expect(s(normalizeNewlines(b('a\nb\r\nc\rd\n\n')))).toBe('a\r\nb\r\nc\rd\r\n\r\n');
  const same = b('x\r\ny');
  expect(normalizeNewlines(same)).toBe(same);
});

test('streaming: a CR at a chunk end followed by LF stays one CRLF', () => {
  const input = 'a\r\nb\nc\r\n\r\nd\re\n';
  const whole = s(normalizeNewlines(b(input)));
  for (let i = 0; i <= input.length; i++) {
    for (let j = i; j <= input.length; j++) {
      const n = new NewlineNormalizer();
      const out = s(n.push(b(input.slice(0, i)))) + s(n.push(b(input.slice(i, j)))) + s(n.push(b(input.slice(j))));
      expect(out).toBe(whole);
      expect(n.size).toBe(whole.length);
    }
  }
});
