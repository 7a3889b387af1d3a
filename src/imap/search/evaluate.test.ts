// The evaluator over synthetic rows and header/body sources: every key, nesting, the
// three-valued passes, dates, sizes, strings and their UTF-8 rule.

import { describe, expect, test } from 'bun:test';
import type { SearchKey, SequenceSet } from '../parser-types.ts';
import {
  MAYBE, NO, YES, candidateUids, compileSearch, compressSet, evaluate, foldCase, metaEvaluator, parseSentDate, SearchSyntaxError,
  COST_BODY, COST_HEADER, COST_META, type BodySource, type HeaderSource, type SearchEnv, type SearchRow,
} from './evaluate.ts';

const enc = new TextEncoder();
const b = (s: string) => enc.encode(s);
const DAY = 86_400_000;
const NOW = Date.UTC(2024, 5, 15, 12, 0, 0);

const env: SearchEnv = { count: 5, lastUid: 50, savedUids: [20, 40], now: NOW };

function row(over: Partial<SearchRow> = {}): SearchRow {
  return { seq: 1, uid: 10, flags: 0, keywords: [], size: 1000, internalDate: Date.UTC(2022, 2, 1, 10), modseq: 5n, ...over };
}

/** A message: metadata plus raw header fields and body text (folded here, as content.ts does). */
interface Msg {
  row: SearchRow;
  headers: Record<string, string[]>;
  date: { year: number; month: number; day: number } | null;
  body: string;
}

function sources(m: Msg): { h: HeaderSource; bd: BodySource } {
  const h: HeaderSource = {
    fields: (name) => (m.headers[name] ?? []).map(foldCase),
    sentDate: () => m.date,
  };
  const text = Object.entries(m.headers).map(([k, vs]) => vs.map((v) => `${k}: ${v}`).join('\n')).join('\n') + '\n' + m.body;
  const bd: BodySource = { body: () => foldCase(m.body), text: () => foldCase(text) };
  return { h, bd };
}

/** Fully evaluate: all sources given. */
function match(key: SearchKey, m: Msg, e: SearchEnv = env): boolean {
  const q = compileSearch(key, e);
  const { h, bd } = sources(m);
  const r = evaluate(q.root, m.row, h, bd);
  expect(r).not.toBe(MAYBE);
  return r === YES;
}

const msg = (over: Partial<Msg> = {}): Msg => ({
  row: row(),
  headers: {
    FROM: ['Alice Example <alice@example.org>'],
    TO: ['bob@example.net'],
    CC: ['Carol <carol@example.com>'],
    SUBJECT: ['Grüße aus Köln'],
    'X-FOO': ['bar'],
  },
  date: { year: 2022, month: 3, day: 1 },
  body: 'Schöne Grüße, kiwi inside',
  ...over,
});

const set = (...ranges: Array<[number | '*', number | '*']>): SequenceSet => ({ saved: false, ranges });

describe('flag keys', () => {
  const cases: Array<[SearchKey['op'], number, boolean]> = [
    ['SEEN', 1, true], ['UNSEEN', 1, false], ['ANSWERED', 2, true], ['UNANSWERED', 2, false],
    ['FLAGGED', 4, true], ['UNFLAGGED', 4, false], ['DELETED', 8, true], ['UNDELETED', 8, false],
    ['DRAFT', 16, true], ['UNDRAFT', 16, false],
  ];
  for (const [op, bit, set] of cases) {
    test(op, () => {
      const k = { op } as SearchKey;
      expect(match(k, msg({ row: row({ flags: bit }) }))).toBe(set);
      expect(match(k, msg({ row: row({ flags: 31 & ~bit }) }))).toBe(!set);
    });
  }

  test('ALL and OLD match everything; NEW and RECENT nothing (no \\Recent here)', () => {
    for (const flags of [0, 1, 31]) {
      const m = msg({ row: row({ flags }) });
      expect(match({ op: 'ALL' }, m)).toBe(true);
      expect(match({ op: 'OLD' }, m)).toBe(true);
      expect(match({ op: 'NEW' }, m)).toBe(false);
      expect(match({ op: 'RECENT' }, m)).toBe(false);
    }
  });

  test('KEYWORD and UNKEYWORD compare case-insensitively', () => {
    const m = msg({ row: row({ keywords: ['$Label1', 'Work'] }) });
    expect(match({ op: 'KEYWORD', flag: '$label1' }, m)).toBe(true);
    expect(match({ op: 'KEYWORD', flag: 'WORK' }, m)).toBe(true);
    expect(match({ op: 'KEYWORD', flag: 'home' }, m)).toBe(false);
    expect(match({ op: 'UNKEYWORD', flag: 'work' }, m)).toBe(false);
    expect(match({ op: 'UNKEYWORD', flag: 'home' }, m)).toBe(true);
  });
});

describe('sets', () => {
  test('sequence numbers, `*` = the last message, past the end matches nothing', () => {
    expect(match({ op: 'SEQ', set: set([2, 4]) }, msg({ row: row({ seq: 3 }) }))).toBe(true);
    expect(match({ op: 'SEQ', set: set([2, 4]) }, msg({ row: row({ seq: 5 }) }))).toBe(false);
    expect(match({ op: 'SEQ', set: set(['*', '*']) }, msg({ row: row({ seq: 5 }) }))).toBe(true);
    expect(match({ op: 'SEQ', set: set([4, '*']) }, msg({ row: row({ seq: 5 }) }))).toBe(true);
    expect(match({ op: 'SEQ', set: set([100, 100]) }, msg({ row: row({ seq: 5 }) }))).toBe(false);
    expect(match({ op: 'SEQ', set: set([1, 100]) }, msg({ row: row({ seq: 5 }) }))).toBe(true);
  });

  test('UIDs, `*` = the highest UID, reversed ranges', () => {
    expect(match({ op: 'UID', set: set([10, 10]) }, msg())).toBe(true);
    expect(match({ op: 'UID', set: set([11, 20]) }, msg())).toBe(false);
    expect(match({ op: 'UID', set: set(['*', '*']) }, msg({ row: row({ uid: 50 }) }))).toBe(true);
    expect(match({ op: 'UID', set: set([1000, '*']) }, msg({ row: row({ uid: 50 }) }))).toBe(true);
    expect(match({ op: 'UID', set: set([20, 5]) }, msg())).toBe(true);
  });

  test('$ is the saved result, as UIDs, both as a sequence set and after UID', () => {
    for (const op of ['SEQ', 'UID'] as const) {
      expect(match({ op, set: { saved: true } }, msg({ row: row({ uid: 20, seq: 1 }) }))).toBe(true);
      expect(match({ op, set: { saved: true } }, msg({ row: row({ uid: 21, seq: 20 }) }))).toBe(false);
    }
  });
});

describe('sizes and dates', () => {
  test('LARGER and SMALLER are strict', () => {
    const m = msg({ row: row({ size: 1000 }) });
    expect(match({ op: 'LARGER', size: 999 }, m)).toBe(true);
    expect(match({ op: 'LARGER', size: 1000 }, m)).toBe(false);
    expect(match({ op: 'SMALLER', size: 1001 }, m)).toBe(true);
    expect(match({ op: 'SMALLER', size: 1000 }, m)).toBe(false);
  });

  test('BEFORE/ON/SINCE on the INTERNALDATE day in UTC', () => {
    // 28-Feb-2022 22:30 UTC (that is 01-Mar-2022 00:30 +0200).
    const m = msg({ row: row({ internalDate: Date.UTC(2022, 1, 28, 22, 30) }) });
    const d = (day: number, month: number) => ({ year: 2022, month, day });
    expect(match({ op: 'ON', date: d(28, 2) }, m)).toBe(true);
    expect(match({ op: 'ON', date: d(1, 3) }, m)).toBe(false);
    expect(match({ op: 'BEFORE', date: d(28, 2) }, m)).toBe(false);
    expect(match({ op: 'BEFORE', date: d(1, 3) }, m)).toBe(true);
    expect(match({ op: 'SINCE', date: d(28, 2) }, m)).toBe(true);
    expect(match({ op: 'SINCE', date: d(1, 3) }, m)).toBe(false);
    // The first and last millisecond of a day are that day.
    expect(match({ op: 'ON', date: d(1, 3) }, msg({ row: row({ internalDate: Date.UTC(2022, 2, 1) }) }))).toBe(true);
    expect(match({ op: 'ON', date: d(1, 3) }, msg({ row: row({ internalDate: Date.UTC(2022, 2, 2) - 1 }) }))).toBe(true);
    // Before the epoch.
    expect(match({ op: 'ON', date: { year: 1969, month: 12, day: 31 } }, msg({ row: row({ internalDate: -1 }) }))).toBe(true);
  });

  test('SENTBEFORE/SENTON/SENTSINCE on the Date: header day; none of them without a readable date', () => {
    const m = msg({ date: { year: 2022, month: 3, day: 1 } });
    expect(match({ op: 'SENTON', date: { year: 2022, month: 3, day: 1 } }, m)).toBe(true);
    expect(match({ op: 'SENTBEFORE', date: { year: 2022, month: 3, day: 1 } }, m)).toBe(false);
    expect(match({ op: 'SENTBEFORE', date: { year: 2022, month: 3, day: 2 } }, m)).toBe(true);
    expect(match({ op: 'SENTSINCE', date: { year: 2022, month: 3, day: 1 } }, m)).toBe(true);
    const none = msg({ date: null });
    for (const op of ['SENTON', 'SENTBEFORE', 'SENTSINCE'] as const) expect(match({ op, date: { year: 2022, month: 3, day: 1 } }, none)).toBe(false);
    expect(match({ op: 'NOT', key: { op: 'SENTSINCE', date: { year: 2000, month: 1, day: 1 } } }, none)).toBe(true);
  });

  test('OLDER and YOUNGER (WITHIN) split at now - n seconds', () => {
    const young = msg({ row: row({ internalDate: NOW - 100 * 1000 }) });
    const old = msg({ row: row({ internalDate: NOW - 101 * 1000 }) });
    expect(match({ op: 'YOUNGER', seconds: 100 }, young)).toBe(true);
    expect(match({ op: 'OLDER', seconds: 100 }, young)).toBe(false);
    expect(match({ op: 'YOUNGER', seconds: 100 }, old)).toBe(false);
    expect(match({ op: 'OLDER', seconds: 100 }, old)).toBe(true);
    expect(match({ op: 'YOUNGER', seconds: 86400 }, msg({ row: row({ internalDate: NOW - DAY + 1 }) }))).toBe(true);
  });

  test('MODSEQ is "at least"', () => {
    const m = msg({ row: row({ modseq: 7n }) });
    expect(match({ op: 'MODSEQ', modseq: 7n }, m)).toBe(true);
    expect(match({ op: 'MODSEQ', modseq: 8n }, m)).toBe(false);
    expect(compileSearch({ op: 'MODSEQ', modseq: 1n }, env).modseq).toBe(true);
    expect(compileSearch({ op: 'ALL' }, env).modseq).toBe(false);
  });
});

describe('strings', () => {
  test('address keys and SUBJECT: case-insensitive substring of the decoded value', () => {
    const m = msg();
    expect(match({ op: 'FROM', value: b('ALICE example') }, m)).toBe(true);
    expect(match({ op: 'FROM', value: b('Alice Example <alice') }, m)).toBe(true);
    expect(match({ op: 'FROM', value: b('bob') }, m)).toBe(false);
    expect(match({ op: 'TO', value: b('BOB@') }, m)).toBe(true);
    expect(match({ op: 'CC', value: b('carol') }, m)).toBe(true);
    expect(match({ op: 'BCC', value: b('carol') }, m)).toBe(false);
    expect(match({ op: 'SUBJECT', value: b('GRÜSSE') }, m)).toBe(false); // ß is not SS
    expect(match({ op: 'SUBJECT', value: b('grüße AUS köln') }, m)).toBe(true);
    expect(match({ op: 'SUBJECT', value: b('KÖLN') }, m)).toBe(true);
  });

  test('an empty string matches messages that have the field', () => {
    const m = msg();
    expect(match({ op: 'HEADER', field: 'X-FOO', value: b('') }, m)).toBe(true);
    expect(match({ op: 'HEADER', field: 'X-NOPE', value: b('') }, m)).toBe(false);
    expect(match({ op: 'BCC', value: b('') }, m)).toBe(false);
    expect(match({ op: 'CC', value: b('') }, m)).toBe(true);
    expect(match({ op: 'BODY', value: b('') }, m)).toBe(true);
    expect(match({ op: 'TEXT', value: b('') }, m)).toBe(true);
  });

  test('HEADER names any field, several fields of one name, field name case-insensitive', () => {
    const m = msg({ headers: { RECEIVED: ['from a by b', 'from c by d'] } });
    expect(match({ op: 'HEADER', field: 'received', value: b('FROM C') }, m)).toBe(true);
    expect(match({ op: 'HEADER', field: 'RECEIVED', value: b('from e') }, m)).toBe(false);
  });

  test('BODY is the body only; TEXT is headers and body', () => {
    const m = msg();
    expect(match({ op: 'BODY', value: b('KIWI') }, m)).toBe(true);
    expect(match({ op: 'BODY', value: b('alice') }, m)).toBe(false);
    expect(match({ op: 'TEXT', value: b('alice') }, m)).toBe(true);
    expect(match({ op: 'TEXT', value: b('kiwi') }, m)).toBe(true);
    expect(match({ op: 'BODY', value: b('schöne grüße') }, m)).toBe(true);
  });

  test('Unicode folding: NFC on both sides', () => {
    const m = msg({ body: 'Cafe\u0301 au lait' }); // decomposed é
    expect(match({ op: 'BODY', value: b('CAFÉ') }, m)).toBe(true);
  });

  test('invalid UTF-8 in a search string is a syntax error', () => {
    for (const key of [
      { op: 'BODY', value: Uint8Array.of(0xff, 0xfe) },
      { op: 'SUBJECT', value: Uint8Array.of(0x61, 0xc3) },
      { op: 'HEADER', field: 'X', value: Uint8Array.of(0xc3, 0x28) },
    ] as SearchKey[]) {
      expect(() => compileSearch({ op: 'NOT', key }, env)).toThrow(SearchSyntaxError);
    }
  });
});

describe('nesting and the three-valued passes', () => {
  test('OR, NOT, AND and deep nesting', () => {
    const m = msg({ row: row({ flags: 1, size: 500 }) });
    expect(match({ op: 'OR', a: { op: 'FLAGGED' }, b: { op: 'SEEN' } }, m)).toBe(true);
    expect(match({ op: 'OR', a: { op: 'FLAGGED' }, b: { op: 'DRAFT' } }, m)).toBe(false);
    expect(match({ op: 'NOT', key: { op: 'AND', keys: [{ op: 'SEEN' }, { op: 'FLAGGED' }] } }, m)).toBe(true);
    expect(match({ op: 'AND', keys: [{ op: 'SEEN' }, { op: 'SMALLER', size: 600 }, { op: 'BODY', value: b('kiwi') }] }, m)).toBe(true);
    expect(match({ op: 'NOT', key: { op: 'NOT', key: { op: 'SEEN' } } }, m)).toBe(true);
    expect(match({
      op: 'OR',
      a: { op: 'AND', keys: [{ op: 'FLAGGED' }, { op: 'SUBJECT', value: b('köln') }] },
      b: { op: 'NOT', key: { op: 'OR', a: { op: 'UNSEEN' }, b: { op: 'TEXT', value: b('nowhere') } } },
    }, m)).toBe(true);
  });

  test('costs: metadata keys decide without sources; header and body keys are MAYBE until given', () => {
    const m = msg({ row: row({ flags: 1 }) });
    const { h, bd } = sources(m);
    const flagOnly = compileSearch({ op: 'AND', keys: [{ op: 'SEEN' }, { op: 'SMALLER', size: 5000 }] }, env);
    expect(flagOnly.cost).toBe(COST_META);
    expect(evaluate(flagOnly.root, m.row, null, null)).toBe(YES);

    const q = compileSearch({ op: 'AND', keys: [{ op: 'BODY', value: b('kiwi') }, { op: 'FROM', value: b('alice') }, { op: 'SEEN' }] }, env);
    expect(q.cost).toBe(COST_BODY);
    expect([...q.headers]).toEqual(['FROM']);
    expect(evaluate(q.root, m.row, null, null)).toBe(MAYBE);
    expect(evaluate(q.root, m.row, h, null)).toBe(MAYBE);
    expect(evaluate(q.root, m.row, h, bd)).toBe(YES);
    // A failing cheap key decides at once, whatever comes later in the command.
    expect(evaluate(q.root, { ...m.row, flags: 0 }, null, null)).toBe(NO);
    // OR: a YES on the cheap side decides; NOT keeps MAYBE.
    const or = compileSearch({ op: 'OR', a: { op: 'BODY', value: b('x') }, b: { op: 'SEEN' } }, env);
    expect(evaluate(or.root, m.row, null, null)).toBe(YES);
    const not = compileSearch({ op: 'NOT', key: { op: 'SUBJECT', value: b('x') } }, env);
    expect(not.cost).toBe(COST_HEADER);
    expect(evaluate(not.root, m.row, null, null)).toBe(MAYBE);
    expect(evaluate(not.root, m.row, h, null)).toBe(YES);
    const sent = compileSearch({ op: 'SENTON', date: { year: 2022, month: 3, day: 1 } }, env);
    expect(sent.sentDate).toBe(true);
    expect(evaluate(sent.root, m.row, null, null)).toBe(MAYBE);
  });

  test('the body source is not asked for when the header pass decides', () => {
    const m = msg();
    const { h } = sources(m);
    let asked = 0;
    const bd: BodySource = { body: () => (asked++, ''), text: () => (asked++, '') };
    const q = compileSearch({ op: 'AND', keys: [{ op: 'TEXT', value: b('x') }, { op: 'SUBJECT', value: b('nothing') }] }, env);
    expect(evaluate(q.root, m.row, h, bd)).toBe(NO);
    expect(asked).toBe(0);
  });
});

describe('candidate UIDs', () => {
  const uidAt = (seq: number) => seq * 10;
  const e: SearchEnv = { count: 5, lastUid: 50, savedUids: [30, 10], now: NOW };
  const cand = (key: SearchKey) => candidateUids(compileSearch(key, e).root, e, uidAt);

  test('sets narrow the rows to read; anything else reads all', () => {
    expect(cand({ op: 'SEQ', set: set([2, 3], [9, 10]) })).toEqual([20, 30]);
    expect(cand({ op: 'UID', set: set([45, '*']) })).toEqual([50]);
    expect(cand({ op: 'UID', set: set([11, 29]) })).toEqual([20]);
    expect(cand({ op: 'UID', set: set([51, 1000]) })).toEqual([]);
    expect(cand({ op: 'UID', set: set([1, '*']) })).toBeNull(); // most of the mailbox: read all
    expect(cand({ op: 'SEQ', set: set([1, 4]) })).toBeNull();
    expect(cand({ op: 'SEQ', set: { saved: true } })).toEqual([10, 30]);
    expect(cand({ op: 'AND', keys: [{ op: 'SEEN' }, { op: 'SEQ', set: set([5, 5]) }] })).toEqual([50]);
    expect(cand({ op: 'SEEN' })).toBeNull();
    expect(cand({ op: 'OR', a: { op: 'SEQ', set: set([1, 1]) }, b: { op: 'SEEN' } })).toBeNull();
  });
});

describe('helpers', () => {
  test('compressSet', () => {
    expect(compressSet([])).toBe('');
    expect(compressSet([1])).toBe('1');
    expect(compressSet([1, 2, 3, 5])).toBe('1:3,5');
    expect(compressSet([2, 4, 5, 6, 9, 10])).toBe('2,4:6,9:10');
  });

  test('parseSentDate: RFC 5322 forms, the date in its own zone', () => {
    expect(parseSentDate('Tue, 1 Mar 2022 00:30:00 +0200')).toEqual({ year: 2022, month: 3, day: 1 });
    expect(parseSentDate('Mon, 7 Feb 1994 21:52:25 -0800')).toEqual({ year: 1994, month: 2, day: 7 });
    expect(parseSentDate('15 Jun 2020 12:00:00 GMT')).toEqual({ year: 2020, month: 6, day: 15 });
    expect(parseSentDate('Wed, 02 Nov 05 23:59 -1100 (comment)')).toEqual({ year: 2005, month: 11, day: 2 });
    expect(parseSentDate('Fri, 13 jan 99 10:00:00 +0000')).toEqual({ year: 1999, month: 1, day: 13 });
    expect(parseSentDate('garbage date')).toBeNull();
    expect(parseSentDate('Mon, 31 Feb 2022 10:00:00 +0000')).toBeNull();
    expect(parseSentDate('Mon, 1 Foo 2022 10:00:00 +0000')).toBeNull();
    expect(parseSentDate('')).toBeNull();
  });
});

describe('metaEvaluator', () => {
  test('answers as evaluate() without sources, for every metadata key, header keys and their combinations', () => {
    // Rows that differ in every column a metadata key reads.
    const rows: SearchRow[] = [];
    for (let i = 0; i < 40; i++) {
      rows.push(row({
        seq: i + 1, uid: 10 + i * 3, flags: (i * 7) % 32, keywords: i % 3 === 0 ? [] : i % 3 === 1 ? ['$Junk'] : ['foo', '$Forwarded'],
        size: 500 + i * 97, internalDate: NOW - (i - 20) * DAY * 3 + i * 1000, modseq: BigInt(1 + i * 2),
      }));
    }
    const cols = {
      uid: rows.map((r) => r.uid), flags: rows.map((r) => r.flags), keywords: rows.map((r) => r.keywords.join(' ')),
      size: rows.map((r) => r.size), internalDate: rows.map((r) => r.internalDate), modseq: rows.map((r) => Number(r.modseq)),
    };
    const set = (ranges: Array<[number, number | '*']>): SequenceSet => ({ saved: false, ranges });
    const keys: SearchKey[] = [
      { op: 'ALL' }, { op: 'NEW' }, { op: 'SEEN' }, { op: 'UNFLAGGED' }, { op: 'DRAFT' },
      { op: 'KEYWORD', flag: '$junk' }, { op: 'UNKEYWORD', flag: 'FOO' }, { op: 'KEYWORD', flag: '\\Answered' },
      { op: 'SEQ', set: set([[3, 9], [30, '*']]) }, { op: 'UID', set: set([[40, 70]]) }, { op: 'UID', set: { saved: true } },
      { op: 'LARGER', size: 2000 }, { op: 'SMALLER', size: 1500 },
      { op: 'BEFORE', date: { year: 2024, month: 6, day: 1 } }, { op: 'ON', date: { year: 2024, month: 6, day: 15 } }, { op: 'SINCE', date: { year: 2024, month: 7, day: 1 } },
      { op: 'OLDER', seconds: 86_400 * 10 }, { op: 'YOUNGER', seconds: 86_400 * 30 }, { op: 'MODSEQ', modseq: 40n },
      { op: 'NOT', key: { op: 'SEEN' } },
      { op: 'OR', a: { op: 'FLAGGED' }, b: { op: 'LARGER', size: 3000 } },
      { op: 'AND', keys: [{ op: 'UNSEEN' }, { op: 'NOT', key: { op: 'KEYWORD', flag: '$Junk' } }, { op: 'SINCE', date: { year: 2024, month: 1, day: 1 } }] },
    ];
    keys.push(
      { op: 'AND', keys: [{ op: 'SEEN' }, { op: 'FROM', value: b('x') }] },
      { op: 'OR', a: { op: 'FLAGGED' }, b: { op: 'BODY', value: b('x') } },
      { op: 'NOT', key: { op: 'SENTON', date: { year: 2024, month: 6, day: 1 } } },
    );
    for (const key of keys) {
      const q = compileSearch(key, env);
      const f = metaEvaluator(q.root, cols);
      const got = rows.map((r, i) => f(i, r.seq));
      const want = rows.map((r) => evaluate(q.root, r, null, null));
      expect({ key: key.op, got }).toEqual({ key: key.op, got: want });
    }
  });
});
