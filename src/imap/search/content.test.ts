// Headers and text for SEARCH: the header-block reader at its edges, encoded words,
// transfer encodings, charsets and the MIME walk that decides what BODY and TEXT see.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvelopeFields, FoldMemo, MessageText, RecordedFields, envelopeSuffices, headerFields, readHeaderBlock } from './content.ts';
import { decodeHeaderValue } from '../../message/encodedword.ts';
import { parseMessage } from '../../message/parse.ts';
import type { MessageInfo } from '../../message/types.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string) => enc.encode(s);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'postern-content-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

describe('reading the header block', () => {
  const big = 'x'.repeat(200 * 1024);
  const cases: Array<[string, string, string]> = [
    ['CRLF', 'Subject: a\r\nFrom: b\r\n\r\nbody', 'Subject: a\r\nFrom: b\r\n\r\n'],
    ['bare LF', 'Subject: a\nFrom: b\n\nbody', 'Subject: a\nFrom: b\n\n'],
    ['no body', 'Subject: a\r\nFrom: b\r\n', 'Subject: a\r\nFrom: b\r\n'],
    ['no header', '\r\nbody only', '\r\n'],
  ];
  for (const [name, content, header] of cases) {
    test(`${name}, small and large files, with and without the length from the structure`, () => {
      const small = file(`small-${name}`, content);
      expect(dec.decode(readHeaderBlock(small, null, content.length))).toBe(header);
      expect(dec.decode(readHeaderBlock(small, header.length, content.length))).toBe(header);
      const large = file(`large-${name}`, content + big);
      expect(dec.decode(readHeaderBlock(large, null, content.length + big.length))).toBe(header.length === content.length ? content + big : header);
      expect(dec.decode(readHeaderBlock(large, header.length, content.length + big.length))).toBe(header);
    });
  }

  test('a header longer than one read, the empty line across the chunk boundary', () => {
    for (const pad of [16 * 1024 - 20, 16 * 1024 - 21, 16 * 1024 - 22, 16 * 1024 - 23, 40 * 1024]) {
      const header = `X-Long: ${'a'.repeat(pad)}\r\nSubject: found\r\n\r\n`;
      const p = file(`long-${pad}`, header + 'b'.repeat(100 * 1024));
      const block = readHeaderBlock(p, null, header.length + 100 * 1024);
      expect(block.length).toBe(header.length);
      expect(headerFields(block).fields('SUBJECT')).toEqual(['found']);
    }
  });
});

describe('header fields', () => {
  test('unfolding, several fields of a name, names case-insensitive, lines without a colon skipped', () => {
    const h = headerFields(bytes('Received: from a\r\n\tby b\r\nreceived: from c\r\nbogus line\r\nSUBJECT:  Hi  there \r\n\r\n'));
    expect(h.fields('RECEIVED')).toEqual(['from a\tby b', 'from c']);
    expect(h.fields('SUBJECT')).toEqual(['hi  there ']); // trailing blanks kept, as message/header.ts gives them
    expect(h.fields('X-NONE')).toEqual([]);
  });

  test('RFC 2047: B and Q, charsets, adjacent words joined, plain 8-bit text as UTF-8 or latin1', () => {
    expect(decodeHeaderValue('=?UTF-8?B?SsO8cmdlbg==?= <j@x>')).toBe('Jürgen <j@x>');
    expect(decodeHeaderValue('=?ISO-8859-1?Q?Ren=E9_D?= =?utf-8?q?=C3=A9j=C3=A0?=')).toBe('René Déjà');
    expect(decodeHeaderValue('a =?utf-8?q?b?= c')).toBe('a b c');
    expect(decodeHeaderValue('=?KOI8-R?B?8NLJ18XU?=')).toBe('Привет');
    expect(decodeHeaderValue('=?UTF-8*en?Q?hi?=')).toBe('hi');
    expect(decodeHeaderValue('=?utf-8?q?broken')).toBe('=?utf-8?q?broken');
    expect(decodeHeaderValue('Gr\xc3\xbc\xc3\x9fe')).toBe('Grüße'); // raw UTF-8 bytes
    expect(decodeHeaderValue('caf\xe9')).toBe('café'); // raw latin1
  });

  test('the Date: header', () => {
    expect(headerFields(bytes('Date: Tue, 1 Mar 2022 00:30:00 +0200\r\n\r\n')).sentDate()).toEqual({ year: 2022, month: 3, day: 1 });
    expect(headerFields(bytes('Date: soon\r\n\r\n')).sentDate()).toBeNull();
    expect(headerFields(bytes('Subject: x\r\n\r\n')).sentDate()).toBeNull();
  });

  test('the stored envelope answers SUBJECT and DATE without the file', () => {
    const info = { envelope: { subject: '=?UTF-8?Q?K=C3=B6ln?=', date: 'Tue, 1 Mar 2022 00:30:00 +0200' } } as unknown as MessageInfo;
    const e = new EnvelopeFields(info);
    expect(e.fields('SUBJECT')).toEqual(['köln']);
    expect(e.sentDate()).toEqual({ year: 2022, month: 3, day: 1 });
    expect(envelopeSuffices(new Set(['SUBJECT', 'DATE']))).toBe(true);
    expect(envelopeSuffices(new Set(['SUBJECT', 'FROM']))).toBe(false);
    const none = new EnvelopeFields({ envelope: { subject: null, date: null } } as unknown as MessageInfo);
    expect(none.fields('SUBJECT')).toEqual([]);
    expect(none.sentDate()).toBeNull();
  });
});

describe('the MIME walk: what BODY and TEXT see', () => {
  const msg = [
    'Subject: top', 'Content-Type: multipart/mixed; boundary="o"', '', 'preamble',
    '--o', 'Content-Type: multipart/alternative; boundary=i', '', '--i', 'Content-Type: text/plain', '', 'plain alt', '--i',
    'Content-Type: text/html; charset="iso-8859-1"', 'Content-Transfer-Encoding: quoted-printable', '', '<b>caf=E9</b>', '--i--',
    '--o', 'Content-Type: image/png', 'Content-Transfer-Encoding: base64', '', 'aW1hZ2VieXRlcw==',
    '--o', 'Content-Type: message/rfc822', '', 'Subject: inner', '', 'inner text', '--o--', 'epilogue', '',
  ].join('\r\n');
  const b = bytes(msg);

  test('the part tree (message/parse.ts) as the walk sees it', () => {
    const root = parseMessage(b).root;
    expect(root.type + '/' + root.subtype).toBe('multipart/mixed');
    expect(root.parts.map((p) => `${p.type}/${p.subtype}`)).toEqual(['multipart/alternative', 'image/png', 'message/rfc822']);
    expect(root.parts[0].parts.map((p) => `${p.type}/${p.subtype}`)).toEqual(['text/plain', 'text/html']);
    expect(dec.decode(b.subarray(root.parts[0].parts[0].bodyStart, root.parts[0].parts[0].bodyEnd))).toBe('plain alt');
    expect(root.parts[2].message?.root.type).toBe('text');
  });

  for (const withInfo of [false, true]) {
    test(`BODY and TEXT ${withInfo ? 'from a stored structure' : 'parsing the bytes'}`, () => {
      const info = withInfo ? parseMessage(b) : null;
      const t = new MessageText(b, info);
      expect(t.body()).toContain('plain alt');
      expect(t.body()).toContain('<b>café</b>');
      expect(t.body()).toContain('inner text');
      for (const absent of ['preamble', 'epilogue', 'imagebytes', 'subject: inner', 'subject: top', 'text/html']) expect(t.body()).not.toContain(absent);
      for (const present of ['subject: top', 'subject: inner', 'content-type: text/html; charset="iso-8859-1"', 'content-type: image/png', 'café', 'inner text']) expect(t.text()).toContain(present);
      for (const absent of ['preamble', 'epilogue', 'imagebytes']) expect(t.text()).not.toContain(absent);
      expect(t.fields('SUBJECT')).toEqual(['top']);
    });
  }

  test('broken MIME does not throw: missing boundary, no closing delimiter, deep nesting', () => {
    const broken = [
      bytes('Content-Type: multipart/mixed\r\n\r\nno boundary param\r\n'),
      bytes('Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\r\nunterminated text'),
      bytes('Content-Type: text/plain; charset=nonsense-cs\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!'),
      bytes('Content-Type: multipart/mixed; boundary=a\r\n\r\n' + '--a\r\nContent-Type: message/rfc822\r\n\r\n'.repeat(100) + 'deep'),
      new Uint8Array([0xff, 0xfe, 0x00, 0x0a, 0x0a, 0x80]),
      new Uint8Array(0),
    ];
    for (const m of broken) {
      const t = new MessageText(m, null);
      expect(typeof t.body()).toBe('string');
      expect(typeof t.text()).toBe('string');
    }
    expect(new MessageText(broken[1], null).body()).toContain('unterminated text');
  });

  test('a base64 message/rfc822 is not searched; an unreadable Content-Type is text', () => {
    const m = bytes(['Content-Type: multipart/mixed; boundary=q', '', '--q', 'Content-Type: message/rfc822', 'Content-Transfer-Encoding: base64', '',
      Buffer.from('Subject: hidden\r\n\r\nhidden body\r\n').toString('base64'), '--q', 'Content-Type: /', '', 'odd type text', '--q--', ''].join('\r\n'));
    const t = new MessageText(m, null);
    expect(t.text()).not.toContain('hidden');
    expect(t.body()).toContain('odd type text');
  });
});

describe('RecordedFields', () => {
  test('the fields recorded at APPEND, decoded and case-folded', () => {
    const f = new RecordedFields('FROM:Alice <a@example.org>\nTO:b@example.org, c@example.org\nSUBJECT:=?utf-8?q?caf=C3=A9?=\nDATE:Mon, 1 Jan 2024 10:00:00 +0000\n', new FoldMemo());
    expect(f.fields('FROM')).toEqual(['alice <a@example.org>']);
    expect(f.fields('SUBJECT')).toEqual(['café']);
    expect(f.fields('CC')).toEqual([]);
    expect(f.sentDate()).toEqual({ year: 2024, month: 1, day: 1 });
  });

  test('values keep colons; a field may repeat; a name must match whole', () => {
    const f = new RecordedFields('SUBJECT:Re: a:b\nCC:x\nCC:y\nTO:\n', new FoldMemo());
    expect(f.fields('SUBJECT')).toEqual(['re: a:b']);
    expect(f.fields('CC')).toEqual(['x', 'y']);
    expect(f.fields('TO')).toEqual(['']);
    expect(f.fields('T')).toEqual([]);
    expect(f.sentDate()).toBeNull();
  });
});
