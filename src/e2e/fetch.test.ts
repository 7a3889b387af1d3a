// End-to-end: FETCH against the committed fixtures. Each fixture's expected ENVELOPE,
// BODY, BODYSTRUCTURE, RFC822.SIZE and body sections are what Dovecot answers for the
// same bytes (fixtures/messages/*.expected.json), so postern must match them exactly.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pick, type Value } from '../imap/client.ts';
import { normalizeNewlines } from '../message/newlines.ts';
import { REPO, startServer, type TestServer } from './harness.ts';

const DIR = join(REPO, 'fixtures/messages');
const names = readdirSync(DIR).filter((f) => f.endsWith('.eml')).sort();

interface Expected {
  ENVELOPE: string;
  BODY: string;
  BODYSTRUCTURE: string;
  'RFC822.SIZE': number;
  sections: Record<string, string>;
  dovecotDiffers?: string;
}

let srv: TestServer;
const seqOf = new Map<string, number>();
beforeAll(async () => {
  srv = await startServer();
  const c = await srv.login();
  for (const name of names) {
    const data = normalizeNewlines(new Uint8Array(readFileSync(join(DIR, name))));
    await c.append('INBOX', data, { date: new Date('2024-05-01T10:00:00Z') });
    seqOf.set(name, seqOf.size + 1);
  }
  await c.logout();
});
afterAll(async () => {
  await srv?.stop();
});
afterEach(() => srv?.assertHealthy());

const latin1 = (v: Value | undefined): string | null =>
  v === undefined || v === null ? null : typeof v === 'string' ? v : v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : JSON.stringify(v);

describe('FETCH matches Dovecot on every fixture', () => {
  for (const name of names) {
    test(name, async () => {
      const exp = JSON.parse(readFileSync(join(DIR, name.replace(/\.eml$/, '.expected.json')), 'utf8')) as Expected;
      const c = await srv.login();
      await c.ok('EXAMINE INBOX');
      const seq = seqOf.get(name)!;
      for (const item of ['ENVELOPE', 'BODY', 'BODYSTRUCTURE', 'RFC822.SIZE'] as const) {
        const r = await c.ok(`FETCH ${seq} (${item})`);
        const f = pick(r, 'FETCH')[0];
        // Expected answers are binary strings (one char per byte); the client decodes as UTF-8.
        const want = Buffer.from(`* ${seq} FETCH (${item} ${exp[item]})`, 'latin1').toString('utf8');
        expect(f.raw, `${name} ${item}`).toBe(want);
      }
      for (const [section, want] of Object.entries(exp.sections)) {
        const r = await c.ok(`FETCH ${seq} (BODY.PEEK[${section}])`);
        const f = pick(r, 'FETCH')[0];
        expect(latin1(f.items[1]), `${name} BODY[${section}]`).toBe(want);
      }
      await c.logout();
    });
  }
});

describe('FETCH behaviour', () => {
  test('BODY[] without PEEK sets \\Seen and reports FLAGS; PEEK does not; EXAMINE never does', async () => {
    const c = await srv.login();
    await c.ok('SELECT INBOX');
    const peek = await c.ok('FETCH 1 (BODY.PEEK[HEADER])');
    expect(pick(peek, 'FETCH')[0].attrs.FLAGS).toBeUndefined();
    const r = await c.ok('FETCH 1 (BODY[TEXT])');
    const f = pick(r, 'FETCH')[0];
    expect(f.attrs.FLAGS).toEqual(['\\Seen']);
    const again = await c.ok('FETCH 1 (BODY[TEXT])');
    expect(pick(again, 'FETCH')[0].attrs.FLAGS).toBeUndefined();
    await c.ok('EXAMINE INBOX');
    const ro = await c.ok('FETCH 2 (BODY[TEXT] FLAGS)');
    expect(pick(ro, 'FETCH')[0].attrs.FLAGS).toEqual([]);
    await c.logout();
  });

  test('UID FETCH always includes UID; partial fetch; INTERNALDATE as appended', async () => {
    const c = await srv.login();
    await c.ok('EXAMINE INBOX');
    const r = await c.ok('UID FETCH 1:2 (INTERNALDATE BODY.PEEK[]<0.10>)');
    const fs = pick(r, 'FETCH');
    expect(fs.length).toBe(2);
    expect(fs[0].attrs.UID).toBe('1');
    expect(fs[0].attrs.INTERNALDATE).toBe('01-May-2024 10:00:00 +0000');
    expect(fs[0].raw).toContain('BODY[]<0> {10}');
    await c.logout();
  });

  test('sequence numbers past the end are BAD; UIDs past the end match nothing', async () => {
    const c = await srv.login();
    await c.ok('EXAMINE INBOX');
    await c.bad(`FETCH ${names.length + 1} FLAGS`);
    const r = await c.ok('UID FETCH 99999:* FLAGS');
    // `*` is the highest UID, so 99999:* includes the last message (RFC 9051 §6.4.8).
    expect(pick(r, 'FETCH').length).toBe(1);
    await c.ok('NOOP');
    await c.logout();
  });

  test('BINARY decodes base64 and quoted-printable; BINARY.SIZE agrees', async () => {
    const c = await srv.login();
    await c.ok('EXAMINE INBOX');
    const seq = seqOf.get('02-alternative.eml')!;
    const r = await c.ok(`FETCH ${seq} (BINARY.PEEK[1] BINARY.SIZE[1])`);
    const f = pick(r, 'FETCH')[0];
    const body = latin1(f.items[f.items.indexOf('BINARY[1]') + 1]);
    expect(body).toContain('three things we like');
    expect(body).not.toContain('=E2');
    expect(Number(f.attrs['BINARY.SIZE[1]'])).toBe(Buffer.from(body!, 'latin1').length);
    await c.logout();
  });
});

describe('large messages', () => {
  test('a 3 MB message streams back byte for byte; BINARY returns the attachment decoded', async () => {
    const c = await srv.login();
    await c.ok('CREATE big');
    const blob = new Uint8Array(2 * 1024 * 1024);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 7919) & 0xff;
    const b64 = Buffer.from(blob).toString('base64').replace(/.{76}/g, '$&\r\n');
    const msg =
      'From: big@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n' +
      '--zz\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n' +
      `--zz\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--zz--\r\n`;
    const bytes = new TextEncoder().encode(msg);
    await c.append('big', bytes);
    await c.ok('EXAMINE big');
    const r = await c.ok('FETCH 1 (RFC822.SIZE BODY.PEEK[])');
    const f = pick(r, 'FETCH')[0];
    expect(Number(f.attrs['RFC822.SIZE'])).toBe(bytes.length);
    const body = f.items[f.items.indexOf('BODY[]') + 1] as Uint8Array;
    expect(body.length).toBe(bytes.length);
    expect(Buffer.compare(Buffer.from(body), Buffer.from(bytes))).toBe(0);
    const bin = await c.ok('FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])');
    const g = pick(bin, 'FETCH')[0];
    expect(Number(g.attrs['BINARY.SIZE[2]'])).toBe(blob.length);
    const decoded = g.items[g.items.indexOf('BINARY[2]') + 1] as Uint8Array;
    expect(Buffer.compare(Buffer.from(decoded), Buffer.from(blob))).toBe(0);
    await c.logout();
  });
});
