// imapflow (npm, Node's most used IMAP client) over a mailbox of a few thousand messages, as an
// application would use it: fetch (envelope, bodyStructure, flags, size, internalDate, source,
// headers, bodyParts, binary), search with every kind of criterion, flags add/remove/set, copy,
// move, delete (expunge) and status. Every answer is checked against the model of what was
// appended: the messages are generated here, deterministically, and appended fast with our own
// client (pipelined APPENDs with LITERAL+, in batches).
//
// The suite runs against postern; POSTERN_E2E_TARGET=dovecot runs it against a throwaway
// Dovecot instead (that is how the expectations were checked).

import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { ImapFlow, type FetchMessageObject, type ImapFlowOptions, type MessageStructureObject, type SearchObject } from 'imapflow';
import { dovecotAvailable, startDovecot } from '../../bench/dovecot.ts';
import { ImapClient, imapDateTime } from '../imap/client.ts';
import { rng } from '../message/testutil.ts';
import { startServer, type Account } from './harness.ts';

setDefaultTimeout(120_000);

const TARGET = process.env.POSTERN_E2E_TARGET === 'dovecot' ? 'dovecot' : 'postern';
const skip = TARGET === 'dovecot' && !dovecotAvailable();
if (skip) console.log('skipping: POSTERN_E2E_TARGET=dovecot but dovecot is not installed');

const USER: Account = { address: 'user@localhost', password: 'password1234' };
const COUNT = 3000;
const BOX = 'flow-big';

// ---- the generated mailbox ----

const WORDS = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua'.split(' ');
const SENDERS = [
  { header: 'Alice Example <alice@example.org>', name: 'Alice Example', address: 'alice@example.org' },
  { header: 'bob@example.net', name: '', address: 'bob@example.net' },
  { header: '=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>', name: 'Jörg Müller', address: 'joerg@example.de' },
  { header: '"Carol C." <carol@example.com>', name: 'Carol C.', address: 'carol@example.com' },
  { header: 'Dave <dave@example.com>', name: 'Dave', address: 'dave@example.com' },
];
const TOPICS = [
  { header: 'invoice', text: 'invoice' },
  { header: 'meeting notes', text: 'meeting notes' },
  { header: '=?UTF-8?B?R3LDvMOfZQ==?=', text: 'Grüße' },
  { header: 'quarterly report', text: 'quarterly report' },
  { header: 'hello there', text: 'hello there' },
  { header: 'lunch?', text: 'lunch?' },
  { header: 'status update', text: 'status update' },
];

interface Gen {
  i: number;
  bytes: Uint8Array;
  from: (typeof SENDERS)[number];
  subject: string;
  messageId: string;
  date: Date;
  internalDate: Date;
  batch: number;
  zebra: boolean;
  attachment: Uint8Array | null;
  bodyText: string;
  flags: Set<string>;
  uid: number;
}

const enc = new TextEncoder();
const DAY = 86_400_000;
const BASE = Date.UTC(2020, 0, 1, 12, 0, 0);
const MIDNIGHT = Date.UTC(2020, 0, 1);

function generate(i: number): Gen {
  const r = rng(i * 7919);
  const from = SENDERS[i % SENDERS.length];
  const topic = TOPICS[i % TOPICS.length];
  const subject = `${topic.text} #${i}`;
  const messageId = `<msg-${i}@example.test>`;
  const date = new Date(BASE + i * 3_600_000);
  const internalDate = new Date(BASE + (i % 100) * DAY);
  const zebra = i % 97 === 0;
  const big = i % 500 === 0;
  const words = big ? 15_000 : 20 + Math.floor(r() * r() * 2500);
  const filler: string[] = [];
  let line = '';
  for (let w = 0; w < words; w++) {
    line += (line ? ' ' : '') + WORDS[Math.floor(r() * WORDS.length)];
    if (line.length > 66) { filler.push(line); line = ''; }
  }
  if (line) filler.push(line);
  const bodyText = `Body of message ${i}.${zebra ? ' The zebra crossing.' : ''}\r\n${filler.join('\r\n')}\r\n`;
  const head = [
    `From: ${from.header}`,
    `To: User <user@localhost>`,
    ...(i % 6 === 0 ? ['Cc: team@example.org'] : []),
    `Subject: ${topic.header} #${i}`,
    `Date: ${date.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: ${messageId}`,
    `X-Batch: ${i % 10}`,
    'MIME-Version: 1.0',
  ];
  let attachment: Uint8Array | null = null;
  let text: string;
  if (i % 3 === 0) {
    attachment = Uint8Array.from({ length: 200 + Math.floor(r() * 3000) }, () => Math.floor(r() * 256));
    const b64 = (Buffer.from(attachment).toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
    text = [...head, `Content-Type: multipart/mixed; boundary="b-${i}"`, '', `--b-${i}`, 'Content-Type: text/plain; charset=utf-8', '',
      bodyText + `--b-${i}`, `Content-Type: application/octet-stream; name="file-${i}.bin"`, 'Content-Transfer-Encoding: base64',
      `Content-Disposition: attachment; filename="file-${i}.bin"`, '', b64, `--b-${i}--`, ''].join('\r\n');
  } else {
    text = [...head, 'Content-Type: text/plain; charset=utf-8', '', bodyText].join('\r\n');
  }
  const flags = new Set<string>();
  if (i % 4 === 0) flags.add('\\Seen');
  if (i % 10 === 0) flags.add('\\Flagged');
  if (i % 15 === 0) flags.add('\\Answered');
  if (i % 50 === 0) flags.add('$Important');
  return { i, bytes: enc.encode(text), from, subject, messageId, date, internalDate, batch: i % 10, zebra, attachment, bodyText, flags, uid: 0 };
}

const messages: Gen[] = Array.from({ length: COUNT }, (_, k) => generate(k + 1));

/** APPEND all of them, pipelined: batches of commands with LITERAL+ in one write each. */
async function appendAll(c: ImapClient, box: string, list: Gen[]): Promise<void> {
  const BATCH = 200;
  for (let s = 0; s < list.length; s += BATCH) {
    const batch = list.slice(s, s + BATCH);
    const parts: Uint8Array[] = [];
    batch.forEach((m, k) => {
      parts.push(enc.encode(`P${s + k} APPEND ${box} (${[...m.flags].join(' ')}) "${imapDateTime(m.internalDate)}" {${m.bytes.length}+}\r\n`), m.bytes, enc.encode('\r\n'));
    });
    await c.send(Buffer.concat(parts), 60_000);
    for (let k = 0; k < batch.length; k++) {
      const r = await c.waitTagged(`P${s + k}`, 60_000);
      if (r.status !== 'OK') throw new Error(`APPEND of message ${batch[k].i} failed: ${r.raw}`);
      const m = /^APPENDUID \d+ (\d+)$/i.exec(r.code ?? '');
      batch[k].uid = m ? Number(m[1]) : s + k + 1;
    }
  }
}

// ---- the target and imapflow ----

let port = 0;
let stopTarget: () => Promise<void> = async () => {};
let healthy: () => void = () => {};
const flows: ImapFlow[] = [];

const logger = process.env.POSTERN_TRACE
  ? Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((l) => [l, (o: unknown) => console.error(`[imapflow ${l}]`, JSON.stringify(o))]))
  : false;

async function flow(): Promise<ImapFlow> {
  const o: ImapFlowOptions = {
    host: '127.0.0.1', port, secure: false, doSTARTTLS: false,
    auth: { user: USER.address, pass: USER.password },
    logger: logger as ImapFlowOptions['logger'],
    disableAutoIdle: true, connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 60_000,
  };
  const f = new ImapFlow(o);
  f.on('error', () => {});
  flows.push(f);
  await f.connect();
  return f;
}

beforeAll(async () => {
  if (skip) return;
  if (TARGET === 'dovecot') {
    const d = await startDovecot({ users: [{ user: USER.address, password: USER.password }] });
    port = d.port;
    stopTarget = () => d.stop();
  } else {
    const s = await startServer({ tls: false, accounts: [USER] });
    port = s.port;
    stopTarget = () => s.stop();
    healthy = () => s.assertHealthy();
  }
  const c = await ImapClient.connect({ port, name: 'loader', timeoutMs: 60_000 });
  try {
    await c.login(USER.address, USER.password);
    await c.ok(`CREATE ${BOX}`);
    const t = Date.now();
    await appendAll(c, BOX, messages);
    console.log(`appended ${COUNT} messages (${(messages.reduce((a, m) => a + m.bytes.length, 0) / 1e6).toFixed(1)} MB) to ${TARGET} in ${Date.now() - t} ms`);
    await c.logout();
  } finally {
    c.close();
  }
});
afterEach(async () => {
  for (const f of flows.splice(0)) {
    if (f.usable) await f.logout().catch(() => f.close());
    else f.close();
  }
  healthy();
});
afterAll(async () => {
  await stopTarget();
});

// ---- helpers ----

const byUid = new Map<number, Gen>();
const model = () => {
  if (byUid.size === 0) for (const m of messages) byUid.set(m.uid, m);
  return byUid;
};
const uidsWhere = (pred: (m: Gen) => boolean, list = messages) => list.filter(pred).map((m) => m.uid).sort((a, b) => a - b);
const asSorted = (v: number[] | false | undefined) => (v ? [...v].sort((a, b) => a - b) : v);
const flagList = (s: Set<string> | undefined) => [...(s ?? [])].filter((f) => f !== '\\Recent').sort();

async function all(f: ImapFlow, range: string, query: Parameters<ImapFlow['fetch']>[1], uid = true): Promise<FetchMessageObject[]> {
  const out: FetchMessageObject[] = [];
  for await (const m of f.fetch(range, query, { uid })) out.push(m);
  return out;
}

describe.skipIf(skip)(`imapflow over ${COUNT} messages (${TARGET})`, () => {
  test('fetch 1:* envelope, flags, size, internalDate: every message as appended', async () => {
    const f = await flow();
    const box = await f.mailboxOpen(BOX);
    expect(box.exists).toBe(COUNT);
    const got = await all(f, '1:*', { uid: true, envelope: true, flags: true, size: true, internalDate: true }, false);
    expect(got).toHaveLength(COUNT);
    const m = model();
    let seq = 0;
    for (const g of got) {
      expect(g.seq).toBe(++seq);
      const want = m.get(g.uid)!;
      expect(want).toBeDefined();
      expect({ i: want.i, size: g.size, flags: flagList(g.flags) }).toEqual({ i: want.i, size: want.bytes.length, flags: flagList(want.flags) });
      const e = g.envelope!;
      expect({ i: want.i, subject: e.subject, messageId: e.messageId, from: e.from?.[0]?.address, name: e.from?.[0]?.name ?? '' })
        .toEqual({ i: want.i, subject: want.subject, messageId: want.messageId, from: want.from.address, name: want.from.name });
      expect(new Date(e.date!).getTime()).toBe(want.date.getTime());
      expect(e.to?.[0]?.address).toBe('user@localhost');
      expect(new Date(g.internalDate!).getTime()).toBe(want.internalDate.getTime());
    }
  });

  test('fetch bodyStructure: single parts and multipart/mixed with the attachment, part numbers, parameters', async () => {
    const f = await flow();
    await f.mailboxOpen(BOX);
    const got = await all(f, '1:300', { uid: true, bodyStructure: true });
    expect(got).toHaveLength(300);
    for (const g of got) {
      const want = model().get(g.uid)!;
      const bs = g.bodyStructure as MessageStructureObject;
      if (want.attachment) {
        expect(bs.type).toBe('multipart/mixed');
        expect(bs.parameters?.boundary).toBe(`b-${want.i}`);
        const [text, att] = bs.childNodes ?? [];
        expect(text).toMatchObject({ part: '1', type: 'text/plain', parameters: { charset: 'utf-8' } });
        expect(att).toMatchObject({ part: '2', type: 'application/octet-stream', encoding: 'base64', disposition: 'attachment' });
        expect(att.dispositionParameters?.filename).toBe(`file-${want.i}.bin`);
        expect(att.parameters?.name).toBe(`file-${want.i}.bin`);
        // The CRLF before a boundary delimiter belongs to the delimiter (RFC 2046 §5.1.1).
        expect(text.size).toBe(enc.encode(want.bodyText).length - 2);
      } else {
        expect(bs).toMatchObject({ type: 'text/plain', parameters: { charset: 'utf-8' } });
        expect(bs.size).toBe(enc.encode(want.bodyText).length);
        expect(bs.lineCount).toBe(want.bodyText.split('\r\n').length - 1);
      }
    }
  });

  test('fetch source: byte-identical to what was appended (a sample and every large message)', async () => {
    const f = await flow();
    await f.mailboxOpen(BOX);
    const sample = messages.filter((m) => m.i % 10 === 1 || m.i % 500 === 0);
    const uids = sample.map((m) => m.uid).join(',');
    const got = await all(f, uids, { uid: true, source: true });
    expect(got).toHaveLength(sample.length);
    for (const g of got) {
      const want = model().get(g.uid)!;
      expect(Buffer.compare(g.source!, Buffer.from(want.bytes))).toBe(0);
    }
    const partial = await f.fetchOne(String(sample[0].uid), { source: { start: 10, maxLength: 50 } }, { uid: true });
    expect(partial && partial.source?.toString()).toBe(Buffer.from(sample[0].bytes.subarray(10, 60)).toString());
  });

  test('fetch headers and bodyParts (BODY[n] and BINARY[n]): the text part and the decoded attachment', async () => {
    const f = await flow();
    await f.mailboxOpen(BOX);
    const withAtt = messages.filter((m) => m.attachment).slice(0, 40);
    const uids = withAtt.map((m) => m.uid).join(',');
    const got = await all(f, uids, { uid: true, headers: ['subject', 'message-id'], bodyParts: ['1', '2'] });
    expect(got).toHaveLength(withAtt.length);
    for (const g of got) {
      const want = model().get(g.uid)!;
      const h = g.headers!.toString();
      expect(h).toContain(`Message-ID: ${want.messageId}`);
      expect(h).not.toContain('X-Batch');
      expect(g.bodyParts?.get('1')?.toString()).toBe(want.bodyText.slice(0, -2)); // without the CRLF of the delimiter
      const raw = g.bodyParts?.get('2')?.toString().replace(/\r\n/g, '');
      expect(Buffer.from(raw ?? '', 'base64').equals(Buffer.from(want.attachment!))).toBe(true);
    }
    const bin: FetchMessageObject[] = [];
    for await (const m of f.fetch(uids, { uid: true, bodyParts: ['2'] }, { uid: true, binary: true })) bin.push(m);
    expect(bin).toHaveLength(withAtt.length);
    for (const g of bin) {
      const want = model().get(g.uid)!;
      expect(g.bodyParts?.get('2')?.equals(Buffer.from(want.attachment!))).toBe(true);
    }
  });

  test('search: flags, addresses, subject, body, headers, sizes, dates, OR/NOT, UID ranges', async () => {
    const f = await flow();
    await f.mailboxOpen(BOX);
    const sizeOf = (m: Gen) => m.bytes.length;
    const within = f.capabilities.has('WITHIN');
    const day = (m: Gen) => Math.floor((m.internalDate.getTime() - BASE) / DAY);
    const cases: Array<[string, SearchObject, (m: Gen) => boolean]> = [
      ['all', { all: true }, () => true],
      ['unseen', { seen: false }, (m) => !m.flags.has('\\Seen')],
      ['flagged', { flagged: true }, (m) => m.flags.has('\\Flagged')],
      ['answered and seen', { answered: true, seen: true }, (m) => m.flags.has('\\Answered') && m.flags.has('\\Seen')],
      ['keyword', { keyword: '$Important' }, (m) => m.flags.has('$Important')],
      ['from alice', { from: 'alice' }, (m) => m.from.address.startsWith('alice')],
      ['from domain', { from: 'example.com' }, (m) => m.from.address.endsWith('example.com')],
      ['cc', { cc: 'team@' }, (m) => m.i % 6 === 0],
      ['subject', { subject: 'invoice' }, (m) => m.subject.startsWith('invoice')],
      ['subject encoded word', { subject: 'Grüße' }, (m) => m.subject.startsWith('Grüße')],
      ['body', { body: 'zebra' }, (m) => m.zebra],
      ['text', { text: 'zebra crossing' }, (m) => m.zebra],
      ['header', { header: { 'x-batch': '7' } }, (m) => m.batch === 7],
      ['header message-id', { header: { 'message-id': '<msg-1234@' } }, (m) => m.i === 1234],
      ['larger', { larger: 20_000 }, (m) => sizeOf(m) > 20_000],
      ['smaller', { smaller: 1_000 }, (m) => sizeOf(m) < 1_000],
      // Dates at midnight go out as SINCE/BEFORE/ON (day granularity; internal dates are at noon).
      ['since', { since: new Date(MIDNIGHT + 60 * DAY) }, (m) => day(m) >= 60],
      ['before', { before: new Date(MIDNIGHT + 10 * DAY) }, (m) => day(m) < 10],
      ['on', { on: new Date(MIDNIGHT + 42 * DAY) }, (m) => day(m) === 42],
      ['sent since', { sentSince: new Date(MIDNIGHT + 100 * DAY) }, (m) => m.date.getTime() >= MIDNIGHT + 100 * DAY],
      ['sent before', { sentBefore: new Date(MIDNIGHT + 20 * DAY) }, (m) => m.date.getTime() < MIDNIGHT + 20 * DAY],
      // A date with a time of day: imapflow sends WITHIN's YOUNGER/OLDER when the server has
      // WITHIN (RFC 5032), else SINCE/BEFORE of that day. 18:00 is far from every noon.
      ['since with a time', { since: new Date(MIDNIGHT + 60 * DAY + 18 * 3_600_000) }, (m) => (within ? day(m) >= 61 : day(m) >= 60)],
      ['before with a time', { before: new Date(MIDNIGHT + 10 * DAY + 18 * 3_600_000) }, (m) => (within ? day(m) <= 10 : day(m) < 10)],
      ['or', { or: [{ from: 'bob' }, { flagged: true }] }, (m) => m.from.address.startsWith('bob') || m.flags.has('\\Flagged')],
      ['not', { not: { seen: true }, from: 'dave' }, (m) => !m.flags.has('\\Seen') && m.from.address.startsWith('dave')],
      ['uid range', { uid: `${messages[99].uid}:${messages[199].uid}` }, (m) => m.i >= 100 && m.i <= 200],
      ['nothing', { body: 'nonexistentwordxyz' }, () => false],
    ];
    const wrong: string[] = [];
    for (const [name, query, pred] of cases) {
      const got = asSorted(await f.search(query, { uid: true })) || [];
      const want = uidsWhere(pred);
      const extra = got.filter((u) => !want.includes(u));
      const lacking = want.filter((u) => !got.includes(u));
      if (extra.length || lacking.length) {
        wrong.push(`${name} ${JSON.stringify(query)}: ${got.length} found, ${want.length} expected; not expected: ${extra.slice(0, 20).join(',')}; missing: ${lacking.slice(0, 20).join(',')}`);
      }
    }
    expect(wrong).toEqual([]);
    // Sequence numbers: in this untouched mailbox, message i is at sequence i.
    expect(asSorted(await f.search({ subject: 'lunch?' }))).toEqual(messages.filter((m) => m.subject.startsWith('lunch?')).map((m) => m.i));
  });

  test('messageFlagsAdd / Remove / Set, seen by fetch and by search', async () => {
    const f = await flow();
    await f.mailboxOpen(BOX);
    const m = messages;
    const range = (a: number, b: number) => `${m[a - 1].uid}:${m[b - 1].uid}`;
    expect(await f.messageFlagsAdd(range(1, 100), ['\\Flagged', '$Todo'], { uid: true })).toBe(true);
    for (const x of m.slice(0, 100)) { x.flags.add('\\Flagged'); x.flags.add('$Todo'); }
    expect(await f.messageFlagsRemove(range(50, 150), ['\\Seen', '$Todo'], { uid: true })).toBe(true);
    for (const x of m.slice(49, 150)) { x.flags.delete('\\Seen'); x.flags.delete('$Todo'); }
    expect(await f.messageFlagsSet(range(200, 210), ['\\Answered', '$Custom'], { uid: true })).toBe(true);
    for (const x of m.slice(199, 210)) x.flags = new Set(['\\Answered', '$Custom']);
    expect(await f.messageFlagsAdd('300:310', ['\\Seen'])).toBe(true); // by sequence number
    for (const x of m.slice(299, 310)) x.flags.add('\\Seen');

    const got = await all(f, range(1, 320), { uid: true, flags: true });
    expect(got).toHaveLength(320);
    for (const g of got) {
      const want = model().get(g.uid)!;
      expect({ i: want.i, flags: flagList(g.flags) }).toEqual({ i: want.i, flags: flagList(want.flags) });
    }
    expect(asSorted(await f.search({ keyword: '$Todo' }, { uid: true }))).toEqual(uidsWhere((x) => x.flags.has('$Todo')));
    expect(asSorted(await f.search({ keyword: '$Custom' }, { uid: true }))).toEqual(uidsWhere((x) => x.flags.has('$Custom')));
    expect(asSorted(await f.search({ seen: false }, { uid: true }))).toEqual(uidsWhere((x) => !x.flags.has('\\Seen')));
  });

  test('messageCopy, messageMove and messageDelete, with uidMap, status counts and the bytes in the destination', async () => {
    const f = await flow();
    await f.mailboxCreate('flow-copy');
    await f.mailboxCreate('flow-moved');
    await f.mailboxOpen(BOX);
    const m = messages;
    const range = (a: number, b: number) => `${m[a - 1].uid}:${m[b - 1].uid}`;

    const copied = m.slice(1000, 1500);
    const cp = await f.messageCopy(range(1001, 1500), 'flow-copy', { uid: true });
    expect(cp && cp.uidMap?.size).toBe(500);
    expect(cp && cp.uidValidity).toBeDefined();
    expect(cp && [...cp.uidMap!.keys()].sort((a, b) => a - b)).toEqual(copied.map((x) => x.uid));

    const moved = m.slice(1500, 1700);
    const mv = await f.messageMove(range(1501, 1700), 'flow-moved', { uid: true });
    expect(mv && mv.uidMap?.size).toBe(200);
    expect(f.mailbox && f.mailbox.exists).toBe(COUNT - 200);

    const deleted = m.slice(1700, 1800);
    expect(await f.messageDelete(range(1701, 1800), { uid: true })).toBe(true);
    expect(f.mailbox && f.mailbox.exists).toBe(COUNT - 300);
    expect(await f.search({ uid: range(1501, 1800) }, { uid: true })).toEqual([]);

    const left = m.filter((x) => !moved.includes(x) && !deleted.includes(x));
    const size = (list: Gen[]) => list.reduce((a, x) => a + x.bytes.length, 0);
    const unseen = (list: Gen[]) => list.filter((x) => !x.flags.has('\\Seen')).length;
    const st = await f.status(BOX, { messages: true, unseen: true, uidNext: true, size: true });
    expect(st).toMatchObject({ messages: left.length, unseen: unseen(left), uidNext: m[m.length - 1].uid + 1, size: size(left) });
    expect(await f.status('flow-copy', { messages: true, unseen: true, size: true })).toMatchObject({ messages: 500, unseen: unseen(copied), size: size(copied) });
    expect(await f.status('flow-moved', { messages: true, unseen: true, size: true })).toMatchObject({ messages: 200, unseen: unseen(moved), size: size(moved) });

    // The moved messages arrive intact, flags included.
    await f.mailboxOpen('flow-moved');
    const inDest = await all(f, '1:*', { uid: true, flags: true, source: true }, false);
    expect(inDest).toHaveLength(200);
    const bySourceUid = new Map([...mv && mv.uidMap ? mv.uidMap : []].map(([a, b]) => [b, a]));
    for (const g of inDest) {
      const want = model().get(bySourceUid.get(g.uid)!)!;
      expect(want).toBeDefined();
      expect(Buffer.compare(g.source!, Buffer.from(want.bytes))).toBe(0);
      expect(flagList(g.flags)).toEqual(flagList(want.flags));
    }
  });
});
