import { describe, expect, test } from 'bun:test';
import { MessageParser, parseMessage } from './parse.ts';
import { msg } from './testutil.ts';

const slice = (data: Uint8Array, a: number, b: number) => Buffer.from(data.subarray(a, b)).toString('latin1');

describe('parseMessage', () => {
  test('single part: header, body, lines, envelope', () => {
    const data = msg('From: A <a@x>\nSubject: hi\n\none\ntwo');
    const info = parseMessage(data);
    expect(info.size).toBe(data.length);
    expect(slice(data, 0, info.root.bodyStart)).toBe('From: A <a@x>\r\nSubject: hi\r\n\r\n');
    expect(slice(data, info.root.bodyStart, info.root.bodyEnd)).toBe('one\r\ntwo');
    expect(info.root.bodyLines).toBe(1);
    expect(info.root.type + '/' + info.root.subtype).toBe('text/plain');
    expect(info.envelope.subject).toBe('hi');
    expect(info.envelope.from).toEqual([{ name: 'A', adl: null, mailbox: 'a', host: 'x' }]);
  });

  test('multipart: the line ending before a boundary belongs to the boundary', () => {
    const data = msg('Content-Type: multipart/mixed; boundary=b\n\npre\n--b\nContent-Type: text/html\n\n<p>x</p>\n\n--b  \n\ntwo\n--b--\nepilogue\n');
    const { root } = parseMessage(data);
    expect(root.parts.length).toBe(2);
    const [a, b] = root.parts;
    expect(slice(data, a.headerStart, a.bodyStart)).toBe('Content-Type: text/html\r\n\r\n');
    expect(slice(data, a.bodyStart, a.bodyEnd)).toBe('<p>x</p>\r\n');
    expect(a.bodyLines).toBe(1);
    expect(slice(data, b.headerStart, b.bodyStart)).toBe('\r\n');
    expect(slice(data, b.bodyStart, b.bodyEnd)).toBe('two');
    expect(root.bodyEnd).toBe(data.length);
  });

  test('a boundary ends a header without an empty line, and nested parts end together', () => {
    const data = msg('Content-Type: multipart/mixed; boundary=b\n\n--b\nx: y\n--b\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\ninner\n--b--\n');
    const { root } = parseMessage(data);
    const [a, b] = root.parts;
    expect(slice(data, a.headerStart, a.bodyStart)).toBe('x: y');
    expect(a.bodyEnd).toBe(a.bodyStart);
    expect(b.parts.length).toBe(1);
    expect(slice(data, b.parts[0].bodyStart, b.parts[0].bodyEnd)).toBe('inner');
    expect(b.bodyEnd).toBe(b.parts[0].bodyEnd);
  });

  test('longest matching boundary wins; end boundary stops recognising the boundary', () => {
    const data = msg('Content-Type: multipart/mixed; boundary=bb\n\n--bb\nContent-Type: multipart/alternative; boundary=b\n\n--b\n\nx\n--bb\n\ny\n--bb--\n--bb\n\nz\n');
    const { root } = parseMessage(data);
    expect(root.parts.length).toBe(2);
    expect(root.parts[0].parts.length).toBe(1);
  });

  test('message/rfc822 and digest defaults', () => {
    const data = msg('Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: inner\n\nbody\n--d--\n');
    const { root } = parseMessage(data);
    const part = root.parts[0];
    expect(part.type + '/' + part.subtype).toBe('message/rfc822');
    expect(part.message?.envelope.subject).toBe('inner');
    expect(slice(data, part.message!.root.bodyStart, part.message!.root.bodyEnd)).toBe('body');
  });

  test('Content-* fields need MIME-Version or Content-Type at the top', () => {
    expect(parseMessage(msg('Content-Disposition: inline\n\nx')).root.disposition).toBeNull();
    expect(parseMessage(msg('MIME-Version: 1.0\nContent-Disposition: inline\n\nx')).root.disposition).toEqual({ type: 'inline', params: [] });
  });

  test('raw spellings are kept for BODYSTRUCTURE', () => {
    const { root } = parseMessage(msg('Content-Type: TEXT/Plain; CharSet=UTF-8\n\nx'));
    expect([root.type, root.subtype, root.rawType, root.rawSubtype]).toEqual(['text', 'plain', 'TEXT', 'Plain']);
    expect(root.params).toEqual([['charset', 'UTF-8']]);
    expect(root.rawParamNames).toEqual(['CharSet']);
  });

  test('bare LF, no header, no body, empty input', () => {
    expect(parseMessage(msg('Subject: x\n\nbody\n', false)).root.bodyStart).toBe(12);
    const noHeader = parseMessage(msg('\nbody'));
    expect([noHeader.root.bodyStart, noHeader.root.bodyEnd]).toEqual([2, 6]);
    const noBody = parseMessage(msg('Subject: x', false));
    expect([noBody.root.bodyStart, noBody.root.bodyEnd]).toEqual([10, 10]);
    const empty = parseMessage(new Uint8Array(0));
    expect(empty.size).toBe(0);
  });

  test('header block cap: offsets stay exact, later fields are ignored', () => {
    const big = 'X-Big: ' + 'a'.repeat(300 * 1024) + '\n';
    const data = msg('Subject: kept\n' + big + 'From: late@x\n\nbody');
    const info = parseMessage(data);
    expect(info.envelope.subject).toBe('kept');
    expect(info.envelope.from).toBeNull();
    expect(slice(data, info.root.bodyStart, info.root.bodyEnd)).toBe('body');
  });

  test('streaming gives the same result for every split point', () => {
    const data = msg('Content-Type: multipart/mixed; boundary=b\n\n--b\r\nContent-Type: message/rfc822\n\nSubject: s\n\nx\n--b--\n');
    const whole = parseMessage(data);
    for (let i = 0; i <= data.length; i++) {
      const p = new MessageParser();
      p.feed(data.subarray(0, i));
      p.feed(data.subarray(i));
      expect(p.end()).toEqual(whole);
    }
  });

  test('a large message parses quickly', () => {
    const line = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n';
    const body = line.repeat(Math.ceil((8 * 1024 * 1024) / line.length));
    const data = msg(`Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n${body}--b--\n`, false);
    const t = performance.now();
    const info = parseMessage(data);
    expect(performance.now() - t).toBeLessThan(2000);
    expect(info.root.parts[0].bodyLines).toBeGreaterThan(100000);
  });
});
