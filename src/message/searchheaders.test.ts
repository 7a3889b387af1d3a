import { expect, test } from 'bun:test';
import { MessageParser } from './parse.ts';
import { searchHeadersSuffice } from './searchheaders.ts';

function recorded(message: string): string {
  const p = new MessageParser();
  p.feed(new TextEncoder().encode(message));
  p.end();
  return p.searchHeaders;
}

test('the parser records FROM, TO, CC, BCC, SUBJECT and DATE of the top header only, unfolded', () => {
  const s = recorded([
    'From: Alice <a@example.org>',
    'To: b@example.org,',
    ' c@example.org',
    'X-Other: no',
    'Subject: =?utf-8?q?caf=C3=A9?=',
    'Date: Mon, 1 Jan 2024 10:00:00 +0000',
    'Content-Type: message/rfc822',
    'No colon line',
    '',
    'From: inner@example.org',
    'Subject: inner',
    '',
    'body',
    '',
  ].join('\r\n'));
  expect(s).toBe('FROM:Alice <a@example.org>\nTO:b@example.org, c@example.org\nSUBJECT:=?utf-8?q?caf=C3=A9?=\nDATE:Mon, 1 Jan 2024 10:00:00 +0000\n');
});

test('the recorded fields suffice only for the names they hold', () => {
  expect(searchHeadersSuffice(new Set(['FROM', 'SUBJECT', 'DATE']))).toBe(true);
  expect(searchHeadersSuffice(new Set(['FROM', 'MESSAGE-ID']))).toBe(false);
});
