// Mailbox names: normalization and validation. Pure; imports nothing.
//
// Invariants callers rely on:
// - A stored name is the output of normalizeMailboxName(): NFC, hierarchy separator '/',
//   and a first component equal to "inbox" in any case is spelled "INBOX" ("inbox/x" is
//   the child "INBOX/x" of INBOX).
// - A name passes mailboxNameProblem() before it is created or subscribed. Lookups only
//   normalize: an invalid name simply does not exist.
// - Decoding modified UTF-7 and stripping the one trailing separator RFC 9051 §6.3.4
//   allows on CREATE is the protocol layer's job; the store sees plain UTF-8 names.

export const HIERARCHY_SEPARATOR = '/';
/** Longest name we accept, in UTF-8 bytes. Children of a renamed mailbox must fit too. */
export const MAX_MAILBOX_NAME_BYTES = 1024;

const encoder = new TextEncoder();

/** NFC, and "INBOX" for a first component that is "inbox" in any case. */
export function normalizeMailboxName(name: string): string {
  const n = name.normalize('NFC');
  const slash = n.indexOf(HIERARCHY_SEPARATOR);
  const first = slash < 0 ? n : n.slice(0, slash);
  if (first.length === 5 && first.toUpperCase() === 'INBOX' && first !== 'INBOX') {
    return 'INBOX' + (slash < 0 ? '' : n.slice(slash));
  }
  return n;
}

export function isInbox(normalizedName: string): boolean {
  return normalizedName === 'INBOX';
}

/**
 * Why `name` (normalized) cannot be a mailbox name, or null when it can. Refused: the
 * empty name, empty hierarchy components (so no leading, trailing or doubled '/'), '#'
 * as first character (kept free for namespaces), control characters (C0, DEL, C1),
 * unpaired surrogates, and names over MAX_MAILBOX_NAME_BYTES. Allowed: '*', '%', '&',
 * '#' after the first character, and any other Unicode.
 */
export function mailboxNameProblem(name: string): string | null {
  if (name === '') return 'empty mailbox name';
  if (name.startsWith('#')) return 'mailbox name cannot start with "#"';
  if (!name.isWellFormed()) return 'mailbox name is not valid unicode';
  if (/[\x00-\x1f\x7f-\x9f]/.test(name)) return 'mailbox name contains control characters';
  if (name.split(HIERARCHY_SEPARATOR).includes('')) return 'mailbox name has an empty hierarchy component';
  if (encoder.encode(name).length > MAX_MAILBOX_NAME_BYTES) return 'mailbox name too long';
  return null;
}

/** Proper ancestors, outermost first: "a/b/c" gives ["a", "a/b"]. */
export function parentNames(name: string): string[] {
  const parts = name.split(HIERARCHY_SEPARATOR);
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join(HIERARCHY_SEPARATOR));
  return out;
}

/** Is `name` strictly below `ancestor` in the hierarchy? */
export function isInferior(name: string, ancestor: string): boolean {
  return name.length > ancestor.length + 1 && name.startsWith(ancestor) && name[ancestor.length] === HIERARCHY_SEPARATOR;
}

/** RFC 6154 special-use attributes the store accepts, in canonical spelling. */
export const SPECIAL_USES = ['\\All', '\\Archive', '\\Drafts', '\\Flagged', '\\Junk', '\\Sent', '\\Trash'] as const;

/**
 * Canonical spelling of special-use attributes (matched case-insensitively), deduplicated,
 * or null when one is not in SPECIAL_USES.
 */
export function normalizeSpecialUse(uses: readonly string[]): string[] | null {
  const out: string[] = [];
  for (const u of uses) {
    const canon = SPECIAL_USES.find((s) => s.toLowerCase() === u.toLowerCase());
    if (canon === undefined) return null;
    if (!out.includes(canon)) out.push(canon);
  }
  return out;
}
