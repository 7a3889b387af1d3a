// The header fields SEARCH asks for most (FROM, TO, CC, BCC, SUBJECT, and DATE for
// SENT*), recorded at APPEND so that a header search reads one short database value per
// message instead of opening its file. Stored as "NAME:value\n" lines: values are the
// unfolded header text as binary strings (one char per byte), which holds no LF.

import { fieldValue, type HeaderField } from './header.ts';

export const SEARCH_HEADER_NAMES: ReadonlySet<string> = new Set(['FROM', 'TO', 'CC', 'BCC', 'SUBJECT', 'DATE']);

/** One line for `f` when SEARCH records it, else ''. `upper` is the field name in upper case. */
export function searchHeaderLine(upper: string, block: Uint8Array, f: HeaderField): string {
  // A line without a colon is no field to search (as the file-reading search treats it).
  if (!SEARCH_HEADER_NAMES.has(upper) || f.valueStart <= f.start || block[f.valueStart - 1] !== 0x3a) return '';
  return `${upper}:${fieldValue(block, f)}\n`;
}

/** Whether the recorded fields answer every header a search needs. */
export function searchHeadersSuffice(names: ReadonlySet<string>): boolean {
  for (const n of names) if (!SEARCH_HEADER_NAMES.has(n)) return false;
  return true;
}
