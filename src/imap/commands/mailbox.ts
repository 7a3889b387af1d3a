// Managing mailboxes: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE
// (RFC 9051 §6.3.4–6.3.8, RFC 6154 CREATE-SPECIAL-USE).

import { no } from '../errors.ts';
import { AUTHED, spec } from './spec.ts';

/** RFC 9051 §6.3.4 CREATE (with RFC 6154 USE); authenticated or selected state. */
const create = spec({
  names: ['CREATE'],
  states: AUTHED,
  run(s, cmd) {
    let name = s.mailboxName(cmd.mailbox);
    // A trailing separator only says the client intends to create children.
    if (name.endsWith('/')) name = name.slice(0, -1);
    if (name === 'INBOX') throw no('ALREADYEXISTS', 'INBOX always exists');
    s.account.createMailbox(name, { specialUse: cmd.specialUse });
  },
});

/** RFC 9051 §6.3.5 DELETE; authenticated or selected state. */
const del = spec({
  names: ['DELETE'],
  states: AUTHED,
  run(s, cmd) {
    const name = s.mailboxName(cmd.mailbox);
    if (name === 'INBOX') throw no('CANNOT', 'INBOX cannot be deleted');
    // Deleting our own selected mailbox leaves the selected state first.
    if (s.state.kind === 'selected' && s.state.view.mailbox.name === name) s.unselect();
    s.account.deleteMailbox(name);
  },
});

/** RFC 9051 §6.3.6 RENAME; authenticated or selected state. OLDNAME for IMAP4rev2 sessions. */
const rename = spec({
  names: ['RENAME'],
  states: AUTHED,
  run(s, cmd) {
    const from = s.mailboxName(cmd.from);
    let to = s.mailboxName(cmd.to);
    if (to.endsWith('/')) to = to.slice(0, -1);
    if (to === 'INBOX') throw no('ALREADYEXISTS', 'INBOX always exists');
    s.account.renameMailbox(from, to);
    if (s.rev2 && from !== 'INBOX') {
      s.w.raw('* LIST () "/" ').mailbox(to).raw(' ("OLDNAME" (').mailbox(from).raw('))').crlf();
    }
  },
});

/** RFC 9051 §6.3.7 SUBSCRIBE; the mailbox need not exist (as Dovecot allows). */
const subscribe = spec({
  names: ['SUBSCRIBE'],
  states: AUTHED,
  run(s, cmd) {
    s.account.subscribe(s.mailboxName(cmd.mailbox));
  },
});

/** RFC 9051 §6.3.8 UNSUBSCRIBE. */
const unsubscribe = spec({
  names: ['UNSUBSCRIBE'],
  states: AUTHED,
  run(s, cmd) {
    s.account.unsubscribe(s.mailboxName(cmd.mailbox));
  },
});

export const mailboxCommands = [create, del, rename, subscribe, unsubscribe];
