// Types the parser produces. Pure: imports nothing of ours.
// Byte values (mailbox names, astrings, search strings) are views into the command
// buffer (zero copy); a handler decodes them when it needs a string.

export type Bytes = Uint8Array;

/** A sequence number or UID; '*' is the largest in use. */
export type SeqNumber = number | '*';
/** A sequence set; `$` (RFC 5182 SEARCHRES) is `{ saved: true }`. */
export type SequenceSet = { saved: false; ranges: Array<[SeqNumber, SeqNumber]> } | { saved: true };

/** date = day-month-year, no time. */
export interface ImapDate { year: number; month: number; day: number }
/** date-time: instant in ms since epoch, plus the zone offset in minutes as sent. */
export interface ImapDateTime { ms: number; zoneMinutes: number }

export interface Partial { offset: number; count: number }

export interface Section {
  /** Part numbers, e.g. [1, 2] for "1.2"; empty for the whole message. */
  part: number[];
  text: null | 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  /** Upper-cased field names for HEADER.FIELDS(.NOT). */
  fields: string[];
}

export type FetchAtt =
  | { kind: 'ENVELOPE' | 'FLAGS' | 'INTERNALDATE' | 'RFC822.SIZE' | 'BODY' | 'BODYSTRUCTURE' | 'UID' | 'RFC822' | 'RFC822.HEADER' | 'RFC822.TEXT' | 'MODSEQ' | 'SAVEDATE' | 'EMAILID' | 'THREADID' }
  | { kind: 'BODY[]'; peek: boolean; section: Section; partial: Partial | null }
  | { kind: 'BINARY[]'; peek: boolean; part: number[]; partial: Partial | null }
  | { kind: 'BINARY.SIZE'; part: number[] };

export type SearchKey =
  | { op: 'ALL' | 'ANSWERED' | 'DELETED' | 'FLAGGED' | 'SEEN' | 'DRAFT' | 'NEW' | 'OLD' | 'RECENT' | 'UNANSWERED' | 'UNDELETED' | 'UNFLAGGED' | 'UNSEEN' | 'UNDRAFT' }
  | { op: 'KEYWORD' | 'UNKEYWORD'; flag: string }
  | { op: 'BCC' | 'BODY' | 'CC' | 'FROM' | 'SUBJECT' | 'TEXT' | 'TO'; value: Bytes }
  | { op: 'HEADER'; field: string; value: Bytes }
  | { op: 'BEFORE' | 'ON' | 'SINCE' | 'SENTBEFORE' | 'SENTON' | 'SENTSINCE'; date: ImapDate }
  | { op: 'LARGER' | 'SMALLER'; size: number }
  | { op: 'OLDER' | 'YOUNGER'; seconds: number }
  | { op: 'UID' | 'SEQ'; set: SequenceSet }
  | { op: 'MODSEQ'; modseq: bigint }
  | { op: 'NOT'; key: SearchKey }
  | { op: 'OR'; a: SearchKey; b: SearchKey }
  | { op: 'AND'; keys: SearchKey[] };

/** One message of APPEND (several with MULTIAPPEND). */
export interface AppendMessage {
  flags: string[];
  date: ImapDateTime | null;
  binary: boolean;
  /** Index of this literal among the command's literals. */
  literal: number;
  size: number;
  /** The bytes when the literal was buffered; null when the session streamed it. */
  data: Bytes | null;
}

export interface ListReturn {
  children: boolean;
  subscribed: boolean;
  specialUse: boolean;
  /** STATUS items from RETURN (STATUS (...)), upper-cased; null when absent. */
  status: string[] | null;
}

/** STORE modes: FLAGS, +FLAGS, -FLAGS. */
export type StoreMode = 'set' | 'add' | 'remove';

type C<N extends string, A = {}> = { tag: string; name: N; uid: boolean } & A;

export type Command =
  | C<'CAPABILITY' | 'NOOP' | 'LOGOUT' | 'STARTTLS' | 'CHECK' | 'CLOSE' | 'UNSELECT' | 'NAMESPACE' | 'IDLE'>
  | C<'EXPUNGE', { set: SequenceSet | null }>
  | C<'LOGIN', { user: Bytes; pass: Bytes }>
  | C<'AUTHENTICATE', { mechanism: string; initial: Bytes | null }>
  | C<'ENABLE', { caps: string[] }>
  | C<'ID', { params: Array<[Bytes, Bytes | null]> | null }>
  | C<'COMPRESS', { mechanism: string }>
  | C<'SELECT' | 'EXAMINE', { mailbox: Bytes; condstore: boolean }>
  | C<'CREATE', { mailbox: Bytes; specialUse: string[] }>
  | C<'DELETE' | 'SUBSCRIBE' | 'UNSUBSCRIBE', { mailbox: Bytes }>
  | C<'RENAME', { from: Bytes; to: Bytes }>
  | C<'LIST', { selection: string[]; reference: Bytes; patterns: Bytes[]; returns: ListReturn; extended: boolean }>
  | C<'LSUB', { reference: Bytes; pattern: Bytes }>
  | C<'STATUS', { mailbox: Bytes; items: string[] }>
  | C<'APPEND', { mailbox: Bytes; messages: AppendMessage[] }>
  | C<'FETCH', { set: SequenceSet; atts: FetchAtt[]; changedSince: bigint | null; vanished: boolean }>
  | C<'STORE', { set: SequenceSet; mode: StoreMode; silent: boolean; flags: string[]; unchangedSince: bigint | null }>
  | C<'COPY' | 'MOVE', { set: SequenceSet; mailbox: Bytes }>
  | C<'SEARCH', { charset: string | null; returns: string[] | null; key: SearchKey }>;

export type CommandName = Command['name'];

/**
 * Where the framer found a literal, offsets relative to the start of the command buffer
 * the grammar reads. For a literal whose data is not in that buffer (streamed, or kept
 * apart in `data`), dataStart === dataEnd.
 */
export interface LiteralSpan {
  /** Offset of the header: its "{", or the "~" of "~{". */
  start: number;
  size: number;
  sync: boolean;
  binary: boolean;
  dataStart: number;
  dataEnd: number;
  streamed: boolean;
  /** The data, when kept apart from the command text (a command read across chunks). */
  data: Bytes | null;
}

/** What `next()` hands the session. */
export type ParseEvent =
  | { kind: 'need-more' }
  /** A literal header `{n}`, `{n+}` or `~{n}` was read. The session must call
   * acceptLiteral() or rejectLiteral() before next(). For a synchronizing literal the
   * session sends `+ ` only when acceptLiteral() returned true. */
  | { kind: 'literal'; tag: string; command: string; size: number; sync: boolean; binary: boolean; index: number;
      /** The destination mailbox when this literal is an APPEND message; null otherwise. */
      appendMailbox: Bytes | null }
  /** Stream mode: the literal's bytes as they arrive (views into fed chunks). */
  | { kind: 'literal-data'; data: Bytes; done: boolean }
  /** `raw`: the command without its final CRLF. A buffered literal's data lies in it
   * (zero copy) when the command came in one chunk, else it is kept apart: see
   * LiteralSpan. commandText() gives the text for logs. */
  | { kind: 'command'; command: Command; raw: Bytes; lits: readonly LiteralSpan[] }
  /** A line read in line mode (IDLE's DONE, AUTHENTICATE responses), without CRLF. */
  | { kind: 'line'; line: Bytes }
  /** The command could not be parsed or was refused. `fatal`: send `* BYE text` and close. */
  | { kind: 'error'; tag: string | null; status: 'BAD' | 'NO'; code: string | null; text: string; fatal: boolean };
