// Every fixture in fixtures/messages is parsed whole and in random chunkings; the
// ENVELOPE, BODY and BODYSTRUCTURE we write, the size, and a set of BODY[section]
// answers must equal the expected answers stored beside it (Dovecot's answers, or
// postern's where a fixture lists `dovecotDiffers` with the reason).

import { describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ResponseWriter } from './encode.ts';
import { writeBodyStructure, writeEnvelope } from './bodystructure.ts';
import { headerFields } from '../message/header.ts';
import { normalizeNewlines } from '../message/newlines.ts';
import { MessageParser, parseMessage } from '../message/parse.ts';
import { resolveSection, type Section } from '../message/section.ts';
import { rng } from '../message/testutil.ts';
import type { MessageInfo } from '../message/types.ts';

const DIR = join(import.meta.dir, '../../fixtures/messages');
const names = readdirSync(DIR)
  .filter((f) => f.endsWith('.eml'))
  .sort();

const bin = (b: Uint8Array) => Buffer.from(b).toString('latin1');

function render(info: MessageInfo): Record<string, string> {
  const w = new ResponseWriter();
  writeEnvelope(w, info.envelope);
  const ENVELOPE = bin(w.take());
  writeBodyStructure(w, info.root, false);
  const BODY = bin(w.take());
  writeBodyStructure(w, info.root, true);
  const BODYSTRUCTURE = bin(w.take());
  return { ENVELOPE, BODY, BODYSTRUCTURE };
}

/** "2.1.HEADER.FIELDS (A B)" → Section. */
function parseSectionSpec(s: string): Section {
  const m = /^([\d.]*?)\.?(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)?(?: \((.*)\))?$/.exec(s);
  if (!m) throw new Error('bad section ' + s);
  const part = m[1] ? m[1].split('.').filter(Boolean).map(Number) : [];
  return { part, text: (m[2] ?? null) as Section['text'], fields: m[3] ? m[3].split(' ') : [] };
}

function sectionBytes(info: MessageInfo, data: Uint8Array, spec: string): string {
  const r = resolveSection(info, parseSectionSpec(spec));
  if (r.kind === 'empty') return '';
  if (r.kind === 'range') return bin(data.subarray(r.start, r.end));
  return bin(headerFields(data.subarray(r.start, r.end), r.names, r.not));
}

function parseChunked(data: Uint8Array, rand: () => number, max: number): MessageInfo {
  const p = new MessageParser();
  let i = 0;
  while (i < data.length) {
    const n = 1 + Math.floor(rand() * max);
    // Copy, so the parser cannot rely on views of earlier chunks.
    p.feed(data.slice(i, i + n));
    i += n;
  }
  return p.end();
}

describe('fixtures', () => {
  test('there are a few dozen fixtures', () => {
    expect(names.length).toBeGreaterThanOrEqual(30);
  });
  for (const name of names) {
    test(name, () => {
      const data = normalizeNewlines(new Uint8Array(readFileSync(join(DIR, name))));
      const expected = JSON.parse(readFileSync(join(DIR, name.replace(/\.eml$/, '.expected.json')), 'utf8'));
      const info = parseMessage(data);
      expect(info.size).toBe(expected['RFC822.SIZE']);
      const got = render(info);
      expect(got.ENVELOPE).toBe(expected.ENVELOPE);
      expect(got.BODY).toBe(expected.BODY);
      expect(got.BODYSTRUCTURE).toBe(expected.BODYSTRUCTURE);
      for (const [spec, want] of Object.entries(expected.sections as Record<string, string>)) {
        expect([spec, sectionBytes(info, data, spec)]).toEqual([spec, want]);
      }
      // Any chunking gives the identical structure.
      const rand = rng(name.length * 7919 + data.length);
      for (const max of [1, 3, 17, 256, 4096]) {
        const chunked = parseChunked(data, rand, max);
        expect(chunked).toEqual(info);
      }
    });
  }
});
