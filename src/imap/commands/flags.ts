// Flag names from the wire to the store's form: system flags as bits, keywords as atoms.

import { bad } from '../errors.ts';

const SYSTEM: Record<string, number> = { '\\SEEN': 1, '\\ANSWERED': 2, '\\FLAGGED': 4, '\\DELETED': 8, '\\DRAFT': 16 };

/** Split flags into the system-flag bitmask and keywords (deduplicated, case kept). */
export function parseFlags(flags: readonly string[]): { bits: number; keywords: string[] } {
  let bits = 0;
  const keywords: string[] = [];
  const seen = new Set<string>();
  for (const f of flags) {
    if (f.startsWith('\\')) {
      const bit = SYSTEM[f.toUpperCase()];
      if (bit === undefined) throw bad(`flag ${f} cannot be set`);
      bits |= bit;
      continue;
    }
    const key = f.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    keywords.push(f);
  }
  return { bits, keywords };
}
