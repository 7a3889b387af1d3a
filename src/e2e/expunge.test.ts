// Two (or three) sessions on one mailbox, as RFC 9051 §7.5.1 describes it: while one session
// expunges, another in the middle of FETCH, STORE or SEARCH by sequence number gets no EXPUNGE
// (its numbers would shift under it); it gets them at its next NOOP or UID command, in an
// order that, applied one by one, leaves exactly the right UIDs. Also: FETCH of a message
// expunged elsewhere before the session was told (Dovecot 2.3: the tagged OK carries
// [EXPUNGEISSUED] and the body is NIL, metadata still answers); COPY/MOVE with COPYUID and
// NO [TRYCREATE]; MOVE's EXPUNGE in the source, for the mover and for others; STORE seen by
// the other session as FETCH FLAGS; FETCH without PEEK setting \Seen; CLOSE expunging
// silently; and STATUS counts (MESSAGES UNSEEN DELETED SIZE) exact after every step.
//
// Each test has its own mailbox and sessions. The suite runs against postern; set
// POSTERN_E2E_TARGET=dovecot to run it against a throwaway Dovecot instead (it passes there:
// that is how the expectations were checked). Against Dovecot 2.3 (IMAP4rev1 only) STATUS
// has no DELETED item, and `\Recent` flags and `* n RECENT` are ignored throughout.

import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { dovecotAvailable, startDovecot } from '../../bench/dovecot.ts';
import { ImapClient, pick, text, untaggedCode, type CommandResult, type Untagged } from '../imap/client.ts';
import { startServer, type Account } from './harness.ts';

setDefaultTimeout(60_000);

const TARGET = process.env.POSTERN_E2E_TARGET === 'dovecot' ? 'dovecot' : 'postern';
const skip = TARGET === 'dovecot' && !dovecotAvailable();
if (skip) console.log('skipping: POSTERN_E2E_TARGET=dovecot but dovecot is not installed');

const USER: Account = { address: 'user@localhost', password: 'password1234' };
const REV2: Account = { address: 'rev2@localhost', password: 'password5678' };

/** Each mode runs the whole suite with its own account (so mailbox names do not clash). */
interface Mode { name: string; account: Account; enable: string[] }
const MODES: Mode[] = [
  { name: 'IMAP4rev1', account: USER, enable: [] },
  // Dovecot 2.3 has no IMAP4rev2.
  ...(TARGET === 'postern' ? [{ name: 'IMAP4rev2', account: REV2, enable: ['IMAP4rev2'] }] : []),
];

interface Target {
  port: number;
  /** Whether STATUS takes DELETED (IMAP4rev2). */
  rev2: boolean;
  assertHealthy(): void;
  stop(): Promise<void>;
}

let target: Target;
const clients: ImapClient[] = [];

beforeAll(async () => {
  if (skip) return;
  if (TARGET === 'dovecot') {
    const d = await startDovecot({ users: [{ user: USER.address, password: USER.password }] });
    target = { port: d.port, rev2: false, assertHealthy() {}, stop: () => d.stop() };
  } else {
    const s = await startServer({ tls: false, accounts: [USER, REV2] });
    target = { port: s.port, rev2: true, assertHealthy: () => s.assertHealthy(), stop: () => s.stop() };
  }
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  target?.assertHealthy();
});
afterAll(async () => {
  await target?.stop();
});

async function openSession(name: string, mode: Mode): Promise<ImapClient> {
  const c = await ImapClient.connect({ port: target.port, name: `${name}(${mode.name})` });
  clients.push(c);
  await c.login(mode.account.address, mode.account.password);
  if (mode.enable.length) await c.ok(`ENABLE ${mode.enable.join(' ')}`);
  return c;
}

/** The numbers a SEARCH answered: `* SEARCH` (rev1) or the ALL of `* ESEARCH` (rev2). */
function searchNums(r: CommandResult): number[] {
  const plain = pick(r, 'SEARCH').flatMap((x) => x.nums);
  const es = pick(r, 'OTHER').filter((u) => u.name === 'ESEARCH');
  for (const u of es) {
    const i = u.values.findIndex((v) => typeof v === 'string' && v.toUpperCase() === 'ALL');
    if (i >= 0) plain.push(...parseSet(text(u.values[i + 1]) ?? ''));
  }
  return plain;
}

// ---- messages and the expected state ----

const enc = new TextEncoder();

function body(box: string, i: number): string {
  const pad = 'x'.repeat((i * 37) % 300);
  return `From: sender${i}@example.org\r\nTo: user@localhost\r\nSubject: ${box} message ${i}\r\nDate: Mon, 1 Mar 2021 12:00:00 +0000\r\nMessage-ID: <${box}.${i}@example.org>\r\n\r\nbody of ${box} ${i}\r\n${pad}\r\n`;
}

interface Msg { uid: number; size: number; flags: Set<string>; subject: string }

/** Create `box` and append n messages (message i gets flags from `flagsOf`); returns them by UID. */
async function fill(c: ImapClient, box: string, n: number, flagsOf: (i: number) => string[] = () => []): Promise<Msg[]> {
  await c.ok(`CREATE ${box}`);
  const out: Msg[] = [];
  for (let i = 1; i <= n; i++) {
    const m = body(box, i);
    const flags = flagsOf(i);
    const r = await c.append(box, m, { flags, date: '01-Mar-2021 12:00:00 +0000' });
    expect(r.status).toBe('OK');
    out.push({ uid: r.appendUid?.uid ?? i, size: enc.encode(m).length, flags: new Set(flags), subject: `${box} message ${i}` });
  }
  return out;
}

/** What a session believes: the UID at each sequence number (null: not yet fetched). */
class View {
  constructor(public uids: Array<number | null>) {}
  /** Apply EXPUNGE and EXISTS in order, as a client must. */
  apply(untagged: Untagged[], who: string): void {
    for (const u of untagged) {
      if (u.type === 'EXPUNGE') {
        if (u.num < 1 || u.num > this.uids.length) throw new Error(`${who}: * ${u.num} EXPUNGE but the view has ${this.uids.length} messages`);
        this.uids.splice(u.num - 1, 1);
      } else if (u.type === 'EXISTS') {
        if (u.num < this.uids.length) throw new Error(`${who}: * ${u.num} EXISTS is below the ${this.uids.length} messages still in the view (EXPUNGE missing)`);
        while (this.uids.length < u.num) this.uids.push(null);
      }
    }
  }
}

const expunges = (r: CommandResult | Untagged[]) => pick(r, 'EXPUNGE');
const fetches = (r: CommandResult | Untagged[]) => pick(r, 'FETCH');
const flagsOf = (v: unknown) => (Array.isArray(v) ? v.map((x) => text(x) ?? '').filter((f) => f !== '\\Recent').sort() : null);
const sorted = (s: Iterable<string>) => [...s].sort();

/** The session's UIDs by sequence number, as the server says now. */
async function uidsNow(c: ImapClient): Promise<{ uids: number[]; result: CommandResult }> {
  const r = await c.ok('FETCH 1:* (UID)');
  const f = fetches(r).filter((x) => 'UID' in x.attrs).sort((a, b) => a.seq - b.seq);
  return { uids: f.map((x) => Number(x.attrs.UID)), result: r };
}

/** Nothing must arrive while no command is in progress (RFC 9051 §7.5.1). */
async function assertQuiet(c: ImapClient, ms = 150): Promise<void> {
  const late = await c.collect(ms);
  expect(late.map((r) => r.raw)).toEqual([]);
}

function parseSet(s: string): number[] {
  const out: number[] = [];
  for (const part of s.split(',')) {
    const [a, b] = part.split(':').map(Number);
    if (b === undefined) out.push(a);
    else for (let i = Math.min(a, b); i <= Math.max(a, b); i++) out.push(i);
  }
  return out;
}

/** COPYUID from a tagged code or an untagged OK (MOVE sends it untagged). */
function copyUid(r: CommandResult): { validity: number; from: number[]; to: number[] } | null {
  const raw = r.code && /^COPYUID /i.test(r.code) ? r.code.slice(8) : untaggedCode(r, 'COPYUID');
  if (!raw) return null;
  const [v, from, to] = raw.trim().split(/\s+/);
  return { validity: Number(v), from: parseSet(from), to: parseSet(to) };
}

/** STATUS of the counts, compared with what the messages say. */
async function expectCounts(watcher: ImapClient, box: string, msgs: Msg[], step: string): Promise<void> {
  const items = target.rev2 ? ['MESSAGES', 'UNSEEN', 'DELETED', 'SIZE'] : ['MESSAGES', 'UNSEEN', 'SIZE'];
  const got = await watcher.status(box, items);
  const want: Record<string, number> = {
    MESSAGES: msgs.length,
    UNSEEN: msgs.filter((m) => !m.flags.has('\\Seen')).length,
    SIZE: msgs.reduce((a, m) => a + m.size, 0),
  };
  if (target.rev2) want.DELETED = msgs.filter((m) => m.flags.has('\\Deleted')).length;
  expect({ step, ...got }).toEqual({ step, ...want });
}

for (const mode of MODES) describe.skipIf(skip)(`two sessions on one mailbox (${TARGET}, ${mode.name})`, () => {
  const session = (name: string) => openSession(name, mode);

  test('B gets no EXPUNGE during FETCH, STORE or SEARCH; at NOOP it gets them, in an order that leaves the right UIDs', async () => {
    const a = await session('A');
    const b = await session('B');
    const msgs = await fill(a, 'exp1', 10);
    const uids = msgs.map((m) => m.uid);
    await a.ok('SELECT exp1');
    await b.ok('SELECT exp1');
    const bView = new View([...uids]);

    await a.ok('STORE 2,4,5,9 +FLAGS.SILENT (\\Deleted)');
    const ex = await a.ok('EXPUNGE');
    expect(expunges(ex)).toHaveLength(4);
    const aView = new View([...uids]);
    aView.apply(ex.untagged, 'A');
    const live = uids.filter((_, i) => ![2, 4, 5, 9].includes(i + 1));
    expect(aView.uids).toEqual(live);
    expect((await uidsNow(a)).uids).toEqual(live);

    await assertQuiet(b); // no command in progress: nothing may come

    // FETCH by sequence number: no EXPUNGE; every number still means the same message.
    // (Whether expunged ones answer too is the next test's subject.)
    const f = await b.ok('FETCH 1:10 (UID FLAGS)');
    expect(expunges(f)).toEqual([]);
    expect(pick(f, 'EXISTS')).toEqual([]);
    // (Flag updates may come as extra FETCH responses without UID: Dovecot sends them.)
    const seen = new Map(fetches(f).filter((x) => 'UID' in x.attrs).map((x) => [x.seq, Number(x.attrs.UID)]));
    for (const [s, uid] of seen) expect([s, uid]).toEqual([s, uids[s - 1]]);
    for (const uid of live) expect(seen.get(uids.indexOf(uid) + 1)).toBe(uid);

    // STORE by sequence number: no EXPUNGE; the live messages get the flag.
    const st = await b.command('STORE 1:10 +FLAGS (\\Flagged)');
    expect(['OK', 'NO']).toContain(st.status);
    expect(expunges(st)).toEqual([]);

    // SEARCH by sequence number: no EXPUNGE; numbers in B's view; every live match is there.
    for (const q of ['ALL', 'FLAGGED', 'UNDELETED']) {
      const sr = await b.ok(`SEARCH ${q}`);
      expect(expunges(sr)).toEqual([]);
      const nums = searchNums(sr);
      for (const n of nums) expect(n).toBeLessThanOrEqual(10);
      for (const uid of live) expect(nums).toContain(uids.indexOf(uid) + 1);
    }

    await assertQuiet(b);
    const noop = await b.ok('NOOP');
    expect(expunges(noop)).toHaveLength(4);
    bView.apply(noop.untagged, 'B');
    expect(bView.uids).toEqual(live);

    const after = await b.ok('FETCH 1:* (UID FLAGS)');
    const rows = fetches(after).sort((x, y) => x.seq - y.seq);
    expect(rows.map((x) => Number(x.attrs.UID))).toEqual(live);
    for (const x of rows) expect(flagsOf(x.attrs.FLAGS)).toContain('\\Flagged');
  });

  test('A expunging at the same time as B\'s long FETCH, STORE and SEARCH: none of them carries an EXPUNGE', async () => {
    const a = await session('A');
    const b = await session('B');
    const N = 150;
    const big = 'y'.repeat(60) + '\r\n';
    await a.ok('CREATE exp-race');
    const parts: Uint8Array[] = [];
    for (let i = 1; i <= N; i++) {
      const m = enc.encode(body('exp-race', i) + big.repeat(40));
      parts.push(enc.encode(`R${i} APPEND exp-race {${m.length}+}\r\n`), m, enc.encode('\r\n'));
    }
    await a.send(Buffer.concat(parts));
    for (let i = 1; i <= N; i++) expect((await a.waitTagged(`R${i}`)).status).toBe('OK');
    await a.ok('SELECT exp-race');
    const uids = (await uidsNow(a)).uids;
    await b.ok('SELECT exp-race');
    const view = new View([...uids]);
    const doomed = (k: number) => k % 3 === 0; // sequence numbers 3, 6, 9, ... of the original view
    const deleteSome = async (from: number) => {
      const set = uids.map((u, i) => (doomed(i + 1) && i + 1 >= from && i + 1 < from + 50 ? u : 0)).filter(Boolean);
      await a.ok(`UID STORE ${set.join(',')} +FLAGS.SILENT (\\Deleted)`);
      await a.ok(`UID EXPUNGE ${set.join(',')}`);
    };

    const [f] = await Promise.all([b.ok(`FETCH 1:${N} (UID BODY.PEEK[])`, { timeoutMs: 30_000 }), deleteSome(1)]);
    expect(expunges(f)).toEqual([]);
    for (const x of fetches(f)) expect(x.seq).toBeLessThanOrEqual(N);
    const [st] = await Promise.all([b.command(`STORE 1:${N} +FLAGS (\\Flagged)`), deleteSome(51)]);
    expect(expunges(st)).toEqual([]);
    for (const x of fetches(st)) expect(x.seq).toBeLessThanOrEqual(N);
    const [sr] = await Promise.all([b.ok('SEARCH BODY yyyy'), deleteSome(101)]);
    expect(expunges(sr)).toEqual([]);
    for (const n of searchNums(sr)) expect(n).toBeLessThanOrEqual(N);

    const noop = await b.ok('NOOP');
    expect(expunges(noop)).toHaveLength(N / 3);
    view.apply(noop.untagged, 'B');
    const live = uids.filter((_, i) => !doomed(i + 1));
    expect(view.uids).toEqual(live);
    expect((await uidsNow(b)).uids).toEqual(live);
  });

  test('FETCH of a message expunged elsewhere, before B was told: metadata answers, the body is NIL with [EXPUNGEISSUED] (as Dovecot)', async () => {
    const a = await session('A');
    const b = await session('B');
    const msgs = await fill(a, 'exp2', 4);
    await a.ok('SELECT exp2');
    await b.ok('SELECT exp2');
    await a.ok('STORE 2 +FLAGS.SILENT (\\Deleted)');
    await a.ok('EXPUNGE');

    const meta = await b.ok('FETCH 2 (UID RFC822.SIZE)');
    expect(expunges(meta)).toEqual([]);
    const m = fetches(meta).find((x) => x.seq === 2);
    expect(Number(m?.attrs.UID)).toBe(msgs[1].uid);

    const peek = await b.command('FETCH 2 (BODY.PEEK[])');
    expect(peek.status).toBe('OK');
    expect(peek.code?.toUpperCase()).toBe('EXPUNGEISSUED');
    expect(expunges(peek)).toEqual([]);
    const pf = fetches(peek).find((x) => x.seq === 2);
    expect(pf).toBeDefined();
    expect(pf!.attrs['BODY[]']).toBeNull();

    // A range with live and expunged messages: the live one's body still comes.
    const mixed = await b.command('FETCH 2:3 (BODY.PEEK[TEXT])');
    expect(mixed.status).toBe('OK');
    expect(expunges(mixed)).toEqual([]);
    const three = fetches(mixed).find((x) => x.seq === 3);
    expect(text(three?.attrs['BODY[TEXT]'])).toContain('body of exp2 3');

    const noop = await b.ok('NOOP');
    expect(expunges(noop).map((x) => x.num)).toEqual([2]);
  });

  test('a UID command may carry the pending EXPUNGEs; with appends in between, B ends with the right UIDs', async () => {
    const a = await session('A');
    const b = await session('B');
    const msgs = await fill(a, 'exp3', 8);
    const uids = msgs.map((m) => m.uid);
    await a.ok('SELECT exp3');
    await b.ok('SELECT exp3');
    const view = new View([...uids]);

    await a.ok('STORE 1,3,8 +FLAGS.SILENT (\\Deleted)');
    await a.ok('EXPUNGE');
    const extra = await a.append('exp3', body('exp3', 9));
    await a.ok('STORE 2 +FLAGS.SILENT (\\Deleted)'); // seq 2 of A's view now: uid of message 4
    await a.ok('EXPUNGE');

    const us = await b.ok('UID SEARCH ALL');
    view.apply(us.untagged, 'B');
    const uf = await b.ok('UID FETCH 1:* (UID)');
    view.apply(uf.untagged, 'B');
    const noop = await b.ok('NOOP');
    view.apply(noop.untagged, 'B');

    const want = [uids[1], uids[4], uids[5], uids[6], extra.appendUid?.uid ?? null];
    const now = await uidsNow(b);
    expect(now.uids).toEqual(want.map((u, i) => u ?? now.uids[i]));
    expect(view.uids.length).toBe(now.uids.length);
    view.uids.forEach((u, i) => { if (u !== null) expect(u).toBe(now.uids[i]); });
  });

  test('CLOSE expunges without EXPUNGE responses to the closer; the other session gets them', async () => {
    const a = await session('A');
    const b = await session('B');
    const msgs = await fill(a, 'exp4', 5);
    await a.ok('SELECT exp4');
    await b.ok('SELECT exp4');
    await a.ok('STORE 1,5 +FLAGS.SILENT (\\Deleted)');
    const close = await a.ok('CLOSE');
    expect(expunges(close)).toEqual([]);
    const view = new View(msgs.map((m) => m.uid));
    view.apply((await b.ok('NOOP')).untagged, 'B');
    expect(view.uids).toEqual(msgs.slice(1, 4).map((m) => m.uid));
  });

  test('STORE by A is seen by B as FETCH FLAGS at its next command, also after .SILENT', async () => {
    const a = await session('A');
    const b = await session('B');
    const msgs = await fill(a, 'flags1', 4);
    await a.ok('SELECT flags1');
    await b.ok('SELECT flags1');

    const own = await a.ok('STORE 3 +FLAGS ($Work \\Flagged)');
    expect(flagsOf(fetches(own).find((x) => x.seq === 3)?.attrs.FLAGS)).toEqual(['$Work', '\\Flagged']);
    const silent = await a.ok('STORE 1 +FLAGS.SILENT (\\Answered)');
    expect(fetches(silent)).toEqual([]);
    await a.ok('STORE 3 -FLAGS.SILENT ($Work)');

    await assertQuiet(b);
    const noop = await b.ok('NOOP');
    const last = new Map<number, string[] | null>();
    for (const f of fetches(noop)) if ('FLAGS' in f.attrs) last.set(f.seq, flagsOf(f.attrs.FLAGS));
    expect(last.get(1)).toEqual(['\\Answered']);
    expect(last.get(3)).toEqual(['\\Flagged']);
    expect(last.has(2)).toBe(false);
    expect(last.has(4)).toBe(false);
    // The session's view agrees with a fresh fetch.
    const now = fetches(await b.ok('FETCH 1:4 (FLAGS)'));
    expect(flagsOf(now.find((x) => x.seq === 3)?.attrs.FLAGS)).toEqual(['\\Flagged']);
    expect(msgs).toHaveLength(4);
  });

  test('FETCH of a body section without PEEK sets \\Seen and reports FLAGS; PEEK and RFC822.HEADER do not', async () => {
    const a = await session('A');
    const b = await session('B');
    const w = await session('W');
    const msgs = await fill(a, 'seen1', 6);
    await a.ok('SELECT seen1');
    await b.ok('SELECT seen1');
    await expectCounts(w, 'seen1', msgs, 'before');

    const cases: Array<[number, string, boolean]> = [
      [1, 'BODY[]', true],
      [2, 'BODY.PEEK[]', false],
      [3, 'BODY[TEXT]', true],
      [4, 'RFC822', true],
      [5, 'RFC822.HEADER', false],
      [6, 'BINARY[1]', true],
    ];
    for (const [seq, item, sets] of cases) {
      const r = await a.ok(`FETCH ${seq} (${item})`);
      const flags = fetches(r).filter((x) => x.seq === seq && 'FLAGS' in x.attrs).map((x) => flagsOf(x.attrs.FLAGS));
      if (sets) {
        expect({ item, flags }).toEqual({ item, flags: [['\\Seen']] });
        msgs[seq - 1].flags.add('\\Seen');
      } else {
        expect({ item, flags }).toEqual({ item, flags: [] });
      }
    }
    // Fetching it again reports no change (already \Seen).
    const again = await a.ok('FETCH 1 (BODY[])');
    for (const f of fetches(again)) if ('FLAGS' in f.attrs) expect(flagsOf(f.attrs.FLAGS)).toEqual(['\\Seen']);

    const noop = await b.ok('NOOP');
    const changed = new Set(fetches(noop).filter((x) => flagsOf(x.attrs.FLAGS)?.includes('\\Seen')).map((x) => x.seq));
    expect([...changed].sort()).toEqual([1, 3, 4, 6]);
    await expectCounts(w, 'seen1', msgs, 'after fetches');
  });

  test('COPY and MOVE: COPYUID, NO [TRYCREATE], EXPUNGE in the source for the mover and for others', async () => {
    const a = await session('A');
    const b = await session('B');
    const d = await session('D');
    const w = await session('W');
    const src = await fill(a, 'mv-src', 8, (i) => (i % 2 ? ['\\Flagged'] : ['\\Seen']));
    await a.ok('CREATE mv-dst');
    await a.ok('SELECT mv-src');
    await b.ok('SELECT mv-src');
    const dst: Msg[] = [];
    const dstValidity = (await w.status('mv-dst', ['UIDVALIDITY'])).UIDVALIDITY;

    // Missing destination: NO [TRYCREATE], nothing changes.
    await a.no('COPY 1 mv-nowhere', 'TRYCREATE');
    await a.no('MOVE 1 mv-nowhere', 'TRYCREATE');
    await a.no('UID MOVE 1:* mv-nowhere', 'TRYCREATE');
    expect((await uidsNow(a)).uids).toEqual(src.map((m) => m.uid));

    // UID COPY: COPYUID maps source UIDs to new ones; flags and bytes travel.
    const cp = await a.ok(`UID COPY ${src[1].uid}:${src[3].uid} mv-dst`);
    const cu = copyUid(cp);
    expect(cu).not.toBeNull();
    expect(cu!.validity).toBe(dstValidity);
    expect(cu!.from).toEqual([src[1].uid, src[2].uid, src[3].uid]);
    expect(cu!.to).toHaveLength(3);
    expect(expunges(cp)).toEqual([]);
    cu!.from.forEach((uid, i) => {
      const m = src.find((x) => x.uid === uid)!;
      dst.push({ ...m, uid: cu!.to[i], flags: new Set(m.flags) });
    });

    await d.ok('SELECT mv-dst');
    const got = fetches(await d.ok(`UID FETCH ${cu!.to.join(',')} (UID FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])`));
    for (const m of dst) {
      const f = got.find((x) => Number(x.attrs.UID) === m.uid);
      expect(f).toBeDefined();
      expect(flagsOf(f!.attrs.FLAGS)).toEqual(sorted(m.flags));
      expect(text(f!.attrs['BODY[HEADER.FIELDS (SUBJECT)]'])).toContain(m.subject);
    }

    // MOVE by sequence number: untagged COPYUID, then the EXPUNGE, for the mover.
    const aView = new View(src.map((m) => m.uid));
    const mv = await a.ok('MOVE 1 mv-dst');
    const mu = copyUid(mv);
    expect(mu?.from).toEqual([src[0].uid]);
    expect(expunges(mv).map((x) => x.num)).toEqual([1]);
    aView.apply(mv.untagged, 'A');
    dst.push({ ...src[0], uid: mu!.to[0] });

    // UID MOVE of several, out of order in the set.
    const moving = [src[7].uid, src[4].uid, src[5].uid];
    const umv = await a.ok(`UID MOVE ${moving.join(',')} mv-dst`);
    const umu = copyUid(umv);
    expect(umu).not.toBeNull();
    expect([...umu!.from].sort((x, y) => x - y)).toEqual([...moving].sort((x, y) => x - y));
    expect(expunges(umv)).toHaveLength(3);
    aView.apply(umv.untagged, 'A');
    umu!.from.forEach((uid, i) => dst.push({ ...src.find((x) => x.uid === uid)!, uid: umu!.to[i] }));
    const left = src.filter((m) => !moving.includes(m.uid) && m.uid !== src[0].uid);
    expect(aView.uids).toEqual(left.map((m) => m.uid));
    expect((await uidsNow(a)).uids).toEqual(left.map((m) => m.uid));

    // The other session on the source hears the four EXPUNGEs at its next command.
    await assertQuiet(b);
    const bView = new View(src.map((m) => m.uid));
    bView.apply((await b.ok('NOOP')).untagged, 'B');
    expect(bView.uids).toEqual(left.map((m) => m.uid));

    // The session on the destination sees them arrive.
    const dView = new View(cu!.to.slice());
    dView.apply((await d.ok('NOOP')).untagged, 'D');
    expect(dView.uids).toHaveLength(dst.length);
    const dn = fetches(await d.ok('FETCH 1:* (UID FLAGS)'));
    expect(dn.map((x) => Number(x.attrs.UID)).sort((x, y) => x - y)).toEqual(dst.map((m) => m.uid).sort((x, y) => x - y));
    for (const m of dst) expect(flagsOf(dn.find((x) => Number(x.attrs.UID) === m.uid)?.attrs.FLAGS)).toEqual(sorted(m.flags));

    await expectCounts(w, 'mv-src', left, 'source');
    await expectCounts(w, 'mv-dst', dst, 'destination');
  });

  test('counts (MESSAGES UNSEEN DELETED SIZE) are exact after every step', async () => {
    const a = await session('A');
    const w = await session('W');
    let msgs = await fill(a, 'cnt', 7, (i) => (i <= 2 ? ['\\Seen'] : []));
    await expectCounts(w, 'cnt', msgs, 'appended');
    await a.ok('CREATE cnt-other');
    let other: Msg[] = [];
    await a.ok('SELECT cnt');

    const byUid = (uid: number) => msgs.find((m) => m.uid === uid)!;
    const step = async (name: string, cmd: string, apply: () => void) => {
      await a.ok(cmd);
      apply();
      await expectCounts(w, 'cnt', msgs, name);
      await expectCounts(w, 'cnt-other', other, `${name} (cnt-other)`);
    };

    await step('flag deleted', `UID STORE ${msgs[0].uid},${msgs[3].uid} +FLAGS (\\Deleted)`, () => {
      byUid(msgs[0].uid).flags.add('\\Deleted');
      byUid(msgs[3].uid).flags.add('\\Deleted');
    });
    await step('unflag one', `UID STORE ${msgs[0].uid} -FLAGS (\\Deleted)`, () => byUid(msgs[0].uid).flags.delete('\\Deleted'));
    await step('mark seen', `UID STORE ${msgs[4].uid} +FLAGS.SILENT (\\Seen)`, () => byUid(msgs[4].uid).flags.add('\\Seen'));
    await step('replace flags', `UID STORE ${msgs[1].uid} FLAGS (\\Flagged)`, () => { byUid(msgs[1].uid).flags = new Set(['\\Flagged']); });
    const gone = msgs[3].uid;
    await step('expunge', 'EXPUNGE', () => { msgs = msgs.filter((m) => m.uid !== gone); });
    const copied = [msgs[0], msgs[1]];
    await step('copy', `UID COPY ${copied[0].uid},${copied[1].uid} cnt-other`, () => {
      other = other.concat(copied.map((m) => ({ ...m, flags: new Set(m.flags) })));
    });
    const moved = msgs[2];
    await step('move', `UID MOVE ${moved.uid} cnt-other`, () => {
      msgs = msgs.filter((m) => m.uid !== moved.uid);
      other.push({ ...moved, flags: new Set(moved.flags) });
    });
    const unseen = msgs.find((m) => !m.flags.has('\\Seen'))!;
    await step('fetch sets seen', `UID FETCH ${unseen.uid} (BODY[])`, () => unseen.flags.add('\\Seen'));
    const target2 = msgs[msgs.length - 1];
    await step('uid expunge of one deleted message only', `UID STORE ${target2.uid},${msgs[0].uid} +FLAGS.SILENT (\\Deleted)`, () => {
      target2.flags.add('\\Deleted');
      msgs[0].flags.add('\\Deleted');
    });
    await step('uid expunge', `UID EXPUNGE ${target2.uid}`, () => { msgs = msgs.filter((m) => m.uid !== target2.uid); });
    const extra = body('cnt', 50);
    const ap = await a.append('cnt', extra, { flags: ['\\Deleted'] });
    msgs.push({ uid: ap.appendUid?.uid ?? 0, size: enc.encode(extra).length, flags: new Set(['\\Deleted']), subject: 'cnt message 50' });
    await expectCounts(w, 'cnt', msgs, 'append deleted');
    await step('close', 'CLOSE', () => { msgs = msgs.filter((m) => !m.flags.has('\\Deleted')); });
    expect(msgs.length).toBeGreaterThan(0);
  });
});
