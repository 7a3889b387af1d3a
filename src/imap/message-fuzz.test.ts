// Seeded fuzzing of the parser over mutated fixtures: parse never throws, the same
// bytes give the same structure whole and chunked, every offset lies within [0, size],
// and parts nest properly. Also exercises the writers, section resolution and
// decoders on whatever comes out, so none of them throws either.

import { expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ResponseWriter } from './encode.ts';
import { writeBodyStructure, writeEnvelope } from './bodystructure.ts';
import { decodeBody } from '../message/decode.ts';
import { decodeHeaderValue } from '../message/encodedword.ts';
import { rng } from '../message/testutil.ts';
import { normalizeNewlines } from '../message/newlines.ts';
import { MessageParser, parseMessage } from '../message/parse.ts';
import { resolveSection } from '../message/section.ts';
import type { Part } from '../message/types.ts';

const DIR = join(import.meta.dir, '../../fixtures/messages');
const corpus = readdirSync(DIR)
  .filter((f) => f.endsWith('.eml'))
  .sort()
  .map((f) => normalizeNewlines(new Uint8Array(readFileSync(join(DIR, f)))));

const TOKENS = ['\r\n', '\n', '\r', '--', '-', '=', '?', ':', ';', '"', '\\', '(', ')', '<', '>', '@', ',', ' ', '\t', '\x00', '\xff', '=?utf-8?q?', '?=', 'boundary=', 'Content-Type: multipart/mixed; boundary=x\r\n', 'Content-Type: message/rfc822\r\n', '--x\r\n', '--x--\r\n', '\r\n\r\n'];

function mutate(src: Uint8Array, rand: () => number): Uint8Array {
  let b = Array.from(src);
  const ops = 1 + Math.floor(rand() * 8);
  for (let k = 0; k < ops; k++) {
    const at = Math.floor(rand() * (b.length + 1));
    switch (Math.floor(rand() * 6)) {
      case 0: // flip a byte
        if (b.length) b[Math.min(at, b.length - 1)] = Math.floor(rand() * 256);
        break;
      case 1: // delete a run
        b.splice(at, Math.floor(rand() * 40));
        break;
      case 2: // insert a token
        b.splice(at, 0, ...Buffer.from(TOKENS[Math.floor(rand() * TOKENS.length)], 'latin1'));
        break;
      case 3: // duplicate a run
        b.splice(at, 0, ...b.slice(at, at + Math.floor(rand() * 200)));
        break;
      case 4: // truncate
        b = b.slice(0, at);
        break;
      default: // splice in part of another message
        {
          const other = corpus[Math.floor(rand() * corpus.length)];
          const s = Math.floor(rand() * other.length);
          b.splice(at, 0, ...other.subarray(s, s + Math.floor(rand() * 300)));
        }
        break;
    }
  }
  return Uint8Array.from(b);
}

function checkPart(p: Part, lo: number, hi: number, depth: number): number {
  expect(depth).toBeLessThanOrEqual(120);
  expect(lo <= p.headerStart && p.headerStart <= p.bodyStart && p.bodyStart <= p.bodyEnd && p.bodyEnd <= hi).toBe(true);
  expect(p.bodyLines).toBeGreaterThanOrEqual(0);
  let count = 1;
  let prev = p.bodyStart;
  for (const c of p.parts) {
    expect(c.headerStart).toBeGreaterThanOrEqual(prev);
    count += checkPart(c, p.bodyStart, p.bodyEnd, depth + 1);
    prev = c.bodyEnd;
  }
  if (p.message) {
    expect(p.message.root.headerStart).toBe(p.bodyStart);
    count += checkPart(p.message.root, p.bodyStart, p.bodyEnd, depth + 1);
  }
  return count;
}

function allParts(p: Part, path: number[], out: number[][]): void {
  out.push(path);
  const kids = p.message ? (p.message.root.type === 'multipart' ? p.message.root.parts : [p.message.root]) : p.parts;
  kids.forEach((c, i) => allParts(c, [...path, i + 1], out));
}

test('fuzzed messages never break the parser', () => {
  const rand = rng(20240601);
  const started = performance.now();
  let n = 0;
  while (n < 1500 && performance.now() - started < 6000) {
    const src = corpus[n % corpus.length];
    const data = mutate(src, rand);
    const info = parseMessage(data);
    expect(info.size).toBe(data.length);
    expect(info.root.headerStart).toBe(0);
    expect(info.root.bodyEnd).toBe(data.length);
    checkPart(info.root, 0, data.length, 0);
    // Chunked parsing agrees.
    const p = new MessageParser();
    for (let i = 0; i < data.length; ) {
      const len = 1 + Math.floor(rand() * 64);
      p.feed(data.subarray(i, i + len));
      i += len;
    }
    expect(p.end()).toEqual(info);
    // Writers, sections, decoders and header decoding cope with anything.
    const w = new ResponseWriter();
    writeEnvelope(w, info.envelope);
    writeBodyStructure(w, info.root, true);
    if (info.envelope.subject !== null) decodeHeaderValue(info.envelope.subject);
    const paths: number[][] = [];
    allParts(info.root, [], paths);
    for (const path of paths.slice(0, 20)) {
      for (const text of [null, 'MIME', 'HEADER', 'TEXT', 'HEADER.FIELDS'] as const) {
        const r = resolveSection(info, { part: path, text, fields: ['Subject'] });
        if (r.kind !== 'empty') expect(0 <= r.start && r.start <= r.end && r.end <= data.length).toBe(true);
        if (r.kind === 'range' && r.part.type !== 'multipart') decodeBody(r.part.encoding, data.subarray(r.start, r.end));
      }
    }
    n++;
  }
  expect(n).toBeGreaterThan(200);
});

test('random truncations of every fixture', () => {
  const rand = rng(7);
  for (const src of corpus) {
    for (let k = 0; k < 8; k++) {
      const data = src.subarray(0, Math.floor(rand() * (src.length + 1)));
      const info = parseMessage(data);
      checkPart(info.root, 0, data.length, 0);
    }
  }
});

test('depth bombs are capped', () => {
  let m = 'Subject: leaf\r\n\r\nleaf\r\n';
  for (let i = 0; i < 2000; i++) m = 'Content-Type: message/rfc822\r\n\r\n' + m;
  let mp = 'x\r\n';
  for (let i = 0; i < 2000; i++) mp = `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n${mp}\r\n--b${i}--\r\n`;
  for (const s of [m, mp]) {
    const data = new Uint8Array(Buffer.from(s, 'latin1'));
    const info = parseMessage(data);
    let depth = 0;
    let p: Part | undefined = info.root;
    while (p) {
      depth++;
      p = p.message ? p.message.root : p.parts[0];
    }
    expect(depth).toBeLessThanOrEqual(100);
    const w = new ResponseWriter();
    writeBodyStructure(w, info.root, true);
  }
});
