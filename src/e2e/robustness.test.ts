// End-to-end: what keeps a server up for everyone: an internal error answers
// SERVERBUG with the connection id and the connection lives on; timeouts close idle
// connections with BYE; a client that does not read makes the server stop reading
// from it instead of buffering without bound.

import { describe, expect, test } from 'bun:test';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { literal } from '../imap/client.ts';
import { message, serverFor } from './harness.ts';

describe('internal errors', () => {
  const server = serverFor();

  test('an exception answers NO [SERVERBUG] with the cid, which the log line carries too', async () => {
    const srv = server();
    const c = await srv.login();
    const other = await srv.login();
    // Break the account's upload directory under the running server: a file where the directory was.
    const tmp = join(srv.dataDir, 'accounts', srv.user.address, 'tmp');
    rmSync(tmp, { recursive: true, force: true });
    writeFileSync(tmp, 'not a directory');
    try {
      const r = await c.command(['APPEND INBOX ', literal(message('broken'))]);
      expect(r.status).toBe('NO');
      expect(r.code).toBe('SERVERBUG');
      const cid = /\(cid (\d+)\)/.exec(r.text)?.[1];
      expect(cid).toBeDefined();
      const bugs = srv.takeServerBugs();
      expect(bugs.length).toBe(1);
      expect(bugs[0]).toContain(`cid=${cid}`);
      // The same connection and every other one keep working.
      await c.ok('NOOP');
      await other.ok('STATUS INBOX (MESSAGES)');
    } finally {
      rmSync(tmp, { force: true });
    }
  });
});

describe('timeouts', () => {
  const server = serverFor({ config: { limits: { login_timeout_seconds: 1, idle_timeout_seconds: 3, idle_keepalive_seconds: 1 } } });

  test('a connection that does not log in is closed with BYE after login_timeout_seconds', async () => {
    const srv = server();
    const c = await srv.connect();
    const t0 = Date.now();
    await c.waitClosed(5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(c.bye?.raw).toMatch(/idle for too long/i);
  });

  test('IDLE gets `* OK Still here` keep-alives, and is closed after idle_timeout_seconds', async () => {
    const srv = server();
    const c = await srv.login();
    const idle = await c.idle();
    const t0 = Date.now();
    const still = await idle.waitFor((u) => u.type === 'OK' && /Still here/.test(u.raw), 3000);
    expect(still.raw).toBe('* OK Still here');
    await c.waitClosed(8000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2900);
    expect(c.bye?.raw).toMatch(/idle for too long/i);
  });

  test('commands keep a connection alive', async () => {
    const srv = server();
    const c = await srv.login();
    for (let i = 0; i < 5; i++) {
      await Bun.sleep(600);
      await c.ok('NOOP');
    }
    expect(c.closed).toBe(false);
  });
});

describe('backpressure', () => {
  const server = serverFor();

  test('a client that does not read stops the server reading; every answer arrives in order afterwards', async () => {
    const srv = server();
    const N = 60000;
    const { address, password } = srv.user;
    const received: Uint8Array[] = [];
    const sock = await Bun.connect({
      hostname: '127.0.0.1',
      port: srv.port,
      socket: { binaryType: 'uint8array', data: (_s, d) => void received.push(d) },
    });
    // Log in, then stop reading and pipeline more commands than socket buffers hold
    // (15 MB), whose answers are larger still (about 300 bytes each, 18 MB).
    sock.write(`a LOGIN ${address} ${password}\r\n`);
    await Bun.sleep(300);
    sock.pause();
    const patterns = `(${Array(50).fill('"*"').join(' ')})`;
    const commands = Buffer.from(Array.from({ length: N }, (_, i) => `c${i} LIST "" ${patterns}\r\n`).join(''));
    let sent = 0;
    const deadline = Date.now() + 3000;
    while (sent < commands.length && Date.now() < deadline) {
      sent += Math.max(0, sock.write(commands.subarray(sent)));
      await Bun.sleep(20);
    }
    // The server stops making progress while we do not read: the number of commands it
    // answered does not move, and it is far from all of them.
    const answered = () => srv.logs().filter((l) => /msg=command .*tag=c\d+ cmd=LIST/.test(l)).length;
    await Bun.sleep(1000);
    const before = answered();
    await Bun.sleep(1500);
    expect(answered()).toBe(before);
    expect(before).toBeLessThan(N / 2);
    sock.resume();
    while (sent < commands.length) {
      sent += Math.max(0, sock.write(commands.subarray(sent)));
      await Bun.sleep(5);
    }
    const lastTag = `c${N - 1} OK`;
    const until = Date.now() + 30000;
    let text = '';
    while (Date.now() < until) {
      text = Buffer.concat(received).toString('latin1');
      if (text.includes(lastTag)) break;
      await Bun.sleep(50);
    }
    sock.end();
    const tags = [...text.matchAll(/^(c\d+) OK/gm)].map((m) => m[1]);
    expect(tags.length).toBe(N);
    for (let i = 0; i < N; i += 997) expect(tags[i]).toBe(`c${i}`);
    expect(tags[N - 1]).toBe(`c${N - 1}`);
  });
});

describe('connections per address', () => {
  const server = serverFor({ config: { limits: { max_connections_per_ip: 3 } } });

  test('past max_connections_per_ip a connection gets BYE; closing one frees a place', async () => {
    const srv = server();
    const open = [await srv.connect(), await srv.connect(), await srv.connect()];
    const extra = await srv.connect();
    expect(extra.greeting.type).toBe('BYE');
    expect(extra.greeting.raw).toMatch(/too many connections/);
    await extra.waitClosed();
    for (const c of open) await c.ok('NOOP');
    await open[0].logout();
    await Bun.sleep(100);
    const again = await srv.connect();
    await again.ok('NOOP');
  });
});

describe('failed logins', () => {
  const server = serverFor({ config: { auth: { failed_login_delay_ms: 300, failed_login_delay_max_ms: 2000 } } });

  test('a failed login is answered after a delay that grows, and parallel guesses queue behind it', async () => {
    const srv = server();
    const a = await srv.connect();
    const b = await srv.connect();
    const t0 = Date.now();
    await a.no(`LOGIN ${srv.user.address} wrong1`, 'AUTHENTICATIONFAILED');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    // Two guesses at once from the same address wait for each other: 600 ms, then 1200 ms.
    const t1 = Date.now();
    await Promise.all([a.no(`LOGIN ${srv.user.address} wrong2`, 'AUTHENTICATIONFAILED'), b.no(`LOGIN ${srv.user.address} wrong3`, 'AUTHENTICATIONFAILED')]);
    expect(Date.now() - t1).toBeGreaterThanOrEqual(1500);
    // The right password still works (after the queue), and clears the record.
    await a.ok(`LOGIN ${srv.user.address} ${srv.user.password}`);
    const t2 = Date.now();
    await b.no(`LOGIN ${srv.user.address} wrong4`, 'AUTHENTICATIONFAILED');
    expect(Date.now() - t2).toBeLessThan(1000);
  });
});
