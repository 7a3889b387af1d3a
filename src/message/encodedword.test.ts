import { expect, test } from 'bun:test';
import { decodeHeaderValue, decodeParam, decodeRfc2231 } from './encodedword.ts';

test('RFC 2047 encoded words', () => {
  expect(decodeHeaderValue('=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=')).toBe('If you can read this you understand the example.');
  expect(decodeHeaderValue('=?ISO-8859-1?Q?Andr=E9?= Pirard')).toBe('André Pirard');
  expect(decodeHeaderValue('=?ISO-8859-1?Q?a?= b =?ISO-8859-1?Q?c?=')).toBe('a b c');
  expect(decodeHeaderValue('=?utf-8?q?=E6=9D?= =?utf-8?q?=B1?=')).toBe('東');
  expect(decodeHeaderValue('=?UTF-8*en?Q?a_b?=')).toBe('a b');
  expect(decodeHeaderValue('=?x-unknown?q?Mystery?= a')).toBe('=?x-unknown?q?Mystery?= a');
  expect(decodeHeaderValue('=?utf-8?q?bad=ZZ?=')).toBe('bad=ZZ');
});

test('raw 8-bit text: UTF-8 when valid, else windows-1252', () => {
  expect(decodeHeaderValue('Zo\xc3\xab')).toBe('Zoë');
  expect(decodeHeaderValue('caf\xe9')).toBe('café');
});

test('RFC 2231 values and parameters', () => {
  expect(decodeRfc2231("UTF-8''Rechnung%20M%C3%A4rz.pdf")).toBe('Rechnung März.pdf');
  expect(decodeRfc2231("iso-8859-1'de'Gr%FC%DFe")).toBe('Grüße');
  expect(decodeParam([['name', 'plain.txt'], ['name*', "utf-8''%C3%A9.txt"]], 'NAME')).toBe('é.txt');
  expect(decodeParam([['filename', '=?utf-8?b?w6lsw6h2ZS50eHQ=?=']], 'filename')).toBe('élève.txt');
  expect(decodeParam([], 'filename')).toBeNull();
});
