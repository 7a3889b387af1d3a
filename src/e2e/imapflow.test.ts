// End-to-end with imapflow, Node's most used IMAP client (devDependency): login over
// STARTTLS and implicit TLS, mailbox management, APPEND then STATUS, and IDLE seeing the
// EXISTS of another connection's APPEND.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { message, startServer, type TestServer } from './harness.ts';

let srv: TestServer;
const flows: ImapFlow[] = [];
beforeAll(async () => {
  srv = await startServer({});
});
afterEach(async () => {
  for (const f of flows.splice(0)) {
    if (f.usable) await f.logout().catch(() => f.close());
    else f.close();
  }
  srv?.assertHealthy();
});
afterAll(async () => {
  await srv?.stop();
});

/** imapflow's own log, printed when POSTERN_TRACE is set. */
const logger = process.env.POSTERN_TRACE
  ? Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((l) => [l, (o: unknown) => console.error(`[imapflow ${l}]`, JSON.stringify(o))]))
  : false;

async function flow(opts: { implicit?: boolean } = {}): Promise<ImapFlow> {
  const o: ImapFlowOptions = {
    host: '127.0.0.1',
    port: opts.implicit ? srv.tlsPort : srv.port,
    secure: opts.implicit ?? false,
    doSTARTTLS: opts.implicit ? undefined : true,
    servername: 'localhost',
    tls: { rejectUnauthorized: false },
    auth: { user: srv.user.address, pass: srv.user.password },
    logger: logger as ImapFlowOptions['logger'],
    disableAutoIdle: true,
    connectionTimeout: 5000,
    greetingTimeout: 5000,
    socketTimeout: 30_000,
  };
  const f = new ImapFlow(o);
  f.on('error', () => {}); // errors surface through the awaited calls
  flows.push(f);
  await f.connect();
  return f;
}

/** Resolve with the first event, or reject after ms. */
function once<T>(f: ImapFlow, event: string, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} event within ${ms} ms`)), ms);
    f.once(event, (v: T) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

describe('imapflow', () => {
  test('logs in over STARTTLS', async () => {
    const f = await flow();
    expect(f.secureConnection).toBe(true);
    expect(f.authenticated).toBeTruthy();
    expect(f.capabilities.has('IMAP4rev2') || f.capabilities.has('IMAP4REV2')).toBe(true);
  });

  test('logs in over implicit TLS', async () => {
    const f = await flow({ implicit: true });
    expect(f.secureConnection).toBe(true);
    expect(f.authenticated).toBeTruthy();
  });

  test('lists, creates, renames and deletes mailboxes', async () => {
    const f = await flow();
    const list = await f.list();
    const paths = list.map((m) => m.path);
    expect(paths).toEqual(expect.arrayContaining(['INBOX', 'Drafts', 'Sent', 'Archive', 'Junk', 'Trash']));
    expect(list.find((m) => m.path === 'Sent')?.specialUse).toBe('\\Sent');
    expect(list.find((m) => m.path === 'INBOX')?.delimiter).toBe('/');

    const created = await f.mailboxCreate(['flow', 'Ünïcode child']);
    expect(created.created).toBe(true);
    expect(created.path).toBe('flow/Ünïcode child');
    await f.mailboxRename('flow', 'flow-renamed');
    const after = (await f.list()).map((m) => m.path);
    expect(after).toEqual(expect.arrayContaining(['flow-renamed', 'flow-renamed/Ünïcode child']));
    expect(after).not.toContain('flow');
    await f.mailboxDelete('flow-renamed/Ünïcode child');
    expect((await f.list()).map((m) => m.path)).not.toContain('flow-renamed/Ünïcode child');
  });

  test('APPEND then STATUS', async () => {
    const f = await flow();
    await f.mailboxCreate('flow-append');
    const r = await f.append('flow-append', message('from imapflow'), ['\\Seen'], new Date('2020-02-03T04:05:06Z'));
    expect(r).toBeTruthy();
    if (r) expect(r.uid).toBe(1);
    await f.append('flow-append', Buffer.from(message('unseen one')));
    const st = await f.status('flow-append', { messages: true, unseen: true, uidNext: true, uidValidity: true });
    expect(st).toMatchObject({ path: 'flow-append', messages: 2, unseen: 1, uidNext: 3 });
    expect(Number(st && st.uidValidity)).toBeGreaterThan(0);
  });

  test('IDLE gets the EXISTS of an APPEND on another connection', async () => {
    const watcher = await flow();
    const writer = await flow({ implicit: true });
    const box = await watcher.mailboxOpen('INBOX');
    const before = box.exists;
    const exists = once<{ path: string; count: number; prevCount: number }>(watcher, 'exists', 5000);
    const idling = watcher.idle();
    await Bun.sleep(100); // the IDLE is on the wire
    await writer.append('INBOX', message('wake up'));
    const ev = await exists;
    expect(ev).toMatchObject({ path: 'INBOX', count: before + 1, prevCount: before });
    await watcher.noop(); // breaks IDLE
    await idling;
  });
});
