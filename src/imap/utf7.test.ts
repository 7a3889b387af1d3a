import { describe, expect, test } from 'bun:test';
import { decodeUtf7, encodeUtf7 } from './utf7.ts';

describe('modified UTF-7', () => {
  const pairs: Array<[string, string]> = [
    ['INBOX', 'INBOX'],
    ['a&b', 'a&-b'],
    ['~peter/mail/台北/日本語', '~peter/mail/&U,BTFw-/&ZeVnLIqe-'],
    ['Entwürfe', 'Entw&APw-rfe'],
    ['Gesendete Elemente', 'Gesendete Elemente'],
    ['😀', '&2D3eAA-'],
  ];
  for (const [utf8, utf7] of pairs) {
    test(`${utf8} <-> ${utf7}`, () => {
      expect(encodeUtf7(utf8)).toBe(utf7);
      expect(decodeUtf7(utf7)).toBe(utf8);
    });
  }
  for (const bad of ['&', '&Jjo', '&Jjo!-', 'Entw&APw-&AOQ-rfe', '&AGE-', 'a\u00e9', '&2D0-', '&AP-']) {
    test(`rejects ${JSON.stringify(bad)}`, () => {
      expect(decodeUtf7(bad)).toBeNull();
    });
  }
});
