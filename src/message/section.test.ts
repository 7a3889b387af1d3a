import { expect, test } from 'bun:test';
import { headerFields } from './header.ts';
import { parseMessage } from './parse.ts';
import { findPart, resolveSection, type Section } from './section.ts';
import { msg } from './testutil.ts';

const data = msg(`Subject: top
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain

one
--b
Content-Type: message/rfc822

Subject: inner
Content-Type: multipart/alternative; boundary=c

--c

alt1
--c--
--b--
`);
const info = parseMessage(data);
const get = (part: number[], text: Section['text'] = null, fields: string[] = []) => {
  const r = resolveSection(info, { part, text, fields });
  if (r.kind === 'empty') return '';
  const bytes = r.kind === 'range' ? data.subarray(r.start, r.end) : headerFields(data.subarray(r.start, r.end), r.names, r.not);
  return Buffer.from(bytes).toString('latin1');
};

test('part numbers, MIME, HEADER/TEXT of enclosed messages', () => {
  expect(get([])).toBe(Buffer.from(data).toString('latin1'));
  expect(get([], 'HEADER')).toBe('Subject: top\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n');
  expect(get([1])).toBe('one');
  expect(get([1], 'MIME')).toBe('Content-Type: text/plain\r\n\r\n');
  expect(get([1, 1])).toBe('one'); // a non-multipart part is its own part 1
  expect(get([1, 1, 1])).toBe('');
  expect(get([2], 'HEADER')).toBe('Subject: inner\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n');
  expect(get([2], 'HEADER.FIELDS', ['subject'])).toBe('Subject: inner\r\n\r\n');
  expect(get([2, 1])).toBe('alt1');
  expect(get([2, 1], 'MIME')).toBe('\r\n');
  expect(get([1], 'HEADER')).toBe(''); // HEADER of a non-message part
  expect(get([3])).toBe('');
  expect(get([0])).toBe('');
  expect(findPart(info, [2])?.type).toBe('message');
});

test('single-part message: part 1 is the body, 1.MIME the header', () => {
  const d = msg('Subject: s\n\nbody');
  const i = parseMessage(d);
  const r = resolveSection(i, { part: [1], text: 'MIME', fields: [] });
  expect(r.kind === 'range' && [r.start, r.end]).toEqual([0, 14]);
  const body = resolveSection(i, { part: [1], text: null, fields: [] });
  expect(body.kind === 'range' && [body.start, body.end]).toEqual([14, 18]);
  expect(resolveSection(i, { part: [1, 1], text: null, fields: [] }).kind).toBe('empty');
});
