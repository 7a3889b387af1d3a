// The store's public types: what the IMAP layer (and later LMTP/JMAP, CLI, web) sees.
// The store never imports the IMAP layer.

import type { MessageInfo } from '../message/types.ts';

import type { Logger } from '../log.ts';

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
  /** The parsed structure (ENVELOPE, BODYSTRUCTURE, part offsets), stored with the row. */
  structure?: MessageInfo;
  /** The header fields SEARCH records (message/searchheaders.ts). */
  searchHeaders?: string;
  /** ENVELOPE/BODY/BODYSTRUCTURE pre-rendered by the IMAP layer; opaque to the store. */
  rendered?: Uint8Array | null;
}

export type StoreErrorCode =
  | 'NONEXISTENT' | 'TRYCREATE' | 'ALREADYEXISTS' | 'CANNOT' | 'LIMIT' | 'OVERQUOTA'
  | 'INUSE' | 'NOPERM' | 'SERVERBUG'
  /** DELETE of a mailbox that has inferior names (RFC 9051 §7.1). */
  | 'HASCHILDREN'
  /** CREATE with a special-use attribute the store does not support (RFC 6154 §3). */
  | 'USEATTR';

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

/** Names of the special-use mailboxes created with a new account. */
export interface DefaultMailboxes { drafts: string; sent: string; archive: string; junk: string; trash: string }

export interface AccountOpenOptions {
  /** Account name, for log lines. */
  name: string;
  defaultMailboxes: DefaultMailboxes;
  log?: Logger;
}

/** What messages() and message() return: MessageMeta plus store-kept dates. */
export interface StoredMessage extends MessageMeta {
  /** ms since epoch: when the message was last saved into this mailbox (append, copy, move). */
  saveDate: number;
}

export type FlagsMode = 'set' | 'add' | 'remove';

export interface FlagsUpdate { uid: number; flags: number; keywords: string[]; modseq: bigint }

/** The messages whose flags changed, plus `modified`: the UIDs (ascending) refused by an
 * UNCHANGEDSINCE test (RFC 7162 MODIFIED response code). */
export type SetFlagsResult = FlagsUpdate[] & { modified: number[] };

export interface AppendResult { uid: number; uidValidity: number; modseq: bigint }

/** COPYUID material: [source uid, destination uid] pairs, ascending by source uid. */
export interface CopyResult { uidValidity: number; pairs: Array<[number, number]> }

export interface RecalculatedCounts { mailboxId: number; name: string; before: MailboxCounts; after: MailboxCounts }
