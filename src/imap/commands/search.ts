// SEARCH and UID SEARCH (RFC 9051 §6.4.4, RFC 3501 §6.4.4), with ESEARCH result options
// (RFC 4731), the saved result `$` (RFC 5182 SEARCHRES), OLDER/YOUNGER (RFC 5032 WITHIN)
// and the MODSEQ key's answer (RFC 7162 §3.1.5).
//
// Answer forms:
// - IMAP4rev1 session, no RETURN: `* SEARCH 2 3 5` (plus ` (MODSEQ n)` after a MODSEQ key).
// - IMAP4rev2 session, no RETURN: as RETURN (ALL) (RFC 9051 §6.4.4): `* ESEARCH (TAG "t") ALL 2:3,5`.
// - RETURN (...): one `* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [ALL set] [COUNT n] [MODSEQ n]`;
//   MIN, MAX, ALL and MODSEQ are left out when nothing matched (COUNT 0 is sent).
// - RETURN (SAVE) alone: no untagged answer; the result is saved as UIDs for `$`. With MIN
//   and/or MAX but neither ALL nor COUNT, only those messages are saved (RFC 5182 §2.4).
// The session handles the UID prefix's EXPUNGE rules (none sent during SEARCH by number).

import { bad, no } from '../errors.ts';
import type { Command } from '../parser.ts';
import { COST_META, compileSearch, compressSet, SearchSyntaxError, type CompiledSearch } from '../search/evaluate.ts';
import { runSearch, runSearchSliced, type SearchMatch } from '../search/run.ts';
import type { Session } from '../session.ts';
import { SELECTED, spec } from './spec.ts';

const CHARSETS = new Set(['UTF-8', 'US-ASCII']);

/** RFC 9051 §6.4.4 SEARCH, with UID (§6.4.9); selected state. */
const search = spec({
  names: ['SEARCH'],
  states: SELECTED,
  run(s, cmd) {
    const save = cmd.returns?.includes('SAVE') ?? false;
    const view = s.view;
    // `$` in this command is the result saved before it.
    const env = { count: view.count, lastUid: view.lastUid, savedUids: s.savedUids, now: Date.now() };
    // RFC 5182 §2.1: a SEARCH with SAVE that fails leaves the saved result empty.
    if (save) s.savedUids = [];
    if (cmd.charset !== null && !CHARSETS.has(cmd.charset)) throw no('BADCHARSET (UTF-8 US-ASCII)', `charset ${cmd.charset} is not supported`);
    let q: CompiledSearch;
    try {
      q = compileSearch(cmd.key, env);
    } catch (err) {
      if (err instanceof SearchSyntaxError) throw bad(err.message);
      throw err;
    }
    // Metadata searches answer at once; searches that read files give the event loop back
    // between slices, so other sessions go on meanwhile.
    if (q.cost === COST_META) return answer(s, cmd, q, save, runSearch(s.account, view.mailbox.id, view, q, env));
    return runSearchSliced(s.account, view.mailbox.id, view, q, env).then((matches) => answer(s, cmd, q, save, matches));
  },
});

/** Write the untagged answer (and save the result) in the form the command and session ask for. */
function answer(s: Session, cmd: Extract<Command, { name: 'SEARCH' }>, q: CompiledSearch, save: boolean, matches: SearchMatch[]): void {
  const num = cmd.uid ? (m: SearchMatch) => m.uid : (m: SearchMatch) => m.seq;

  const returns = cmd.returns ?? (s.rev2 ? ['ALL'] : null);
  if (returns === null) {
    s.w.raw('* SEARCH');
    for (const m of matches) s.w.sp().num(num(m));
    if (q.modseq && matches.length) s.w.raw(' (MODSEQ ').num(maxModseq(matches)).raw(')');
    s.w.crlf();
    return;
  }

  const min = returns.includes('MIN');
  const max = returns.includes('MAX');
  const all = returns.includes('ALL');
  const count = returns.includes('COUNT');
  const first = matches[0];
  const last = matches[matches.length - 1];
  if (save) {
    const kept = all || count || (!min && !max) ? matches : [...new Set([...(min && first ? [first] : []), ...(max && last ? [last] : [])])];
    s.savedUids = kept.map((m) => m.uid).sort((a, b) => a - b);
  }
  if (!min && !max && !all && !count) return; // SAVE alone

  s.w.raw('* ESEARCH (TAG ').string(cmd.tag).raw(')');
  if (cmd.uid) s.w.raw(' UID');
  if (first) {
    if (min) s.w.raw(' MIN ').num(num(first));
    if (max) s.w.raw(' MAX ').num(num(last));
    if (all) s.w.raw(' ALL ').raw(compressSet(matches.map(num)));
  }
  if (count) s.w.raw(' COUNT ').num(matches.length);
  if (q.modseq && first) {
    // RFC 7162 §3.1.5: the highest modseq of the messages returned; with only MIN/MAX, of those.
    const returned = all || count ? matches : [...(min ? [first] : []), ...(max ? [last] : [])];
    s.w.raw(' MODSEQ ').num(maxModseq(returned));
  }
  s.w.crlf();
}

function maxModseq(ms: readonly SearchMatch[]): bigint {
  let m = 0n;
  for (const x of ms) if (x.modseq > m) m = x.modseq;
  return m;
}

export const searchCommands = [search];
