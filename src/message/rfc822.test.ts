// Tables checked against Dovecot 2.3.19's answers for the same header values.
import { expect, test } from 'bun:test';
import { parseAddresses, parseContentType, parseDisposition, parseEncoding, parseLanguage, parseParams, Lexer } from './rfc822.ts';

const A = (name: string | null, adl: string | null, mailbox: string | null, host: string | null) => ({ name, adl, mailbox, host });

test('addresses', () => {
  const cases: Array<[string, ReturnType<typeof parseAddresses>]> = [
    ['"Doe, John" <j@x.org>', [A('Doe, John', null, 'j', 'x.org')]],
    ['John  Doe <j@x.org>', [A('John Doe', null, 'j', 'x.org')]],
    ['j@x.org (John Doe)', [A('John Doe', null, 'j', 'x.org')]],
    ['"john doe"@x.org', [A(null, null, 'john doe', 'x.org')]],
    ['foo', [A(null, null, 'foo', 'MISSING_DOMAIN')]],
    ['<>', [A(null, null, 'MISSING_MAILBOX', 'MISSING_DOMAIN')]],
    ['undisclosed-recipients:;', [A(null, null, 'undisclosed-recipients', null), A(null, null, null, null)]],
    ['grp: a@x, B <b@y>;, c@z', [A(null, null, 'grp', null), A(null, null, 'a', 'x'), A('B', null, 'b', 'y'), A(null, null, null, null), A(null, null, 'c', 'z')]],
    ['<@route:j@x.org>', [A(null, '@route', 'j', 'x.org')]],
    ['@route,@r2:j@x.org', [A(null, null, 'MISSING_MAILBOX', 'route'), A(null, null, 'MISSING_MAILBOX', 'r2')]],
    ['a@x,,b@y', [A(null, null, 'a', 'x'), A(null, null, 'MISSING_MAILBOX', 'MISSING_DOMAIN'), A(null, null, 'b', 'y')]],
    ['j@x.org, garbage <<>, k@y', [A(null, null, 'j', 'x.org'), A('garbage', null, 'MISSING_MAILBOX', 'SYNTAX_ERROR')]],
    ['j@x (c1) (c2)', [A('c2', null, 'j', 'x')]],
    ['a.b@c.d.e (Comment (nested))', [A('Comment (nested)', null, 'a.b', 'c.d.e')]],
    ['"" <j@x>', [A(null, null, 'j', 'x')]],
    ['a@[1.2.3.4]', [A(null, null, 'a', '[1.2.3.4]')]],
    ['.dot <a@b>', [A(null, null, '.dot', 'MISSING_DOMAIN')]],
    ['a@b.', [A(null, null, 'a', 'MISSING_DOMAIN')]],
    ['', null],
    ['  ', null],
  ];
  for (const [input, want] of cases) expect([input, parseAddresses(input)]).toEqual([input, want]);
});

test('content types', () => {
  expect(parseContentType('TEXT/Plain; CharSet=UTF-8; Format=flowed')).toEqual({ type: 'TEXT', subtype: 'Plain', params: [['CharSet', 'UTF-8'], ['Format', 'flowed']] });
  expect(parseContentType('text')).toEqual({ type: 'text', subtype: '', params: [] });
  expect(parseContentType('foo (c)')).toEqual({ type: 'foo', subtype: '', params: [] });
  for (const broken of ['', 'text/', '/plain', 'foo/bar baz', 'foo/bar/baz', 'text ;', '"text/plain"', 'te(c)xt/plain', 'text/plain garbage; charset=x']) {
    expect([broken, parseContentType(broken)]).toEqual([broken, { type: '', subtype: '', params: [] }]);
  }
  expect(parseContentType('text/plain; charset="utf-8" (comment); x=; y; =z; a="q\\"uote"').params).toEqual([['charset', 'utf-8'], ['x', ''], ['a', 'q"uote']]);
  expect(parseContentType('multipart/mixed; boundary=b garbage; x=y').params).toEqual([['boundary', 'b'], ['x', 'y']]);
});

test('RFC 2231 parameters merge as Dovecot merges them', () => {
  const p = (s: string) => parseParams(new Lexer(s));
  expect(p("; name*=utf-8''%C3%A9t%C3%A9.txt; title*0=\"a\"; title*1=\"b\"; t*0*=us-ascii''x%20y; t*1*=%21; t*2=z")).toEqual([
    ['name*', "utf-8''%C3%A9t%C3%A9.txt"],
    ['t*', "us-ascii''x%20y%21z"],
    ['title', 'ab'],
  ]);
  expect(p('; a*1=second; a*0=first; b*0=only; c*1=nofirst')).toEqual([['a', 'firstsecond'], ['b', 'only'], ['c*1', 'nofirst']]);
  expect(p("; filename*=utf-8''a%20b; filename*0=\"x\"")).toEqual([['filename*0*', "utf-8''a%20b"], ['filename*0', 'x']]);
});

test('encoding, disposition, language', () => {
  expect(parseEncoding(' Quoted-Printable ')).toBe('Quoted-Printable');
  expect(parseEncoding('weird enc')).toBeNull();
  expect(parseDisposition('Attachment; Filename="a b.png"; size=3')).toEqual({ type: 'Attachment', params: [['Filename', 'a b.png'], ['size', '3']] });
  expect(parseDisposition('"quoted"')).toEqual({ type: '', params: [] });
  expect(parseLanguage('en (comment), "de" ,fr')).toEqual(['en']);
  expect(parseLanguage('en-GB,\r\n fr')).toEqual(['en-GB', 'fr']);
  expect(parseLanguage('')).toBeNull();
});
