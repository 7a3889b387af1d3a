// End-to-end: COMPRESS=DEFLATE (RFC 4978, issue 6) as users' clients drive it, over real
// sockets to a real server process.
//
// - A client on node:zlib streams (zlibclient.ts) runs the core and message flows (LOGIN,
//   CAPABILITY, LIST, CREATE, SELECT, APPEND with a synchronizing literal and a 200 KB LITERAL+
//   one, FETCH of flags, ENVELOPE, BODY[] and a partial, SEARCH, STORE, COPY, MOVE, EXPUNGE,
//   IDLE woken by another connection, LOGOUT) four times: each command flushed with
//   Z_PARTIAL_FLUSH (iOS Mail), Z_SYNC_FLUSH (Thunderbird), Z_FULL_FLUSH, and split at seeded
//   random byte positions with every piece partial-flushed. Every response must arrive within
//   1 s with no further client bytes; a stall fails with the command that stalled.
// - Commands deflated in the same packet as the COMPRESS line; the refusals (BAD before
//   login and for an unknown mechanism, NO [COMPRESSIONACTIVE]); plain, STARTTLS and
//   implicit TLS listeners.
// - Bombs: a command line, a non-APPEND literal and an APPEND literal, each inflating to
//   200 MiB from a few hundred KB, refused with the server's RSS growing by less than
//   64 MiB while another connection keeps answering; a corrupt stream closes only its
//   connection, with `* BYE` and a `protocol error` log line.
// - The trace of a compressed session (decompressed `C:`/`S:` lines, secrets redacted).
// - Real clients: imapflow (COMPRESS when offered), mbsync (isync >= 1.4 uses COMPRESS when
//   offered), neomutt with `imap_deflate` (skipped, with the reason, when the installed
//   neomutt was built without zlib, as Debian 12's is).

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow, type FetchMessageObject } from 'imapflow';
import { codeName, literal, pick, quote, text, type CommandPart, type ImapClient, type Value } from '../imap/client.ts';
import { rng } from '../message/testutil.ts';
import { message, missing, parseLogfmt, startServer, type Account, type TestServer } from './harness.ts';
import { runClient } from './maildir.ts';
import { deflateBomb, ZClient, type FlushMode, type ZResult } from './zlibclient.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
/** limits.append_max_bytes of the test server: above the flows' 200 KB message. */
const APPEND_MAX = 512 * KiB;
/** How much the server's RSS may grow while it refuses a bomb. */
const BOMB_RSS_MAX = 64 * MiB;

const MAIN: Account = { address: 'user@localhost', password: 'password1234' };
const BOMB: Account = { address: 'bomb@localhost', password: 'bombpass5678' };
const FLOW: Account = { address: 'flow@localhost', password: 'flowpass9012' };
const SYNC: Account = { address: 'sync@localhost', password: 'syncpass3456' };
const MUTT: Account = { address: 'mutt@localhost', password: 'muttpass7890' };

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({ accounts: [MAIN, BOMB, FLOW, SYNC, MUTT], config: { limits: { append_max_bytes: APPEND_MAX } } });
});
afterAll(async () => {
  await srv?.stop();
});
afterEach(() => {
  srv?.assertHealthy();
});

// ---- helpers ----

const enc = new TextEncoder();

function concat(...parts: Array<string | Uint8Array>): Uint8Array {
  const bs = parts.map((p) => (typeof p === 'string' ? enc.encode(p) : p));
  const out = new Uint8Array(bs.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

const WORDS = 'the quick brown fox jumps over lazy dogs while compressed mail flows through partial flushes and sync markers'.split(' ');
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** A plain-text message of about `size` bytes: prose lines and base64-like lines, `needle-<label>` in the middle. */
function bigMessage(label: string, size: number, seed: number): Uint8Array {
  const r = rng(seed);
  const lines = [
    'From: Big Sender <big@example.org>', 'To: user@localhost', `Subject: big ${label}`,
    'Date: Mon, 7 Feb 1994 21:52:25 -0800', `Message-ID: <big-${label}@example.test>`,
    'MIME-Version: 1.0', 'Content-Type: text/plain; charset=us-ascii', '',
  ];
  let n = lines.join('\r\n').length;
  let needle = false;
  while (n < size) {
    let line = '';
    if (r() < 0.3) {
      for (let i = 0; i < 76; i++) line += B64[Math.floor(r() * 64)];
    } else {
      while (line.length < 60) line += (line ? ' ' : '') + WORDS[Math.floor(r() * WORDS.length)];
    }
    if (!needle && n > size / 2) {
      line = `needle-${label}`;
      needle = true;
    }
    lines.push(line);
    n += line.length + 2;
  }
  return enc.encode(lines.join('\r\n') + '\r\n');
}

function bytesOf(v: Value | undefined): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return enc.encode(v);
  throw new Error(`expected a string or literal, got ${JSON.stringify(v)}`);
}

/** Equal bytes, or a failure naming the length and the first difference (not a 200 KB dump). */
function expectSameBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  if (Buffer.from(got).equals(Buffer.from(want))) return;
  let i = 0;
  while (i < got.length && i < want.length && got[i] === want[i]) i++;
  throw new Error(`${what}: ${got.length} bytes, expected ${want.length}; first difference at ${i}: ${JSON.stringify(Buffer.from(got.subarray(i, i + 40)).toString('latin1'))} vs ${JSON.stringify(Buffer.from(want.subarray(i, i + 40)).toString('latin1'))}`);
}

const caps = (r: ZResult) => pick(r.untagged, 'CAPABILITY').flatMap((u) => u.caps);
const nums = (r: ZResult, type: 'EXISTS' | 'EXPUNGE') => pick(r.untagged, type).map((u) => u.num);
const searched = (r: ZResult) => pick(r.untagged, 'SEARCH').flatMap((u) => u.nums);
const fetched = (r: ZResult, seq: number) => {
  const attrs: Record<string, Value> = {};
  for (const f of pick(r.untagged, 'FETCH')) if (f.seq === seq) Object.assign(attrs, f.attrs);
  return attrs;
};
const flagsOf = (v: Value | undefined) => (Array.isArray(v) ? v.map((x) => text(x) ?? '') : []);
const appendUid = (r: ZResult) => {
  expect(codeName(r.code)).toBe('APPENDUID');
  return Number(r.code!.split(' ')[2]);
};

/** A plain-port ZClient, logged in, COMPRESS on. */
async function compressed(account: Account, opts: { name?: string; seed?: number } = {}): Promise<ZClient> {
  const c = await ZClient.connect({ port: srv.port, name: opts.name ?? account.address, seed: opts.seed });
  await c.login(account.address, account.password);
  const r = await c.compress();
  if (r.status !== 'OK') throw new Error(`COMPRESS refused: ${r.raw}`);
  return c;
}

/** Server log lines from index `from` on, as logfmt fields. */
function logSince(from: number): Array<Record<string, string>> {
  return srv.logs().slice(from).map(parseLogfmt);
}

function procKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/**
 * Run `work` while sampling the server's RSS every 5 ms (and its high-water mark after),
 * and while another connection keeps answering NOOP. Returns the RSS growth in bytes and
 * how many NOOPs the other connection got answered during the work.
 */
async function bounded<T>(work: () => Promise<T>): Promise<{ result: T; growth: number; noops: number }> {
  const pid = srv.pid;
  if (pid === null) throw new Error('server not running');
  const watcher = await srv.login(MAIN.address, MAIN.password, { name: 'watcher' });
  const base = procKiB(pid, 'VmRSS');
  const hwmBefore = procKiB(pid, 'VmHWM');
  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, procKiB(pid, 'VmRSS'));
  }, 5);
  let running = true;
  let noops = 0;
  const watching = (async () => {
    while (running) {
      await watcher.ok('NOOP', { timeoutMs: 5000 });
      noops++;
      await Bun.sleep(10);
    }
  })();
  let result: T;
  try {
    result = await work();
  } finally {
    running = false;
    clearInterval(sampler);
    await watching;
  }
  peak = Math.max(peak, procKiB(pid, 'VmRSS'));
  const hwmAfter = procKiB(pid, 'VmHWM');
  if (hwmAfter > hwmBefore) peak = Math.max(peak, hwmAfter);
  await watcher.ok('NOOP'); // and after
  watcher.close();
  return { result, growth: (peak - base) * KiB, noops };
}

// ---- the flows, four flush styles ----

/** The core and message flows over one compressed connection, each command flushed per `mode`. */
async function flows(mode: FlushMode, seed: number): Promise<void> {
  const box = `z-${mode}`;
  const dest = `${box}-dest`;
  const small = enc.encode(message(`small ${mode}`, 'A small one.\r\n'));
  const big = bigMessage(mode, 200 * KiB, seed);
  const c = await ZClient.connect({ port: srv.port, name: `deflate-${mode}`, seed });
  try {
    await c.login(MAIN.address, MAIN.password);
    expect(caps(await c.ok('CAPABILITY'))).toContain('COMPRESS=DEFLATE');
    expect((await c.compress()).status).toBe('OK');
    const ok = (cmd: string | Uint8Array) => c.ok(cmd, mode);

    expect(caps(await ok('CAPABILITY'))).toContain('IMAP4rev2');
    expect(pick((await ok('LIST "" "*"')).untagged, 'LIST').map((l) => l.name)).toContain('INBOX');
    await ok(`CREATE ${box}`);
    await ok(`CREATE ${dest}`);
    expect(pick((await ok(`LIST "" "${box}*"`)).untagged, 'LIST').map((l) => l.name).sort()).toEqual([box, dest]);
    expect(nums(await ok(`SELECT ${box}`), 'EXISTS')).toEqual([0]);

    // APPEND: a synchronizing literal (the + is a burst of its own), then 200 KB with LITERAL+.
    const a1 = await c.appendSync(box, '(\\Flagged)', small, mode);
    expect(a1.status).toBe('OK');
    expect(appendUid(a1)).toBe(1);
    const a2 = await ok(concat(`APPEND ${box} {${big.length}+}\r\n`, big));
    expect(appendUid(a2)).toBe(2);
    const noop = await ok('NOOP');
    expect(Math.max(...[a1, a2, noop].flatMap((r) => nums(r, 'EXISTS')))).toBe(2);

    // FETCH: flags, envelope and size; the whole body; a partial.
    const meta = await ok('FETCH 1:2 (FLAGS ENVELOPE RFC822.SIZE)');
    const m1 = fetched(meta, 1);
    const m2 = fetched(meta, 2);
    expect(flagsOf(m1.FLAGS)).toContain('\\Flagged');
    expect(flagsOf(m2.FLAGS)).not.toContain('\\Flagged');
    expect(text((m1.ENVELOPE as Value[])[1])).toBe(`small ${mode}`);
    expect(text((m2.ENVELOPE as Value[])[1])).toBe(`big ${mode}`);
    expect(Number(text(m1['RFC822.SIZE']))).toBe(small.length);
    expect(Number(text(m2['RFC822.SIZE']))).toBe(big.length);
    expectSameBytes(bytesOf(fetched(await ok('FETCH 2 BODY.PEEK[]'), 2)['BODY[]']), big, 'FETCH 2 BODY.PEEK[]');
    expectSameBytes(bytesOf(fetched(await ok('FETCH 1 BODY.PEEK[]'), 1)['BODY[]']), small, 'FETCH 1 BODY.PEEK[]');
    expectSameBytes(bytesOf(fetched(await ok('FETCH 2 BODY.PEEK[]<1000.5000>'), 2)['BODY[]<1000>']), big.subarray(1000, 6000), 'FETCH 2 BODY.PEEK[]<1000.5000>');

    // SEARCH
    expect(searched(await ok(`SEARCH SUBJECT "big ${mode}"`))).toEqual([2]);
    expect(searched(await ok(`SEARCH BODY needle-${mode}`))).toEqual([2]);
    expect(searched(await ok('SEARCH FLAGGED'))).toEqual([1]);

    // STORE, COPY, MOVE, EXPUNGE
    expect(flagsOf(fetched(await ok('STORE 1 +FLAGS (\\Seen)'), 1).FLAGS).sort()).toEqual(['\\Flagged', '\\Seen']);
    expect(codeName((await ok(`COPY 1 ${dest}`)).code)).toBe('COPYUID');
    const moved = await ok(`MOVE 2 ${dest}`);
    expect(nums(moved, 'EXPUNGE')).toEqual([2]);
    expect(pick((await ok('STORE 1 +FLAGS.SILENT (\\Deleted)')).untagged, 'FETCH')).toEqual([]);
    expect(nums(await ok('EXPUNGE'), 'EXPUNGE')).toEqual([1]);

    // IDLE, woken by an APPEND on another connection.
    const idleTag = c.nextTag();
    await c.send(`${idleTag} IDLE\r\n`, mode);
    await c.waitContinuation(`the + of ${idleTag} IDLE (${mode} flush)`);
    const other = await srv.login(MAIN.address, MAIN.password, { name: 'other' });
    expect((await other.append(box, message(`idle ${mode}`))).status).toBe('OK');
    other.close();
    const exists = await c.waitUntagged((u) => u.type === 'EXISTS', `the EXISTS of another connection's APPEND during IDLE (${mode} flush)`);
    expect(exists).toMatchObject({ type: 'EXISTS', num: 1 });
    await c.send('DONE\r\n', mode);
    expect((await c.waitTagged(idleTag, `the answer to DONE of ${idleTag} IDLE (${mode} flush)`)).status).toBe('OK');

    // What was copied and moved arrived intact, with its flags.
    expect(nums(await ok(`SELECT ${dest}`), 'EXISTS')).toEqual([2]);
    const both = await ok('FETCH 1:2 (FLAGS BODY.PEEK[])');
    expect(flagsOf(fetched(both, 1).FLAGS).sort()).toEqual(['\\Flagged', '\\Seen']);
    expectSameBytes(bytesOf(fetched(both, 1)['BODY[]']), small, `copied message in ${dest}`);
    expectSameBytes(bytesOf(fetched(both, 2)['BODY[]']), big, `moved message in ${dest}`);

    const bye = await ok('LOGOUT');
    expect(pick(bye.untagged, 'BYE').length).toBe(1);
    await c.waitClosed();

    // The client really flushed the way it claims: only Z_SYNC_FLUSH and Z_FULL_FLUSH end in 00 00 ff ff.
    if (mode === 'sync' || mode === 'full') expect(c.flushEnds.every(Boolean)).toBe(true);
    else expect(c.flushEnds.some((e) => !e)).toBe(true);
  } finally {
    c.close();
  }
}

describe('core and message flows over COMPRESS, each response within 1 s', () => {
  test('Z_PARTIAL_FLUSH after each command (iOS Mail)', () => flows('partial', 11));
  test('Z_SYNC_FLUSH after each command (Thunderbird)', () => flows('sync', 12));
  test('Z_FULL_FLUSH after each command', () => flows('full', 13));
  test('commands split at random byte positions (seed 4978), each piece partial-flushed', () => flows('split', 4978));
});

// ---- COMPRESS itself ----

describe('the COMPRESS command', () => {
  test('before login: not announced, and BAD; the connection stays uncompressed', async () => {
    const c = await srv.connect();
    expect(await c.capabilities()).not.toContain('COMPRESS=DEFLATE');
    await c.bad('COMPRESS DEFLATE');
    await c.ok('NOOP');
    await c.login(MAIN.address, MAIN.password);
    expect(await c.capabilities()).toContain('COMPRESS=DEFLATE');
    await c.ok('NOOP');
  });

  test('COMPRESS FOO is BAD (nothing switched); a second COMPRESS is NO [COMPRESSIONACTIVE]', async () => {
    const c = await ZClient.connect({ port: srv.port, name: 'refusals' });
    try {
      await c.login(MAIN.address, MAIN.password);
      expect((await c.run('COMPRESS FOO')).status).toBe('BAD');
      await c.ok('NOOP'); // still plaintext both ways
      await c.ok('SELECT INBOX'); // and COMPRESS is valid in the selected state
      expect((await c.compress()).status).toBe('OK');
      const again = await c.run('COMPRESS DEFLATE', 'partial');
      expect(again.status).toBe('NO');
      expect(codeName(again.code)).toBe('COMPRESSIONACTIVE');
      await c.ok('NOOP', 'partial');
      expect(nums(await c.ok('SELECT INBOX', 'partial'), 'EXISTS').length).toBe(1);
    } finally {
      c.close();
    }
  });

  for (const mode of ['sync', 'partial'] as const) {
    test(`commands deflated (${mode} flush) in the same packet as the COMPRESS line are answered`, async () => {
      const mark = srv.logs().length;
      const c = await ZClient.connect({ port: srv.port, name: `pipelined-${mode}` });
      try {
        await c.login(MAIN.address, MAIN.password);
        const msg = enc.encode(message(`pipelined ${mode}`));
        const tail = `p1 SELECT INBOX\r\np2 NOOP\r\np3 LIST "" INBOX\r\np4 APPEND INBOX {${msg.length}+}\r\n${new TextDecoder().decode(msg)}\r\np5 UID FETCH * BODY.PEEK[]\r\n`;
        const tag = await c.compressPipelined(tail, mode);
        expect((await c.waitTagged(tag, 'the answer to COMPRESS')).status).toBe('OK');
        expect(nums(await c.waitTagged('p1', 'p1 SELECT INBOX'), 'EXISTS').length).toBe(1);
        expect((await c.waitTagged('p2', 'p2 NOOP')).status).toBe('OK');
        expect(pick((await c.waitTagged('p3', 'p3 LIST')).untagged, 'LIST').map((l) => l.name)).toEqual(['INBOX']);
        const uid = appendUid(await c.waitTagged('p4', 'p4 APPEND'));
        const f = await c.waitTagged('p5', 'p5 UID FETCH');
        const last = pick(f.untagged, 'FETCH').find((u) => Number(text(u.attrs.UID)) === uid);
        expectSameBytes(bytesOf(last?.attrs['BODY[]']), msg, 'the message APPENDed in the pipelined tail');
        await c.ok('NOOP', mode); // the same deflate stream goes on
        const on = logSince(mark).find((l) => l.msg === 'compression on');
        expect(Number(on?.pipelined)).toBeGreaterThan(0);
      } finally {
        c.close();
      }
    });
  }
});

describe('every listener: deflate inside TLS too', () => {
  for (const transport of ['plain', 'starttls', 'implicit'] as const) {
    test(transport, async () => {
      const c = await ZClient.connect({ port: transport === 'implicit' ? srv.tlsPort : srv.port, transport, name: `tls-${transport}` });
      try {
        await c.login(MAIN.address, MAIN.password);
        expect(caps(await c.ok('CAPABILITY'))).toContain('COMPRESS=DEFLATE');
        expect((await c.compress()).status).toBe('OK');
        const m = bigMessage(`listener ${transport}`, 64 * KiB, 5);
        const uid = appendUid(await c.ok(concat(`APPEND INBOX {${m.length}+}\r\n`, m), 'partial'));
        await c.ok('SELECT INBOX', 'partial');
        const f = await c.ok(`UID FETCH ${uid} (UID BODY.PEEK[])`, 'partial');
        expectSameBytes(bytesOf(pick(f.untagged, 'FETCH')[0]?.attrs['BODY[]']), m, `UID FETCH over ${transport}`);
        await c.ok('LOGOUT', 'partial');
        await c.waitClosed();
      } finally {
        c.close();
      }
    });
  }
});

// ---- bombs and corrupt streams ----

describe('compressed bombs: refused, memory bounded, other connections unaffected', () => {
  const report = (what: string, wire: number, growth: number, noops: number) =>
    console.log(`bomb (${what}): ${Math.round(wire / KiB)} KiB deflated to 200 MiB; server RSS +${(growth / MiB).toFixed(1)} MiB; ${noops} NOOPs answered on another connection meanwhile`);
  test('a command line inflating to 200 MiB without CRLF: * BYE', async () => {
    const c = await compressed(BOMB, { name: 'line-bomb' });
    try {
      await c.ok('NOOP', 'sync'); // the client's stream ends byte-aligned: raw blocks may follow
      const bomb = deflateBomb('b1 LIST "" ', 'a', 200 * MiB);
      expect(bomb.length).toBeLessThan(MiB);
      const { growth, noops } = await bounded(async () => {
        c.writeRaw(bomb);
        await c.waitClosed(10_000);
      });
      report('command line', bomb.length, growth, noops);
      expect(c.byes.length).toBe(1);
      expect(c.inbox.some((r) => r.kind === 'tagged' && r.tag === 'b1')).toBe(false);
      expect(growth).toBeLessThan(BOMB_RSS_MAX);
      expect(noops).toBeGreaterThan(0);
    } finally {
      c.close();
    }
  });

  test('a non-APPEND literal over 100 KiB: NO [TOOBIG]; 200 MiB of it: NO [TOOBIG], then * BYE', async () => {
    const c = await compressed(BOMB, { name: 'literal-bomb' });
    try {
      const over = await c.run(concat(`LIST "" {${200_000}+}\r\n`, 'x'.repeat(200_000)), 'partial');
      expect(`${over.status} ${codeName(over.code)}`).toBe('NO TOOBIG');
      await c.ok('NOOP', 'sync'); // byte-aligned again: raw blocks may follow
      const size = 200 * MiB;
      const bomb = deflateBomb(`b2 LIST "" {${size}+}\r\n`, 'x', size);
      const { growth, noops } = await bounded(async () => {
        c.writeRaw(bomb);
        const r = await c.waitTagged('b2', 'NO [TOOBIG] to a 200 MiB literal', 10_000);
        expect(`${r.status} ${codeName(r.code)}`).toBe('NO TOOBIG');
        await c.waitClosed(10_000);
      });
      report('LIST literal', bomb.length, growth, noops);
      expect(c.byes.length).toBe(1);
      expect(growth).toBeLessThan(BOMB_RSS_MAX);
      expect(noops).toBeGreaterThan(0);
    } finally {
      c.close();
    }
  });

  test('an APPEND literal over append_max_bytes: NO [TOOBIG] (before + when synchronizing); 200 MiB: NO [TOOBIG], then * BYE', async () => {
    const c = await compressed(BOMB, { name: 'append-bomb' });
    try {
      const n = APPEND_MAX + 1;
      const tag = c.nextTag();
      await c.send(`${tag} APPEND INBOX {${n}}\r\n`, 'partial');
      const sync = await c.waitTagged(tag, 'NO [TOOBIG] instead of + to an oversized APPEND');
      expect(`${sync.status} ${codeName(sync.code)} ${sync.continued}`).toBe('NO TOOBIG 0');
      const plus = await c.run(concat(`APPEND INBOX {${n}+}\r\n`, 'y'.repeat(n)), 'partial');
      expect(`${plus.status} ${codeName(plus.code)}`).toBe('NO TOOBIG');
      await c.ok('NOOP', 'sync');
      const size = 200 * MiB;
      const bomb = deflateBomb(`b3 APPEND INBOX {${size}+}\r\n`, 'y', size);
      const { growth, noops } = await bounded(async () => {
        c.writeRaw(bomb);
        const r = await c.waitTagged('b3', 'NO [TOOBIG] to a 200 MiB APPEND', 10_000);
        expect(`${r.status} ${codeName(r.code)}`).toBe('NO TOOBIG');
        await c.waitClosed(10_000);
      });
      report('APPEND literal', bomb.length, growth, noops);
      expect(c.byes.length).toBe(1);
      expect(growth).toBeLessThan(BOMB_RSS_MAX);
      expect(noops).toBeGreaterThan(0);
      const check = await srv.login(BOMB.address, BOMB.password);
      expect((await check.status('INBOX', ['MESSAGES'])).MESSAGES).toBe(0);
      check.close();
    } finally {
      c.close();
    }
  });
});

describe('a corrupt deflate stream closes only its connection', () => {
  const garbage = (seed: number) => {
    const r = rng(seed);
    const g = new Uint8Array(512).map(() => Math.floor(r() * 256));
    g[0] = 0xff; // BFINAL 1, BTYPE 11: a reserved block type, invalid wherever a block starts
    return g;
  };

  async function expectCorruptClose(c: ZClient, mark: number, ms = 5000): Promise<void> {
    await c.waitClosed(ms);
    expect(c.byes.length).toBe(1);
    const line = logSince(mark).find((l) => l.msg === 'protocol error' && /corrupt/i.test(l.reason ?? ''));
    expect(line).toBeDefined();
    const other = await srv.login(MAIN.address, MAIN.password, { name: 'bystander' });
    await other.ok('SELECT INBOX');
    other.close();
    expect(srv.takeServerBugs()).toEqual([]);
  }

  test('random bytes right after COMPRESS, in the same packet', async () => {
    const mark = srv.logs().length;
    const c = await ZClient.connect({ port: srv.port, name: 'corrupt-at-once' });
    try {
      await c.login(MAIN.address, MAIN.password);
      const tag = c.compressThenRaw(garbage(1));
      expect((await c.waitTagged(tag, 'the answer to COMPRESS')).status).toBe('OK');
      await expectCorruptClose(c, mark);
    } finally {
      c.close();
    }
  });

  test('random bytes after some valid compressed commands', async () => {
    const mark = srv.logs().length;
    const c = await compressed(MAIN, { name: 'corrupt-later' });
    try {
      await c.ok('SELECT INBOX', 'sync');
      c.writeRaw(garbage(2));
      await expectCorruptClose(c, mark);
    } finally {
      c.close();
    }
  });

  // fflate's Inflate ignores input after a final block but keeps copying it: the session
  // must treat it as a corrupt stream, not freeze (see FflateInflate).
  test('bytes after the end of the client deflate stream (Z_FINISH): * BYE', async () => {
    const mark = srv.logs().length;
    const c = await compressed(MAIN, { name: 'after-final-block' });
    try {
      await c.ok('NOOP', 'sync');
      await c.endStream();
      c.writeRaw(deflateBomb('f1 NOOP\r\n', 'f', 0));
      await expectCorruptClose(c, mark, 2000);
    } finally {
      c.close();
    }
  });
});

// ---- trace ----

describe('trace of a compressed session', () => {
  const TRACED: Account = { address: 'traced@localhost', password: 'Tr4ce-login-secret' };
  let tsrv: TestServer;
  beforeAll(async () => {
    tsrv = await startServer({ accounts: [TRACED], tls: false, config: { log_level: 'trace' } });
  });
  afterAll(async () => {
    await tsrv?.stop();
  });

  test('C:/S: lines of the decompressed protocol, LOGIN and AUTHENTICATE secrets redacted', async () => {
    const c = await ZClient.connect({ port: tsrv.port, name: 'traced' });
    const lateSecret = 'Second-login-secret-42';
    const saslSecret = Buffer.from(`\0${TRACED.address}\0Sasl-secret-77`).toString('base64');
    try {
      await c.login(TRACED.address, TRACED.password);
      expect((await c.compress()).status).toBe('OK');
      await c.ok('SELECT INBOX', 'partial');
      // Refused once logged in, but traced first: through the inflater, redacted.
      expect((await c.run(`LOGIN ${TRACED.address} ${lateSecret}`, 'partial')).status).toBe('BAD');
      expect((await c.run(`AUTHENTICATE PLAIN ${saslSecret}`, 'partial')).status).toBe('BAD');
      await c.ok('LOGOUT', 'partial');
      await c.waitClosed();
    } finally {
      c.close();
    }
    await Bun.sleep(100); // the last log lines
    const lines = tsrv.logs();
    const msgs = lines.map((l) => parseLogfmt(l).msg ?? '');
    const has = (re: RegExp) => expect(msgs.filter((m) => re.test(m))).not.toEqual([]);
    has(/^C: \S+ LOGIN\b/);
    has(/^C: \S+ SELECT INBOX$/);
    has(/^S: [^]*\* \d+ EXISTS/);
    has(/^S: [^]*\S+ OK \[READ-WRITE\]/);
    has(/^C: \S+ AUTHENTICATE\b/);
    has(/^C: \S+ LOGOUT$/);
    has(/^S: [^]*\* BYE/);
    expect(msgs.filter((m) => /^C: \S+ LOGIN\b/.test(m)).length).toBe(2); // before COMPRESS and after
    for (const secret of [TRACED.password, lateSecret, saslSecret]) expect(lines.filter((l) => l.includes(secret))).toEqual([]);
  });
});

// ---- real clients ----

/** `compression on` lines logged for `user` since `mark`. */
const compressionOn = (mark: number, user: string) => logSince(mark).filter((l) => l.msg === 'compression on' && l.user === user).length;

/** A message of the synced mailboxes: small ones, and every 25th about 60 KB. */
function syncMessage(prefix: string, i: number): Uint8Array {
  if (i % 25 === 7) return bigMessage(`${prefix}-${i}`, 60 * KiB, i);
  const r = rng(i + 1);
  const body = Array.from({ length: 3 + Math.floor(r() * 40) }, () => WORDS[Math.floor(r() * WORDS.length)]).join(' ');
  return enc.encode(message(`${prefix} message ${i}`, `${body}\r\n`, `sender${i % 7}@example.org`).replace(/Message-ID: <[^>]*>/, `Message-ID: <${prefix}-${i}@example.test>`));
}

/** MULTIAPPEND of `msgs` to `box` in one command, \Seen on every third. */
async function seed(c: ImapClient, box: string, msgs: Uint8Array[]): Promise<void> {
  const parts: CommandPart[] = [`APPEND ${quote(box)}`];
  msgs.forEach((m, i) => parts.push(i % 3 === 0 ? ' (\\Seen) ' : ' ', literal(m, { plus: true })));
  await c.ok(parts, { timeoutMs: 30_000 });
}

describe('real clients over COMPRESS', () => {
  test('imapflow: lists, fetches envelopes, flags and bodies of 200 messages, sets flags', async () => {
    const COUNT = 200;
    const msgs = Array.from({ length: COUNT }, (_, i) => syncMessage('flow', i));
    const c = await srv.login(FLOW.address, FLOW.password);
    await c.ok('CREATE flowsync');
    await seed(c, 'flowsync', msgs);
    c.close();

    const mark = srv.logs().length;
    const f = new ImapFlow({
      host: '127.0.0.1', port: srv.port, secure: false, doSTARTTLS: true, servername: 'localhost', tls: { rejectUnauthorized: false },
      auth: { user: FLOW.address, pass: FLOW.password }, logger: false, disableAutoIdle: true,
      connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 30_000,
    });
    f.on('error', () => {}); // errors surface through the awaited calls
    try {
      await f.connect();
      expect(compressionOn(mark, FLOW.address)).toBe(1);
      expect(f.secureConnection).toBe(true);
      expect((await f.list()).map((m) => m.path)).toEqual(expect.arrayContaining(['INBOX', 'flowsync']));
      const lock = await f.getMailboxLock('flowsync');
      try {
        const got: FetchMessageObject[] = [];
        for await (const m of f.fetch('1:*', { uid: true, envelope: true, flags: true, size: true, source: true })) got.push(m);
        expect(got.length).toBe(COUNT);
        got.sort((a, b) => a.seq - b.seq);
        for (const [i, m] of got.entries()) {
          expectSameBytes(new Uint8Array(m.source!), msgs[i], `imapflow source of message ${i + 1}`);
          expect(m.size).toBe(msgs[i].length);
          expect(m.envelope?.messageId).toBe(i % 25 === 7 ? `<big-flow-${i}@example.test>` : `<flow-${i}@example.test>`);
          expect(m.flags?.has('\\Seen')).toBe(i % 3 === 0);
        }
        expect(got.filter((m) => m.envelope?.subject?.startsWith('big ')).length).toBe(8);
        await f.messageFlagsAdd('1:50', ['\\Flagged']);
        await f.messageFlagsRemove('1:*', ['\\Seen']);
        const after = await f.fetchAll('1:*', { flags: true });
        expect(after.filter((m) => m.flags?.has('\\Flagged')).length).toBe(50);
        expect(after.filter((m) => m.flags?.has('\\Seen')).length).toBe(0);
        const st = await f.status('flowsync', { messages: true, unseen: true });
        expect(st).toMatchObject({ messages: COUNT, unseen: COUNT });
      } finally {
        lock.release();
      }
      await f.logout();
    } finally {
      f.close();
    }
  });

  const noMbsync = missing('mbsync', 'mbsync is not installed (Debian: isync)') || (() => {
    const r = Bun.spawnSync(['mbsync', '--version'], { stdout: 'pipe', stderr: 'pipe' });
    const m = /(\d+)\.(\d+)/.exec(r.stdout.toString() + r.stderr.toString());
    if (m && (Number(m[1]) > 1 || Number(m[2]) >= 4)) return false;
    console.log(`skipping: mbsync ${m?.[0] ?? '(unknown version)'} has no COMPRESS (isync 1.4 added it)`);
    return true;
  })();

  test.skipIf(noMbsync)('mbsync (isync >= 1.4 uses COMPRESS when offered) syncs down, then up', async () => {
    const COUNT = 60;
    const msgs = Array.from({ length: COUNT }, (_, i) => syncMessage('mbsync', i));
    const c = await srv.login(SYNC.address, SYNC.password);
    await seed(c, 'INBOX', msgs.slice(0, 40));
    await c.ok('CREATE Lists');
    await seed(c, 'Lists', msgs.slice(40));

    const dir = mkdtempSync(join(tmpdir(), 'postern-mbsync-z-'));
    try {
      const maildir = join(dir, 'mail');
      mkdirSync(maildir);
      const version = Bun.spawnSync(['mbsync', '--version'], { stdout: 'pipe' }).stdout.toString().trim();
      const [maj, min] = (/(\d+)\.(\d+)/.exec(version) ?? ['', '1', '4']).slice(1).map(Number);
      const rc = join(dir, 'mbsyncrc');
      writeFileSync(rc, [
        'IMAPAccount server', 'Host 127.0.0.1', `Port ${srv.port}`, `User ${SYNC.address}`, `Pass ${SYNC.password}`,
        maj > 1 || min >= 5 ? 'TLSType None' : 'SSLType None', 'AuthMechs PLAIN LOGIN', 'Timeout 20', '',
        'IMAPStore server', 'Account server', '',
        'MaildirStore local', `Path ${maildir}/`, `Inbox ${maildir}/INBOX`, 'SubFolders Verbatim', '',
        'Channel sync', 'Far :server:', 'Near :local:', 'Patterns *', 'Create Both', 'SyncState *', '',
      ].join('\n'));
      const mbsync = async () => {
        const r = await runClient(['mbsync', '-c', rc, '-a'], 30_000);
        if (r.code !== 0) throw new Error(`mbsync exited ${r.signal ?? r.code}:\n${r.log.split('\n').slice(-20).join('\n')}`);
      };
      const readFolder = (name: string) => {
        const out: string[] = [];
        for (const sub of ['cur', 'new']) {
          for (const f of readdirSync(join(maildir, name, sub))) out.push(noTuid(lf(readFileSync(join(maildir, name, sub, f), 'latin1'))));
        }
        return out.sort();
      };
      // mbsync keeps maildirs with LF line ends (and turns them back into CRLF on upload), and
      // adds an X-TUID header to what it copies, either way.
      const lf = (b: Uint8Array | string) => (typeof b === 'string' ? b : Buffer.from(b).toString('latin1')).replace(/\r\n/g, '\n');
      const noTuid = (s: string) => s.replace(/^X-TUID: .*\r?\n/m, '');

      const mark = srv.logs().length;
      await mbsync();
      expect(compressionOn(mark, SYNC.address)).toBeGreaterThan(0);
      expect(readFolder('INBOX')).toEqual(msgs.slice(0, 40).map(lf).sort());
      expect(readFolder('Lists')).toEqual(msgs.slice(40).map(lf).sort());

      // Up: a new message in the maildir reaches the server (mbsync adds an X-TUID header).
      const up = syncMessage('mbsync-up', 1000);
      writeFileSync(join(maildir, 'Lists', 'new', '1700000000.up.local'), lf(up));
      const mark2 = srv.logs().length;
      await mbsync();
      expect(compressionOn(mark2, SYNC.address)).toBeGreaterThan(0);
      await c.ok('SELECT Lists');
      const r = await c.ok('FETCH 1:* BODY.PEEK[]');
      const bodies = pick(r, 'FETCH').map((u) => Buffer.from(bytesOf(u.attrs['BODY[]'])).toString('latin1')).map(noTuid);
      expect(bodies.length).toBe(COUNT - 40 + 1);
      expect(bodies).toContain(Buffer.from(up).toString('latin1'));
    } finally {
      c.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // neomutt and mutt share the muttrc settings used here. mutt deflates every write with
  // Z_PARTIAL_FLUSH (mutt_zstrm.c), as iOS Mail does: a real partial-flush client.
  const MUTTS = {
    neomutt: "Debian 12's neomutt 20220429 is built without zlib",
    mutt: 'Debian: mutt; mutt 2.x built with zlib',
  } as const;

  /** Whether `prog` can run the test; prints why not. */
  const canDeflate = (prog: keyof typeof MUTTS): boolean => {
    if (missing(prog, `${prog} is not installed (${MUTTS[prog]})`)) return false;
    if (missing('script', `script (util-linux) is not installed: ${prog} needs a terminal`)) return false;
    const r = Bun.spawnSync([prog, '-n', '-F', '/dev/null', '-Q', 'imap_deflate'], { stdout: 'pipe', stderr: 'pipe', env: { ...process.env, HOME: tmpdir() } });
    const out = (r.stdout.toString() + r.stderr.toString()).trim();
    if (/^imap_deflate( is |=)/m.test(out)) return true;
    console.log(`skipping: this ${prog} has no imap_deflate (${MUTTS[prog]}): ${prog} -Q imap_deflate: ${out}`);
    return false;
  };

  for (const prog of ['neomutt', 'mutt'] as const) {
    test.skipIf(!canDeflate(prog))(`${prog} with imap_deflate lists and reads a mailbox in batch mode`, async () => {
      const COUNT = 12;
      const msgs = Array.from({ length: COUNT }, (_, i) => syncMessage(prog, i));
      const c = await srv.login(MUTT.address, MUTT.password);
      const box = `${prog}-box`;
      await c.ok(`CREATE ${box}`);
      await seed(c, box, msgs);
      c.close();
      const dir = mkdtempSync(join(tmpdir(), `postern-${prog}-`));
      try {
        const out = join(dir, 'piped');
        const rc = join(dir, 'muttrc');
        writeFileSync(rc, [
          `set imap_user = "${MUTT.address}"`, `set imap_pass = "${MUTT.password}"`, 'set imap_deflate = yes',
          'set ssl_starttls = no', 'set ssl_force_tls = no', 'set imap_check_subscribed = no', 'set imap_passive = no',
          `set folder = "imap://127.0.0.1:${srv.port}/"`, 'set spoolfile = "+INBOX"',
          'set header_cache = ""', 'set message_cachedir = ""', 'set mail_check = 0', 'set timeout = 1',
          'set wait_key = no', 'set pipe_split = yes', 'set pipe_decode = no', 'set pipe_sep = "\\n--end--\\n"',
          'set sort = mailbox-order', 'set quit = yes',
          // Every message piped to `cat` on its own (pipe_split), each followed by pipe_sep; then quit.
          `push "<tag-pattern>~A<enter><tag-prefix><pipe-message>cat >> ${out}<enter><quit>"`,
          '',
        ].join('\n'));
        const mark = srv.logs().length;
        const cmd = `env TERM=xterm ${prog} -n -F ${rc} -f imap://127.0.0.1:${srv.port}/${box}`;
        const r = await runClient(['script', '-qec', cmd, '/dev/null'], 30_000);
        let piped = '';
        try {
          piped = readFileSync(out, 'latin1');
        } catch {
          throw new Error(`${prog} piped nothing (exit ${r.signal ?? r.code}):\n${r.log.slice(-2000)}`);
        }
        expect(compressionOn(mark, MUTT.address)).toBe(1);
        const cmds = logSince(mark).filter((l) => l.msg === 'command' && l.user === MUTT.address).map((l) => l.cmd);
        expect(cmds).toContain('LIST');
        expect(cmds).toContain('SELECT');
        // COMPRESS came first: the mailbox was listed and read over the deflate stream.
        expect(cmds.indexOf('COMPRESS')).toBeLessThan(cmds.indexOf('SELECT'));
        const read = piped.split('\n--end--\n').filter(Boolean);
        expect(read.length).toBe(COUNT);
        // Piped with LF line ends.
        for (const [i, m] of msgs.entries()) expect(read[i]?.replace(/\r\n/g, '\n')).toBe(Buffer.from(m).toString('latin1').replace(/\r\n/g, '\n'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
