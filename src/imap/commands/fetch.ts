// FETCH and UID FETCH (RFC 9051 §6.4.5, BINARY RFC 3516, partial fetch, MODSEQ RFC 7162).
//
// Metadata (FLAGS, INTERNALDATE, RFC822.SIZE) comes from the account's in-memory table;
// ENVELOPE, BODY and BODYSTRUCTURE from their renderings stored at APPEND (or from the
// stored structure for rows without one); the parsed structure stored at APPEND gives
// every part's offsets, so a body section is one read of a byte range. Messages are processed in batches; a large
// section streams from the file to the socket with backpressure, so FETCH 1:* of a big
// mailbox never holds all bodies in memory. No transaction is open while we write.

import { closeSync, openSync, readSync } from 'node:fs';
import { decodeBody } from '../../message/decode.ts';
import { headerFields } from '../../message/header.ts';
import { parseMessage } from '../../message/parse.ts';
import { findPart, resolveSection, type SectionRange } from '../../message/section.ts';
import type { MessageInfo } from '../../message/types.ts';
import type { StoredMessage } from '../../store/types.ts';
import { SysFlag } from '../../store/types.ts';
import { renderedItems, type RenderedItems, writeBodyStructure, writeEnvelope } from '../bodystructure.ts';
import { no } from '../errors.ts';
import type { FetchAtt, Section } from '../parser.ts';
import { flagNames, type Session } from '../session.ts';
import { resolveSet } from './seqset.ts';
import { SELECTED, spec } from './spec.ts';

/** Messages per batch when structures or files are read too (one database query each). */
const BATCH = 500;
/** Per batch when only the in-memory metadata is needed: it bounds the message objects
 * made at once. */
const META_BATCH = 5000;
/** A section up to this size is read whole into the response buffer; larger ones stream. */
const INLINE_MAX = 256 * 1024;
/** Read size when streaming a section from its file. */
const CHUNK = 256 * 1024;
/** Stop filling the socket past this much unsent output and wait for it to drain. */
const STREAM_HIGH = 4 * 1024 * 1024;

const EMPTY = new Uint8Array(0);
const NO_BINARIES: ReadonlyMap<FetchAtt, Uint8Array> = new Map();

/** Does fetching this attribute set \Seen (RFC 9051 §6.4.5)? */
function setsSeen(a: FetchAtt): boolean {
  return ((a.kind === 'BODY[]' || a.kind === 'BINARY[]') && !a.peek) || a.kind === 'RFC822' || a.kind === 'RFC822.TEXT';
}

function needsStructure(a: FetchAtt): boolean {
  switch (a.kind) {
    case 'ENVELOPE':
    case 'BODY':
    case 'BODYSTRUCTURE':
    case 'BODY[]':
    case 'BINARY[]':
    case 'BINARY.SIZE':
    case 'RFC822.HEADER':
    case 'RFC822.TEXT':
      return true;
    default:
      return false;
  }
}

/** Items that may come pre-rendered (bodystructure.ts renderStructure). */
function isRenderable(a: FetchAtt): boolean {
  return a.kind === 'ENVELOPE' || a.kind === 'BODY' || a.kind === 'BODYSTRUCTURE';
}

function isBinary(a: FetchAtt): a is Extract<FetchAtt, { kind: 'BINARY[]' | 'BINARY.SIZE' }> {
  return a.kind === 'BINARY[]' || a.kind === 'BINARY.SIZE';
}

function needsFile(a: FetchAtt): boolean {
  return a.kind === 'BODY[]' || a.kind === 'BINARY[]' || a.kind === 'BINARY.SIZE' || a.kind === 'RFC822' || a.kind === 'RFC822.HEADER' || a.kind === 'RFC822.TEXT';
}

/** RFC 9051 §6.4.5 FETCH; selected state. */
const fetch = spec({
  names: ['FETCH'],
  states: SELECTED,
  async run(s, cmd) {
    const view = s.view;
    const account = s.account;
    const mbId = view.mailbox.id;
    const uids = resolveSet(s, cmd.set, cmd.uid);
    if (!uids.length) return;
    const atts: FetchAtt[] = cmd.uid && !cmd.atts.some((a) => a.kind === 'UID') ? [{ kind: 'UID' }, ...cmd.atts] : cmd.atts;
    const wantStructure = atts.some(needsStructure);
    const wantFile = atts.some(needsFile);
    const marksSeen = !view.readOnly && atts.some(setsSeen);
    const wantFlags = atts.some((a) => a.kind === 'FLAGS');
    const wantBinary = atts.some(isBinary);
    // ENVELOPE/BODY/BODYSTRUCTURE alone (with metadata): the renderings stored at APPEND.
    const fromRendered = wantStructure && atts.every((a) => !needsStructure(a) || isRenderable(a));
    const batchSize = wantStructure || wantFile ? BATCH : META_BATCH;
    let expungeIssued = false;

    for (let i = 0; i < uids.length; i += batchSize) {
      const batch = uids.slice(i, i + batchSize);
      const metas = account.messages(mbId, batch);
      // Fetching a body without PEEK sets \Seen; the new flags go out with the message.
      const seenNow = new Set<number>();
      if (marksSeen) {
        const unseen = metas.filter((m) => !(m.flags & SysFlag.Seen)).map((m) => m.uid);
        if (unseen.length) {
          const changed = account.setFlags(mbId, unseen, 'add', SysFlag.Seen, []);
          if (changed.length) {
            s.dropOwnChanges(changed[0].modseq);
            for (const c of changed) seenNow.add(c.uid);
            for (const m of metas) {
              if (!seenNow.has(m.uid)) continue;
              m.flags |= SysFlag.Seen;
              m.modseq = changed[0].modseq;
            }
          }
        }
      }
      const rendered = fromRendered ? account.renderedItems(mbId, batch) : null;
      const structures = wantStructure && !fromRendered ? account.structures(mbId, batch) : null;
      for (const uid of batch) {
        const seq = view.seq(uid);
        if (seq === 0) continue;
        const m = findByUid(metas, uid);
        if (!m) {
          // Expunged by another session, and this one has not been told yet.
          writeExpunged(s, seq, uid, atts);
          expungeIssued = true;
          continue;
        }
        const blob = rendered?.get(m.uid);
        const items = blob ? renderedItems(blob) : null;
        let info = structures?.get(m.uid) ?? null;
        // Rows without a usable rendering (older, or session-dependent) use the structure.
        if (fromRendered && !items) info = account.structures(mbId, [m.uid]).get(m.uid) ?? null;
        const file = wantFile || (wantStructure && !info && !items) ? new MessageFile(account.messagePath(mbId, m.uid)) : null;
        try {
          if (wantStructure && !info && !items) info = parseMessage(file!.read(0, m.size));
          // Decode BINARY parts before writing anything, so a refusal (UNKNOWN-CTE, PARSE)
          // never leaves half a FETCH response behind.
          const binaries = wantBinary ? decodeBinaries(atts, file!, info!) : NO_BINARIES;
          s.w.raw('* ').num(seq).raw(' FETCH (');
          for (let k = 0; k < atts.length; k++) {
            if (k > 0) s.w.sp();
            // Only a streamed section is asynchronous: awaiting every attribute would
            // cost a promise per token.
            const streaming = writeAtt(s, atts[k], m, info, items, file, binaries);
            if (streaming) await streaming;
          }
          if (seenNow.has(m.uid) && !wantFlags) {
            if (atts.length > 0) s.w.sp();
            s.w.raw('FLAGS ').atomList(flagNames(m.flags, m.keywords));
          }
          s.w.raw(')').crlf();
        } finally {
          file?.close();
        }
        if (s.w.length > INLINE_MAX) await flushWithBackpressure(s);
      }
    }
    if (expungeIssued) return { code: 'EXPUNGEISSUED', text: 'some messages were expunged by another session' };
  },
});

/** The message with this UID in `metas` (ascending by UID, as the store returns them);
 * a search rather than a Map per batch, since the set's order may differ. */
function findByUid(metas: readonly StoredMessage[], uid: number): StoredMessage | undefined {
  let lo = 0;
  let hi = metas.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (metas[mid].uid < uid) lo = mid + 1;
    else hi = mid;
  }
  return metas[lo]?.uid === uid ? metas[lo] : undefined;
}

/**
 * A message still in this session's view that another session expunged: its UID, empty
 * flags and NIL for its contents, as Dovecot answers; the tagged OK says EXPUNGEISSUED.
 */
function writeExpunged(s: Session, seq: number, uid: number, atts: readonly FetchAtt[]): void {
  s.w.raw('* ').num(seq).raw(' FETCH (UID ').num(uid);
  for (const a of atts) {
    switch (a.kind) {
      case 'FLAGS':
        s.w.raw(' FLAGS ()');
        break;
      case 'BODY[]':
        s.w.raw(' BODY[').raw(sectionText(a.section)).raw('] NIL');
        break;
      case 'BINARY[]':
        s.w.raw(' BINARY[').raw(a.part.join('.')).raw('] NIL');
        break;
      case 'RFC822':
      case 'RFC822.HEADER':
      case 'RFC822.TEXT':
        s.w.sp().raw(a.kind).raw(' NIL');
        break;
      default:
        break;
    }
  }
  s.w.raw(')').crlf();
}

/** BINARY parts decoded, by attribute. */
function decodeBinaries(atts: readonly FetchAtt[], file: MessageFile, info: MessageInfo): Map<FetchAtt, Uint8Array> {
  const out = new Map<FetchAtt, Uint8Array>();
  for (const a of atts) if (isBinary(a)) out.set(a, decoded(file, info, a.part));
  return out;
}

/** Writes one attribute; returns a promise only while a large section streams. */
function writeAtt(s: Session, a: FetchAtt, m: StoredMessage, info: MessageInfo | null, items: RenderedItems | null, file: MessageFile | null, binaries: ReadonlyMap<FetchAtt, Uint8Array>): Promise<void> | undefined {
  const w = s.w;
  switch (a.kind) {
    case 'UID':
      w.raw('UID ').num(m.uid);
      return;
    case 'FLAGS':
      w.raw('FLAGS ').atomList(flagNames(m.flags, m.keywords));
      return;
    case 'INTERNALDATE':
      w.raw('INTERNALDATE ').dateTime(m.internalDate);
      return;
    case 'RFC822.SIZE':
      w.raw('RFC822.SIZE ').num(m.size);
      return;
    case 'MODSEQ':
      w.raw('MODSEQ (').num(m.modseq).raw(')');
      return;
    case 'SAVEDATE':
      w.raw('SAVEDATE ').dateTime(m.saveDate);
      return;
    case 'EMAILID':
    case 'THREADID':
      w.raw(a.kind).raw(' NIL');
      return;
    case 'ENVELOPE':
      w.raw('ENVELOPE ');
      if (items) w.bytes(items.envelope);
      else writeEnvelope(w, info!.envelope);
      return;
    case 'BODY':
      w.raw('BODY ');
      if (items) w.bytes(items.body);
      else writeBodyStructure(w, info!.root, false);
      return;
    case 'BODYSTRUCTURE':
      w.raw('BODYSTRUCTURE ');
      if (items) w.bytes(items.bodystructure);
      else writeBodyStructure(w, info!.root, true);
      return;
    case 'RFC822':
      w.raw('RFC822 ');
      return sendRange(s, file!, { start: 0, end: m.size }, null);
    case 'RFC822.HEADER':
      w.raw('RFC822.HEADER ');
      return sendSection(s, file!, info!, { part: [], text: 'HEADER', fields: [] }, null);
    case 'RFC822.TEXT':
      w.raw('RFC822.TEXT ');
      return sendSection(s, file!, info!, { part: [], text: 'TEXT', fields: [] }, null);
    case 'BODY[]':
      w.raw('BODY[').raw(sectionText(a.section)).raw(']');
      if (a.partial) w.raw('<').num(a.partial.offset).raw('>');
      w.sp();
      return sendSection(s, file!, info!, a.section, a.partial);
    case 'BINARY[]':
      w.raw('BINARY[').raw(a.part.join('.')).raw(']');
      if (a.partial) w.raw('<').num(a.partial.offset).raw('>');
      w.sp();
      sendBinary(s, binaries.get(a)!, a.partial);
      return;
    case 'BINARY.SIZE':
      w.raw('BINARY.SIZE[').raw(a.part.join('.')).raw('] ').num(binaries.get(a)!.length);
      return;
    default: {
      const never: never = a;
      throw new Error(`unknown fetch attribute ${JSON.stringify(never)}`);
    }
  }
}

/** The section name as echoed in the response: `HEADER.FIELDS (FROM TO)`, `1.2.MIME`. */
function sectionText(sec: Section): string {
  let t = sec.part.join('.');
  if (sec.text) {
    if (t) t += '.';
    t += sec.text;
    if (sec.fields.length) t += ' (' + sec.fields.join(' ') + ')';
  }
  return t;
}

function sendSection(s: Session, file: MessageFile, info: MessageInfo, sec: Section, partial: { offset: number; count: number } | null): Promise<void> | undefined {
  const r = resolveSection(info, sec);
  switch (r.kind) {
    case 'empty':
      // A part that does not exist is an empty string, as Dovecot answers.
      s.w.literal(EMPTY);
      return;
    case 'fields': {
      const bytes = headerFields(file.read(r.start, r.end), r.names, r.not);
      s.w.literal(partial ? slicePartial(bytes, partial) : bytes);
      return;
    }
    case 'range':
      return sendRange(s, file, r, partial);
  }
}

function slicePartial(b: Uint8Array, p: { offset: number; count: number }): Uint8Array {
  return b.subarray(Math.min(p.offset, b.length), Math.min(p.offset + p.count, b.length));
}

/** A byte range of the file as a literal, streamed when large. */
function sendRange(s: Session, file: MessageFile, r: SectionRange, partial: { offset: number; count: number } | null): Promise<void> | undefined {
  let start = r.start;
  let end = r.end;
  if (partial) {
    start = Math.min(r.start + partial.offset, r.end);
    end = Math.min(start + partial.count, r.end);
  }
  const len = end - start;
  if (len <= INLINE_MAX) {
    s.w.literal(file.read(start, end));
    return;
  }
  return streamRange(s, file, start, end);
}

async function streamRange(s: Session, file: MessageFile, start: number, end: number): Promise<void> {
  s.w.literalHead(end - start);
  s.flush();
  for (let pos = start; pos < end; pos += CHUNK) {
    s.transport.send(file.read(pos, Math.min(pos + CHUNK, end)), false);
    if (s.transport.backlog > STREAM_HIGH) await s.transport.drained();
  }
}

/**
 * A part's content with its Content-Transfer-Encoding undone (RFC 3516). As Dovecot
 * answers: a part that does not exist is empty, and a multipart or message part is sent
 * as it is stored.
 */
function decoded(file: MessageFile, info: MessageInfo, path: number[]): Uint8Array {
  if (path.length === 0) return file.read(0, info.size);
  const part = findPart(info, path);
  if (!part) return EMPTY;
  const raw = file.read(part.bodyStart, part.bodyEnd);
  if (part.type === 'multipart' || part.message !== null) return raw;
  const r = decodeBody(part.encoding, raw);
  if (!r) throw no('UNKNOWN-CTE', `unknown Content-Transfer-Encoding ${part.encoding}`);
  if (r.invalid) throw no('PARSE', "the part's content does not decode");
  return r.data;
}

/** BINARY[part]: the decoded content, as literal8 when it holds NUL. */
function sendBinary(s: Session, content: Uint8Array, partial: { offset: number; count: number } | null): void {
  let bytes = content;
  if (partial) bytes = slicePartial(bytes, partial);
  if (bytes.includes(0)) s.w.raw('~');
  s.w.literal(bytes);
}

async function flushWithBackpressure(s: Session): Promise<void> {
  s.flush();
  if (s.transport.backlog > STREAM_HIGH) await s.transport.drained();
}

/** The message file, opened once per message for all its sections. */
class MessageFile {
  private fd: number;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
  }
  read(start: number, end: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, end - start));
    let off = 0;
    while (off < out.length) {
      const n = readSync(this.fd, out, off, out.length - off, start + off);
      if (n <= 0) break;
      off += n;
    }
    return off === out.length ? out : out.subarray(0, off);
  }
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

export const fetchCommands = [fetch];
