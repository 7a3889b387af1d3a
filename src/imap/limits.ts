// Limits on what one client command may make the parser hold. One module, so that the
// parser, the session and the tests agree on the numbers (STYLE.md item 10: each is tested
// at its edge: at the limit passes, one byte over gets the documented answer, the same
// split across chunks, and NOOP still answers afterwards).
//
// What each limit counts:
// - MAX_LINE: the text of one command, excluding literal data, summed over all its line
//   segments (a command with literals has one segment per literal plus the last), CRLFs
//   and literal headers included. Past it the parser returns a fatal BAD: the session
//   sends `* BYE` and closes, since it cannot tell where the command ends.
// - MAX_LITERAL: one literal the parser buffers (any literal except APPEND message data,
//   which the session streams to a file and checks against its own limit). Past it the
//   literal is refused with `NO [TOOBIG]` and the connection lives on.
// - MAX_LITERALS: literals in one command, buffered or streamed (MULTIAPPEND, SEARCH with
//   many string literals). Past it: `NO [TOOBIG]`.
// - MAX_LITERAL_TOTAL: bytes of buffered literals in one command. Past it: `NO [TOOBIG]`.
//   With MAX_LINE this bounds the parser's memory per connection at
//   MAX_LINE + MAX_LITERAL_TOTAL (plus the chunks the session has fed and not yet pulled).
// - MAX_DISCARD: bytes of refused non-synchronizing literals (`{n+}`) one command may make
//   us read and drop. The tagged NO goes out as soon as a literal is refused; the rest of
//   the command is then read and dropped (never kept) so the connection lives on, unless
//   its refused literals add up to more than this: then `* BYE` and close at once, before
//   their data (RFC 7888 §4 allows closing). Past 1 MiB, closing is cheaper for both
//   sides than a useless upload: the client stops sending bytes we would throw away, and
//   an attacker's refused command costs us at most MAX_LITERAL_TOTAL + MAX_DISCARD of reads.
// - MAX_TAG: bytes of a command tag; a longer tag is unreadable (`* BAD`).
// - MAX_AUTH_LINE: one line in line mode (AUTHENTICATE client responses, IDLE's DONE);
//   past it: fatal, like MAX_LINE.
// - MAX_SEARCH_DEPTH: nesting of SEARCH keys (parentheses, NOT, OR); deeper is BAD.
// - MAX_LITERAL_SIZE: the largest literal size a header may announce (RFC 9051 `number`,
//   2^32-1); a larger `{n}` is BAD.

/** Command text excluding literal data, over all line segments of one command, CRLFs included. */
export const MAX_LINE = 64 * 1024;
/** One buffered (non-APPEND-message) literal. */
export const MAX_LITERAL = 100 * 1024;
/** Literals in one command, buffered or streamed. */
export const MAX_LITERALS = 1000;
/** Bytes of buffered literals in one command. */
export const MAX_LITERAL_TOTAL = 1024 * 1024;
/** Bytes of refused `{n+}` literal data one command may make us read and drop. */
export const MAX_DISCARD = 1024 * 1024;
/** Bytes of a command tag. Clients use short counters ("A0001", "1"); this is generous. */
export const MAX_TAG = 128;
/** One line in line mode (AUTHENTICATE responses carry base64 SASL messages). */
export const MAX_AUTH_LINE = 64 * 1024;
/** Nesting depth of SEARCH keys. */
export const MAX_SEARCH_DEPTH = 100;
/** Largest literal size a literal header may announce: RFC 9051 number, 2^32-1. */
export const MAX_LITERAL_SIZE = 0xffff_ffff;
