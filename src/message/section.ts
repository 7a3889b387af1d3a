// BODY[section] / BINARY[section] resolution (RFC 9051 §6.4.5): which bytes of the stored
// message a section names. Pure: works on the parsed `MessageInfo`, never on the file.
//
// Rules (RFC 9051, with Dovecot's choices where the RFC leaves room):
// - part numbers index the children of a multipart; a non-multipart part is its own
//   part 1 (so BODY[1] of a single-part message is its body, BODY[1.MIME] its header,
//   and BODY[2.1] of a text part 2 is part 2); only a message/rfc822 part has deeper
//   numbers, those of the message it encloses (2.1 is the enclosed message's first
//   part, or its body when it is not multipart);
// - HEADER, HEADER.FIELDS[.NOT] and TEXT apply to the message itself (empty part
//   number) or to a message/rfc822 part, where they name the enclosed message's header
//   or body; MIME names the part's own header (not valid without a part number);
// - a section that names nothing (missing part, HEADER of a text part, ...) is the
//   empty string, as Dovecot answers — never an error, never NIL.

import type { MessageInfo, Part } from './types.ts';

/** Same shape as the IMAP parser's section (declared here so this layer stays pure). */
export interface Section {
  part: number[];
  text: null | 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  fields: string[];
}

export type SectionBytes =
  /** Send file bytes [start, end). */
  | { kind: 'range'; start: number; end: number; part: Part }
  /** Read the header block [start, end) and send headerFields(block, names, not). */
  | { kind: 'fields'; start: number; end: number; names: string[]; not: boolean; part: Part }
  /** Send the empty string. */
  | { kind: 'empty' };

const EMPTY: SectionBytes = { kind: 'empty' };

/** The part a part number names, or null. `[]` is the root. */
export function findPart(info: MessageInfo, path: readonly number[]): Part | null {
  let cur: Part = info.root;
  for (let i = 0; i < path.length; i++) {
    const n = path[i];
    const more = i < path.length - 1;
    if (!Number.isInteger(n) || n < 1) return null;
    if (cur.type === 'multipart' && cur.subtype !== '') {
      if (n > cur.parts.length) return null;
      cur = cur.parts[n - 1];
    } else if (n !== 1 || (more && cur.message === null)) {
      // A non-multipart part is its own part 1, and only a message goes deeper.
      return null;
    }
    // Going deeper into a message/rfc822 part means into the message it encloses.
    if (more && cur.message !== null) cur = cur.message.root;
  }
  return cur;
}

/** Resolve a section to byte ranges of the stored message. */
export function resolveSection(info: MessageInfo, section: Section): SectionBytes {
  const part = findPart(info, section.part);
  if (part === null) return EMPTY;
  const top = section.part.length === 0;
  switch (section.text) {
    case null:
      if (top) return { kind: 'range', start: 0, end: info.size, part };
      return { kind: 'range', start: part.bodyStart, end: part.bodyEnd, part };
    case 'MIME':
      if (top) return EMPTY;
      return { kind: 'range', start: part.headerStart, end: part.bodyStart, part };
    default: {
      // HEADER / HEADER.FIELDS / TEXT: of the message itself or of an enclosed message.
      let msg: Part | null = null;
      if (top) msg = info.root;
      else if (part.message !== null) msg = part.message.root;
      if (msg === null) return EMPTY;
      if (section.text === 'TEXT') return { kind: 'range', start: msg.bodyStart, end: msg.bodyEnd, part: msg };
      if (section.text === 'HEADER') return { kind: 'range', start: msg.headerStart, end: msg.bodyStart, part: msg };
      return { kind: 'fields', start: msg.headerStart, end: msg.bodyStart, names: section.fields, not: section.text === 'HEADER.FIELDS.NOT', part: msg };
    }
  }
}

/** A byte range of the stored message (what a 'range' answer carries). */
export interface SectionRange {
  start: number;
  end: number;
}
