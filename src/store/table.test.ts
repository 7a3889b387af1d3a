import { describe, expect, test } from 'bun:test';
import { MessageTable, type TableRow } from './table.ts';

const row = (uid: number, flags = 0, keywords = ''): TableRow => [uid, flags, keywords, uid * 10, uid * 1000, uid * 2000, uid + 100];

describe('MessageTable', () => {
  test('loads rows, finds UIDs, and grows past its capacity', () => {
    const t = MessageTable.fromRows([row(2), row(5, 1), row(9, 4, 'a b')]);
    expect(t.n).toBe(3);
    expect(t.lastUid).toBe(9);
    expect([t.indexOf(2), t.indexOf(5), t.indexOf(9), t.indexOf(3), t.indexOf(10)]).toEqual([0, 1, 2, -1, -1]);
    expect([t.lowerBound(1), t.lowerBound(3), t.lowerBound(9), t.lowerBound(10)]).toEqual([0, 1, 2, 3]);
    expect(t.keywordList(2)).toEqual(['a', 'b']);
    expect(t.keywordList(0)).toEqual([]);
    for (let uid = 10; uid < 200; uid++) t.push(...row(uid));
    expect(t.n).toBe(193);
    expect(t.indexOf(150)).toBe(143);
    expect([t.size[143], t.internalDate[143], t.saveDate[143], t.modseq[143]]).toEqual([1500, 150000, 300000, 250]);
  });

  test('setFlags changes one message; unknown UIDs are ignored', () => {
    const t = MessageTable.fromRows([row(1), row(2)]);
    t.setFlags(2, 5, 'x', 77);
    t.setFlags(3, 5, 'x', 77);
    expect([t.flags[1], t.keywords[1], t.modseq[1]]).toEqual([5, 'x', 77]);
    expect([t.flags[0], t.keywords[0], t.modseq[0]]).toEqual([0, '', 101]);
  });

  test('remove keeps the others in order with their columns', () => {
    const t = MessageTable.fromRows([1, 2, 3, 4, 5, 6].map((u) => row(u, u, `k${u}`)));
    t.remove([5, 1, 3, 42]);
    expect(t.n).toBe(3);
    expect(Array.from(t.uid.subarray(0, t.n))).toEqual([2, 4, 6]);
    expect(Array.from(t.flags.subarray(0, t.n))).toEqual([2, 4, 6]);
    expect(t.keywords).toEqual(['k2', 'k4', 'k6']);
    expect(Array.from(t.size.subarray(0, t.n))).toEqual([20, 40, 60]);
    t.remove([]);
    expect(t.n).toBe(3);
  });

  test('the uid column a view shares never changes under it: removal writes a new one, pushes go past its end', () => {
    const t = MessageTable.fromRows([1, 2, 3, 4].map((u) => row(u)));
    const shared = t.uid;
    const count = t.n;
    t.push(...row(9));
    t.remove([2]);
    t.push(...row(10));
    expect(Array.from(shared.subarray(0, count))).toEqual([1, 2, 3, 4]);
    expect(Array.from(t.uid.subarray(0, t.n))).toEqual([1, 3, 4, 9, 10]);
  });
});
