// Expected outputs and validity follow Dovecot 2.3.19's BINARY answers for the same bodies.
import { expect, test } from 'bun:test';
import { Base64Decoder, QpDecoder, bodyText, createDecoder, decodeBody, decodedSize } from './decode.ts';
import { parseMessage } from './parse.ts';
import { msg } from './testutil.ts';

const s = (b: Uint8Array) => Buffer.from(b).toString('latin1');
const b = (x: string) => new Uint8Array(Buffer.from(x, 'latin1'));

test('base64: whitespace ignored, bad data flagged', () => {
  const cases: Array<[string, string, boolean]> = [
    ['aGVsbG8gd29ybGQ=\r\n', 'hello world', false],
    ['aGVs\r\nbG8g\r\nd29y bGQ=\r\n', 'hello world', false],
    ['YWJj', 'abc', false],
    ['aGVs*bG8gd29ybGQ=', 'hello world', true],
    ['aGVsbG8gd29ybGQ=\r\n\r\ntrailing text\r\n', 'hello world', true],
    ['aGVsbG8gd29ybGQ==', 'hello world', true],
    ['aGVsbA==aGVsbA==', 'hell', true],
    ['aGVsbG8gd29ybGQ', 'hello world', true],
    ['aGVsbG8gd29ybG', 'hello worl', true],
  ];
  for (const [input, out, invalid] of cases) {
    const r = decodeBody('base64', b(input))!;
    expect([input, s(r.data), r.invalid]).toEqual([input, out, invalid]);
  }
});

test('quoted-printable: escapes, soft breaks, trailing whitespace', () => {
  const cases: Array<[string, string, boolean]> = [
    ['a=3Db=\r\nc', 'a=bc', false],
    ['a=3db =\r\nc', 'a=b c', false],
    ['a=\r\n=\r\n', 'a', false],
    ['tail  \r\nx\t\r\n', 'tail\r\nx\r\n', false],
    ['=E9=\r\n', '\xe9', false],
    ['x= \r\ny', 'xy', false],
    ['a=ZZb', 'a=ZZb', true],
    ['x=', 'x', true],
  ];
  for (const [input, out, invalid] of cases) {
    const r = decodeBody('Quoted-Printable', b(input))!;
    expect([input, s(r.data), r.invalid]).toEqual([input, out, invalid]);
  }
});

test('streaming decoders agree with whole-buffer decoding at every split', () => {
  const inputs: Array<[string, string]> = [
    ['base64', 'aGVs\r\nbG8g d29y\r\nbGQ=\r\n'],
    ['quoted-printable', 'Caf=E9 =\r\ncr=E8me  \r\nx=3D=\r\n y \t\r\nend='],
  ];
  for (const [enc, input] of inputs) {
    const whole = decodeBody(enc, b(input))!;
    for (let i = 0; i <= input.length; i++) {
      const d = createDecoder(enc)!;
      const out = s(d.push(b(input.slice(0, i)))) + s(d.push(b(input.slice(i)))) + s(d.end());
      expect([i, out, d.invalid]).toEqual([i, s(whole.data), whole.invalid]);
    }
  }
  expect(new Base64Decoder().end().length).toBe(0);
  expect(new QpDecoder().end().length).toBe(0);
});

test('identity and unknown encodings', () => {
  expect(s(decodeBody('8BIT', b('abc'))!.data)).toBe('abc');
  expect(decodeBody('x-uuencode', b('abc'))).toBeNull();
  expect(createDecoder('x-uuencode')).toBeNull();
  expect(decodedSize('base64', [b('YW'), b('Jj')])).toEqual({ size: 3, invalid: false });
});

test('bodyText decodes transfer encoding and charset; non-text gives ""', () => {
  const data = msg('MIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9');
  const { root } = parseMessage(data);
  expect(bodyText(root, data.subarray(root.bodyStart, root.bodyEnd))).toBe('Café');
  const utf = msg('Content-Type: text/plain; charset=x-unknown\n\nZo\xc3\xab');
  const r2 = parseMessage(utf).root;
  expect(bodyText(r2, utf.subarray(r2.bodyStart, r2.bodyEnd))).toBe('Zoë');
  const img = parseMessage(msg('Content-Type: image/png\n\nxx')).root;
  expect(bodyText(img, b('xx'))).toBe('');
});
