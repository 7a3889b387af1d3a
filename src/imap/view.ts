// A session's view of its selected mailbox: message sequence numbers map to UIDs.
// The view changes only when this session tells its client (EXISTS, EXPUNGE), so
// sequence numbers stay what the client believes they are.

import type { MailboxHold } from '../store/account.ts';
import type { MailboxInfo } from '../store/types.ts';

export class SelectedView {
  /** uids[seq - 1] = uid, ascending. */
  private uids: number[];

  /** The hold keeps files of messages expunged elsewhere until we have told our client. */
  constructor(public mailbox: MailboxInfo, readonly readOnly: boolean, uids: ArrayLike<number>, private readonly hold: MailboxHold) {
    this.uids = Array.from(uids);
  }

  get count(): number {
    return this.uids.length;
  }

  get lastUid(): number {
    return this.uids.length ? this.uids[this.uids.length - 1] : 0;
  }

  uidAt(seq: number): number {
    return this.uids[seq - 1];
  }

  /** Sequence number of a UID, 0 when not in view. */
  seq(uid: number): number {
    let lo = 0;
    let hi = this.uids.length - 1;
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
    this.uids.push(uid);
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
    const kept: number[] = [];
    for (let i = 0; i < this.uids.length; i++) {
      const uid = this.uids[i];
      if (gone.has(uid)) seqs.push(kept.length + 1);
      else kept.push(uid);
    }
    this.uids = kept;
    this.hold.release(gone);
    return seqs;
  }

  /** The session leaves the mailbox. */
  release(): void {
    this.hold.close();
  }
}
