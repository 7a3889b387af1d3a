// ENVELOPE, BODY and BODYSTRUCTURE writers (RFC 9051 §7.5.2, RFC 3501 §7.4.2), byte for
// byte what Dovecot 2.3 sends for the same message, from the parsed `MessageInfo`.
//
// Invariants: message strings are binary strings (one char per byte) and reach the
// wire only through the writer's `quotedLatin1` and `literalLatin1`, so a value can
// never inject CRLF. String form follows Dovecot:
// - `nstring`: quoted unless it holds CR, LF or NUL, an 8-bit byte (unless the session
//   speaks UTF-8), or more than four '"' / '\' (then a literal);
// - "for humans" (subject, display names): whitespace runs collapse to one space and
//   are trimmed, NUL becomes 0x80; when that changed anything, or the text holds '"',
//   '\' or 8-bit bytes, it is sent as a literal of the cleaned text.

import { ResponseWriter } from './encode.ts';
import type { Address, Envelope, MessageInfo, Part } from '../message/types.ts';

/** A string the way Dovecot's imap_append_nstring writes it. */
export function writeNString(w: ResponseWriter, s: string | null): void {
  if (s === null) w.raw('NIL');
  else if (countSpecials(s) > 4) w.literalLatin1(s);
  // The writer itself turns to a literal for CR, LF, NUL and 8-bit bytes before UTF-8.
  else w.quotedLatin1(s);
}

/** How many '"' and '\' a quoted form would escape. */
function countSpecials(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) n++;
  }
  return n;
}

/** Dovecot's imap_append_string_for_humans. */
export function writeHumanString(w: ResponseWriter, s: string | null): void {
  if (s === null) {
    w.raw('NIL');
    return;
  }
  const text = forHumans(s);
  if (text === '') w.raw('""');
  // Unchanged text without '"' or '\' goes quoted, where the writer still sends 8-bit
  // text as a literal unless the session speaks UTF-8.
  else if (text === s && countSpecials(s) === 0) w.quotedLatin1(s);
  else w.literalLatin1(text);
}

/** Whitespace runs collapsed to one space and trimmed, NUL as 0x80; `s` itself when
 * nothing changes, which is the common case and allocates nothing. */
function forHumans(s: string): string {
  if (!needsCleaning(s)) return s;
  let out = s.replace(/[ \t\r\n]+/g, ' ').replace(/\0/g, '\x80');
  if (out.startsWith(' ')) out = out.slice(1);
  return out.endsWith(' ') ? out.slice(0, -1) : out;
}

function needsCleaning(s: string): boolean {
  const last = s.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x09 || c === 0x0d || c === 0x0a || c === 0) return true;
    if (c === 0x20 && (i === 0 || i === last || s.charCodeAt(i - 1) === 0x20)) return true;
  }
  return false;
}

function writeAddresses(w: ResponseWriter, list: Address[] | null): void {
  if (list === null || list.length === 0) {
    w.raw('NIL');
    return;
  }
  w.byte(0x28);
  for (const a of list) {
    w.byte(0x28);
    writeHumanString(w, a.name);
    w.sp();
    writeNString(w, a.adl);
    w.sp();
    writeNString(w, a.mailbox);
    w.sp();
    writeNString(w, a.host);
    w.byte(0x29);
  }
  w.byte(0x29);
}

/** ENVELOPE (RFC 9051 §7.5.2): Sender and Reply-To default to From. */
export function writeEnvelope(w: ResponseWriter, env: Envelope): void {
  w.byte(0x28);
  writeNString(w, env.date);
  w.sp();
  writeHumanString(w, env.subject);
  w.sp();
  writeAddresses(w, env.from);
  w.sp();
  writeAddresses(w, env.sender ?? env.from);
  w.sp();
  writeAddresses(w, env.replyTo ?? env.from);
  w.sp();
  writeAddresses(w, env.to);
  w.sp();
  writeAddresses(w, env.cc);
  w.sp();
  writeAddresses(w, env.bcc);
  w.sp();
  writeNString(w, env.inReplyTo);
  w.sp();
  writeNString(w, env.messageId);
  w.byte(0x29);
}

function writeParams(w: ResponseWriter, params: Array<[string, string]>, names: string[] | undefined, defaultCharset: boolean): void {
  if (params.length === 0 && !defaultCharset) {
    w.raw('NIL');
    return;
  }
  w.byte(0x28);
  let seenCharset = false;
  for (let i = 0; i < params.length; i++) {
    if (i > 0) w.sp();
    const name = names?.[i] ?? params[i][0];
    if (isCharset(params[i][0])) seenCharset = true;
    writeNString(w, name);
    w.sp();
    writeNString(w, params[i][1]);
  }
  if (defaultCharset && !seenCharset) {
    if (params.length > 0) w.sp();
    w.raw('"charset" "us-ascii"');
  }
  w.byte(0x29);
}

/** Case-insensitive "charset", lowercasing only names of its length. */
function isCharset(name: string): boolean {
  return name.length === 7 && name.toLowerCase() === 'charset';
}

const EMPTY_BODY = '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0)';
const EMPTY_BODYSTRUCTURE = '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)';

function writeExtension(w: ResponseWriter, part: Part): void {
  w.sp();
  if (part.disposition === null) w.raw('NIL');
  else {
    w.byte(0x28);
    writeNString(w, part.disposition.type);
    w.sp();
    writeParams(w, part.disposition.params, undefined, false);
    w.byte(0x29);
  }
  w.sp();
  if (part.language === null) w.raw('NIL');
  else {
    w.byte(0x28);
    for (let i = 0; i < part.language.length; i++) {
      if (i > 0) w.sp();
      writeNString(w, part.language[i]);
    }
    w.byte(0x29);
  }
  w.sp();
  writeNString(w, part.location);
}

/** BODY (extended=false) or BODYSTRUCTURE (extended=true) of a part tree. */
export function writeBodyStructure(w: ResponseWriter, part: Part, extended: boolean): void {
  const type = part.rawType ?? part.type;
  const subtype = part.rawSubtype ?? part.subtype;
  w.byte(0x28);
  if (part.type === 'multipart' && part.subtype !== '') {
    if (part.parts.length === 0) w.raw(extended ? EMPTY_BODYSTRUCTURE : EMPTY_BODY);
    for (const child of part.parts) writeBodyStructure(w, child, extended);
    w.sp();
    writeNString(w, subtype);
    if (extended) {
      w.sp();
      writeParams(w, part.params, part.rawParamNames, false);
      writeExtension(w, part);
    }
    w.byte(0x29);
    return;
  }
  const text = part.type === 'text';
  writeNString(w, type);
  w.sp();
  writeNString(w, subtype);
  w.sp();
  writeParams(w, part.params, part.rawParamNames, text);
  w.sp();
  writeNString(w, part.id);
  w.sp();
  writeNString(w, part.description);
  w.sp();
  writeNString(w, part.encoding);
  w.sp();
  w.num(part.bodyEnd - part.bodyStart);
  if (text) {
    w.sp();
    w.num(part.bodyLines);
  } else if (part.message !== null) {
    w.sp();
    writeEnvelope(w, part.message.envelope);
    w.sp();
    writeBodyStructure(w, part.message.root, extended);
    w.sp();
    w.num(part.bodyLines);
  }
  if (extended) {
    w.sp();
    writeNString(w, part.md5);
    writeExtension(w, part);
  }
  w.byte(0x29);
}

/**
 * ENVELOPE, BODY and BODYSTRUCTURE rendered once at APPEND, as Dovecot keeps them in its
 * cache file: a FETCH of them then copies bytes instead of parsing the stored structure
 * and writing it again. One blob: a version byte, the three lengths (u32 each), then the
 * three renderings. Null when the rendering depends on whether the session speaks UTF-8
 * (8-bit text is quoted for UTF-8 sessions, a literal for others): such messages are
 * written from the structure every time. Bump RENDER_VERSION whenever the writers above
 * change their output: older blobs are then ignored.
 */
const RENDER_VERSION = 1;

export interface RenderedItems { envelope: Uint8Array; body: Uint8Array; bodystructure: Uint8Array }

function renderWith(info: MessageInfo, utf8: boolean): Uint8Array[] {
  const w = new ResponseWriter(1024);
  w.utf8 = utf8;
  writeEnvelope(w, info.envelope);
  const envelope = w.take().slice();
  writeBodyStructure(w, info.root, false);
  const body = w.take().slice();
  writeBodyStructure(w, info.root, true);
  return [envelope, body, w.take().slice()];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function renderStructure(info: MessageInfo): Uint8Array | null {
  const plain = renderWith(info, false);
  const utf8 = renderWith(info, true);
  if (!plain.every((p, i) => sameBytes(p, utf8[i]))) return null;
  const out = new Uint8Array(13 + plain.reduce((n, p) => n + p.length, 0));
  const dv = new DataView(out.buffer);
  out[0] = RENDER_VERSION;
  let off = 13;
  plain.forEach((p, i) => {
    dv.setUint32(1 + 4 * i, p.length);
    out.set(p, off);
    off += p.length;
  });
  return out;
}

/** The three renderings in a blob from renderStructure(), or null when it is of another version. */
export function renderedItems(blob: Uint8Array): RenderedItems | null {
  if (blob.length < 13 || blob[0] !== RENDER_VERSION) return null;
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.length);
  const a = dv.getUint32(1);
  const b = dv.getUint32(5);
  const c = dv.getUint32(9);
  if (13 + a + b + c !== blob.length) return null;
  return { envelope: blob.subarray(13, 13 + a), body: blob.subarray(13 + a, 13 + a + b), bodystructure: blob.subarray(13 + a + b) };
}
