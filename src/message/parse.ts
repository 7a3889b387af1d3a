// One-pass MIME parser: header fields, the part tree with byte offsets, body line
// counts, ENVELOPE and BODYSTRUCTURE data. Streaming (`MessageParser`) and whole-buffer
// (`parseMessage`) forms give identical results for any chunking.
//
// Invariants:
// - Memory is bounded: the parser keeps the current header block (capped at
//   LIMITS.maxHeaderBytes; fields past the cap are ignored), a line prefix long enough
//   to recognise a boundary, and the open-part stack — never a body.
// - Nothing throws on any input; offsets always satisfy
//   headerStart <= bodyStart <= bodyEnd <= size, and children lie inside their parent.
// - Where RFC 2045/2046/9051 leave room, results are what Dovecot 2.3 answers:
//   * a boundary line is "--" + boundary at the start of a line, matched as a prefix
//     (trailing text ignored), innermost multipart first; "--" after it ends the multipart
//     and the boundary is no longer recognised in the epilogue;
//   * the line ending before a boundary line belongs to the boundary, so a part's body
//     (or a header cut short by a boundary) ends before it;
//   * a boundary line also ends a header that has no empty line yet;
//   * Content-* fields count only in MIME parts: a part with MIME-Version or
//     Content-Type, or any child of a multipart;
//   * a multipart/message nested 100 deep (or past 10000 parts) is not expanded and
//     reads as application/octet-stream;
//   * message/rfc822 bodies are parsed as messages whatever their transfer encoding.
// - Deliberate difference: message/global is expanded like message/rfc822 (RFC 9051
//   §7.5.2 asks for it; Dovecot 2.3 treats it as an opaque body).

import { toBinary } from './bin.ts';
import { fieldValue, rawFieldValue, splitHeader } from './header.ts';
import { searchHeaderLine } from './searchheaders.ts';
import { parseAddresses, parseContentType, parseDisposition, parseEncoding, parseLanguage } from './rfc822.ts';
import type { Address, Envelope, MessageInfo, Part } from './types.ts';

export const LIMITS = {
  /** Header bytes kept per header block; fields beyond are ignored (offsets stay exact). */
  maxHeaderBytes: 256 * 1024,
  /** Nesting levels of parts (Dovecot's default for message_max_nested_mime_parts). */
  maxDepth: 100,
  /** Parts per message. */
  maxParts: 10000,
  /** Boundary strings are truncated to this many bytes (Dovecot: 70 + 10). */
  maxBoundary: 80,
};

const PREFIX = 2 + 80 + 2;
const LF = 0x0a;
const CR = 0x0d;

type Mode = 'header' | 'body' | 'preamble' | 'epilogue';

interface Open {
  part: Part;
  level: number;
  mode: Mode;
  /** LF count at bodyStart. */
  lfStart: number;
  /** Active boundary (bytes) while this multipart expects boundary lines. */
  boundary: Uint8Array | null;
  isMessageRoot: boolean;
  inMultipart: boolean;
  digestChild: boolean;
  isDigest: boolean;
  /** The message/rfc822 part this root belongs to (null for the top-level root). */
  container: Part | null;
}

export function emptyEnvelope(): Envelope {
  return { date: null, subject: null, from: null, sender: null, replyTo: null, to: null, cc: null, bcc: null, inReplyTo: null, messageId: null };
}

function newPart(headerStart: number): Part {
  return {
    headerStart,
    bodyStart: headerStart,
    bodyEnd: headerStart,
    bodyLines: 0,
    type: 'text',
    subtype: 'plain',
    params: [],
    id: null,
    description: null,
    encoding: '7bit',
    md5: null,
    disposition: null,
    language: null,
    location: null,
    parts: [],
    message: null,
  };
}

function concatAddresses(a: Address[] | null, b: Address[] | null): Address[] | null {
  if (a === null) return b;
  if (b === null) return a;
  return a.concat(b);
}

export class MessageParser {
  private offset = 0;
  private lfCount = 0;
  private lastByte = LF;
  private atLineStart = true;
  private ls = 0;
  private prevEol = 0;
  private prefix = new Uint8Array(PREFIX);
  private prefixLen = 0;
  private activeBoundaries = 0;
  private partCount = 1;
  private readonly stack: Open[] = [];
  private readonly root: Part;
  private envelope: Envelope = emptyEnvelope();
  // Header block of the open part in header mode.
  private hdr = new Uint8Array(1024);
  private hdrLen = 0;
  private hdrLenAtLineStart = 0;
  private done: MessageInfo | null = null;
  /** The top-level header's fields that SEARCH records (searchheaders.ts). */
  searchHeaders = '';

  constructor() {
    this.root = newPart(0);
    this.stack.push({ part: this.root, level: 0, mode: 'header', lfStart: 0, boundary: null, isMessageRoot: true, inMultipart: false, digestChild: false, isDigest: false, container: null });
  }

  feed(chunk: Uint8Array): void {
    if (this.done !== null) throw new Error('MessageParser.feed after end');
    const n = chunk.length;
    let pos = 0;
    while (pos < n) {
      if (this.atLineStart) {
        this.atLineStart = false;
        this.ls = this.offset + pos;
        this.prefixLen = 0;
        this.hdrLenAtLineStart = this.hdrLen;
      }
      const nl = chunk.indexOf(LF, pos);
      const segEnd = nl < 0 ? n : nl + 1;
      if (this.activeBoundaries > 0 && this.prefixLen < PREFIX) {
        const take = Math.min(PREFIX - this.prefixLen, segEnd - pos);
        this.prefix.set(chunk.subarray(pos, pos + take), this.prefixLen);
        this.prefixLen += take;
      }
      const top = this.stack[this.stack.length - 1];
      if (top.mode === 'header') this.appendHeader(chunk, pos, segEnd);
      if (nl >= 0) {
        const before = nl > 0 ? chunk[nl - 1] : this.lastByte;
        const eol = before === CR && this.offset + nl > this.ls ? 2 : 1;
        const le = this.offset + nl + 1;
        this.line(this.ls, le, le - this.ls - eol, eol);
        this.lfCount++;
        this.prevEol = eol;
        this.atLineStart = true;
      }
      pos = segEnd;
    }
    if (n > 0) this.lastByte = chunk[n - 1];
    this.offset += n;
  }

  end(): MessageInfo {
    if (this.done !== null) return this.done;
    if (!this.atLineStart) {
      this.line(this.ls, this.offset, this.offset - this.ls, 0);
      this.prevEol = 0;
    }
    while (this.stack.length > 0) this.close(this.stack.pop()!, this.offset, this.lfCount);
    this.done = { v: 1, size: this.offset, envelope: this.envelope, root: this.root };
    return this.done;
  }

  private appendHeader(chunk: Uint8Array, from: number, to: number): void {
    const room = LIMITS.maxHeaderBytes - this.hdrLen;
    if (room <= 0) return;
    const len = Math.min(room, to - from);
    if (this.hdrLen + len > this.hdr.length) {
      let size = this.hdr.length * 2;
      while (size < this.hdrLen + len) size *= 2;
      const next = new Uint8Array(Math.min(size, LIMITS.maxHeaderBytes));
      next.set(this.hdr.subarray(0, this.hdrLen));
      this.hdr = next;
    }
    this.hdr.set(chunk.subarray(from, from + len), this.hdrLen);
    this.hdrLen += len;
  }

  /** One line [ls, le): `content` bytes before the line ending of `eol` bytes (0 at EOF). */
  private line(ls: number, le: number, content: number, eol: number): void {
    if (this.activeBoundaries > 0 && content >= 2 && this.prefix[0] === 0x2d && this.prefix[1] === 0x2d) {
      // The longest active boundary that prefixes the line wins; among equals, the innermost.
      const avail = Math.min(content, this.prefixLen);
      let best = -1;
      let bestLen = -1;
      for (let k = this.stack.length - 1; k >= 0; k--) {
        const b = this.stack[k].boundary;
        if (b === null || b.length <= bestLen || 2 + b.length > avail) continue;
        let same = true;
        for (let i = 0; i < b.length; i++) {
          if (this.prefix[2 + i] !== b[i]) {
            same = false;
            break;
          }
        }
        if (!same) continue;
        best = k;
        bestLen = b.length;
      }
      if (best >= 0) {
        const isEnd = avail >= 4 + bestLen && this.prefix[2 + bestLen] === 0x2d && this.prefix[3 + bestLen] === 0x2d;
        // A boundary line cut off by the end of the message opens no new part.
        this.boundaryLine(best, isEnd || eol === 0, ls, le);
        return;
      }
    }
    const top = this.stack[this.stack.length - 1];
    if (top.mode === 'header' && content === 0 && eol > 0) {
      this.hdrLen = Math.min(this.hdrLen, LIMITS.maxHeaderBytes);
      this.finishHeader(top, le, this.lfCount + 1, false);
    }
  }

  private boundaryLine(k: number, isEnd: boolean, ls: number, le: number): void {
    const top = this.stack[this.stack.length - 1];
    if (top.mode === 'header') this.hdrLen = this.hdrLenAtLineStart;
    const regionStart = top.mode === 'header' ? top.part.headerStart : top.part.bodyStart;
    let endPos = ls;
    let endLf = this.lfCount;
    if (this.prevEol > 0 && ls - this.prevEol >= regionStart) {
      endPos = ls - this.prevEol;
      endLf--;
    }
    // Dovecot quirk kept for identical sizes: a header cut short by a boundary loses the
    // line ending before the boundary, but the parts enclosing it keep it.
    const cutHeader = top.mode === 'header';
    let first = true;
    while (this.stack.length - 1 > k) {
      const o = this.stack.pop()!;
      if (first || !cutHeader) this.close(o, endPos, endLf);
      else this.close(o, ls, this.lfCount);
      first = false;
    }
    const m = this.stack[k];
    if (isEnd || this.partCount >= LIMITS.maxParts) {
      m.boundary = null;
      this.activeBoundaries--;
      m.mode = 'epilogue';
      return;
    }
    const child = newPart(le);
    this.partCount++;
    m.part.parts.push(child);
    this.stack.push({ part: child, level: m.level + 1, mode: 'header', lfStart: 0, boundary: null, isMessageRoot: false, inMultipart: true, digestChild: m.isDigest, isDigest: false, container: null });
    this.hdrLen = 0;
    this.hdrLenAtLineStart = 0;
  }

  /** End an open part at pos (LF count lf there). */
  private close(o: Open, pos: number, lf: number): void {
    if (o.boundary !== null) {
      o.boundary = null;
      this.activeBoundaries--;
    }
    if (o.mode === 'header') {
      // Header without an empty line: it runs to pos, the body is empty.
      this.finishHeader(o, pos, lf, true);
    }
    o.part.bodyEnd = Math.max(pos, o.part.bodyStart);
    o.part.bodyLines = Math.max(0, lf - o.lfStart);
    if (o.part.message !== null && o.part.message.root.bodyEnd < o.part.bodyStart) {
      // The embedded message never opened (header cut short): an empty one.
      const r = o.part.message.root;
      r.headerStart = r.bodyStart = r.bodyEnd = o.part.bodyEnd;
    }
  }

  private finishHeader(o: Open, bodyStart: number, lfStart: number, cut: boolean): void {
    const part = o.part;
    part.bodyStart = bodyStart;
    part.bodyEnd = bodyStart;
    o.lfStart = lfStart;
    o.mode = 'body';
    const block = this.hdr.subarray(0, this.hdrLen);
    const isDigest = this.applyHeader(o, block);
    this.hdrLen = 0;
    this.hdrLenAtLineStart = 0;

    const type = part.type;
    const sub = part.subtype;
    const nests = o.level + 1 < LIMITS.maxDepth && this.partCount < LIMITS.maxParts;
    if (type === 'multipart' && sub !== '') {
      if (!nests) return this.opaque(part);
      o.isDigest = isDigest;
      if (cut) return;
      let b: string | null = null;
      for (const [k, v] of part.params) {
        if (k.toLowerCase() === 'boundary') {
          b = v;
          break;
        }
      }
      if (b === null) return;
      o.boundary = Buffer.from(b.slice(0, LIMITS.maxBoundary), 'latin1');
      this.activeBoundaries++;
      o.mode = 'preamble';
      return;
    }
    if (type === 'message' && (sub === 'rfc822' || sub === 'global')) {
      if (!nests) return this.opaque(part);
      const root = newPart(bodyStart);
      this.partCount++;
      part.message = { envelope: emptyEnvelope(), root };
      if (cut) {
        root.bodyEnd = -1; // fixed up in close()
        return;
      }
      this.stack.push({ part: root, level: o.level + 1, mode: 'header', lfStart: lfStart, boundary: null, isMessageRoot: true, inMultipart: false, digestChild: false, isDigest: false, container: part });
    }
  }

  private opaque(part: Part): void {
    part.type = 'application';
    part.subtype = 'octet-stream';
    delete part.rawType;
    delete part.rawSubtype;
  }

  /** Fill the part (and envelope, for a message root) from its header block. Returns
   * whether the part is multipart/digest. */
  private applyHeader(o: Open, block: Uint8Array): boolean {
    const part = o.part;
    const fields = splitHeader(block);
    let isMime = o.inMultipart;
    let ct: ReturnType<typeof parseContentType> | null = null;
    let enc: string | null = null;
    let id: string | null = null;
    let desc: string | null = null;
    let md5: string | null = null;
    let loc: string | null = null;
    let lang: string[] | null = null;
    let disp: Part['disposition'] = null;
    const env = o.isMessageRoot ? emptyEnvelope() : null;
    for (const f of fields) {
      const name = f.name;
      const c0 = name.charCodeAt(0) | 0x20;
      if (c0 === 0x63 /* c */ && name.length > 8 && name.slice(0, 8).toLowerCase() === 'content-') {
        const rest = name.slice(8).toLowerCase();
        switch (rest) {
          case 'type':
            if (ct === null) {
              ct = parseContentType(fieldValue(block, f));
              isMime = true;
            }
            break;
          case 'transfer-encoding':
            if (enc === null) enc = parseEncoding(fieldValue(block, f));
            break;
          case 'id':
            if (id === null) id = fieldValue(block, f);
            break;
          case 'description':
            if (desc === null) desc = fieldValue(block, f);
            break;
          case 'md5':
            if (md5 === null) md5 = fieldValue(block, f);
            break;
          case 'location':
            if (loc === null) loc = fieldValue(block, f);
            break;
          case 'language':
            if (lang === null) lang = parseLanguage(fieldValue(block, f));
            break;
          case 'disposition':
            if (disp === null || disp.params.length === 0) disp = parseDisposition(fieldValue(block, f)) ?? disp;
            break;
        }
        continue;
      }
      if (c0 === 0x6d /* m */ && name.length === 12 && name.toLowerCase() === 'mime-version') {
        isMime = true;
        continue;
      }
      if (env !== null) {
        this.envelopeField(env, name.toLowerCase(), block, f);
        if (o.container === null) this.searchHeaders += searchHeaderLine(name.toUpperCase(), block, f);
      }
    }
    if (env !== null) {
      if (o.container === null) this.envelope = env;
      else o.container.message!.envelope = env;
    }
    if (!isMime) {
      ct = null;
      enc = id = desc = md5 = loc = null;
      lang = null;
      disp = null;
    }
    let isDigest = false;
    if (ct !== null) {
      setType(part, ct.type, ct.subtype);
      part.params = ct.params;
      const raw = ct.params.map(([k]) => k);
      part.params = ct.params.map(([k, v]) => [k.toLowerCase(), v]);
      if (raw.some((k, i) => k !== part.params[i][0])) part.rawParamNames = raw;
      isDigest = part.type === 'multipart' && part.subtype === 'digest';
    } else if (o.digestChild) {
      part.type = 'message';
      part.subtype = 'rfc822';
    }
    part.encoding = enc ?? '7bit';
    part.id = id;
    part.description = desc;
    part.md5 = md5;
    part.location = loc;
    part.language = lang;
    part.disposition = disp;
    return isDigest;
  }

  private envelopeField(env: Envelope, lname: string, block: Uint8Array, f: Parameters<typeof fieldValue>[1]): void {
    switch (lname) {
      case 'date':
        env.date = fieldValue(block, f);
        break;
      case 'subject':
        env.subject = rawFieldValue(block, f);
        break;
      case 'message-id':
        env.messageId = fieldValue(block, f);
        break;
      case 'in-reply-to':
        env.inReplyTo = fieldValue(block, f);
        break;
      case 'from':
        env.from = concatAddresses(env.from, parseAddresses(fieldValue(block, f)));
        break;
      case 'sender':
        env.sender = concatAddresses(env.sender, parseAddresses(fieldValue(block, f)));
        break;
      case 'reply-to':
        env.replyTo = concatAddresses(env.replyTo, parseAddresses(fieldValue(block, f)));
        break;
      case 'to':
        env.to = concatAddresses(env.to, parseAddresses(fieldValue(block, f)));
        break;
      case 'cc':
        env.cc = concatAddresses(env.cc, parseAddresses(fieldValue(block, f)));
        break;
      case 'bcc':
        env.bcc = concatAddresses(env.bcc, parseAddresses(fieldValue(block, f)));
        break;
    }
  }
}

function setType(part: Part, type: string, subtype: string): void {
  part.type = type.toLowerCase();
  part.subtype = subtype.toLowerCase();
  if (type !== part.type) part.rawType = type;
  else delete part.rawType;
  if (subtype !== part.subtype) part.rawSubtype = subtype;
  else delete part.rawSubtype;
}

/** Parse a whole message (already newline-normalised for storage, though bare LF is handled). */
export function parseMessage(data: Uint8Array): MessageInfo {
  const p = new MessageParser();
  p.feed(data);
  return p.end();
}

/** The header block of a part, as bytes of the stored file. */
export function partHeader(file: Uint8Array, part: Part): Uint8Array {
  return file.subarray(part.headerStart, part.bodyStart);
}

export { toBinary };
