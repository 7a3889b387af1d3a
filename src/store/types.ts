// The store's public types: what the IMAP layer (and later LMTP/JMAP, CLI, web) sees.
// The store never imports the IMAP layer.

/** System flags are kept as a bitmask; keywords as strings. */
export const SysFlag = { Seen: 1, Answered: 2, Flagged: 4, Deleted: 8, Draft: 16 } as const;
export const SYSTEM_FLAGS: ReadonlyArray<readonly [string, number]> = [
  ['\\Seen', 1], ['\\Answered', 2], ['\\Flagged', 4], ['\\Deleted', 8], ['\\Draft', 16],
];

export interface MailboxInfo {
  id: number;
  /** Full name, UTF-8, hierarchy separator '/'; "INBOX" is always spelled so. */
  name: string;
  uidValidity: number;
  uidNext: number;
  /** Special-use attributes such as "\\Sent". */
  specialUse: string[];
  modseq: bigint;
}

export interface MailboxCounts {
  messages: number;
  unseen: number;
  deleted: number;
  /** Sum of message sizes in bytes. */
  size: number;
  uidNext: number;
  uidValidity: number;
  highestModseq: bigint;
}

export interface MessageMeta {
  uid: number;
  /** Bitmask of SysFlag. */
  flags: number;
  keywords: string[];
  size: number;
  /** ms since epoch */
  internalDate: number;
  modseq: bigint;
}

export interface AppendInput {
  /** A file the caller wrote (e.g. the streamed APPEND literal). The store takes it over:
   * it is moved/linked into the account's message directory and fsynced (file and
   * directory) before the transaction commits. */
  tmpPath: string;
  size: number;
  flags: number;
  keywords: string[];
  /** ms since epoch; defaults to now */
  internalDate?: number;
}

export type StoreErrorCode =
  | 'NONEXISTENT' | 'TRYCREATE' | 'ALREADYEXISTS' | 'CANNOT' | 'LIMIT' | 'OVERQUOTA'
  | 'INUSE' | 'NOPERM' | 'SERVERBUG';

/** A refusal the caller can map to an IMAP response code one-to-one. */
export class StoreError extends Error {
  constructor(readonly code: StoreErrorCode, message: string) { super(message); }
}

/** Broadcast to every listener of the account after each commit, before any await. */
export type Change =
  | { kind: 'added'; mailboxId: number; uid: number; flags: number; keywords: string[]; modseq: bigint }
  | { kind: 'expunged'; mailboxId: number; uids: number[]; modseq: bigint }
  | { kind: 'flags'; mailboxId: number; uid: number; flags: number; keywords: string[]; modseq: bigint }
  | { kind: 'mailbox-created'; mailboxId: number; name: string }
  | { kind: 'mailbox-deleted'; mailboxId: number; name: string }
  | { kind: 'mailbox-renamed'; mailboxId: number; oldName: string; newName: string }
  | { kind: 'subscription'; name: string; subscribed: boolean };

export type ChangeListener = (changes: readonly Change[]) => void;
