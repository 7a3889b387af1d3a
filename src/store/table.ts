// A mailbox's message metadata in memory, column by column: UID, flags, keywords, size,
// internal date, save date, modseq, ascending by UID. It is what Dovecot keeps in its
// mmapped index: SELECT, FETCH of flags and sizes, and SEARCH on flags, sizes and dates
// read these arrays instead of 100,000 database rows (which bun:sqlite hands out as one
// object per row, ~1 µs each).
//
// Invariants (kept by Account, the only writer):
// - Loaded from the database once, then changed by the same code that changes the rows,
//   inside the write transaction; a rolled-back write drops the tables it may have touched.
// - UIDs are strictly ascending; a new message always has a UID above all others.
// - The `uid` column is append-only in place: a removal writes the remaining UIDs into a
//   new array. So a session's view may share it (SelectedView) without copying 100,000
//   UIDs at SELECT: what the table appends lies past the view's end.

/** One row as the database query gives it: uid, flags, keywords, size, internal_date, save_date, modseq. */
export type TableRow = [number, number, string, number, number, number, number];

const NO_KEYWORDS: readonly string[] = [];

export class MessageTable {
  n = 0;
  uid: Uint32Array;
  flags: Uint8Array;
  size: Float64Array;
  internalDate: Float64Array;
  saveDate: Float64Array;
  modseq: Float64Array;
  /** Space-separated keywords, '' for none (the common case). */
  keywords: string[];

  constructor(capacity: number) {
    const c = Math.max(16, capacity);
    this.uid = new Uint32Array(c);
    this.flags = new Uint8Array(c);
    this.size = new Float64Array(c);
    this.internalDate = new Float64Array(c);
    this.saveDate = new Float64Array(c);
    this.modseq = new Float64Array(c);
    this.keywords = [];
  }

  static fromRows(rows: readonly TableRow[]): MessageTable {
    const t = new MessageTable(rows.length + (rows.length >> 3));
    for (const r of rows) t.push(r[0], r[1], r[2], r[3], r[4], r[5], r[6]);
    return t;
  }

  get lastUid(): number {
    return this.n ? this.uid[this.n - 1] : 0;
  }

  /** Index of `uid`, or -1. */
  indexOf(uid: number): number {
    let lo = 0;
    let hi = this.n - 1;
    const u = this.uid;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = u[mid];
      if (v === uid) return mid;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Index of the first UID >= uid (n when none). */
  lowerBound(uid: number): number {
    let lo = 0;
    let hi = this.n - 1;
    const u = this.uid;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (u[mid] < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return lo;
  }

  keywordList(i: number): readonly string[] {
    const k = this.keywords[i];
    return k === '' ? NO_KEYWORDS : k.split(' ');
  }

  /** A new message; its UID is above every other. */
  push(uid: number, flags: number, keywords: string, size: number, internalDate: number, saveDate: number, modseq: number): void {
    if (this.n === this.uid.length) this.grow();
    const i = this.n++;
    this.uid[i] = uid;
    this.flags[i] = flags;
    this.keywords[i] = keywords;
    this.size[i] = size;
    this.internalDate[i] = internalDate;
    this.saveDate[i] = saveDate;
    this.modseq[i] = modseq;
  }

  setFlags(uid: number, flags: number, keywords: string, modseq: number): void {
    const i = this.indexOf(uid);
    if (i < 0) return;
    this.flags[i] = flags;
    this.keywords[i] = keywords;
    this.modseq[i] = modseq;
  }

  /** Drop these UIDs (any order); one pass over the columns. */
  remove(uids: readonly number[]): void {
    if (!uids.length) return;
    const gone = new Set(uids);
    // A fresh uid column, never changed under a view sharing the old one.
    const old = this.uid;
    this.uid = new Uint32Array(old.length);
    let w = 0;
    for (let r = 0; r < this.n; r++) {
      if (gone.has(old[r])) continue;
      this.uid[w] = old[r];
      if (w !== r) {
        this.flags[w] = this.flags[r];
        this.keywords[w] = this.keywords[r];
        this.size[w] = this.size[r];
        this.internalDate[w] = this.internalDate[r];
        this.saveDate[w] = this.saveDate[r];
        this.modseq[w] = this.modseq[r];
      }
      w++;
    }
    this.n = w;
    this.keywords.length = w;
  }

  private grow(): void {
    const c = this.uid.length * 2;
    const widen = <T extends Uint32Array | Uint8Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(c);
      b.set(a);
      return b;
    };
    this.uid = widen(this.uid, (n) => new Uint32Array(n));
    this.flags = widen(this.flags, (n) => new Uint8Array(n));
    this.size = widen(this.size, (n) => new Float64Array(n));
    this.internalDate = widen(this.internalDate, (n) => new Float64Array(n));
    this.saveDate = widen(this.saveDate, (n) => new Float64Array(n));
    this.modseq = widen(this.modseq, (n) => new Float64Array(n));
  }
}
