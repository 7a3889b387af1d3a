// A message's headers and text for the SEARCH evaluator, from its stored structure and
// its file. Reads are synchronous fs; a header pass reads only the header block, a body
// pass reads the one file and drops it when the message is decided.
//
// What counts (as Dovecot 2.3 answers for the same bytes):
// - BODY: the decoded text of the text/* leaf parts, recursing into multipart and into
//   message/rfc822 bodies (whose own header is not body). Preamble, epilogue and non-text
//   parts (application/*, images, ...) are not searched.
// - TEXT: every header (the message's, each part's MIME header, each embedded message's)
//   as "Name: decoded value" lines, plus BODY.
// - A message/rfc822 part with a base64 or quoted-printable transfer encoding is not
//   searched (Dovecot does not decode it either).
// - A part whose Content-Type could not be read (type "") counts as text/plain (RFC 2045 §5.2).

import { closeSync, openSync, readSync, readFileSync } from 'node:fs';
import { bodyText } from '../../message/decode.ts';
import { decodeHeaderValue } from '../../message/encodedword.ts';
import { fieldValue, headerEnd, splitHeader } from '../../message/header.ts';
import { parseMessage } from '../../message/parse.ts';
import type { MessageInfo, Part } from '../../message/types.ts';
import { foldCase, parseSentDate, type BodySource, type HeaderSource } from './evaluate.ts';
import type { ImapDate } from '../parser-types.ts';

/** The fields of a header block as [name, value (binary string, unfolded)]; lines without a colon are not fields. */
function rawFields(b: Uint8Array, start: number, end: number): Array<[string, string]> {
  const block = b.subarray(start, end);
  const out: Array<[string, string]> = [];
  for (const f of splitHeader(block)) if (f.valueStart > f.start && block[f.valueStart - 1] === 0x3a) out.push([f.name, fieldValue(block, f)]);
  return out;
}

/** Header fields as [name, raw value (binary string, unfolded)], decoded and folded on demand. */
export class HeaderFields implements HeaderSource {
  private byName: Map<string, string[]> | null = null;
  private decoded = new Map<string, string[]>();

  constructor(private readonly raw: Array<[string, string]>) {}

  private index(): Map<string, string[]> {
    if (this.byName) return this.byName;
    const m = new Map<string, string[]>();
    for (const [name, value] of this.raw) {
      const k = name.toUpperCase();
      const list = m.get(k);
      if (list) list.push(value);
      else m.set(k, [value]);
    }
    return (this.byName = m);
  }

  fields(name: string): readonly string[] {
    let d = this.decoded.get(name);
    if (!d) {
      d = (this.index().get(name) ?? []).map((v) => foldCase(decodeHeaderValue(v)));
      this.decoded.set(name, d);
    }
    return d;
  }

  sentDate(): ImapDate | null {
    const v = this.index().get('DATE');
    return v ? parseSentDate(v[0]) : null;
  }

  /** "Name: value" lines, decoded (for TEXT). */
  lines(): string {
    let s = '';
    for (const [name, value] of this.raw) s += `${name}: ${decodeHeaderValue(value)}\n`;
    return s;
  }
}

/** Decoded, folded header values by raw value, shared by the messages of one search:
 * senders and subjects repeat across a mailbox, and decoding is most of the work. */
export class FoldMemo {
  private readonly map = new Map<string, string>();
  constructor(private readonly max = 50_000) {}

  get(raw: string): string {
    let v = this.map.get(raw);
    if (v === undefined) {
      v = foldCase(decodeHeaderValue(raw));
      if (this.map.size < this.max) this.map.set(raw, v);
    }
    return v;
  }
}

/** The header fields recorded at APPEND (message/searchheaders.ts): "NAME:value" lines. */
export class RecordedFields implements HeaderSource {
  constructor(private readonly recorded: string, private readonly memo: FoldMemo) {}

  private raw(name: string): string[] {
    const out: string[] = [];
    const s = this.recorded;
    let pos = 0;
    while (pos < s.length) {
      let nl = s.indexOf('\n', pos);
      if (nl < 0) nl = s.length;
      if (s.startsWith(name, pos) && s.charCodeAt(pos + name.length) === 0x3a) out.push(s.slice(pos + name.length + 1, nl));
      pos = nl + 1;
    }
    return out;
  }

  fields(name: string): readonly string[] {
    return this.raw(name).map((v) => this.memo.get(v));
  }

  sentDate(): ImapDate | null {
    const v = this.raw('DATE');
    return v.length ? parseSentDate(v[0]) : null;
  }
}

/** SUBJECT and DATE straight from the stored ENVELOPE: no file is opened. */
export class EnvelopeFields implements HeaderSource {
  constructor(private readonly info: MessageInfo) {}

  fields(name: string): readonly string[] {
    const v = name === 'SUBJECT' ? this.info.envelope.subject : name === 'DATE' ? this.info.envelope.date : null;
    return v === null ? [] : [foldCase(decodeHeaderValue(v))];
  }

  sentDate(): ImapDate | null {
    const d = this.info.envelope.date;
    return d === null ? null : parseSentDate(d);
  }
}

/** The header names the envelope answers exactly. */
const ENVELOPE_HEADERS = new Set(['SUBJECT', 'DATE']);

/** Whether a header pass with these needs can use the envelope alone. */
export function envelopeSuffices(headers: ReadonlySet<string>): boolean {
  for (const h of headers) if (!ENVELOPE_HEADERS.has(h)) return false;
  return true;
}

const READ_CHUNK = 16 * 1024;
/** Files up to this size are read whole for their header (one call is cheaper than open/read/close). */
const SMALL_FILE = 64 * 1024;

/**
 * The header block of a message file: `length` bytes when the structure gave it, else up
 * to the empty line (or the end of the file). `fileSize` (RFC822.SIZE) picks the cheaper
 * way to read.
 */
export function readHeaderBlock(path: string, length: number | null, fileSize: number): Uint8Array {
  if (fileSize <= SMALL_FILE) {
    const all = readFileSync(path);
    return all.subarray(0, length ?? headerEnd(all));
  }
  const fd = openSync(path, 'r');
  try {
    if (length !== null) {
      const buf = new Uint8Array(length);
      let n = 0;
      while (n < length) {
        const r = readSync(fd, buf, n, length - n, n);
        if (r === 0) break;
        n += r;
      }
      return buf.subarray(0, n);
    }
    let buf = new Uint8Array(READ_CHUNK);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        const next = new Uint8Array(buf.length * 2);
        next.set(buf);
        buf = next;
      }
      const r = readSync(fd, buf, n, buf.length - n, n);
      if (r === 0) return buf.subarray(0, n);
      n += r;
      const end = headerEnd(buf.subarray(0, n));
      if (end < n || endsWithBlankLine(buf, n)) return buf.subarray(0, end);
    }
  } finally {
    closeSync(fd);
  }
}

function endsWithBlankLine(b: Uint8Array, n: number): boolean {
  return (n >= 2 && b[n - 1] === 0x0a && b[n - 2] === 0x0a) || (n >= 4 && b[n - 1] === 0x0a && b[n - 2] === 0x0d && b[n - 3] === 0x0a);
}

/** Header fields of a header block. */
export function headerFields(block: Uint8Array): HeaderFields {
  return new HeaderFields(rawFields(block, 0, block.length));
}

const IDENTITY = new Set(['7bit', '8bit', 'binary']);

/** Headers and text of a whole message in memory. */
export class MessageText implements BodySource, HeaderSource {
  private root: Part;
  private headers: HeaderFields;
  private bodyCache: string | null = null;
  private textCache: string | null = null;

  constructor(private readonly bytes: Uint8Array, info: MessageInfo | null) {
    this.root = info ? info.root : parseMessage(bytes).root;
    this.headers = new HeaderFields(rawFields(bytes, this.root.headerStart, this.root.bodyStart));
  }

  fields(name: string): readonly string[] {
    return this.headers.fields(name);
  }

  sentDate(): ImapDate | null {
    return this.headers.sentDate();
  }

  body(): string {
    if (this.bodyCache === null) {
      const out: string[] = [];
      this.walk(this.root, out, false);
      this.bodyCache = foldCase(out.join('\n'));
    }
    return this.bodyCache;
  }

  text(): string {
    if (this.textCache === null) {
      const out: string[] = [this.headers.lines()];
      this.walk(this.root, out, true);
      this.textCache = foldCase(out.join('\n'));
    }
    return this.textCache;
  }

  /** Collect text of `p`'s body (and, for TEXT, the headers below it). */
  private walk(p: Part, out: string[], withHeaders: boolean, depth = 0): void {
    if (depth > 200) return; // the parser stops nesting at 100
    if (p.parts.length) {
      for (const c of p.parts) {
        if (withHeaders) out.push(new HeaderFields(rawFields(this.bytes, c.headerStart, c.bodyStart)).lines());
        this.walk(c, out, withHeaders, depth + 1);
      }
      return;
    }
    if (p.message) {
      if (!IDENTITY.has(p.encoding.toLowerCase())) return;
      const r = p.message.root;
      if (withHeaders) out.push(new HeaderFields(rawFields(this.bytes, r.headerStart, r.bodyStart)).lines());
      this.walk(r, out, withHeaders, depth + 1);
      return;
    }
    if (p.type === 'text' || p.type === '') out.push(bodyText(p.type ? p : { ...p, type: 'text' }, this.bytes.subarray(p.bodyStart, p.bodyEnd)));
  }
}

/** The whole message file (one at a time: the caller drops it when the message is decided). */
export function readMessage(path: string): Uint8Array {
  return readFileSync(path);
}
