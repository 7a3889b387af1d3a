// The test client against a scripted fake server on loopback: response parsing (literals,
// splits), literal refusal before `+`, backpressure, STARTTLS (and injection), IDLE,
// timeouts that name the command, trace redaction.

import { afterEach, describe, expect, test } from 'bun:test';
import type { Socket, TCPSocketListener } from 'bun';
import { generateSelfSigned } from '../config/cert.ts';
import {
  ConnectionClosedError, ImapClient, ImapTimeoutError, ResponseReader, literal, parseResponse, pick, text,
  utf7Decode, utf7Encode,
} from './client.ts';

interface Conn { sock: Socket<undefined>; buf: Uint8Array; line: string; literalLeft: number; upgraded: boolean; idleTag?: string }
/** Answers one complete command (literal bodies inline in `line`). */
type Script = (line: string, conn: Conn) => string | void;

const servers: TCPSocketListener<undefined>[] = [];
const clients: ImapClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) s.stop(true);
});

/**
 * A fake server reading commands with literals. A synchronizing literal gets `+ go` unless
 * `refuse(lineSoFar, size)` returns an answer. `onData` may take raw bytes instead.
 */
function fakeServer(script: Script, opts: { refuse?: (line: string, size: number) => string | void; onData?: (conn: Conn, bytes: Uint8Array) => boolean } = {}) {
  const conns = new Map<Socket<undefined>, Conn>();
  const srv = Bun.listen<undefined>({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      binaryType: 'uint8array',
      open(sock) {
        conns.set(sock, { sock, buf: new Uint8Array(0), line: '', literalLeft: -1, upgraded: false });
        sock.write('* OK fake ready\r\n');
      },
      data(sock, data) {
        const conn = conns.get(sock);
        if (!conn || conn.upgraded) return; // after upgradeTLS: the encrypted bytes
        const bytes = data as unknown as Uint8Array;
        if (opts.onData?.(conn, bytes)) return;
        conn.buf = Buffer.concat([conn.buf, bytes]);
        for (;;) {
          if (conn.literalLeft >= 0) {
            if (conn.buf.length < conn.literalLeft) return;
            conn.line += new TextDecoder().decode(conn.buf.subarray(0, conn.literalLeft));
            conn.buf = conn.buf.subarray(conn.literalLeft);
            conn.literalLeft = -1;
            continue;
          }
          const i = conn.buf.indexOf(10);
          if (i < 0) return;
          const part = new TextDecoder().decode(conn.buf.subarray(0, i)).replace(/\r$/, '');
          conn.buf = conn.buf.subarray(i + 1);
          conn.line += part;
          const m = /\{(\d+)(\+?)\}$/.exec(part);
          if (m) {
            const refusal = m[2] ? undefined : opts.refuse?.(conn.line, Number(m[1]));
            if (refusal) {
              sock.write(refusal);
              conn.line = '';
              continue;
            }
            if (!m[2]) sock.write('+ go\r\n');
            conn.literalLeft = Number(m[1]);
            continue;
          }
          const line = conn.line;
          conn.line = '';
          const out = script(line, conn);
          if (out) sock.write(out);
          if (conn.upgraded) return;
        }
      },
    },
  });
  servers.push(srv);
  return srv;
}

async function connect(port: number, extra: Partial<Parameters<typeof ImapClient.connect>[0]> = {}) {
  const c = await ImapClient.connect({ port, timeoutMs: 2000, ...extra });
  clients.push(c);
  return c;
}

const tagOf = (line: string) => line.split(' ')[0];

describe('response parsing', () => {
  const header = 'Subject: a\r\nFrom: b\r\n';
  const fetch = `* 12 FETCH (UID 7 FLAGS (\\Seen $Junk) BODY[HEADER.FIELDS (SUBJECT FROM)] {${header.length}}\r\n${header} BODY[]<0> ~{3}\r\nx\r\n INTERNALDATE "01-Jan-2020 10:00:00 +0000" ENVELOPE NIL)\r\n`;

  test('a FETCH with literals parses the same whole and byte by byte', () => {
    const whole = new ResponseReader().feed(new TextEncoder().encode(fetch));
    expect(whole).toHaveLength(1);
    const r = parseResponse(whole[0]);
    if (r.kind !== 'untagged' || r.untagged.type !== 'FETCH') throw new Error('not a FETCH: ' + r.raw);
    const a = r.untagged.attrs;
    expect(r.untagged.seq).toBe(12);
    expect(a.UID).toBe('7');
    expect(a.FLAGS).toEqual(['\\Seen', '$Junk']);
    expect(text(a['BODY[HEADER.FIELDS (SUBJECT FROM)]'])).toBe('Subject: a\r\nFrom: b\r\n');
    expect(text(a['BODY[]<0>'])).toBe('x\r\n');
    expect(a.INTERNALDATE).toBe('01-Jan-2020 10:00:00 +0000');
    expect(a.ENVELOPE).toBeNull();

    const reader = new ResponseReader();
    const bytes = new TextEncoder().encode(fetch);
    const units = [];
    for (let i = 0; i < bytes.length; i++) units.push(...reader.feed(bytes.subarray(i, i + 1)));
    expect(units.map((u) => parseResponse(u))).toEqual([r]);
  });

  test('LIST, STATUS, codes, continuation, tagged', () => {
    const p = (s: string) => parseResponse(new ResponseReader().feed(new TextEncoder().encode(s + '\r\n'))[0]);
    expect(p('* LIST (\\HasNoChildren \\Sent) "/" "Sent Items" ("OLDNAME" ("Old"))')).toMatchObject({
      kind: 'untagged', untagged: { type: 'LIST', attrs: ['\\HasNoChildren', '\\Sent'], delimiter: '/', name: 'Sent Items', ext: { OLDNAME: ['Old'] } },
    });
    expect(p('* LIST () NIL {3}\r\na"b')).toMatchObject({ untagged: { type: 'LIST', delimiter: null, name: 'a"b' } });
    expect(p('* STATUS "a \\"q\\"" (MESSAGES 3 UIDNEXT 10)')).toMatchObject({ untagged: { type: 'STATUS', mailbox: 'a "q"', items: { MESSAGES: 3, UIDNEXT: 10 } } });
    expect(p('* OK [PERMANENTFLAGS (\\Seen \\*)] Limited')).toMatchObject({ untagged: { type: 'OK', code: 'PERMANENTFLAGS (\\Seen \\*)', text: 'Limited' } });
    expect(p('A1 NO [TRYCREATE] No such mailbox')).toMatchObject({ kind: 'tagged', tag: 'A1', status: 'NO', code: 'TRYCREATE', text: 'No such mailbox' });
    expect(p('+ go ahead')).toEqual({ kind: 'continuation', text: 'go ahead', raw: '+ go ahead' });
    expect(p('* ESEARCH (TAG "A1") UID ALL 1:3')).toMatchObject({ untagged: { type: 'OTHER', name: 'ESEARCH', values: [['TAG', 'A1'], 'UID', 'ALL', '1:3'] } });
    expect(p('* 3 EXPUNGE')).toMatchObject({ untagged: { type: 'EXPUNGE', num: 3 } });
    expect(p('* CAPABILITY IMAP4rev2 IDLE')).toMatchObject({ untagged: { type: 'CAPABILITY', caps: ['IMAP4rev2', 'IDLE'] } });
  });

  test('modified UTF-7', () => {
    expect(utf7Encode('Entwürfe')).toBe('Entw&APw-rfe');
    expect(utf7Encode('a&b')).toBe('a&-b');
    expect(utf7Encode('日本語')).toBe('&ZeVnLIqe-');
    expect(utf7Encode('😀')).toBe('&2D3eAA-');
    for (const s of ['Entwürfe', 'a&b', '日本語', '😀 x', '~peter/mail/台北/日本語']) expect(utf7Decode(utf7Encode(s))).toBe(s);
  });
});

describe('client over a socket', () => {
  test('commands, untagged routing, pipelined raw commands', async () => {
    const srv = fakeServer((line) => {
      const tag = tagOf(line);
      if (/ SELECT /.test(line)) return '* 3 EXISTS\r\n* OK [UIDVALIDITY 5] x\r\n* OK [UIDNEXT 9] x\r\n* FLAGS (\\Seen)\r\n' + `${tag} OK [READ-WRITE] done\r\n`;
      return `${tag} OK done\r\n`;
    });
    const c = await connect(srv.port);
    expect(c.greeting).toMatchObject({ type: 'OK', text: 'fake ready' });
    const s = await c.select('INBOX');
    expect(s).toMatchObject({ exists: 3, uidValidity: 5, uidNext: 9, flags: ['\\Seen'], readOnly: false });
    await c.send('x1 NOOP\r\nx2 NOOP\r\n');
    expect(await c.waitTagged('x2')).toMatchObject({ tag: 'x2', status: 'OK' });
    expect((await c.ok('NOOP')).tag).toBe('A2');
  });

  test('a synchronizing literal refused before + is not sent', async () => {
    const seen: string[] = [];
    const srv = fakeServer((line) => {
      seen.push(line);
      return `${tagOf(line)} OK done\r\n`;
    }, { refuse: (line, size) => (size > 100000 ? `${tagOf(line)} NO [TOOBIG] too big\r\n` : undefined) });
    const c = await connect(srv.port);
    const r = await c.no(['LIST "" ', literal('x'.repeat(200000))], 'TOOBIG');
    expect(r.continued).toBe(0);
    const ok = await c.ok(['LIST "" ', literal('abc')]);
    expect(ok.continued).toBe(1);
    expect(seen).toEqual(['A2 LIST "" {3}abc']);
  });

  test('a large write to a server that reads slowly arrives whole (backpressure)', async () => {
    let received = 0;
    let paused = false;
    const size = 16 * 1024 * 1024;
    const srv = fakeServer(() => undefined, {
      onData(conn, bytes) {
        if (!paused) {
          paused = true;
          conn.sock.pause();
          setTimeout(() => conn.sock.resume(), 300);
        }
        received += bytes.length;
        return true;
      },
    });
    const c = await connect(srv.port, { timeoutMs: 20_000 });
    const big = new Uint8Array(size).fill(0x61);
    await c.send(big);
    for (let i = 0; i < 200 && received < size; i++) await Bun.sleep(20);
    expect(received).toBe(size);
  });

  test('STARTTLS upgrades the same connection; data after the OK is an injection', async () => {
    const { certPem, keyPem } = generateSelfSigned({ commonName: 'localhost', dnsNames: ['localhost'], days: 1 });
    const srv = fakeServer((line, conn) => {
      const tag = tagOf(line);
      if (line.endsWith('STARTTLS')) {
        conn.sock.write(`${tag} OK begin TLS\r\n${line.startsWith('inject') ? '* OK injected\r\n' : ''}`);
        conn.upgraded = true;
        conn.sock.upgradeTLS({
          tls: { cert: certPem, key: keyPem },
          socket: {
            data(s, d) {
              for (const l of new TextDecoder().decode(d as unknown as Uint8Array).split('\r\n').filter(Boolean)) s.write(`${tagOf(l)} OK over tls\r\n`);
            },
          },
        });
        return;
      }
      return `${tag} OK plain\r\n`;
    });
    const c = await connect(srv.port, { rejectUnauthorized: false });
    expect((await c.startTLS()).status).toBe('OK');
    expect((await c.ok('NOOP')).text).toBe('over tls');

    const strict = await connect(srv.port);
    await expect(strict.startTLS()).rejects.toThrow(/handshake|closed/);

    const c2 = await connect(srv.port, { rejectUnauthorized: false });
    await c2.send('inject STARTTLS\r\n');
    await c2.waitTagged('inject');
    await Bun.sleep(50);
    await expect(c2.upgrade('inject')).rejects.toThrow(/plaintext after the STARTTLS/);
  });

  test('IDLE: untagged responses at once, DONE ends it', async () => {
    const srv = fakeServer((line, conn) => {
      if (line.endsWith(' IDLE')) {
        conn.idleTag = tagOf(line);
        setTimeout(() => conn.sock.write('* 4 EXISTS\r\n'), 50);
        return '+ idling\r\n';
      }
      if (line === 'DONE') return `${conn.idleTag} OK idle done\r\n`;
    });
    const c = await connect(srv.port);
    const idle = await c.idle();
    expect(await idle.waitFor((u) => u.type === 'EXISTS')).toMatchObject({ type: 'EXISTS', num: 4 });
    expect((await idle.done()).text).toBe('idle done');
  });

  test('a wait times out naming the command; a close rejects with the BYE', async () => {
    const srv = fakeServer((line, conn) => {
      if (line.endsWith('LOGOUT')) {
        conn.sock.write('* BYE going away\r\n');
        conn.sock.end();
      }
    });
    const c = await connect(srv.port, { timeoutMs: 200 });
    const err = await c.command('SELECT "slow"').catch((e) => e);
    expect(err).toBeInstanceOf(ImapTimeoutError);
    expect(String(err.message)).toContain('A1 SELECT "slow"');
    const closed = await c.command('LOGOUT').catch((e) => e);
    expect(closed).toBeInstanceOf(ConnectionClosedError);
    expect(String(closed.message)).toContain('BYE going away');
  });

  test('the trace hides LOGIN/AUTHENTICATE secrets and literal bodies', async () => {
    const srv = fakeServer((line) => `${tagOf(line)} OK done\r\n`);
    const lines: string[] = [];
    const c = await connect(srv.port, { trace: (l) => lines.push(l) });
    await c.login('user@example.org', 'sekrit1');
    await c.ok(['LOGIN ', literal('user'), ' ', literal('sekrit2')]);
    await c.ok('AUTHENTICATE PLAIN c2Vrcml0Mw==');
    await c.ok(['APPEND INBOX ', literal('Subject: private body')]);
    const all = lines.join('\n');
    expect(all).not.toMatch(/sekrit|c2Vrcml0Mw|private body/);
    expect(all).toContain('C: A1 LOGIN "user@example.org" ***');
    expect(all).toContain('C: <21 bytes>');
    expect(pick([], 'LIST')).toEqual([]);
  });
});
