import { describe, expect, test } from 'bun:test';
import { ResponseWriter, isAtom } from './encode.ts';

const text = (w: ResponseWriter) => new TextDecoder().decode(w.take());

describe('ResponseWriter', () => {
  test('strings choose quoted or literal form', () => {
    const w = new ResponseWriter(4);
    w.string('plain').sp().string('with "quote" and \\').sp().string('line\r\nbreak').sp().string('caf\u00e9');
    expect(text(w)).toBe('"plain" "with \\"quote\\" and \\\\" {11}\r\nline\r\nbreak {5}\r\ncaf\u00e9');
    w.utf8 = true;
    w.string('caf\u00e9');
    expect(text(w)).toBe('"caf\u00e9"');
  });
  test('nstring and astring', () => {
    const w = new ResponseWriter();
    w.nstring(null).sp().astring('abc').sp().astring('a b').sp().astring('NIL').sp().astring('');
    expect(text(w)).toBe('NIL abc "a b" "NIL" ""');
  });
  test('mailbox names in UTF-7 unless UTF-8 is on', () => {
    const w = new ResponseWriter();
    w.mailbox('Entw\u00fcrfe').sp().mailbox('a b').sp().mailbox('a*');
    expect(text(w)).toBe('Entw&APw-rfe "a b" "a*"');
    w.utf8 = true;
    w.mailbox('Entw\u00fcrfe');
    expect(text(w)).toBe('"Entw\u00fcrfe"');
  });
  test('grows past its initial size', () => {
    const w = new ResponseWriter(2);
    const long = 'x'.repeat(10000);
    w.raw(long).crlf();
    expect(text(w)).toBe(long + '\r\n');
  });
  test('raw text: ASCII byte for byte, anything else as UTF-8', () => {
    const w = new ResponseWriter(1);
    w.raw('UID ').raw('').raw('Entw\u00fcrfe \u{1F4E5}').raw(' x');
    expect(text(w)).toBe('UID Entw\u00fcrfe \u{1F4E5} x');
  });
  test('numbers as String() writes them', () => {
    const w = new ResponseWriter(1);
    const all = [0, 7, 10, 99, 100, 4294967296, Number.MAX_SAFE_INTEGER, -0, -12, 1.5, 2 ** 60, 123456789012345678901n];
    for (const n of all) w.num(n).sp();
    expect(text(w)).toBe(all.map((n) => String(n) + ' ').join(''));
  });
  test('date-time matches Date in UTC, before 1970 and across leap days too', () => {
    const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    const p2 = (n: number) => String(n).padStart(2, '0');
    const viaDate = (ms: number) => {
      const d = new Date(ms);
      return `"${p2(d.getUTCDate())}-${months[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000"`;
    };
    const samples = [0, -1, Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.UTC(1900, 2, 1), Date.UTC(2100, 1, 28, 12), Date.UTC(-50, 0, 1), Date.UTC(12345, 11, 31)];
    let x = 1;
    for (let i = 0; i < 20000; i++) {
      x = (x * 48271) % 2147483647;
      samples.push((x / 2147483647 - 0.3) * 8e12 * (i % 10 === 0 ? 100 : 1));
    }
    const w = new ResponseWriter();
    for (const ms of samples) expect(text(w.dateTime(ms))).toBe(viaDate(ms));
  });
  test('binary strings: quoted and escaped, or a literal for CR, LF, NUL or 8-bit before UTF-8', () => {
    const w = new ResponseWriter(1);
    w.quotedLatin1('a "b" \\').sp().quotedLatin1('x\r\ny').sp().quotedLatin1('\0').sp().quotedLatin1('caf\xe9').sp().literalLatin1('ab');
    expect(Buffer.from(w.take()).toString('latin1')).toBe('"a \\"b\\" \\\\" {4}\r\nx\r\ny {1}\r\n\0 {4}\r\ncaf\xe9 {2}\r\nab');
    w.utf8 = true;
    w.quotedLatin1('caf\xc3\xa9').sp().quotedLatin1('\n');
    expect(Buffer.from(w.take()).toString('latin1')).toBe('"caf\xc3\xa9" {1}\r\n\n');
  });
  test('atoms', () => {
    expect(isAtom('INBOX')).toBe(true);
    expect(isAtom('a]')).toBe(false);
    expect(isAtom('nil')).toBe(false);
    expect(isAtom('')).toBe(false);
  });
});
