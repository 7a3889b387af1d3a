import { describe, expect, test } from 'bun:test';
import { isInferior, mailboxNameProblem, normalizeMailboxName, normalizeSpecialUse, parentNames } from './mailboxname.ts';

describe('normalizeMailboxName', () => {
  test.each([
    ['INBOX', 'INBOX'],
    ['inbox', 'INBOX'],
    ['InBoX/Sub', 'INBOX/Sub'],
    ['inboxes', 'inboxes'],
    ['Archive/inbox', 'Archive/inbox'],
    ['Cafe\u0301', 'Caf\u00e9'],
  ])('%p -> %p', (input, want) => {
    expect(normalizeMailboxName(input)).toBe(want);
  });
});

describe('mailboxNameProblem', () => {
  test.each(['INBOX', 'a/b/c', 'a*b', '100%', 'a#b', 'Ünïcödé/日本', 'a&b', '.', 'a/../b'])('accepts %p', (name) => {
    expect(mailboxNameProblem(name)).toBeNull();
  });
  test.each(['', '/a', 'a/', 'a//b', '#news', 'a\x00b', 'a\tb', 'a\x7fb', 'a\x85b', 'a\ud800b'])('refuses %p', (name) => {
    expect(mailboxNameProblem(name)).toBeString();
  });
  test('length limit counts UTF-8 bytes', () => {
    expect(mailboxNameProblem('é'.repeat(512))).toBeNull();
    expect(mailboxNameProblem('é'.repeat(513))).toBeString();
  });
});

test('parentNames and isInferior', () => {
  expect(parentNames('a/b/c')).toEqual(['a', 'a/b']);
  expect(parentNames('a')).toEqual([]);
  expect(isInferior('a/b', 'a')).toBe(true);
  expect(isInferior('ab', 'a')).toBe(false);
  expect(isInferior('a', 'a')).toBe(false);
});

test('normalizeSpecialUse', () => {
  expect(normalizeSpecialUse(['\\sent', '\\SENT', '\\Trash'])).toEqual(['\\Sent', '\\Trash']);
  expect(normalizeSpecialUse([])).toEqual([]);
  expect(normalizeSpecialUse(['\\Important'])).toBeNull();
});
