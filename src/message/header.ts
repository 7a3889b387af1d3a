// Header block utilities (RFC 5322 §2.2): split a header block into fields, read a
// field's value, and cut out the lines for BODY[HEADER.FIELDS (...)] / .NOT.
//
// A header block is the bytes from the start of a header up to and including the
// empty line that ends it (when there is one). Lines end at LF (CRLF or bare LF). A
// line starting with SP or HTAB continues the previous field. A line without a colon
// is a field whose name is the whole line and whose value is empty. Field names have
// trailing whitespace removed ("Subject : x" is Subject), as Dovecot does.

import { toBinary } from './bin.ts';

export interface HeaderField {
  /** Field name as sent (binary string), trailing whitespace removed. */
  name: string;
  /** Offset of the field's first byte in the block. */
  start: number;
  /** Offset after the field's last line ending (continuation lines included). */
  end: number;
  /** Offset just after the colon (== end of the first line's content when there is no colon). */
  valueStart: number;
}

const LF = 0x0a;
const CR = 0x0d;

/** Offset of the end of the header block: after the first empty line, or block.length. */
export function headerEnd(block: Uint8Array): number {
  let ls = 0;
  while (ls < block.length) {
    const nl = block.indexOf(LF, ls);
    if (nl < 0) return block.length;
    if (nl === ls || (nl === ls + 1 && block[ls] === CR)) return nl + 1;
    ls = nl + 1;
  }
  return block.length;
}

/** Split a header block into fields (stops at the empty line). */
export function splitHeader(block: Uint8Array): HeaderField[] {
  const fields: HeaderField[] = [];
  let ls = 0;
  let cur: HeaderField | null = null;
  while (ls < block.length) {
    let nl = block.indexOf(LF, ls);
    const le = nl < 0 ? block.length : nl + 1;
    if (nl < 0) nl = block.length;
    const contentEnd = nl > ls && block[nl - 1] === CR ? nl - 1 : nl;
    if (contentEnd === ls && nl < block.length) break; // the empty line
    const c = block[ls];
    if ((c === 0x20 || c === 0x09) && cur !== null) {
      cur.end = le;
    } else {
      let colon = block.indexOf(0x3a, ls);
      if (colon < 0 || colon >= contentEnd) colon = -1;
      let ne = colon < 0 ? contentEnd : colon;
      while (ne > ls && (block[ne - 1] === 0x20 || block[ne - 1] === 0x09)) ne--;
      cur = { name: toBinary(block, ls, ne), start: ls, end: le, valueStart: colon < 0 ? contentEnd : colon + 1 };
      fields.push(cur);
    }
    ls = le;
  }
  return fields;
}

/** The field's value as a binary string: leading SP/HTAB of the first line skipped,
 * line breaks (CR, LF) removed, continuation whitespace kept. */
export function fieldValue(block: Uint8Array, f: HeaderField): string {
  let s = f.valueStart;
  while (s < f.end && (block[s] === 0x20 || block[s] === 0x09)) s++;
  return unfold(toBinary(block, s, f.end));
}

/** The field's value with its folding kept: leading SP/HTAB of the first line skipped,
 * the final line ending removed, inner line breaks kept. */
export function rawFieldValue(block: Uint8Array, f: HeaderField): string {
  let s = f.valueStart;
  while (s < f.end && (block[s] === 0x20 || block[s] === 0x09)) s++;
  let e = f.end;
  if (e > s && block[e - 1] === LF) e--;
  if (e > s && block[e - 1] === CR) e--;
  return toBinary(block, s, e);
}

/** Remove the line breaks of a folded value (CRLF or LF), keep everything else. */
export function unfold(s: string): string {
  if (s.indexOf('\n') < 0 && s.indexOf('\r') < 0) return s;
  // Only line-ending CRs go; a lone CR inside a line is kept.
  return s.replace(/\r?\n/g, '').replace(/\r$/, '');
}

/** Value of the first field with this name (case-insensitive), or null. */
export function firstValue(block: Uint8Array, name: string): string | null {
  const lname = name.toLowerCase();
  for (const f of splitHeader(block)) if (f.name.toLowerCase() === lname) return fieldValue(block, f);
  return null;
}

/** BODY[HEADER.FIELDS (names)] (not=false) or .NOT (not=true): the matching fields'
 * exact bytes in message order, then CRLF (the empty line ending the block) — except
 * when the last field sent has no line ending (a header cut off by the end of the
 * message), where Dovecot adds nothing. */
export function headerFields(block: Uint8Array, names: string[], not: boolean): Uint8Array {
  const want = new Set(names.map((n) => n.toLowerCase()));
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const f of splitHeader(block)) {
    if (want.has(f.name.toLowerCase()) === not) continue;
    const piece = block.subarray(f.start, f.end);
    parts.push(piece);
    total += piece.length;
  }
  const last = parts.length > 0 ? parts[parts.length - 1] : null;
  const blank = last === null || last[last.length - 1] === LF;
  const out = new Uint8Array(total + (blank ? 2 : 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  if (blank) {
    out[o++] = CR;
    out[o] = LF;
  }
  return out;
}
