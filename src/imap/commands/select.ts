// Opening and leaving a mailbox: SELECT, EXAMINE, CLOSE, UNSELECT, and EXPUNGE
// (RFC 9051 §6.3.2, §6.3.3, §6.4.2, §6.4.3, §6.4.9; RFC 3691; RFC 4315 UID EXPUNGE).

import { SYSTEM_FLAG_NAMES, type Session } from '../session.ts';
import { no } from '../errors.ts';
import { SelectedView } from '../view.ts';
import { AUTHED, SELECTED, spec } from './spec.ts';
import { resolveSet } from './seqset.ts';


/** RFC 9051 §6.3.2 SELECT and §6.3.3 EXAMINE; authenticated or selected state. */
const select = spec({
  names: ['SELECT', 'EXAMINE'],
  states: AUTHED,
  run(s, cmd) {
    const account = s.account;
    const name = s.mailboxName(cmd.mailbox);
    if (s.state.kind === 'selected') {
      // RFC 9051 §6.3.2: leaving the old mailbox is reported before the new one's data.
      s.unselect();
      s.w.raw('* OK [CLOSED] previous mailbox closed').crlf();
    }
    const mb = account.mailboxByName(name, { missing: 'NONEXISTENT' });
    const readOnly = cmd.name === 'EXAMINE';
    // Hold first, so nothing expunged between reading the UIDs and holding is lost.
    const hold = account.holdMailbox(mb.id);
    const { uids, count } = account.sharedUids(mb.id);
    const view = new SelectedView(mb, readOnly, uids, count, hold, true);
    s.select(view);
    const counts = account.counts(mb.id);
    const keywords = account.keywords(mb.id);
    const flags = [...SYSTEM_FLAG_NAMES, ...keywords];
    s.w.raw('* ').num(view.count).raw(' EXISTS').crlf();
    if (!s.rev2) {
      s.w.raw('* 0 RECENT').crlf();
      if (counts.unseen > 0) {
        const uid = account.firstUnseenUid(mb.id);
        const seq = uid ? view.seq(uid) : 0;
        if (seq > 0) s.w.raw('* OK [UNSEEN ').num(seq).raw('] first unseen').crlf();
      }
    }
    s.w.raw('* FLAGS ').atomList(flags).crlf();
    if (readOnly) s.w.raw('* OK [PERMANENTFLAGS ()] read-only mailbox').crlf();
    else s.w.raw('* OK [PERMANENTFLAGS ').atomList([...flags, '\\*']).raw('] flags permitted').crlf();
    s.w.raw('* OK [UIDVALIDITY ').num(mb.uidValidity).raw('] UIDs valid').crlf();
    s.w.raw('* OK [UIDNEXT ').num(counts.uidNext).raw('] predicted next UID').crlf();
    if (s.rev2) {
      s.w.raw('* LIST () "/" ').mailbox(mb.name).crlf();
    }
    return { code: readOnly ? 'READ-ONLY' : 'READ-WRITE', text: `${cmd.name} completed` };
  },
});

/** Expunge \Deleted messages (optionally only these UIDs) and report it to this session now. */
function expungeNow(s: Session, uids: number[] | null, report: boolean): void {
  const view = s.view;
  const gone = s.account.expunge(view.mailbox.id, uids ?? undefined);
  if (!report) return;
  // Our own EXPUNGE responses go out at once, in view order; the broadcast copy of
  // this change finds the UIDs already gone from the view.
  for (const seq of view.expunge(gone)) s.w.raw('* ').num(seq).raw(' EXPUNGE').crlf();
}

/** RFC 9051 §6.4.2 CLOSE: silently expunge (when read-write), then leave; selected state. */
const close = spec({
  names: ['CLOSE'],
  states: SELECTED,
  run(s) {
    if (!s.view.readOnly) expungeNow(s, null, false);
    s.unselect();
  },
});

/** RFC 3691 / RFC 9051 §6.4.3 UNSELECT: leave without expunging; selected state. */
const unselect = spec({
  names: ['UNSELECT'],
  states: SELECTED,
  run(s) {
    s.unselect();
  },
});

/** RFC 9051 §6.4.3 EXPUNGE and RFC 4315 UID EXPUNGE; selected state. */
const expunge = spec({
  names: ['EXPUNGE'],
  states: SELECTED,
  run(s, cmd) {
    if (s.view.readOnly) throw no('READ-ONLY', 'mailbox is read-only');
    const uids = cmd.set ? resolveSet(s, cmd.set, true) : null;
    expungeNow(s, uids, true);
  },
});

export const selectCommands = [select, close, unselect, expunge];
