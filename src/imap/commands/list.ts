// LIST and LSUB (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 6154 SPECIAL-USE,
// RFC 5819 LIST-STATUS, RFC 3348 CHILDREN; LSUB from RFC 3501 §6.3.9).
// Mailbox parents always exist in the store, so only subscriptions can name
// mailboxes that do not exist (\NonExistent).

import type { MailboxInfo } from '../../store/types.ts';
import { normalizeMailboxName } from '../../store/mailboxname.ts';
import type { Session } from '../session.ts';
import { AUTHED, spec } from './spec.ts';
import { writeStatus } from './status.ts';

/** A compiled LIST pattern: `*` matches anything, `%` anything but the separator. */
export function compilePattern(pattern: string): RegExp {
  let re = '^';
  for (const ch of normalizeMailboxName(pattern)) {
    if (ch === '*') re += '.*';
    else if (ch === '%') re += '[^/]*';
    else re += ch.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(re + '$', 's');
}

/** Reference and pattern combined into one canonical pattern (RFC 9051 §6.3.9). */
function canonical(reference: string, pattern: string): string {
  if (reference === '' || pattern.startsWith('/')) return pattern;
  return reference + pattern;
}

interface Entry {
  name: string;
  mailbox: MailboxInfo | null;
  subscribed: boolean;
  /** A descendant meets the selection criteria (RECURSIVEMATCH). */
  childMatches: boolean;
}

/** RFC 9051 §6.3.9 LIST with RFC 5258 extensions; authenticated or selected state. */
const list = spec({
  names: ['LIST'],
  states: AUTHED,
  run(s, cmd) {
    const reference = s.mailboxName(cmd.reference);
    const patterns = cmd.patterns.map((p) => s.mailboxName(p));
    const sel = new Set(cmd.selection);
    const selSubscribed = sel.has('SUBSCRIBED');
    const selSpecial = sel.has('SPECIAL-USE');
    const recursive = sel.has('RECURSIVEMATCH');
    const retSubscribed = cmd.returns.subscribed || selSubscribed;

    // RFC 9051 §6.3.9: an empty pattern asks for the separator and the root.
    if (patterns.length === 1 && patterns[0] === '' && !cmd.extended) {
      const root = reference.includes('/') ? reference.slice(0, reference.indexOf('/') + 1) : '';
      s.w.raw('* LIST (\\Noselect) "/" ').string(root).crlf();
      return;
    }
    const res = patterns.filter((p) => p !== '').map((p) => compilePattern(canonical(reference, p)));
    if (res.length === 0) return;

    const account = s.account;
    const mailboxes = account.mailboxes();
    const subs = retSubscribed || selSubscribed ? account.subscriptions() : new Set<string>();
    const byName = new Map<string, Entry>();
    for (const mb of mailboxes) byName.set(mb.name, { name: mb.name, mailbox: mb, subscribed: subs.has(mb.name), childMatches: false });
    for (const name of subs) if (!byName.has(name)) byName.set(name, { name, mailbox: null, subscribed: true, childMatches: false });

    const selected = (e: Entry) => (!selSubscribed || e.subscribed) && (!selSpecial || (e.mailbox?.specialUse.length ?? 0) > 0);
    if (recursive) {
      for (const e of byName.values()) {
        if (!selected(e)) continue;
        for (let i = e.name.indexOf('/'); i > 0; i = e.name.indexOf('/', i + 1)) {
          const parent = byName.get(e.name.slice(0, i));
          if (parent) parent.childMatches = true;
        }
      }
    }
    const hasChildren = childrenSet(mailboxes);
    const names = [...byName.keys()].sort(compareNames);
    for (const name of names) {
      const e = byName.get(name)!;
      if (!res.some((re) => re.test(name))) continue;
      const isSelected = selected(e);
      const viaChild = recursive && e.childMatches && !isSelected;
      if (!isSelected && !viaChild) continue;
      // Without a selection option, subscriptions to missing mailboxes are not listed.
      if (!e.mailbox && !selSubscribed) continue;
      const attrs: string[] = [];
      if (!e.mailbox) attrs.push('\\NonExistent');
      else {
        attrs.push(hasChildren.has(name) ? '\\HasChildren' : '\\HasNoChildren');
        for (const u of e.mailbox.specialUse) attrs.push(u);
      }
      if (retSubscribed && e.subscribed) attrs.push('\\Subscribed');
      s.w.raw('* LIST ').atomList(attrs).raw(' "/" ').mailbox(name);
      if (viaChild || (recursive && e.childMatches && selSubscribed)) s.w.raw(' ("CHILDINFO" ("SUBSCRIBED"))');
      s.w.crlf();
      if (cmd.returns.status && e.mailbox) writeStatus(s, e.mailbox, cmd.returns.status);
    }
  },
});

/** RFC 3501 §6.3.9 LSUB (IMAP4rev1 only, kept for old clients). */
const lsub = spec({
  names: ['LSUB'],
  states: AUTHED,
  run(s, cmd) {
    const reference = s.mailboxName(cmd.reference);
    const pattern = s.mailboxName(cmd.pattern);
    if (pattern === '') {
      s.w.raw('* LSUB (\\Noselect) "/" ""').crlf();
      return;
    }
    const re = compilePattern(canonical(reference, pattern));
    const account = s.account;
    const existing = new Set(account.mailboxes().map((m) => m.name));
    const out = new Map<string, boolean>();
    for (const name of account.subscriptions()) {
      if (re.test(name)) {
        out.set(name, existing.has(name));
        continue;
      }
      // With `%`, a subscribed child makes its unsubscribed parent appear as \Noselect.
      for (let i = name.indexOf('/'); i > 0; i = name.indexOf('/', i + 1)) {
        const parent = name.slice(0, i);
        if (re.test(parent) && !out.has(parent)) out.set(parent, false);
      }
    }
    for (const name of [...out.keys()].sort(compareNames)) {
      s.w.raw('* LSUB ').raw(out.get(name) ? '()' : '(\\Noselect)').raw(' "/" ').mailbox(name).crlf();
    }
  },
});

function childrenSet(mailboxes: readonly MailboxInfo[]): Set<string> {
  const out = new Set<string>();
  for (const mb of mailboxes) {
    const i = mb.name.lastIndexOf('/');
    if (i > 0) out.add(mb.name.slice(0, i));
  }
  return out;
}

/** INBOX first, then by name. */
function compareNames(a: string, b: string): number {
  if (a === 'INBOX') return -1;
  if (b === 'INBOX') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export const listCommands = [list, lsub];
