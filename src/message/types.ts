// The parsed structure of a stored message: computed once at APPEND (and later at
// delivery), stored as JSON with the message row, so that FETCH of ENVELOPE,
// BODYSTRUCTURE, RFC822.SIZE or a part's headers never re-parses the message.
// Offsets are byte offsets into the stored message file (which is what FETCH sends).
// Strings taken from the message (header values, names, parameters) are *binary
// strings*: one char per byte (latin1), so that the exact bytes, 8-bit or not, are
// reproduced on the wire.

/** An address as ENVELOPE carries it (RFC 9051 §7.5.2 "address"). Group syntax: a
 * start marker has mailbox = group name and host = null; the end marker has both null. */
export interface Address {
  /** Display name as in the header (encoded words are not decoded, as Dovecot sends them). */
  name: string | null;
  /** Source route (obsolete); almost always null. */
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

/** RFC 9051 §7.5.2 ENVELOPE, fields as the header text (unfolded), null when absent.
 * Exception: `subject` keeps its folding line breaks, because they decide the string form
 * on the wire (Dovecot sends a folded subject as a literal); unfold it for display or search. */
export interface Envelope {
  date: string | null;
  subject: string | null;
  from: Address[] | null;
  sender: Address[] | null;
  replyTo: Address[] | null;
  to: Address[] | null;
  cc: Address[] | null;
  bcc: Address[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

export interface Part {
  /** Offset of the part's header (for the root: 0). */
  headerStart: number;
  /** Offset where the body starts (after the blank line; == bodyStart). */
  bodyStart: number;
  /** Offset after the body (exclusive). */
  bodyEnd: number;
  /** Lines in the body (for text/* and message/rfc822 in BODYSTRUCTURE). */
  bodyLines: number;
  /** Lower-case media type and subtype, defaults applied (text/plain; multipart/digest children: message/rfc822).
   * A malformed Content-Type gives "" and ""; a lone type token gives an empty subtype. */
  type: string;
  subtype: string;
  /** Type and subtype exactly as sent, present only when they differ from `type`/`subtype`
   * (BODYSTRUCTURE echoes the sender's spelling, as Dovecot does). */
  rawType?: string;
  rawSubtype?: string;
  /** Content-Type parameters in order, attribute names lower-cased, values as sent (RFC 2231 continuations joined). */
  params: Array<[string, string]>;
  /** Parameter names as sent, parallel to `params`, present only when one differs from its lower-cased form. */
  rawParamNames?: string[];
  id: string | null;
  description: string | null;
  /** Content-Transfer-Encoding as sent (compare case-insensitively); "7bit" when absent or
   * malformed. BODYSTRUCTURE echoes it as sent, as Dovecot does. */
  encoding: string;
  md5: string | null;
  /** Content-Disposition: type and parameter names as sent (compare case-insensitively). */
  disposition: { type: string; params: Array<[string, string]> } | null;
  language: string[] | null;
  location: string | null;
  /** multipart/*: the children; empty for other types. */
  parts: Part[];
  /** message/rfc822 (and message/global): the embedded message's envelope and root part. */
  message: { envelope: Envelope; root: Part } | null;
}

export interface MessageInfo {
  /** Structure format version, so a later change can re-parse old rows. */
  v: 1;
  /** Total size in bytes (== RFC822.SIZE == the file size). */
  size: number;
  envelope: Envelope;
  root: Part;
}
