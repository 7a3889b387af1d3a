// The SEARCH evaluator (RFC 9051 §6.4.4, RFC 3501 §6.4.4, RFC 5032 WITHIN, RFC 7162
// MODSEQ), pure over plain data: a message's metadata row, and callbacks that give its
// header fields and body text when they are needed. No I/O, no session.
//
// Invariants callers rely on:
// - `compileSearch` validates everything that can be wrong with a key before any message
//   is looked at (string values must be valid UTF-8: a BAD, as Dovecot answers), and
//   turns each string into its case-folded needle once.
// - Evaluation is three-valued. A key whose data is not supplied (headers or body are
//   `null`) answers MAYBE, and AND/OR/NOT combine that as Kleene logic. So the caller can
//   run the cheap pass over every row from the database, then read headers only for the
//   messages still MAYBE, and bodies only for those still MAYBE after that.
// - AND children are ordered cheapest first, so a flag that fails stops the evaluation
//   before a header or body is asked for.
//
// Semantics, and where they follow Dovecot (checked against dovecot 2.3.19):
// - Strings match as case-insensitive substrings of the *decoded* text (RFC 2047 in
//   headers, transfer encoding and charset in bodies). Folding is Unicode lower case
//   after NFC; "ß" does not match "SS" (Dovecot neither).
// - `HEADER f ""` (and FROM "" etc.) matches messages that have the field.
// - BEFORE/ON/SINCE compare the INTERNALDATE's day in UTC: we store only an instant (ms),
//   not the zone it was given in. (Dovecot uses the server's local zone.)
// - SENT* compare the Date: header's day in the header's own zone, disregarding time;
//   a missing or unparseable Date: matches none of them (Dovecot treats it as 1970).
// - OLDER n / YOUNGER n (RFC 5032): YOUNGER is "internal date within the last n
//   seconds", OLDER is its complement.
// - \Recent is not kept (IMAP4rev2 dropped it): RECENT and NEW match nothing, OLD matches everything.
// - Sequence numbers past the last message simply match nothing (Dovecot: no BAD).

import type { ImapDate, SearchKey, SequenceSet } from '../parser-types.ts';

export type Tri = 0 | 1 | 2;
export const NO: Tri = 0;
export const YES: Tri = 1;
export const MAYBE: Tri = 2;

/** What the cheap pass knows about a message (one row of the store, plus its place in the view). */
export interface SearchRow {
  seq: number;
  uid: number;
  /** System flags bitmask: Seen=1 Answered=2 Flagged=4 Deleted=8 Draft=16. */
  flags: number;
  keywords: readonly string[];
  size: number;
  /** INTERNALDATE, ms since epoch. */
  internalDate: number;
  modseq: bigint;
}

/** A message's header fields, decoded. Supplied for the header pass. */
export interface HeaderSource {
  /** Values of every field with this (upper-case) name, unfolded and RFC 2047 decoded,
   * already folded with `foldCase`; empty when the message has no such field. */
  fields(name: string): readonly string[];
  /** The Date: header's day in its own zone; null when missing or unparseable. */
  sentDate(): ImapDate | null;
}

/** A message's text, decoded and folded with `foldCase`. Supplied for the body pass. */
export interface BodySource {
  /** The decoded text of the body parts (RFC 9051 BODY). */
  body(): string;
  /** Header fields and body (RFC 9051 TEXT). */
  text(): string;
}

/** Where the evaluation stands, for sets with `*` and `$`, and for WITHIN. */
export interface SearchEnv {
  /** Messages in the view: `*` in a sequence set. */
  count: number;
  /** Highest UID in the view: `*` in a UID set. */
  lastUid: number;
  /** The SEARCHRES result variable (RFC 5182), as UIDs. */
  savedUids: readonly number[];
  /** ms since epoch, for OLDER/YOUNGER. */
  now: number;
}

/** Cost classes: what a key needs to be decided. */
export const COST_META = 0;
export const COST_HEADER = 1;
export const COST_BODY = 2;
type Cost = 0 | 1 | 2;

type Ranges = Array<[number, number]>;

export type SearchNode = { cost: Cost } & (
  | { k: 'const'; v: boolean }
  | { k: 'flag'; bit: number; set: boolean }
  | { k: 'keyword'; name: string; set: boolean }
  | { k: 'seq'; ranges: Ranges }
  | { k: 'uid'; ranges: Ranges }
  | { k: 'saved'; uids: ReadonlySet<number> }
  | { k: 'size'; larger: boolean; n: number }
  | { k: 'date'; op: 'BEFORE' | 'ON' | 'SINCE'; day: number }
  | { k: 'within'; older: boolean; since: number }
  | { k: 'modseq'; min: bigint }
  | { k: 'sent'; op: 'BEFORE' | 'ON' | 'SINCE'; day: number }
  | { k: 'header'; name: string; needle: string }
  | { k: 'body'; needle: string }
  | { k: 'text'; needle: string }
  | { k: 'not'; a: SearchNode }
  | { k: 'or'; a: SearchNode; b: SearchNode }
  | { k: 'and'; keys: SearchNode[] }
);

export interface CompiledSearch {
  root: SearchNode;
  /** Highest cost in the tree: COST_META means no file is ever read. */
  cost: Cost;
  /** Upper-case header names the header pass must provide. */
  headers: Set<string>;
  /** The Date: header is compared (SENT*). */
  sentDate: boolean;
  /** A MODSEQ key was used (RFC 7162 §3.1.5: the answer carries MODSEQ). */
  modseq: boolean;
}

/** Thrown for a value that is not valid UTF-8; the command answers BAD. */
export class SearchSyntaxError extends Error {}

const FLAG_BITS: Record<string, [bit: number, set: boolean]> = {
  SEEN: [1, true], UNSEEN: [1, false],
  ANSWERED: [2, true], UNANSWERED: [2, false],
  FLAGGED: [4, true], UNFLAGGED: [4, false],
  DELETED: [8, true], UNDELETED: [8, false],
  DRAFT: [16, true], UNDRAFT: [16, false],
};

const ADDRESS_HEADER: Record<string, string> = { FROM: 'FROM', TO: 'TO', CC: 'CC', BCC: 'BCC', SUBJECT: 'SUBJECT' };

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const DAY_MS = 86_400_000;

/** Case folding for substring matching: NFC, then Unicode lower case. */
export function foldCase(s: string): string {
  // ASCII needs no normalization; most text is.
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) return s.normalize('NFC').toLowerCase();
  }
  return s.toLowerCase();
}

/** Days since the epoch of a calendar date (month 1-12). */
export function dayNumber(d: ImapDate): number {
  return Math.floor(Date.UTC(d.year, d.month - 1, d.day) / DAY_MS);
}

/** A search string: UTF-8 (US-ASCII is a subset; 8-bit under US-ASCII is taken as UTF-8, as Dovecot does). */
function needle(value: Uint8Array): string {
  let s: string;
  try {
    s = utf8Strict.decode(value);
  } catch {
    throw new SearchSyntaxError('search string is not valid UTF-8');
  }
  return foldCase(s);
}

function setRanges(set: Extract<SequenceSet, { saved: false }>, star: number): Ranges {
  const out: Ranges = [];
  for (const [a, b] of set.ranges) {
    let lo = a === '*' ? star : a;
    let hi = b === '*' ? star : b;
    if (lo > hi) [lo, hi] = [hi, lo];
    out.push([lo, hi]);
  }
  return out;
}

function inRanges(ranges: Ranges, n: number): boolean {
  for (let i = 0; i < ranges.length; i++) if (n >= ranges[i][0] && n <= ranges[i][1]) return true;
  return false;
}

/**
 * Compile a parsed key against the environment (`*`, `$` and "now" are fixed here, once
 * per command). Throws SearchSyntaxError for invalid UTF-8 in a string.
 */
export function compileSearch(key: SearchKey, env: SearchEnv): CompiledSearch {
  const out: CompiledSearch = { root: null as unknown as SearchNode, cost: COST_META, headers: new Set(), sentDate: false, modseq: false };
  let saved: ReadonlySet<number> | null = null;
  const savedSet = () => (saved ??= new Set(env.savedUids));

  const build = (k: SearchKey): SearchNode => {
    switch (k.op) {
      case 'ALL':
      case 'OLD':
        return { cost: COST_META, k: 'const', v: true };
      case 'NEW':
      case 'RECENT':
        return { cost: COST_META, k: 'const', v: false };
      case 'SEEN': case 'UNSEEN': case 'ANSWERED': case 'UNANSWERED': case 'FLAGGED':
      case 'UNFLAGGED': case 'DELETED': case 'UNDELETED': case 'DRAFT': case 'UNDRAFT': {
        const [bit, set] = FLAG_BITS[k.op];
        return { cost: COST_META, k: 'flag', bit, set };
      }
      case 'KEYWORD':
      case 'UNKEYWORD': {
        const bit = systemFlagBit(k.flag);
        if (bit) return { cost: COST_META, k: 'flag', bit, set: k.op === 'KEYWORD' };
        return { cost: COST_META, k: 'keyword', name: k.flag.toLowerCase(), set: k.op === 'KEYWORD' };
      }
      case 'SEQ':
        if (k.set.saved) return { cost: COST_META, k: 'saved', uids: savedSet() };
        return { cost: COST_META, k: 'seq', ranges: setRanges(k.set, env.count) };
      case 'UID':
        if (k.set.saved) return { cost: COST_META, k: 'saved', uids: savedSet() };
        return { cost: COST_META, k: 'uid', ranges: setRanges(k.set, env.lastUid) };
      case 'LARGER':
      case 'SMALLER':
        return { cost: COST_META, k: 'size', larger: k.op === 'LARGER', n: k.size };
      case 'BEFORE':
      case 'ON':
      case 'SINCE':
        return { cost: COST_META, k: 'date', op: k.op, day: dayNumber(k.date) };
      case 'OLDER':
      case 'YOUNGER':
        return { cost: COST_META, k: 'within', older: k.op === 'OLDER', since: env.now - k.seconds * 1000 };
      case 'MODSEQ':
        out.modseq = true;
        return { cost: COST_META, k: 'modseq', min: k.modseq };
      case 'SENTBEFORE':
      case 'SENTON':
      case 'SENTSINCE':
        out.sentDate = true;
        return { cost: COST_HEADER, k: 'sent', op: k.op === 'SENTBEFORE' ? 'BEFORE' : k.op === 'SENTON' ? 'ON' : 'SINCE', day: dayNumber(k.date) };
      case 'FROM':
      case 'TO':
      case 'CC':
      case 'BCC':
      case 'SUBJECT':
        out.headers.add(ADDRESS_HEADER[k.op]);
        return { cost: COST_HEADER, k: 'header', name: ADDRESS_HEADER[k.op], needle: needle(k.value) };
      case 'HEADER': {
        const name = k.field.toUpperCase();
        out.headers.add(name);
        return { cost: COST_HEADER, k: 'header', name, needle: needle(k.value) };
      }
      case 'BODY':
        return { cost: COST_BODY, k: 'body', needle: needle(k.value) };
      case 'TEXT':
        return { cost: COST_BODY, k: 'text', needle: needle(k.value) };
      case 'NOT': {
        const a = build(k.key);
        return { cost: a.cost, k: 'not', a };
      }
      case 'OR': {
        const a = build(k.a);
        const b = build(k.b);
        // The cheaper side first: a YES there decides without the other.
        return a.cost <= b.cost ? { cost: b.cost, k: 'or', a, b } : { cost: a.cost, k: 'or', a: b, b: a };
      }
      case 'AND': {
        const keys = k.keys.map(build);
        // Stable sort, cheapest first.
        keys.sort((x, y) => x.cost - y.cost);
        return { cost: keys.reduce<Cost>((c, n) => (n.cost > c ? n.cost : c), COST_META), k: 'and', keys };
      }
      default:
        return assertNeverKey(k);
    }
  };
  out.root = build(key);
  out.cost = out.root.cost;
  return out;
}

function assertNeverKey(k: never): never {
  throw new Error('unknown search key ' + JSON.stringify(k));
}

/** `KEYWORD \Seen` cannot be parsed (not an atom), but a stored keyword never names a system flag either. */
function systemFlagBit(flag: string): number {
  switch (flag.toLowerCase()) {
    case '\\seen': return 1;
    case '\\answered': return 2;
    case '\\flagged': return 4;
    case '\\deleted': return 8;
    case '\\draft': return 16;
    default: return 0;
  }
}

function compareDay(op: 'BEFORE' | 'ON' | 'SINCE', day: number, want: number): boolean {
  return op === 'BEFORE' ? day < want : op === 'ON' ? day === want : day >= want;
}

const tri = (b: boolean): Tri => (b ? YES : NO);

/**
 * Evaluate a compiled key for one message. `headers` and `body` are null in the passes
 * that do not read them; keys that need them answer MAYBE then.
 */
export function evaluate(n: SearchNode, m: SearchRow, headers: HeaderSource | null, body: BodySource | null): Tri {
  switch (n.k) {
    case 'const':
      return tri(n.v);
    case 'flag':
      return tri(((m.flags & n.bit) !== 0) === n.set);
    case 'keyword': {
      let has = false;
      for (const kw of m.keywords) {
        if (kw.length === n.name.length && kw.toLowerCase() === n.name) {
          has = true;
          break;
        }
      }
      return tri(has === n.set);
    }
    case 'seq':
      return tri(inRanges(n.ranges, m.seq));
    case 'uid':
      return tri(inRanges(n.ranges, m.uid));
    case 'saved':
      return tri(n.uids.has(m.uid));
    case 'size':
      return tri(n.larger ? m.size > n.n : m.size < n.n);
    case 'date':
      return tri(compareDay(n.op, Math.floor(m.internalDate / DAY_MS), n.day));
    case 'within':
      return tri(n.older ? m.internalDate < n.since : m.internalDate >= n.since);
    case 'modseq':
      return tri(m.modseq >= n.min);
    case 'sent': {
      if (!headers) return MAYBE;
      const d = headers.sentDate();
      return d ? tri(compareDay(n.op, dayNumber(d), n.day)) : NO;
    }
    case 'header': {
      if (!headers) return MAYBE;
      const values = headers.fields(n.name);
      for (const v of values) if (v.includes(n.needle)) return YES;
      return NO;
    }
    case 'body':
      return body ? tri(body.body().includes(n.needle)) : MAYBE;
    case 'text':
      return body ? tri(body.text().includes(n.needle)) : MAYBE;
    case 'not': {
      const r = evaluate(n.a, m, headers, body);
      return r === MAYBE ? MAYBE : r === YES ? NO : YES;
    }
    case 'or': {
      const a = evaluate(n.a, m, headers, body);
      if (a === YES) return YES;
      const b = evaluate(n.b, m, headers, body);
      if (b === YES) return YES;
      return a === MAYBE || b === MAYBE ? MAYBE : NO;
    }
    case 'and': {
      let r: Tri = YES;
      for (const c of n.keys) {
        const v = evaluate(c, m, headers, body);
        if (v === NO) return NO;
        if (v === MAYBE) r = MAYBE;
      }
      return r;
    }
    default:
      return assertNeverNode(n);
  }
}

/** The metadata columns of a mailbox (store/table.ts), as metaEvaluator reads them. */
export interface MetaColumns {
  uid: ArrayLike<number>;
  flags: ArrayLike<number>;
  keywords: readonly string[];
  size: ArrayLike<number>;
  internalDate: ArrayLike<number>;
  modseq: ArrayLike<number>;
}

/**
 * The metadata pass as one closure over the columns: evaluate() of row `i` at sequence
 * number `seq` without header or body sources (keys that need them are MAYBE), without
 * filling a row object per message (a flag SEARCH over 100,000 messages spent most of
 * its time doing that).
 */
export function metaEvaluator(n: SearchNode, c: MetaColumns): (i: number, seq: number) => Tri {
  const is = (f: (i: number, seq: number) => boolean) => (i: number, seq: number): Tri => (f(i, seq) ? YES : NO);
  switch (n.k) {
    case 'const': {
      const v = tri(n.v);
      return () => v;
    }
    case 'flag': {
      const { bit, set } = n;
      return is((i) => ((c.flags[i] & bit) !== 0) === set);
    }
    case 'keyword': {
      const { name, set } = n;
      return is((i) => {
        const k = c.keywords[i];
        if (k === '') return !set;
        for (const kw of k.split(' ')) if (kw.length === name.length && kw.toLowerCase() === name) return set;
        return !set;
      });
    }
    case 'seq': {
      const r = n.ranges;
      return is((_i, seq) => inRanges(r, seq));
    }
    case 'uid': {
      const r = n.ranges;
      return is((i) => inRanges(r, c.uid[i]));
    }
    case 'saved': {
      const uids = n.uids;
      return is((i) => uids.has(c.uid[i]));
    }
    case 'size': {
      const { larger, n: size } = n;
      return is(larger ? (i) => c.size[i] > size : (i) => c.size[i] < size);
    }
    case 'date': {
      const { op, day } = n;
      return is((i) => compareDay(op, Math.floor(c.internalDate[i] / DAY_MS), day));
    }
    case 'within': {
      const { older, since } = n;
      return is(older ? (i) => c.internalDate[i] < since : (i) => c.internalDate[i] >= since);
    }
    case 'modseq': {
      // Modseqs are counted from 1 in a JS number: far below 2^53.
      const min = Number(n.min);
      return is((i) => c.modseq[i] >= min);
    }
    case 'sent':
    case 'header':
    case 'body':
    case 'text':
      return () => MAYBE;
    case 'not': {
      const a = metaEvaluator(n.a, c);
      return (i, seq) => {
        const r = a(i, seq);
        return r === MAYBE ? MAYBE : r === YES ? NO : YES;
      };
    }
    case 'or': {
      const a = metaEvaluator(n.a, c);
      const b = metaEvaluator(n.b, c);
      return (i, seq) => {
        const x = a(i, seq);
        if (x === YES) return YES;
        const y = b(i, seq);
        if (y === YES) return YES;
        return x === MAYBE || y === MAYBE ? MAYBE : NO;
      };
    }
    case 'and': {
      const keys = n.keys.map((k) => metaEvaluator(k, c));
      return (i, seq) => {
        let r: Tri = YES;
        for (const f of keys) {
          const v = f(i, seq);
          if (v === NO) return NO;
          if (v === MAYBE) r = MAYBE;
        }
        return r;
      };
    }
    default:
      return assertNeverNode(n);
  }
}

function assertNeverNode(n: never): never {
  throw new Error('unknown search node ' + JSON.stringify(n));
}

/**
 * When the whole key requires a UID or sequence set (alone or in a top-level AND), the
 * UIDs that can match at all; null when any message might. Lets the caller read only
 * those rows (`UID SEARCH UID 99990:*` on a large mailbox reads ten rows).
 * `uidAt(seq)` maps the view's sequence numbers.
 */
export function candidateUids(root: SearchNode, env: SearchEnv, uidAt: (seq: number) => number): number[] | null {
  const narrow = (n: SearchNode): number[] | null => {
    switch (n.k) {
      case 'saved':
        return [...n.uids].sort((a, b) => a - b);
      case 'seq': {
        const out: number[] = [];
        for (const [lo, hi] of n.ranges) {
          for (let s = Math.max(lo, 1); s <= Math.min(hi, env.count); s++) out.push(uidAt(s));
          if (out.length > env.count / 2) return null; // most of the mailbox: read it all
        }
        return uniqueSorted(out);
      }
      case 'uid': {
        // The view's UIDs inside each range, found by binary search (a range may be sparse).
        const out: number[] = [];
        for (const [lo, hi] of n.ranges) {
          for (let seq = firstSeqAtLeast(lo, env.count, uidAt); seq <= env.count; seq++) {
            const u = uidAt(seq);
            if (u > hi) break;
            out.push(u);
          }
          if (out.length > env.count / 2) return null; // most of the mailbox: read it all
        }
        return uniqueSorted(out);
      }
      case 'and': {
        let best: number[] | null = null;
        for (const c of n.keys) {
          const r = narrow(c);
          if (r && (best === null || r.length < best.length)) best = r;
        }
        return best;
      }
      default:
        return null;
    }
  };
  return narrow(root);
}

/** First sequence number whose UID is >= uid (count + 1 when none). */
function firstSeqAtLeast(uid: number, count: number, uidAt: (seq: number) => number): number {
  let lo = 1;
  let hi = count;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (uidAt(mid) < uid) lo = mid + 1;
    else hi = mid - 1;
  }
  return lo;
}

function uniqueSorted(a: number[]): number[] {
  a.sort((x, y) => x - y);
  let w = 0;
  for (let i = 0; i < a.length; i++) if (i === 0 || a[i] !== a[i - 1]) a[w++] = a[i];
  a.length = w;
  return a;
}

/** Ascending numbers as a compact sequence set (RFC 4731 ALL): `1:3,5`. */
export function compressSet(nums: readonly number[]): string {
  let out = '';
  let i = 0;
  while (i < nums.length) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j] + 1) j++;
    if (out) out += ',';
    out += j > i ? `${nums[i]}:${nums[j]}` : String(nums[i]);
    i = j + 1;
  }
  return out;
}

const MONTHS: Record<string, number> = {
  jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12,
};

/**
 * The calendar date of an RFC 5322 date-time (§3.3, with the obsolete forms of §4.3:
 * two- and three-digit years, comments, missing seconds), in the header's own zone.
 * Null when it cannot be read; the time and zone must be present and well-formed too.
 */
export function parseSentDate(value: string): ImapDate | null {
  // Comments (CFWS) may appear anywhere; they never nest deeply in real mail.
  const s = value.replace(/\([^()]*\)/g, ' ').trim();
  const m = /^(?:[a-z]{3,}\s*,\s*)?(\d{1,2})\s+([a-z]{3})[a-z]*\.?\s+(\d{2,4})\s+(\d{1,2})\s*:\s*(\d{2})(?:\s*:\s*(\d{2}))?(?:\s+([+-]\d{4}|[a-z]{1,5}))?\s*$/i.exec(s);
  if (!m) return null;
  const day = Number(m[1]);
  const month = MONTHS[m[2].toLowerCase()];
  let year = Number(m[3]);
  if (!month) return null;
  if (m[3].length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[3].length === 3) year += 1900;
  if (Number(m[4]) > 23 || Number(m[5]) > 59 || (m[6] !== undefined && Number(m[6]) > 60)) return null;
  if (day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return null;
  return { year, month, day };
}
