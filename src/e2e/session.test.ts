// End-to-end: the session as our own client sees it (RFC 9051, RFC 3501 and the extensions of
// issue 3), against a real server process. Each test uses its own mailbox names or account,
// so each fails alone. A second connection checks what other sessions see.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { codeName, pick, untaggedCode, utf7Encode, type UntaggedOf } from '../imap/client.ts';
import { message, startServer, type Account, type TestServer } from './harness.ts';

const MAIN: Account = { address: 'user@localhost', password: 'password1234' };
const OTHER: Account = { address: 'other@localhost', password: 'password5678' };
const FRESH: Account = { address: 'fresh@localhost', password: 'freshpass99' };
const RENAMER: Account = { address: 'renamer@localhost', password: 'renamepass7' };
const WATCHED: Account = { address: 'watched@localhost', password: 'watchpass33' };

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({ accounts: [MAIN, OTHER, FRESH, RENAMER, WATCHED] });
});
afterAll(async () => {
  await srv?.stop();
});
afterEach(() => {
  srv?.assertHealthy();
});

const names = (list: Array<UntaggedOf<'LIST'>>) => list.map((l) => l.name);
const plainB64 = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

describe('capabilities per state', () => {
  test('greeting and capabilities before login on the plain port (loopback allows plaintext login)', async () => {
    const c = await srv.connect();
    expect(c.greeting.type).toBe('OK');
    const caps = await c.capabilities();
    for (const cap of ['IMAP4rev2', 'IMAP4rev1', 'STARTTLS', 'AUTH=PLAIN', 'SASL-IR', 'ENABLE', 'ID', 'LITERAL+']) expect(caps).toContain(cap);
    expect(caps).not.toContain('LOGINDISABLED');
    await c.login(MAIN.address, MAIN.password);
  });

  test('after STARTTLS: no STARTTLS, no LOGINDISABLED; implicit TLS: no STARTTLS', async () => {
    const c = await srv.connect({ transport: 'starttls' });
    const caps = await c.capabilities();
    expect(caps).toContain('IMAP4rev2');
    expect(caps).toContain('AUTH=PLAIN');
    expect(caps).not.toContain('STARTTLS');
    expect(caps).not.toContain('LOGINDISABLED');
    const t = await srv.connect({ transport: 'implicit' });
    const tcaps = await t.capabilities();
    expect(tcaps).not.toContain('STARTTLS');
    expect(tcaps).toContain('AUTH=PLAIN');
    await t.login(MAIN.address, MAIN.password);
  });

  test('after login: the authenticated capabilities, nothing of later issues', async () => {
    const c = await srv.login();
    const caps = await c.capabilities();
    for (const cap of ['IMAP4rev2', 'IMAP4rev1', 'ENABLE', 'ID', 'IDLE', 'NAMESPACE', 'UIDPLUS', 'UNSELECT', 'LIST-EXTENDED', 'LIST-STATUS', 'SPECIAL-USE', 'UTF8=ACCEPT', 'LITERAL+']) {
      expect(caps).toContain(cap);
    }
    expect(caps).toContain('APPENDLIMIT=104857600');
    expect(caps).toContain('COMPRESS=DEFLATE');
    expect(caps).not.toContain('STARTTLS');
    expect(caps.filter((x) => x.startsWith('AUTH='))).toEqual([]);
    for (const later of ['CONDSTORE', 'QRESYNC', 'METADATA', 'QUOTA', 'REPLACE', 'NOTIFY']) expect(caps).not.toContain(later);
  });
});

describe('STARTTLS', () => {
  test('a command pipelined after STARTTLS in the same packet is not executed', async () => {
    const c = await srv.connect();
    await c.send('a STARTTLS\r\nb NOOP\r\n');
    expect((await c.waitTagged('a')).status).toBe('OK');
    await Bun.sleep(50); // a plaintext answer to b, if any, arrives now
    await c.upgrade('a'); // throws if anything came in plaintext after the OK
    await c.ok('NOOP');
    const late = await c.collect(200);
    expect(late.filter((r) => r.kind === 'tagged' && r.tag === 'b')).toEqual([]);
    await c.login(MAIN.address, MAIN.password);
  });

  test('STARTTLS twice, on the implicit port, or after login: refused, connection lives', async () => {
    const c = await srv.connect({ transport: 'starttls' });
    expect(['BAD', 'NO']).toContain((await c.command('STARTTLS')).status);
    await c.ok('NOOP');
    const t = await srv.connect({ transport: 'implicit' });
    expect(['BAD', 'NO']).toContain((await t.command('STARTTLS')).status);
    await t.ok('NOOP');
    const l = await srv.login();
    await l.bad('STARTTLS');
    await l.ok('NOOP');
  });
});

describe('authentication', () => {
  test('LOGIN and AUTHENTICATE PLAIN (with and without SASL-IR); failures say AUTHENTICATIONFAILED', async () => {
    const a = await srv.connect();
    await a.no(`LOGIN "${MAIN.address}" "wrong"`, 'AUTHENTICATIONFAILED');
    await a.ok('NOOP');
    await a.login(MAIN.address, MAIN.password);

    const b = await srv.connect();
    const r = await b.ok(`AUTHENTICATE PLAIN ${plainB64(MAIN.address, MAIN.password)}`);
    expect(r.tag).toBeTruthy();
    await b.ok('SELECT INBOX');

    const c = await srv.connect();
    await c.send('p1 AUTHENTICATE PLAIN\r\n');
    expect((await c.readResponse()).kind).toBe('continuation');
    await c.send(plainB64(MAIN.address, MAIN.password) + '\r\n');
    expect(await c.waitTagged('p1')).toMatchObject({ status: 'OK' });

    const d = await srv.connect();
    await d.no(`AUTHENTICATE PLAIN ${plainB64(MAIN.address, 'nope')}`, 'AUTHENTICATIONFAILED');
    await d.send('p2 AUTHENTICATE PLAIN\r\n');
    await d.readResponse();
    await d.send('*\r\n'); // client cancels
    expect((await d.waitTagged('p2')).status).toBe('BAD');
    await d.ok('NOOP');
  });
});

describe('state machine', () => {
  test('commands in the wrong state get BAD and the connection lives', async () => {
    const c = await srv.connect();
    for (const cmd of ['SELECT INBOX', 'LIST "" "*"', 'CREATE x', 'STATUS INBOX (MESSAGES)', 'APPEND INBOX {1+}\r\nx', 'ENABLE IMAP4rev2', 'IDLE', 'CLOSE', 'EXPUNGE', 'UNSELECT', 'NAMESPACE']) {
      await c.bad(cmd);
      await c.ok('NOOP');
    }
    await c.login(MAIN.address, MAIN.password);
    for (const cmd of [`LOGIN a b`, 'AUTHENTICATE PLAIN', 'CLOSE', 'EXPUNGE', 'UNSELECT', 'CHECK']) {
      await c.bad(cmd);
      await c.ok('NOOP');
    }
    await c.ok('SELECT INBOX');
    await c.ok('CHECK');
    await c.bad('LOGIN a b');
    await c.ok('NOOP');
  });

  test('unknown commands get BAD; LOGOUT says BYE then OK', async () => {
    const c = await srv.connect();
    await c.bad('FROBNICATE');
    await c.ok('NOOP');
    const r = await c.command('LOGOUT');
    expect(r.status).toBe('OK');
    expect(pick(r, 'BYE')).toHaveLength(1);
    await c.waitClosed();
  });
});

describe('ENABLE, ID, NAMESPACE', () => {
  test('ENABLE IMAP4rev2 and UTF8=ACCEPT answer ENABLED; unknown ones are ignored', async () => {
    const c = await srv.login();
    const r = await c.ok('ENABLE IMAP4rev2');
    expect(pick(r, 'ENABLED').flatMap((e) => e.caps)).toEqual(['IMAP4rev2']);
    const u = await c.ok('ENABLE UTF8=ACCEPT X-UNKNOWN');
    expect(pick(u, 'ENABLED').flatMap((e) => e.caps)).toEqual(['UTF8=ACCEPT']);
  });

  test('ID answers with the server name, in any state; ID NIL works', async () => {
    const c = await srv.connect();
    const r = await c.ok('ID ("name" "e2e-test" "version" "1.0")');
    const id = pick(r, 'ID')[0];
    expect(id.params?.name?.toLowerCase()).toContain('postern');
    expect(id.params?.version).toBeTruthy();
    await c.ok('ID NIL');
    await c.login(MAIN.address, MAIN.password);
    await c.ok('ID ("name" "again")');
  });

  test('NAMESPACE: one personal namespace with "/"', async () => {
    const c = await srv.login();
    const ns = pick(await c.ok('NAMESPACE'), 'NAMESPACE')[0];
    expect(ns.personal).toEqual([{ prefix: '', delimiter: '/' }]);
    expect(ns.other).toBeNull();
    expect(ns.shared).toBeNull();
  });
});

describe('SELECT and EXAMINE', () => {
  test('SELECT INBOX (rev1): FLAGS, PERMANENTFLAGS, EXISTS, RECENT, UIDVALIDITY, UIDNEXT, READ-WRITE', async () => {
    const c = await srv.login();
    const s = await c.select('INBOX');
    for (const f of ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft']) expect(s.flags).toContain(f);
    expect(s.permanentFlags).not.toBeNull();
    expect(s.permanentFlags).toContain('\\Seen');
    expect(s.exists).not.toBeNull();
    expect(s.recent).not.toBeNull();
    expect(s.uidValidity).toBeGreaterThan(0);
    expect(s.uidNext).toBeGreaterThan(0);
    expect(codeName(s.result.code)).toBe('READ-WRITE');
    expect(s.readOnly).toBe(false);
  });

  test('EXAMINE is READ-ONLY; IMAP4rev2 SELECT sends LIST and [CLOSED] when switching', async () => {
    const c = await srv.login(undefined, undefined, { enable: ['IMAP4rev2'] });
    const e = await c.select('INBOX', { examine: true });
    expect(e.readOnly).toBe(true);
    expect(e.list?.name).toBe('INBOX');
    const s = await c.select('Sent');
    expect(s.readOnly).toBe(false);
    expect(untaggedCode(s.result, 'CLOSED')).not.toBeNull();
    expect(s.list?.name).toBe('Sent');
  });

  test('SELECT of a missing mailbox: NO [NONEXISTENT], and the session is unselected', async () => {
    const c = await srv.login();
    await c.ok('SELECT INBOX');
    await c.no('SELECT "no such box"', 'NONEXISTENT');
    await c.bad('CLOSE');
    await c.ok('NOOP');
  });

  test('inbox is case-insensitive', async () => {
    const c = await srv.login();
    await c.ok('SELECT inbox');
    await c.ok('EXAMINE InBoX');
  });
});

describe('CREATE, DELETE, RENAME', () => {
  test('CREATE makes parents; existing names and INBOX say ALREADYEXISTS', async () => {
    const c = await srv.login();
    await c.ok('CREATE cr/sub/leaf');
    expect(names(await c.list('', 'cr*'))).toEqual(expect.arrayContaining(['cr', 'cr/sub', 'cr/sub/leaf']));
    await c.no('CREATE cr/sub/leaf', 'ALREADYEXISTS');
    await c.no('CREATE INBOX', 'ALREADYEXISTS');
    await c.no('CREATE inbox', 'ALREADYEXISTS');
    await c.ok('CREATE "cr2/"'); // trailing separator: the name without it
    expect(names(await c.list('', 'cr2*'))).toEqual(['cr2']);
  });

  test('DELETE: missing is NONEXISTENT, INBOX refused, a deleted name can be created again', async () => {
    const c = await srv.login();
    await c.ok('CREATE del1');
    await c.ok('DELETE del1');
    expect(await c.list('', 'del1')).toEqual([]);
    await c.no('DELETE del1', 'NONEXISTENT');
    expect((await c.command('DELETE INBOX')).status).toBe('NO');
    await c.ok('CREATE del1');
    await c.ok('CREATE del2/child');
    const r = await c.command('DELETE del2'); // RFC 9051 §6.3.5: allowed (becomes \Noselect) or NO
    expect(['OK', 'NO']).toContain(r.status);
    expect(names(await c.list('', 'del2/*'))).toEqual(['del2/child']);
  });

  test('RENAME moves children; target exists is ALREADYEXISTS; source missing is NONEXISTENT', async () => {
    const c = await srv.login();
    await c.ok('CREATE rn/a/b');
    await c.ok('RENAME rn rn-new');
    expect(names(await c.list('', 'rn*')).sort()).toEqual(['rn-new', 'rn-new/a', 'rn-new/a/b']);
    await c.ok('CREATE rn-other');
    await c.no('RENAME rn-new rn-other', 'ALREADYEXISTS');
    await c.no('RENAME rn-gone rn-x', 'NONEXISTENT');
  });

  test('IMAP4rev2: RENAME answers LIST with OLDNAME', async () => {
    const c = await srv.login(undefined, undefined, { enable: ['IMAP4rev2'] });
    await c.ok('CREATE old-name');
    const r = await c.ok('RENAME old-name new-name');
    const l = pick(r, 'LIST').find((x) => x.name === 'new-name');
    expect(l).toBeDefined();
    expect(l!.ext.OLDNAME).toEqual(['old-name']);
  });

  test('RENAME INBOX moves its messages to the new mailbox and leaves INBOX empty', async () => {
    const c = await srv.login(RENAMER.address, RENAMER.password);
    await c.append('INBOX', message('one'));
    await c.append('INBOX', message('two'));
    await c.ok('RENAME INBOX "Old Inbox"');
    expect(await c.status('Old Inbox', ['MESSAGES'])).toEqual({ MESSAGES: 2 });
    expect(await c.status('INBOX', ['MESSAGES'])).toEqual({ MESSAGES: 0 });
    expect(names(await c.list('', 'INBOX'))).toEqual(['INBOX']);
  });
});

describe('LIST, LSUB, SUBSCRIBE', () => {
  test('a new account has INBOX, Drafts, Sent, Archive, Junk, Trash with special-use attributes', async () => {
    const c = await srv.login(FRESH.address, FRESH.password);
    const all = await c.list('', '*');
    expect(names(all).sort()).toEqual(['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
    const attr = (n: string) => all.find((l) => l.name === n)!.attrs;
    expect(attr('Drafts')).toContain('\\Drafts');
    expect(attr('Sent')).toContain('\\Sent');
    expect(attr('Archive')).toContain('\\Archive');
    expect(attr('Junk')).toContain('\\Junk');
    expect(attr('Trash')).toContain('\\Trash');
    expect(all.every((l) => l.delimiter === '/')).toBe(true);
    const special = pick(await c.ok('LIST (SPECIAL-USE) "" "*"'), 'LIST');
    expect(names(special).sort()).toEqual(['Archive', 'Drafts', 'Junk', 'Sent', 'Trash']);
    const ret = pick(await c.ok('LIST "" "*" RETURN (SPECIAL-USE)'), 'LIST');
    expect(ret.find((l) => l.name === 'Junk')?.attrs).toContain('\\Junk');
  });

  test('the empty pattern returns the delimiter; % stops at the delimiter; several patterns', async () => {
    const c = await srv.login();
    const root = await c.list('', '');
    expect(root).toHaveLength(1);
    expect(root[0].delimiter).toBe('/');
    expect(root[0].name).toBe('');
    expect(root[0].attrs).toContain('\\Noselect');
    await c.ok('CREATE pct/one/two');
    expect(names(await c.list('', 'pct/%'))).toEqual(['pct/one']);
    expect(names(await c.list('pct/', '%'))).toEqual(['pct/one']);
    const multi = pick(await c.ok('LIST "" ("INBOX" "pct")'), 'LIST');
    expect(names(multi).sort()).toEqual(['INBOX', 'pct']);
    await c.ok('LIST (REMOTE) "" "INBOX"');
  });

  test('RETURN (CHILDREN), (SUBSCRIBED), (STATUS ...) and selection SUBSCRIBED / RECURSIVEMATCH', async () => {
    const c = await srv.login();
    await c.ok('CREATE lx/kid');
    await c.ok('SUBSCRIBE lx/kid');
    const ch = pick(await c.ok('LIST "" "lx*" RETURN (CHILDREN)'), 'LIST');
    expect(ch.find((l) => l.name === 'lx')?.attrs).toContain('\\HasChildren');
    expect(ch.find((l) => l.name === 'lx/kid')?.attrs).toContain('\\HasNoChildren');
    const sub = pick(await c.ok('LIST "" "lx*" RETURN (SUBSCRIBED)'), 'LIST');
    expect(sub.find((l) => l.name === 'lx/kid')?.attrs).toContain('\\Subscribed');
    expect(sub.find((l) => l.name === 'lx')?.attrs).not.toContain('\\Subscribed');
    const sel = pick(await c.ok('LIST (SUBSCRIBED) "" "lx*"'), 'LIST');
    expect(names(sel)).toEqual(['lx/kid']);
    const rec = pick(await c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "lx"'), 'LIST');
    expect(rec).toHaveLength(1);
    expect(rec[0].name).toBe('lx');
    expect(rec[0].ext.CHILDINFO).toEqual(['SUBSCRIBED']);
    await c.append('lx/kid', message('counted'));
    const st = await c.ok('LIST "" "lx/kid" RETURN (STATUS (MESSAGES UIDNEXT))');
    expect(pick(st, 'STATUS')).toEqual([expect.objectContaining({ mailbox: 'lx/kid', items: expect.objectContaining({ MESSAGES: 1, UIDNEXT: expect.any(Number) }) })]);
    await c.bad('LIST (RECURSIVEMATCH) "" "*"'); // RFC 5258: RECURSIVEMATCH alone is a syntax error
  });

  test('SUBSCRIBE/UNSUBSCRIBE and LSUB', async () => {
    const c = await srv.login();
    await c.ok('CREATE subme');
    await c.ok('SUBSCRIBE subme');
    expect(pick(await c.ok('LSUB "" "sub*"'), 'LSUB').map((l) => l.name)).toEqual(['subme']);
    await c.ok('UNSUBSCRIBE subme');
    expect(pick(await c.ok('LSUB "" "sub*"'), 'LSUB')).toEqual([]);
  });
});

describe('STATUS and APPEND', () => {
  test('STATUS returns every item asked for; missing mailbox is NONEXISTENT', async () => {
    const c = await srv.login();
    await c.ok('CREATE st');
    const msgs = [message('seen'), message('deleted'), message('plain')];
    await c.append('st', msgs[0], { flags: ['\\Seen'] });
    await c.append('st', msgs[1], { flags: ['\\Deleted'] });
    await c.append('st', msgs[2]);
    const sizes = msgs.reduce((n, m) => n + Buffer.byteLength(m), 0);
    const s = await c.status('st', ['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'DELETED', 'SIZE', 'RECENT']);
    expect(s.MESSAGES).toBe(3);
    expect(s.UNSEEN).toBe(2);
    expect(s.DELETED).toBe(1);
    expect(s.UIDNEXT).toBe(4);
    expect(s.UIDVALIDITY).toBeGreaterThan(0);
    expect(s.SIZE).toBe(sizes);
    expect(s.RECENT).toBeGreaterThanOrEqual(0);
    await c.no('STATUS nothere (MESSAGES)', 'NONEXISTENT');
  });

  test('APPEND with flags and date answers APPENDUID matching SELECT; UIDs increase', async () => {
    const c = await srv.login();
    await c.ok('CREATE ap');
    const before = await c.status('ap', ['UIDNEXT', 'UIDVALIDITY']);
    const a = await c.append('ap', message('dated'), { flags: ['\\Flagged', '$Forwarded'], date: '14-Jul-2021 10:11:12 +0200' });
    expect(a.status).toBe('OK');
    expect(a.appendUid).toEqual({ uidValidity: before.UIDVALIDITY, uid: before.UIDNEXT });
    const b = await c.append('ap', message('plus'), { literalPlus: true });
    expect(b.appendUid?.uid).toBe(before.UIDNEXT + 1);
    const s = await c.select('ap');
    expect(s.exists).toBe(2);
    expect(s.uidNext).toBe(before.UIDNEXT + 2);
  });

  test('APPEND to a missing mailbox: NO [TRYCREATE] before the upload', async () => {
    const c = await srv.login();
    const r = await c.append('no-such-box', message('x'));
    expect(r.status).toBe('NO');
    expect(codeName(r.code)).toBe('TRYCREATE');
    expect(r.continued).toBe(0);
    await c.ok('NOOP');
  });

  test('APPEND with a bad date or bad flag list is BAD', async () => {
    const c = await srv.login();
    await c.bad(`APPEND INBOX "31-Foo-2020 10:00:00 +0000" {1+}\r\nx`);
    await c.ok('NOOP');
    await c.bad(`APPEND INBOX (\\Seen {1+}\r\nx`);
    await c.ok('NOOP');
  });

  test('APPEND of literal8 (~{n}) when BINARY is announced', async () => {
    const c = await srv.login();
    if (!(await c.capabilities()).includes('BINARY')) {
      console.log('skipping literal8 APPEND: server does not announce BINARY');
      return;
    }
    const r = await c.append('INBOX', message('binary', 'caf\u00e9\r\n'), { binary: true });
    expect(r.status).toBe('OK');
  });
});

describe('two sessions', () => {
  test('an APPEND in one session is EXISTS in the other with its next command, and at once in IDLE', async () => {
    const a = await srv.login(WATCHED.address, WATCHED.password);
    const b = await srv.login(WATCHED.address, WATCHED.password);
    const s = await a.select('INBOX');
    const n = s.exists ?? 0;
    await b.append('INBOX', message('first'));
    const noop = await a.ok('NOOP');
    expect(pick(noop, 'EXISTS').map((e) => e.num)).toEqual([n + 1]);

    const idle = await a.idle();
    await b.append('INBOX', message('second'));
    const ex = await idle.waitFor((u) => u.type === 'EXISTS', 3000);
    expect(ex).toMatchObject({ type: 'EXISTS', num: n + 2 });
    expect((await idle.done()).status).toBe('OK');
    await a.ok('NOOP');
  });

  test('EXPUNGE: the expunging session and an IDLE watcher get EXPUNGE; CLOSE expunges silently; UNSELECT does not', async () => {
    const a = await srv.login(OTHER.address, OTHER.password);
    const w = await srv.login(OTHER.address, OTHER.password);
    await a.ok('CREATE exp');
    await a.append('exp', message('keep'));
    await a.append('exp', message('gone'), { flags: ['\\Deleted'] });
    await a.append('exp', message('keep2'));
    await a.select('exp');
    await w.select('exp');
    const idle = await w.idle();
    const r = await a.ok('EXPUNGE');
    expect(pick(r, 'EXPUNGE').map((e) => e.num)).toEqual([2]);
    expect(await idle.waitFor((u) => u.type === 'EXPUNGE', 3000)).toMatchObject({ num: 2 });
    await idle.done();

    await a.append('exp', message('gone2'), { flags: ['\\Deleted'] });
    await a.ok('UNSELECT');
    expect(await a.status('exp', ['MESSAGES'])).toEqual({ MESSAGES: 3 });
    await a.ok('EXAMINE exp');
    const cl = await a.ok('CLOSE'); // read-only: CLOSE does not expunge
    expect(pick(cl, 'EXPUNGE')).toEqual([]);
    expect(await a.status('exp', ['MESSAGES'])).toEqual({ MESSAGES: 3 });
    await a.ok('SELECT exp');
    const cl2 = await a.ok('CLOSE');
    expect(pick(cl2, 'EXPUNGE')).toEqual([]);
    expect(await a.status('exp', ['MESSAGES', 'DELETED'])).toEqual({ MESSAGES: 2, DELETED: 0 });
    await a.bad('EXPUNGE'); // back in the authenticated state
  });

  test('a mailbox created in one session is listed in the other', async () => {
    const a = await srv.login(OTHER.address, OTHER.password);
    const b = await srv.login(OTHER.address, OTHER.password);
    await a.ok('CREATE shared-view');
    expect(names(await b.list('', 'shared-view'))).toEqual(['shared-view']);
  });
});

describe('mailbox names', () => {
  test('rev1 sees modified UTF-7; UTF8=ACCEPT sees UTF-8; both name the same mailbox', async () => {
    const r1 = await srv.login();
    const u8 = await srv.login(undefined, undefined, { enable: ['UTF8=ACCEPT'] });
    const wire = utf7Encode('Entwürfe-ü');
    await r1.ok(`CREATE "${wire}"`);
    expect(names(await r1.list('', 'Entw*'))).toEqual([wire]);
    expect(names(await u8.list('', 'Entw*'))).toEqual(['Entwürfe-ü']);
    await u8.ok('CREATE "日本語/子"');
    expect(names(await r1.list('', utf7Encode('日本語') + '/*'))).toEqual([utf7Encode('日本語/子')]);
    const rev2 = await srv.login(undefined, undefined, { enable: ['IMAP4rev2'] });
    expect(names(await rev2.list('', '日本語*')).sort()).toEqual(['日本語', '日本語/子']);
  });

  test('malformed modified UTF-7 from a rev1 client is BAD', async () => {
    const c = await srv.login();
    for (const bad of ['&Jjo!', '&AGE-', '&U,BTF2XlZyyiZ', '&ZeVnLIqe', '&2D3eAA-x&2D0-']) {
      await c.bad(`CREATE "${bad}"`);
      await c.ok('NOOP');
    }
    await c.ok('CREATE "amp&-sand"');
    expect(names(await c.list('', 'amp*'))).toEqual(['amp&-sand']);
  });

  test('* and % are allowed in names; # only after the first character', async () => {
    const c = await srv.login();
    await c.ok('CREATE "star*name"');
    await c.ok('CREATE "pct%name"');
    await c.ok('CREATE "mid#hash"');
    const all = names(await c.list('', '*'));
    expect(all).toEqual(expect.arrayContaining(['star*name', 'pct%name', 'mid#hash']));
    const r = await c.command('CREATE "#news"');
    expect(['NO', 'BAD']).toContain(r.status);
    await c.ok('NOOP');
  });
});

describe('a listener that may not log in without TLS', () => {
  let strict: TestServer;
  beforeAll(async () => {
    strict = await startServer({ config: { auth: { plaintext_without_tls: 'never' } } });
  });
  afterAll(async () => {
    await strict?.stop();
  });
  afterEach(() => strict?.assertHealthy());

  test('plain: LOGINDISABLED, LOGIN/PLAIN answer PRIVACYREQUIRED; after STARTTLS login works', async () => {
    const c = await strict.connect();
    const caps = await c.capabilities();
    expect(caps).toContain('LOGINDISABLED');
    expect(caps).toContain('STARTTLS');
    await c.no(`LOGIN "${strict.user.address}" "${strict.user.password}"`, 'PRIVACYREQUIRED');
    await c.no(`AUTHENTICATE PLAIN ${plainB64(strict.user.address, strict.user.password)}`, 'PRIVACYREQUIRED');
    const r = await c.startTLS();
    expect(r.status).toBe('OK');
    const after = await c.capabilities();
    expect(after).not.toContain('LOGINDISABLED');
    await c.login(strict.user.address, strict.user.password);
    const t = await strict.connect({ transport: 'implicit', login: true });
    await t.ok('NOOP');
  });
});

describe('a STARTTLS listener without a certificate', () => {
  let nocert: TestServer;
  beforeAll(async () => {
    nocert = await startServer({ tls: false, config: { listeners: [{ name: 'imap', address: '127.0.0.1', port: 0, tls: 'starttls' }] } });
  });
  afterAll(async () => {
    await nocert?.stop();
  });
  afterEach(() => nocert?.assertHealthy());

  test('does not announce STARTTLS and answers it NO, connection lives', async () => {
    const c = await nocert.connect();
    expect(await c.capabilities()).not.toContain('STARTTLS');
    await c.no('STARTTLS');
    await c.ok('NOOP');
    await c.login(nocert.user.address, nocert.user.password);
  });
});
