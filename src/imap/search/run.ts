// Running a compiled search over a selected mailbox in three passes, cheapest first:
//
// 1. metadata: the mailbox's in-memory table (flags, keywords, size, dates, modseq; see
//    store/table.ts), evaluated by one closure over its columns (metaEvaluator); a key
//    that needs nothing more is decided here and no database row or file is read.
// 2. headers: for the messages still undecided, the header fields recorded at APPEND
//    (FROM, TO, CC, BCC, SUBJECT, DATE) when they answer, else the stored ENVELOPE
//    (SUBJECT, SENT*), else the header block read from the file (headers only).
// 3. bodies: for the messages still undecided, the file, one at a time.
//
// Messages in the view whose row is gone (expunged by another session, not yet reported)
// match nothing.
//
// The passes are a generator that yields after each message read from a file:
// `runSearch` drives it to the end at once; `runSearchSliced` gives the event loop back
// every few milliseconds, so a BODY search over a large mailbox does not stall the other
// sessions of the process. The view cannot change meanwhile (it changes only when the
// session tells its client), and files of messages expunged meanwhile stay readable
// while the view holds them; a message gone for good simply does not match.

import { searchHeadersSuffice } from '../../message/searchheaders.ts';
import type { MessageInfo } from '../../message/types.ts';
import type { MessageTable } from '../../store/table.ts';
import { EnvelopeFields, FoldMemo, MessageText, RecordedFields, envelopeSuffices, headerFields, readHeaderBlock, readMessage } from './content.ts';
import { COST_BODY, MAYBE, YES, candidateUids, evaluate, metaEvaluator, type CompiledSearch, type HeaderSource, type SearchEnv, type SearchRow } from './evaluate.ts';

/** What the search needs of the store (Account implements it). */
export interface SearchStore {
  messageTable(mailboxId: number): MessageTable;
  structures(mailboxId: number, uids: ArrayLike<number>): Map<number, MessageInfo | null>;
  searchHeaders(mailboxId: number, uids: ArrayLike<number>): Map<number, string | null>;
  messagePath(mailboxId: number, uid: number): string;
}

/** What the search needs of the session's view. */
export interface SearchView {
  readonly count: number;
  readonly lastUid: number;
  uidAt(seq: number): number;
  seq(uid: number): number;
}

export interface SearchMatch {
  seq: number;
  uid: number;
  modseq: bigint;
}

/** How many structures (or recorded headers) are loaded per store query in the header and body passes. */
const BATCH = 256;
const HEADER_BATCH = 4096;
const NO_KEYWORDS: readonly string[] = [];

/** Messages that match, in sequence order; synchronous. */
export function runSearch(store: SearchStore, mailboxId: number, view: SearchView, q: CompiledSearch, env: SearchEnv): SearchMatch[] {
  const steps = searchSteps(store, mailboxId, view, q, env);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** As runSearch, yielding to the event loop whenever a slice of `sliceMs` is used up. */
export async function runSearchSliced(store: SearchStore, mailboxId: number, view: SearchView, q: CompiledSearch, env: SearchEnv, sliceMs = 20): Promise<SearchMatch[]> {
  const steps = searchSteps(store, mailboxId, view, q, env);
  let start = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (performance.now() - start >= sliceMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      start = performance.now();
    }
  }
}

function* searchSteps(store: SearchStore, mailboxId: number, view: SearchView, q: CompiledSearch, env: SearchEnv): Generator<void, SearchMatch[], void> {
  if (view.count === 0) return [];
  // Pass 1: metadata, over the view's messages (or the candidates of a UID/sequence set).
  const t = store.messageTable(mailboxId);
  const narrowed = candidateUids(q.root, env, (seq) => view.uidAt(seq));
  const matched: SearchRow[] = [];
  let undecided: SearchRow[] = [];
  // One closure over the table's columns; a row object only for a message kept.
  const meta = metaEvaluator(q.root, t);
  const row = (i: number, seq: number): SearchRow => ({
    seq, uid: t.uid[i], flags: t.flags[i], keywords: t.keywords[i] === '' ? NO_KEYWORDS : t.keywordList(i),
    size: t.size[i], internalDate: t.internalDate[i], modseq: q.modseq ? BigInt(t.modseq[i]) : 0n,
  });
  const walk = (i: number, seq: number) => {
    const v = meta(i, seq);
    if (v === YES) matched.push(row(i, seq));
    else if (v === MAYBE) undecided.push(row(i, seq));
  };
  if (narrowed === null) {
    // The view and the table are both ascending by UID: walk them together. A view UID
    // missing from the table was expunged elsewhere (matches nothing); a table UID past
    // the view was delivered after this session last heard of it.
    let i = 0;
    for (let seq = 1; seq <= view.count; seq++) {
      const uid = view.uidAt(seq);
      while (i < t.n && t.uid[i] < uid) i++;
      if (i < t.n && t.uid[i] === uid) walk(i, seq);
    }
  } else {
    for (const uid of narrowed) {
      const seq = view.seq(uid);
      const i = seq === 0 ? -1 : t.indexOf(uid);
      if (i >= 0) walk(i, seq);
    }
  }

  // Pass 2: headers (skipped when no header key is used: only body keys are left).
  if (undecided.length && (q.headers.size > 0 || q.sentDate)) {
    const next: SearchRow[] = [];
    const recorded = searchHeadersSuffice(q.headers);
    const memo = new FoldMemo();
    for (let i = 0; i < undecided.length; i += HEADER_BATCH) {
      const batch = undecided.slice(i, i + HEADER_BATCH);
      const uids = batch.map((r) => r.uid);
      const stored = recorded ? store.searchHeaders(mailboxId, uids) : null;
      let infos: Map<number, MessageInfo | null> | null = null;
      for (let k = 0; k < batch.length; k++) {
        const row = batch[k];
        const fields = stored?.get(row.uid);
        let h: HeaderSource | null;
        if (fields != null) {
          h = new RecordedFields(fields, memo);
        } else {
          // Older rows: the structure, else the file. Structures load by the small batch.
          if (infos === null || !infos.has(row.uid)) infos = store.structures(mailboxId, uids.slice(k, k + BATCH));
          h = headerSourceFor(store, mailboxId, row, infos.get(row.uid) ?? null, q);
        }
        if (h === null) continue; // the file is gone
        const v = evaluate(q.root, row, h, null);
        yield;
        if (v === YES) matched.push(row);
        else if (v === MAYBE) next.push(row);
      }
    }
    undecided = next;
  }

  // Pass 3: bodies.
  if (undecided.length && q.cost >= COST_BODY) {
    for (let i = 0; i < undecided.length; i += BATCH) {
      const batch = undecided.slice(i, i + BATCH);
      const infos = store.structures(mailboxId, batch.map((r) => r.uid));
      for (const row of batch) {
        const bytes = readOrNull(() => readMessage(store.messagePath(mailboxId, row.uid)));
        if (bytes === null) continue;
        const text = new MessageText(bytes, infos.get(row.uid) ?? null);
        if (evaluate(q.root, row, text, text) === YES) matched.push(row);
        yield;
      }
    }
  }

  matched.sort((a, b) => a.seq - b.seq);
  return matched.map((r) => ({ seq: r.seq, uid: r.uid, modseq: r.modseq }));
}

function headerSourceFor(store: SearchStore, mailboxId: number, row: SearchRow, info: MessageInfo | null, q: CompiledSearch): HeaderSource | null {
  if (info && envelopeSuffices(q.headers)) return new EnvelopeFields(info);
  const block = readOrNull(() => readHeaderBlock(store.messagePath(mailboxId, row.uid), info ? info.root.bodyStart : null, row.size));
  return block === null ? null : headerFields(block);
}

/** A message that vanished (expunged and released meanwhile: the store answers
 * NONEXISTENT, or the file is gone) matches nothing. */
function readOrNull<T>(read: () => T): T | null {
  try {
    return read();
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'ENOENT' || code === 'NONEXISTENT') return null;
    throw err;
  }
}
