// String forms follow Dovecot 2.3.19's answers for the same messages (see also
// src/message/fixtures.test.ts, which compares whole answers for every fixture).
import { expect, test } from 'bun:test';
import { ResponseWriter } from './encode.ts';
import { renderedItems, renderStructure, writeBodyStructure, writeEnvelope, writeHumanString, writeNString } from './bodystructure.ts';
import { parseMessage } from '../message/parse.ts';

const out = (f: (w: ResponseWriter) => void, utf8 = false) => {
  const w = new ResponseWriter();
  w.utf8 = utf8;
  f(w);
  return Buffer.from(w.take()).toString('latin1');
};
const bytes = (s: string) => new Uint8Array(Buffer.from(s.replace(/\n/g, '\r\n'), 'latin1'));

test('nstring: quoted unless CR/LF, 8-bit, or more than four specials', () => {
  expect(out((w) => writeNString(w, null))).toBe('NIL');
  expect(out((w) => writeNString(w, '<"a"b"c"@x>'))).toBe('"<\\"a\\"b\\"c\\"@x>"');
  expect(out((w) => writeNString(w, '<"a"b"c"d"e"@x>'))).toBe('{15}\r\n<"a"b"c"d"e"@x>');
  expect(out((w) => writeNString(w, 'caf\xe9'))).toBe('{4}\r\ncaf\xe9');
  expect(out((w) => writeNString(w, 'caf\xc3\xa9'), true)).toBe('"caf\xc3\xa9"');
  expect(out((w) => writeNString(w, '\x01x'))).toBe('"\x01x"');
});

test('strings for humans: whitespace collapsed, literal when changed or special', () => {
  expect(out((w) => writeHumanString(w, 'hi'))).toBe('"hi"');
  expect(out((w) => writeHumanString(w, 'a  b'))).toBe('{3}\r\na b');
  expect(out((w) => writeHumanString(w, 'a\r\n\t\tb \r\n  c'))).toBe('{5}\r\na b c');
  expect(out((w) => writeHumanString(w, 'hi "q"'))).toBe('{6}\r\nhi "q"');
  expect(out((w) => writeHumanString(w, ' \r\n  '))).toBe('""');
  expect(out((w) => writeHumanString(w, ''))).toBe('""');
  expect(out((w) => writeHumanString(w, ' hi'))).toBe('{2}\r\nhi');
  expect(out((w) => writeHumanString(w, 'hi '))).toBe('{2}\r\nhi');
  expect(out((w) => writeHumanString(w, 'a\0b'))).toBe('{3}\r\na\x80b');
  expect(out((w) => writeHumanString(w, 'caf\xe9'))).toBe('{4}\r\ncaf\xe9');
});

test('strings for humans in a UTF-8 session: 8-bit text quoted unless changed or special', () => {
  expect(out((w) => writeHumanString(w, 'caf\xc3\xa9'), true)).toBe('"caf\xc3\xa9"');
  expect(out((w) => writeHumanString(w, 'caf\xc3\xa9 "x"'), true)).toBe('{9}\r\ncaf\xc3\xa9 "x"');
  expect(out((w) => writeHumanString(w, 'caf\xc3\xa9  x'), true)).toBe('{7}\r\ncaf\xc3\xa9 x');
  expect(out((w) => writeHumanString(w, 'a\\b'), true)).toBe('{3}\r\na\\b');
});

test('envelope defaults Sender and Reply-To to From', () => {
  const info = parseMessage(bytes('From: a@b\nSubject: hi\n\nhello\n'));
  expect(out((w) => writeEnvelope(w, info.envelope))).toBe('(NIL "hi" ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) NIL NIL NIL NIL NIL)');
});

test('body structure: defaults, raw spellings, extension data, empty multipart', () => {
  const a = parseMessage(bytes('From: a@b\n\nhello\n'));
  expect(out((w) => writeBodyStructure(w, a.root, false))).toBe('("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 1)');
  const b = parseMessage(bytes('Content-Type: TEXT/Plain; CharSet=UTF-8; Format=flowed\nContent-Transfer-Encoding: Quoted-Printable\n\nx\ny'));
  expect(out((w) => writeBodyStructure(w, b.root, true))).toBe('("TEXT" "Plain" ("CharSet" "UTF-8" "Format" "flowed") NIL NIL "Quoted-Printable" 4 1 NIL NIL NIL NIL)');
  const c = parseMessage(bytes('MIME-Version: 1.0\nContent-Type: image/png; name=a.png\nContent-ID: <id1>\nContent-MD5: abc==\nContent-Disposition: Attachment; Filename="a b.png"\nContent-Language: en, de-DE\nContent-Location: http://x/y\n\nAAAA\n'));
  expect(out((w) => writeBodyStructure(w, c.root, true))).toBe('("image" "png" ("name" "a.png") "<id1>" NIL "7bit" 6 "abc==" ("Attachment" ("Filename" "a b.png")) ("en" "de-DE") "http://x/y")');
  const d = parseMessage(bytes('Content-Type: multipart/mixed\n\nx'));
  expect(out((w) => writeBodyStructure(w, d.root, true))).toBe('(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" NIL NIL NIL NIL)');
  expect(out((w) => writeBodyStructure(w, d.root, false))).toBe('(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed")');
});

test('renderings stored at APPEND are what the writers write; none when they depend on UTF-8', () => {
  const info = parseMessage(bytes('From: A <a@example.org>\nSubject: hi\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b--\n'));
  const blob = renderStructure(info)!;
  const items = renderedItems(blob)!;
  const latin1 = (b: Uint8Array) => Buffer.from(b).toString('latin1');
  expect(latin1(items.envelope)).toBe(out((w) => writeEnvelope(w, info.envelope)));
  expect(latin1(items.body)).toBe(out((w) => writeBodyStructure(w, info.root, false)));
  expect(latin1(items.bodystructure)).toBe(out((w) => writeBodyStructure(w, info.root, true)));
  // A blob of another version or a damaged one is not used.
  expect(renderedItems(Uint8Array.of(99, ...blob.subarray(1)))).toBeNull();
  expect(renderedItems(blob.subarray(0, blob.length - 1))).toBeNull();
  // 8-bit text is quoted for UTF-8 sessions and a literal otherwise: written each time.
  expect(renderStructure(parseMessage(bytes('Subject: caf\xc3\xa9\n\nx\n')))).toBeNull();
});
