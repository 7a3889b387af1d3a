// The bench's messages: generated deterministically from their index (the same bytes on
// every machine and run), realistic in shape, and cached under bench/.cache/.
//
// Shape: 70% text/plain (some quoted-printable), 20% multipart/alternative (text and
// HTML), 10% multipart/mixed with a base64 attachment of 5-60 KB; bodies of a few hundred
// bytes to tens of KB; senders drawn from 300 with a skew; RFC 2047 subjects now and then;
// a thread of replies (In-Reply-To/References) every few messages. Mean size is about
// 8 KB. Flags: \Seen 70%, \Answered 10%, \Flagged 5%, \Draft 0.5%. INTERNALDATE and Date
// advance by 15 minutes per message from 2022-01-01.
//
// Search needles, at known rates, so SEARCH results can be checked across servers:
// sender `alice.bench@example.org` (1%), subject word `quarterly` (2%), body word
// `zanzibar` (0.5%, in the text part).
//
// Invariants:
// - message(i) depends on i only (its own PRNG seed), never on the corpus size: the
//   first 2,000 messages of the 100,000 corpus are the 2,000 corpus.
// - Lines end in CRLF; no line is longer than 998 bytes; the bytes are UTF-8.
// - The cache is a pair of files per (version, count): `<name>.dat` (messages back to
//   back) and `<name>.json` (offsets, flags, dates); a half-written cache is never used
//   (written to a temporary name, renamed last).

import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const CORPUS_VERSION = 1;
export const NEEDLES = { from: 'alice.bench@example.org', subject: 'quarterly', body: 'zanzibar' } as const;

const BASE_DATE = Date.UTC(2022, 0, 1);
const STEP_MS = 15 * 60 * 1000;

export interface MessageMeta {
  flags: string[];
  /** INTERNALDATE, ms since epoch. */
  date: number;
}

export interface GeneratedMessage extends MessageMeta {
  bytes: Uint8Array;
}

/** sfc32: small, fast, good enough; seeded from the message index. */
function rngFor(seed: number): () => number {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const next = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    const r = (t + d) | 0;
    c = (c + r) | 0;
    return (r >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'ta', 'shi', 'po', 'ven', 'dar', 'el', 'qu', 'or', 'is', 'an', 'ber', 'tin', 'gal', 'fo', 'sem', 'pra', 'lu', 'zo', 'xi', 'mer', 'cal', 'de', 'no', 'ri', 'sta'];
const COMMON = ['the', 'of', 'and', 'to', 'a', 'in', 'is', 'for', 'on', 'that', 'with', 'we', 'it', 'this', 'be', 'are', 'as', 'at', 'by', 'please', 'meeting', 'report', 'project', 'update', 'thanks', 'review', 'team', 'next', 'week', 'schedule', 'budget', 'draft', 'invoice', 'order', 'shipping', 'release', 'server', 'backup', 'question', 'answer'];

/** 3,000 pseudo-words from a fixed seed, plus common English. */
const VOCAB: string[] = (() => {
  const r = rngFor(7);
  const out = [...COMMON];
  const seen = new Set(out);
  while (out.length < 3000) {
    const n = 1 + Math.floor(r() * 3);
    let w = '';
    for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(r() * SYLLABLES.length)];
    if (w !== NEEDLES.body && w !== NEEDLES.subject && !seen.has(w)) { seen.add(w); out.push(w); }
  }
  return out;
})();

const FIRST = ['Anna', 'Bernd', 'Chloé', 'David', 'Eva', 'Farid', 'Greta', 'Hiro', 'Ines', 'Jonas', 'Kai', 'Lena', 'Marta', 'Noah', 'Olga', 'Pablo', 'Quinn', 'Rosa', 'Sven', 'Tomás'];
const LAST = ['Müller', 'Schmidt', 'Nowak', 'García', 'Rossi', 'Dubois', 'Jansen', 'Berg', 'Kowalski', 'Silva', 'Tanaka', 'Okafor', 'Larsen', 'Novák', 'Costa'];
const DOMAINS = ['example.org', 'example.com', 'example.net', 'mail.example.de', 'lists.example.org'];
const SENDERS: Array<{ name: string; addr: string }> = (() => {
  const r = rngFor(11);
  const out: Array<{ name: string; addr: string }> = [];
  for (let i = 0; i < 300; i++) {
    const f = FIRST[Math.floor(r() * FIRST.length)], l = LAST[Math.floor(r() * LAST.length)];
    const local = `${f}.${l}`.toLowerCase().normalize('NFKD').replace(/[^a-z.]/g, '') + (i >= 50 ? String(i) : '');
    out.push({ name: `${f} ${l}`, addr: `${local}@${DOMAINS[i % DOMAINS.length]}` });
  }
  return out;
})();

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function rfc5322Date(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** A log-normal-ish size: median m, spread s. */
function lognormal(r: () => number, m: number, s: number): number {
  // Box-Muller
  const u = Math.max(r(), 1e-9), v = r();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return m * Math.exp(s * z);
}

function words(r: () => number, n: number, needle: string | null): string[] {
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    // Zipf-like: the common words often, the rest uniformly.
    out[i] = r() < 0.4 ? COMMON[Math.floor(r() * COMMON.length)] : VOCAB[Math.floor(r() * VOCAB.length)];
  }
  if (needle && n > 0) out[Math.floor(r() * n)] = needle;
  return out;
}

/** Wrap words into lines of at most ~76 characters, paragraphs of a few lines. */
function paragraphs(r: () => number, bytes: number, needle: string | null): string {
  const ws = words(r, Math.max(3, Math.round(bytes / 6.5)), needle);
  const lines: string[] = [];
  let line = '';
  let inPara = 0;
  const paraLen = 3 + Math.floor(r() * 6);
  for (let i = 0; i < ws.length; i++) {
    let w = ws[i];
    if (line === '' && inPara === 0) w = w[0].toUpperCase() + w.slice(1);
    if (line.length + w.length + 1 > 76) {
      lines.push(line);
      line = '';
      if (++inPara >= paraLen) { lines.push(''); inPara = 0; }
    }
    line = line ? line + ' ' + w : w;
    if (r() < 0.08) line += r() < 0.7 ? '.' : ',';
  }
  if (line) lines.push(line + '.');
  return lines.join('\r\n') + '\r\n';
}

function encodedWord(s: string): string {
  return `=?UTF-8?B?${Buffer.from(s, 'utf8').toString('base64')}?=`;
}

function qpEncode(s: string): string {
  // Soft line breaks are not needed: lines are short already. Escape '=' and 8-bit.
  const bytes = Buffer.from(s, 'utf8');
  let out = '';
  for (const b of bytes) {
    if (b === 0x3d || b > 0x7e) out += '=' + b.toString(16).toUpperCase().padStart(2, '0');
    else out += String.fromCharCode(b);
  }
  return out;
}

function base64Lines(r: () => number, n: number): string {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const v = (r() * 4294967296) >>> 0;
    bytes[i] = v; bytes[i + 1] = v >>> 8; bytes[i + 2] = v >>> 16; bytes[i + 3] = v >>> 24;
  }
  const b64 = Buffer.from(bytes.buffer, 0, n).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return lines.join('\r\n') + '\r\n';
}

function boundary(r: () => number): string {
  let s = '----=_Part_';
  for (let i = 0; i < 16; i++) s += B64[Math.floor(r() * 62)];
  return s;
}

const enc = new TextEncoder();

/** Message number i (0-based) of the corpus. */
export function generateMessage(i: number): GeneratedMessage {
  const r = rngFor(0x5bd1e995 ^ Math.imul(i + 1, 0x27d4eb2d));
  const date = BASE_DATE + i * STEP_MS + Math.floor(r() * 60_000);
  const sender = r() < 0.01
    ? { name: 'Alice Bench', addr: NEEDLES.from }
    : SENDERS[Math.floor(Math.pow(r(), 2) * SENDERS.length)];
  const flags: string[] = [];
  if (r() < 0.7) flags.push('\\Seen');
  if (r() < 0.1) flags.push('\\Answered');
  if (r() < 0.05) flags.push('\\Flagged');
  if (r() < 0.005) flags.push('\\Draft');

  const subjectWords = words(r, 3 + Math.floor(r() * 7), r() < 0.02 ? NEEDLES.subject : null);
  let subject = subjectWords.join(' ');
  subject = subject[0].toUpperCase() + subject.slice(1);
  const reply = i > 0 && r() < 0.25;
  if (reply) subject = 'Re: ' + subject;
  const subjectHeader = r() < 0.05 ? encodedWord(subject + ' – ' + FIRST[i % FIRST.length] + ' ✓') : subject;
  const msgid = `<${i.toString(36)}.${Math.floor(r() * 1e9).toString(36)}@bench.example>`;
  const bodyNeedle = r() < 0.005 ? NEEDLES.body : null;

  const h: string[] = [
    `Return-Path: <${sender.addr}>`,
    `Received: from mx.${DOMAINS[i % DOMAINS.length]} (mx.${DOMAINS[i % DOMAINS.length]} [192.0.2.${i % 250 + 1}])\r\n\tby mail.bench.test with ESMTPS id ${i.toString(16)}\r\n\tfor <user@bench.test>; ${rfc5322Date(date)}`,
    `Date: ${rfc5322Date(date)}`,
    `From: ${/[^\x20-\x7e]/.test(sender.name) ? encodedWord(sender.name) : `"${sender.name}"`} <${sender.addr}>`,
    `To: User <user@bench.test>`,
  ];
  if (r() < 0.3) h.push(`Cc: ${SENDERS[Math.floor(r() * SENDERS.length)].addr}, ${SENDERS[Math.floor(r() * SENDERS.length)].addr}`);
  h.push(`Subject: ${subjectHeader}`, `Message-ID: ${msgid}`);
  if (reply) {
    const parent = `<${Math.floor(r() * i).toString(36)}.thread@bench.example>`;
    h.push(`In-Reply-To: ${parent}`, `References: ${parent}`);
  }
  h.push('MIME-Version: 1.0');

  const kind = r();
  const textBytes = Math.min(60_000, Math.max(200, lognormal(r, 1200, 0.9)));
  let body: string;
  if (kind < 0.7) {
    const text = paragraphs(r, textBytes, bodyNeedle);
    if (r() < 0.15) {
      h.push('Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable');
      body = qpEncode(text.replace(/\r\n$/, ' – grüße\r\n'));
    } else {
      h.push('Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 7bit');
      body = text;
    }
  } else if (kind < 0.9) {
    const b = boundary(r);
    const text = paragraphs(r, textBytes, bodyNeedle);
    const html = '<html><body>\r\n' + text.split('\r\n\r\n').map((p) => `<p style="margin:0 0 1em 0;font-family:Arial,sans-serif">${p}</p>`).join('\r\n') + '\r\n</body></html>\r\n';
    h.push(`Content-Type: multipart/alternative; boundary="${b}"`);
    body = `This is a multi-part message in MIME format.\r\n\r\n--${b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${text}\r\n--${b}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${html}\r\n--${b}--\r\n`;
  } else {
    const b = boundary(r);
    const text = paragraphs(r, Math.min(textBytes, 3000), bodyNeedle);
    const attBytes = 5_000 + Math.floor(r() * 55_000);
    const name = `${VOCAB[Math.floor(r() * VOCAB.length)]}-${i}.pdf`;
    h.push(`Content-Type: multipart/mixed; boundary="${b}"`);
    body = `--${b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${text}\r\n--${b}\r\nContent-Type: application/pdf; name="${name}"\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(r, attBytes)}--${b}--\r\n`;
  }
  return { bytes: enc.encode(h.join('\r\n') + '\r\n\r\n' + body), flags, date };
}

/** A message of exactly `size` bytes (text/plain, deterministic from i), for the append scenario. */
export function fixedSizeMessage(i: number, size: number): Uint8Array {
  const r = rngFor(0x1b873593 ^ Math.imul(i + 1, 0x85ebca6b));
  const head = `Date: ${rfc5322Date(BASE_DATE + i * 1000)}\r\nFrom: "Bench Sender" <sender${i % 97}@example.org>\r\nTo: User <user@bench.test>\r\nSubject: append bench ${i}\r\nMessage-ID: <append.${i}@bench.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n`;
  let body = paragraphs(r, Math.max(64, size - head.length), null);
  const want = size - head.length;
  if (body.length > want) body = body.slice(0, want - 2).replace(/\r$/, ' ') + '\r\n';
  while (body.length < want) body = body.slice(0, -2) + 'x'.repeat(Math.min(70, want - body.length)) + '\r\n';
  const out = enc.encode(head + body);
  if (out.length !== size) {
    // Rare: an exact fit failed on a line boundary; pad or trim the last line.
    const b = new Uint8Array(size);
    b.set(out.subarray(0, size));
    for (let k = out.length; k < size - 2; k++) b[k] = 0x78;
    b[size - 2] = 13; b[size - 1] = 10;
    return b;
  }
  return out;
}

export interface CorpusIndex {
  version: number;
  count: number;
  /** Byte offset of each message in the .dat file, plus the end. */
  offsets: number[];
  flags: string[][];
  dates: number[];
  totalBytes: number;
}

export interface Corpus {
  index: CorpusIndex;
  datPath: string;
  /** Whether this call generated it (false: read from the cache). */
  generated: boolean;
  seconds: number;
}

export function corpusName(count: number): string {
  return `corpus-v${CORPUS_VERSION}-${count}`;
}

/** The corpus of `count` messages, generated into `cacheDir` the first time. */
export function loadCorpus(cacheDir: string, count: number, progress?: (done: number) => void): Corpus {
  const t0 = performance.now();
  mkdirSync(cacheDir, { recursive: true });
  const base = join(cacheDir, corpusName(count));
  const datPath = base + '.dat', idxPath = base + '.json';
  if (existsSync(datPath) && existsSync(idxPath)) {
    const index = JSON.parse(readFileSync(idxPath, 'utf8')) as CorpusIndex;
    if (index.version === CORPUS_VERSION && index.count === count) {
      return { index, datPath, generated: false, seconds: (performance.now() - t0) / 1000 };
    }
  }
  const tmpDat = `${datPath}.tmp${process.pid}`, tmpIdx = `${idxPath}.tmp${process.pid}`;
  const fd = openSync(tmpDat, 'w');
  const offsets: number[] = [0];
  const flags: string[][] = [];
  const dates: number[] = [];
  let off = 0;
  try {
    for (let i = 0; i < count; i++) {
      const m = generateMessage(i);
      let w = 0;
      while (w < m.bytes.length) w += writeSync(fd, m.bytes, w, m.bytes.length - w);
      off += m.bytes.length;
      offsets.push(off);
      flags.push(m.flags);
      dates.push(m.date);
      if (progress && (i + 1) % 10_000 === 0) progress(i + 1);
    }
  } finally {
    closeSync(fd);
  }
  const index: CorpusIndex = { version: CORPUS_VERSION, count, offsets, flags, dates, totalBytes: off };
  renameSync(tmpDat, datPath);
  const fdi = openSync(tmpIdx, 'w');
  writeSync(fdi, JSON.stringify(index));
  closeSync(fdi);
  renameSync(tmpIdx, idxPath);
  return { index, datPath, generated: true, seconds: (performance.now() - t0) / 1000 };
}

/** Read messages [from, to) of a corpus (one read). */
export function readMessages(c: { index: CorpusIndex; datPath: string }, from: number, to: number): Uint8Array[] {
  const start = c.index.offsets[from], end = c.index.offsets[to];
  const fd = openSync(c.datPath, 'r');
  const buf = new Uint8Array(end - start);
  try {
    let r = 0;
    while (r < buf.length) {
      const n = readSync(fd, buf, r, buf.length - r, start + r);
      if (n <= 0) throw new Error(`short read of ${c.datPath}`);
      r += n;
    }
  } finally {
    closeSync(fd);
  }
  const out: Uint8Array[] = [];
  for (let i = from; i < to; i++) out.push(buf.subarray(c.index.offsets[i] - start, c.index.offsets[i + 1] - start));
  return out;
}
