// STORE and UID STORE (RFC 9051 §6.4.6; UNCHANGEDSINCE from RFC 7162 §3.1.3).
// Flag changes reach the other sessions of the mailbox through the store's broadcast;
// this session reports its own in the command's responses instead.

import { no } from '../errors.ts';
import { flagNames } from '../session.ts';
import { parseFlags } from './flags.ts';
import { formatSet, resolveSet } from './seqset.ts';
import { SELECTED, spec } from './spec.ts';

/** RFC 9051 §6.4.6 STORE; selected state. */
const store = spec({
  names: ['STORE'],
  states: SELECTED,
  run(s, cmd) {
    const view = s.view;
    if (view.readOnly) throw no('READ-ONLY', 'mailbox is read-only');
    const account = s.account;
    const mbId = view.mailbox.id;
    const uids = resolveSet(s, cmd.set, cmd.uid);
    const { bits, keywords } = parseFlags(cmd.flags);
    const keywordsBefore = keywords.length ? account.keywords(mbId) : null;
    const result = account.setFlags(mbId, uids, cmd.mode, bits, keywords, { unchangedSince: cmd.unchangedSince ?? undefined });
    if (result.length) s.dropOwnChanges(result[0].modseq);
    if (keywordsBefore) {
      const after = account.keywords(mbId);
      if (after.length !== keywordsBefore.length) s.announceFlags(after);
    }
    const modified = new Set(result.modified);
    if (!cmd.silent || cmd.unchangedSince !== null) {
      const changed = new Map(result.map((u) => [u.uid, u]));
      // Without .SILENT every message of the set gets its flags; with it, none (RFC 9051).
      const report = cmd.silent ? [] : account.messages(mbId, uids.filter((u) => !modified.has(u)));
      for (const m of report) {
        const seq = view.seq(m.uid);
        if (seq === 0) continue;
        const u = changed.get(m.uid);
        s.w.raw('* ').num(seq).raw(' FETCH (');
        if (cmd.uid) s.w.raw('UID ').num(m.uid).sp();
        s.w.raw('FLAGS ').atomList(flagNames(u ? u.flags : m.flags, u ? u.keywords : m.keywords)).raw(')').crlf();
      }
    }
    if (modified.size) {
      const set = cmd.uid ? [...modified] : [...modified].map((u) => view.seq(u)).filter((n) => n > 0);
      return { code: `MODIFIED ${formatSet(set)}`, text: 'conditional STORE failed for some messages' };
    }
  },
});

export const storeCommands = [store];
