import { expect, test } from 'bun:test';
import { fieldValue, headerFields, rawFieldValue, splitHeader, unfold } from './header.ts';
import { msg } from './testutil.ts';

const s = (b: Uint8Array) => Buffer.from(b).toString('latin1');

test('split fields, names trimmed, continuation lines kept with their field', () => {
  const block = msg('Subject : a\n b\nNo colon line\nX-Empty:\n\nbody: not a field\n');
  const fields = splitHeader(block);
  expect(fields.map((f) => f.name)).toEqual(['Subject', 'No colon line', 'X-Empty']);
  expect(fieldValue(block, fields[0])).toBe('a b');
  expect(rawFieldValue(block, fields[0])).toBe('a\r\n b');
  expect(fieldValue(block, fields[2])).toBe('');
  expect(unfold('a\r\n\tb\nc')).toBe('a\tbc');
});

test('HEADER.FIELDS and .NOT: exact lines in message order plus the empty line', () => {
  const block = msg('From: a@x\nTo: b@y\nSubject: s\n  folded\nto: c@z\n\n');
  expect(s(headerFields(block, ['TO', 'subject'], false))).toBe('To: b@y\r\nSubject: s\r\n  folded\r\nto: c@z\r\n\r\n');
  expect(s(headerFields(block, ['to', 'subject'], true))).toBe('From: a@x\r\n\r\n');
  expect(s(headerFields(block, ['x-none'], false))).toBe('\r\n');
  // A header cut off by the end of the message: no line ending is invented.
  expect(s(headerFields(msg('From: a\nDate: d', false), ['date'], false))).toBe('Date: d');
});
