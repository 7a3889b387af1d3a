// STATUS (RFC 9051 §6.3.11, STATUS=SIZE RFC 8438, APPENDLIMIT RFC 7889), also used by
// LIST-STATUS (RFC 5819).

import type { MailboxInfo } from '../../store/types.ts';
import type { Session } from '../session.ts';
import { AUTHED, spec } from './spec.ts';

/** Write `* STATUS name (items)` from the store's incrementally kept counts. */
export function writeStatus(s: Session, mb: MailboxInfo, items: readonly string[]): void {
  const c = s.account.counts(mb.id);
  s.w.raw('* STATUS ').mailbox(mb.name).raw(' (');
  let first = true;
  for (const item of items) {
    if (!first) s.w.sp();
    first = false;
    s.w.raw(item).sp();
    switch (item) {
      case 'MESSAGES':
        s.w.num(c.messages);
        break;
      case 'UIDNEXT':
        s.w.num(c.uidNext);
        break;
      case 'UIDVALIDITY':
        s.w.num(c.uidValidity);
        break;
      case 'UNSEEN':
        s.w.num(c.unseen);
        break;
      case 'DELETED':
        s.w.num(c.deleted);
        break;
      case 'SIZE':
        s.w.num(c.size);
        break;
      case 'RECENT':
        s.w.num(0);
        break;
      case 'HIGHESTMODSEQ':
        s.w.num(c.highestModseq);
        break;
      case 'APPENDLIMIT':
        s.w.num(s.ctx.config.limits.append_max_bytes);
        break;
      default:
        s.w.raw('NIL');
    }
  }
  s.w.raw(')').crlf();
}

/** RFC 9051 §6.3.11 STATUS; authenticated or selected state. */
const status = spec({
  names: ['STATUS'],
  states: AUTHED,
  run(s, cmd) {
    const mb = s.account.mailboxByName(s.mailboxName(cmd.mailbox), { missing: 'NONEXISTENT' });
    writeStatus(s, mb, cmd.items);
  },
});

export const statusCommands = [status];
