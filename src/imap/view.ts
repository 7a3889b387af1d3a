// A session's view of its selected mailbox: message sequence numbers map to UIDs.
// The view changes only when this session tells its client (EXISTS, EXPUNGE), so
// sequence numbers stay what the client believes they are.

import type { MailboxHold } from '../store/account.ts';
import type { MailboxInfo } from '../store/types.ts';

export class SelectedView {
  /** uids[seq - 1] = uid, ascending, for seq <= n; a typed array: 100,000 UIDs are 400 KB. */
  private uids: Uint32Array;
  private n: number;
  /** `uids` is the store's array (Account.sharedUids): copied before the first change. */
  private shared: boolean;

  /** The hold keeps files of messages expunged elsewhere until we have told our client.
   * The first `count` entries of `uids` are the view; with `shared`, the array is not ours. */
  constructor(public mailbox: MailboxInfo, readonly readOnly: boolean, uids: Uint32Array, count: number, private readonly hold: MailboxHold, shared = false) {
    this.uids = uids;
    this.n = count;
    this.shared = shared;
  }

  /** Make `uids` ours, with room for `extra` more. */
  private own(extra: number): void {
    if (!this.shared && this.n + extra <= this.uids.length) return;
    const next = new Uint32Array(Math.max(16, (this.n + extra) * 2));
    next.set(this.uids.subarray(0, this.n));
    this.uids = next;
    this.shared = false;
  }

  get count(): number {
    return this.n;
  }

  get lastUid(): number {
    return this.n ? this.uids[this.n - 1] : 0;
  }

  /** The UID at `seq` (1..count); 0 outside. */
  uidAt(seq: number): number {
    return seq >= 1 && seq <= this.n ? this.uids[seq - 1] : 0;
  }

  /** Sequence number of a UID, 0 when not in view. */
  seq(uid: number): number {
    let lo = 0;
    let hi = this.n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.uids[mid];
      if (v === uid) return mid + 1;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  /** A new message; false when already known (our own APPEND seen twice). */
  add(uid: number): boolean {
    if (uid <= this.lastUid) return false;
    this.own(1);
    this.uids[this.n++] = uid;
    return true;
  }

  /**
   * Remove expunged UIDs and return the sequence number to report for each, in the
   * order sent: each number is valid after the previous EXPUNGE (RFC 9051 §7.5.1).
   */
  expunge(uids: readonly number[]): number[] {
    const seqs: number[] = [];
    const gone = new Set<number>();
    for (const uid of uids) {
      const s = this.seq(uid);
      if (s > 0) gone.add(uid);
    }
    if (gone.size === 0) return seqs;
    this.own(0);
    let w = 0;
    for (let i = 0; i < this.n; i++) {
      const uid = this.uids[i];
      if (gone.has(uid)) seqs.push(w + 1);
      else this.uids[w++] = uid;
    }
    this.n = w;
    this.hold.release(gone);
    return seqs;
  }

  /** The session leaves the mailbox. */
  release(): void {
    this.hold.close();
  }
}
