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
  test('atoms', () => {
    expect(isAtom('INBOX')).toBe(true);
    expect(isAtom('a]')).toBe(false);
    expect(isAtom('nil')).toBe(false);
    expect(isAtom('')).toBe(false);
  });
});
