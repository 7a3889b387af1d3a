// Sequence sets against a session's view (RFC 9051 §9 sequence-set, RFC 5182 `$`).

import { bad } from '../errors.ts';
import type { SequenceSet } from '../parser.ts';
import type { Session } from '../session.ts';

/**
 * The UIDs in the selected view that a set names, ascending and unique. For sequence
 * numbers, a number past the last message is a BAD (as Dovecot answers); for UIDs,
 * numbers that match nothing are simply not included (RFC 9051 §6.4.9).
 */
export function resolveSet(s: Session, set: SequenceSet, uid: boolean): number[] {
  const view = s.view;
  if (set.saved) return s.savedUids.filter((u) => view.seq(u) > 0);
  const out: number[] = [];
  const count = view.count;
  if (uid) {
    const last = view.lastUid;
    for (const [a, b] of set.ranges) {
      let lo = a === '*' ? last : a;
      let hi = b === '*' ? last : b;
      if (lo > hi) [lo, hi] = [hi, lo];
      // Walk the view from the first UID >= lo.
      let i = lowerBound(view, lo);
      for (; i <= count; i++) {
        const u = view.uidAt(i);
        if (u > hi) break;
        out.push(u);
      }
    }
  } else {
    for (const [a, b] of set.ranges) {
      let lo = a === '*' ? count : a;
      let hi = b === '*' ? count : b;
      if (lo > hi) [lo, hi] = [hi, lo];
      if (hi > count || lo < 1) throw bad('invalid message sequence number');
      for (let i = lo; i <= hi; i++) out.push(view.uidAt(i));
    }
  }
  if (set.ranges.length > 1) {
    out.sort((x, y) => x - y);
    let w = 0;
    for (let i = 0; i < out.length; i++) if (i === 0 || out[i] !== out[i - 1]) out[w++] = out[i];
    out.length = w;
  }
  return out;
}

/** First sequence number whose UID is >= uid (count + 1 when none). */
function lowerBound(view: Session['view'], uid: number): number {
  let lo = 1;
  let hi = view.count;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (view.uidAt(mid) < uid) lo = mid + 1;
    else hi = mid - 1;
  }
  return lo;
}

/** Compress ascending numbers into sequence-set syntax: 1:3,5,7:8. */
export function formatSet(nums: readonly number[]): string {
  let out = '';
  for (let i = 0; i < nums.length; i++) {
    const start = nums[i];
    let end = start;
    while (i + 1 < nums.length && nums[i + 1] === end + 1) end = nums[++i];
    out += (out ? ',' : '') + (start === end ? String(start) : `${start}:${end}`);
  }
  return out;
}
