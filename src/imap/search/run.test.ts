// The three passes over real message files, with a store double that counts what is read:
// the Dovecot-checked query table (testdata.ts), with and without stored structures, and
// the promise that a metadata search never opens a file.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageInfo } from '../../message/types.ts';
import { CommandParser } from '../parser.ts';
import type { Command, SearchKey } from '../parser-types.ts';
import { MessageTable } from '../../store/table.ts';
import { MessageParser } from '../../message/parse.ts';
import { compileSearch, type SearchEnv } from './evaluate.ts';
import { parseMessage } from '../../message/parse.ts';
import { runSearch, runSearchSliced, type SearchStore, type SearchView } from './run.ts';
import { CORPUS, QUERIES } from './testdata.ts';

const FLAG_BITS: Record<string, number> = { '\\Seen': 1, '\\Answered': 2, '\\Flagged': 4, '\\Deleted': 8, '\\Draft': 16 };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'postern-search-'));
  CORPUS.forEach((m, i) => writeFileSync(join(dir, `${i + 1}`), m.bytes));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** UIDs are seq * stride: 1 for the Dovecot table (whose UIDs are 1..7), 3 elsewhere so
 * that sequence numbers and UIDs differ. */
let stride = 3;
const uidOf = (seq: number) => seq * stride;
const seqOf = (uid: number) => (uid % stride === 0 && uid / stride >= 1 && uid / stride <= CORPUS.length ? uid / stride : 0);

/** A store double: `withStructures` stands for rows stored with their structure and
 * recorded search headers; without, for rows from before either was stored. */
class FakeStore implements SearchStore {
  tableLoads = 0;
  structureCalls = 0;
  headerCalls = 0;
  paths: number[] = [];
  constructor(private readonly withStructures: boolean, private readonly expungedUids: Set<number> = new Set()) {}

  messageTable(): MessageTable {
    this.tableLoads++;
    const t = new MessageTable(CORPUS.length);
    CORPUS.forEach((m, i) => {
      const uid = uidOf(i + 1);
      if (this.expungedUids.has(uid)) return;
      const flags = m.flags.reduce((f, x) => f | (FLAG_BITS[x] ?? 0), 0);
      t.push(uid, flags, m.flags.filter((x) => !x.startsWith('\\')).join(' '), m.bytes.length, m.internalDate, m.internalDate, 10 + i);
    });
    return t;
  }

  searchHeaders(_mb: number, uids: ArrayLike<number>): Map<number, string | null> {
    this.headerCalls++;
    const out = new Map<number, string | null>();
    for (const u of Array.from(uids)) {
      if (!this.withStructures) {
        out.set(u, null);
        continue;
      }
      const p = new MessageParser();
      p.feed(CORPUS[seqOf(u) - 1].bytes);
      p.end();
      out.set(u, p.searchHeaders);
    }
    return out;
  }

  structures(_mb: number, uids: ArrayLike<number>): Map<number, MessageInfo | null> {
    this.structureCalls++;
    const out = new Map<number, MessageInfo | null>();
    for (const u of Array.from(uids)) out.set(u, this.withStructures ? parseMessage(CORPUS[seqOf(u) - 1].bytes) : null);
    return out;
  }

  messagePath(_mb: number, uid: number): string {
    this.paths.push(uid);
    return join(dir, String(seqOf(uid)));
  }
}

const view: SearchView = {
  count: CORPUS.length,
  get lastUid() {
    return uidOf(CORPUS.length);
  },
  uidAt: (seq) => uidOf(seq),
  seq: (uid) => seqOf(uid),
};

function parseSearch(args: string): Extract<Command, { name: 'SEARCH' }> {
  const p = new CommandParser();
  p.feed(new TextEncoder().encode(`t SEARCH ${args}\r\n`));
  const ev = p.next();
  if (ev.kind !== 'command' || ev.command.name !== 'SEARCH') throw new Error(`parse failed for ${args}: ${JSON.stringify(ev)}`);
  return ev.command;
}

const env = (): SearchEnv => ({ count: view.count, lastUid: view.lastUid, savedUids: [], now: Date.now() });

function search(store: FakeStore, key: SearchKey, e = env()): number[] {
  return runSearch(store, 1, view, compileSearch(key, e), e).map((m) => m.seq);
}

describe('the Dovecot-checked query table', () => {
  for (const withStructures of [false, true]) {
    describe(withStructures ? 'with stored structures' : 'parsing the files (rows from before structures were stored)', () => {
      beforeAll(() => {
        stride = 1;
      });
      afterAll(() => {
        stride = 3;
      });
      for (const { q, want } of QUERIES) {
        test(q, () => {
          expect(search(new FakeStore(withStructures), parseSearch(q).key)).toEqual(want);
        });
      }
    });
  }
});

describe('what each pass reads', () => {
  test('a metadata search reads the table once and never a header, a structure or a file', () => {
    const store = new FakeStore(true);
    expect(search(store, parseSearch('OR (SEEN LARGER 100) (UNKEYWORD foo SINCE 1-Jan-2000 NOT DELETED)').key)).toEqual([1, 2, 3, 5, 6, 7]);
    expect(store.tableLoads).toBe(1);
    expect(store.headerCalls + store.structureCalls).toBe(0);
    expect(store.paths).toEqual([]);
  });

  test('FROM, TO, CC, BCC, SUBJECT and SENT* come from the recorded headers: no structure, no file', () => {
    const store = new FakeStore(true);
    expect(search(store, parseSearch('SUBJECT hello SENTBEFORE 1-Jan-2000').key)).toEqual([1]);
    expect(search(store, parseSearch('SEEN FROM alice').key)).toEqual([1]);
    expect(store.paths).toEqual([]);
    expect(store.structureCalls).toBe(0);
    expect(store.headerCalls).toBe(2);
  });

  test('other header fields read files only for the messages the flags left', () => {
    const store = new FakeStore(true);
    expect(search(store, parseSearch('SEEN HEADER Message-ID "@"').key)).toEqual([1]);
    expect(store.paths).toEqual([uidOf(1), uidOf(3)]);
    expect(store.headerCalls).toBe(0);
  });

  test('body keys read files only for the messages flags and headers left', () => {
    const store = new FakeStore(false);
    expect(search(store, parseSearch('UNSEEN TO bob BODY banana').key)).toEqual([4]);
    // UNSEEN leaves 2, 4, 5, 6, 7; their headers are read; TO bob leaves 4, whose body is read.
    expect(store.paths).toEqual([2, 4, 5, 6, 7].map(uidOf).concat([uidOf(4)]));
  });

  test('a UID or sequence set narrows the messages whose files are read', () => {
    const store = new FakeStore(true);
    expect(search(store, parseSearch('UID 18:* SEEN').key)).toEqual([]);
    expect(search(store, parseSearch('UID 18:* UNSEEN').key)).toEqual([6, 7]);
    expect(search(store, parseSearch('2 BODY "grüße"').key)).toEqual([2]);
    expect(store.paths).toEqual([6]);
  });

  test('messages whose row is gone (expunged elsewhere, not yet reported) match nothing', () => {
    const store = new FakeStore(false, new Set([uidOf(2)]));
    expect(search(store, parseSearch('ALL').key)).toEqual([1, 3, 4, 5, 6, 7]);
    expect(search(store, parseSearch('OR FLAGGED BODY "grüße"').key)).toEqual([]);
  });

  test('a file that vanished meanwhile matches nothing instead of failing', () => {
    const store = new FakeStore(false);
    store.messagePath = (_mb, uid) => join(dir, uid === uidOf(1) ? 'gone' : String(seqOf(uid)));
    expect(search(store, parseSearch('BODY kiwi').key)).toEqual([]);
    expect(search(store, parseSearch('FROM example').key)).toEqual([2, 3, 4, 5, 6, 7]);
  });

  test('the saved result ($) and `*`', () => {
    const store = new FakeStore(true);
    const e = { ...env(), savedUids: [uidOf(2), uidOf(5), 999] };
    expect(search(store, parseSearch('$').key, e)).toEqual([2, 5]);
    expect(search(store, parseSearch('UID $ SEEN').key, e)).toEqual([]);
    expect(search(store, parseSearch('UID *').key, e)).toEqual([7]);
  });

  test('the sliced run gives the event loop back between messages and finds the same', async () => {
    const store = new FakeStore(false);
    const key = parseSearch('OR BODY kiwi TEXT mango').key;
    const e = env();
    // Another task on the event loop: it runs only when the search gives the loop back
    // (a timer would depend on the machine's speed).
    let ticks = 0;
    let running = true;
    const other = () => {
      ticks++;
      if (running) setImmediate(other);
    };
    setImmediate(other);
    try {
      const sliced = await runSearchSliced(store, 1, view, compileSearch(key, e), e, 0);
      expect(sliced.map((m) => m.seq)).toEqual([1, 4]);
      expect(ticks).toBeGreaterThan(1);
    } finally {
      running = false;
    }
    expect(search(new FakeStore(false), key)).toEqual([1, 4]);
  });
});
