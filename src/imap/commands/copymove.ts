// COPY, MOVE and their UID forms (RFC 9051 §6.4.7, RFC 6851 MOVE, RFC 4315 COPYUID).
// A copy shares the message file (hard link); MOVE is one transaction in the store.

import type { CopyResult } from '../../store/types.ts';
import { no } from '../errors.ts';
import { formatSet, resolveSet } from './seqset.ts';
import { SELECTED, spec } from './spec.ts';

function copyUid(r: CopyResult): string {
  return `COPYUID ${r.uidValidity} ${formatSet(r.pairs.map((p) => p[0]))} ${formatSet(r.pairs.map((p) => p[1]))}`;
}

/** RFC 9051 §6.4.7 COPY; selected state. */
const copy = spec({
  names: ['COPY'],
  states: SELECTED,
  run(s, cmd) {
    const account = s.account;
    const dest = account.mailboxByName(s.mailboxName(cmd.mailbox), { missing: 'TRYCREATE' });
    const uids = resolveSet(s, cmd.set, cmd.uid);
    const r = account.copy(s.view.mailbox.id, uids, dest.id);
    if (!r.pairs.length) return;
    return { code: copyUid(r), text: 'COPY completed' };
  },
});

/** RFC 6851 MOVE; selected state. COPYUID goes in an untagged OK before the EXPUNGEs. */
const move = spec({
  names: ['MOVE'],
  states: SELECTED,
  run(s, cmd) {
    const view = s.view;
    if (view.readOnly) throw no('READ-ONLY', 'mailbox is read-only');
    const account = s.account;
    const dest = account.mailboxByName(s.mailboxName(cmd.mailbox), { missing: 'TRYCREATE' });
    if (dest.id === view.mailbox.id) throw no('CANNOT', 'source and destination are the same mailbox');
    const uids = resolveSet(s, cmd.set, cmd.uid);
    const r = account.move(view.mailbox.id, uids, dest.id);
    if (!r.pairs.length) return;
    s.w.raw('* OK [').raw(copyUid(r)).raw('] moved').crlf();
    for (const seq of view.expunge(r.pairs.map((p) => p[0]))) s.w.raw('* ').num(seq).raw(' EXPUNGE').crlf();
  },
});

export const copyMoveCommands = [copy, move];
