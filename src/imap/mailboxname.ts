// Mailbox names from the wire to their stored form (UTF-8, '/' separator, "INBOX").

import { normalizeMailboxName } from '../store/mailboxname.ts';
import { bad } from './errors.ts';
import { decodeUtf7 } from './utf7.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decode a mailbox name as sent: UTF-8 when the session enabled IMAP4rev2 or
 * UTF8=ACCEPT, else modified UTF-7 (strict: a malformed name is a BAD, so a rev1
 * client never creates a name it cannot read back).
 */
export function decodeMailboxName(b: Uint8Array, isUtf8: boolean): string {
  let name: string;
  if (isUtf8) {
    try {
      name = utf8.decode(b);
    } catch {
      throw bad('mailbox name is not valid UTF-8');
    }
  } else {
    const s = latin(b);
    const d = decodeUtf7(s);
    if (d === null) throw bad('mailbox name is not valid modified UTF-7');
    name = d;
  }
  return normalizeMailboxName(name);
}

function latin(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}
