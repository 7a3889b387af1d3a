import { afterEach, beforeEach, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccountRegistry } from './registry.ts';
import { StoreError } from './types.ts';

const mailboxes = { drafts: 'Drafts', sent: 'Sent', archive: 'Archive', junk: 'Junk', trash: 'Trash' };
let dir: string;
let reg: AccountRegistry;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'postern-registry-'));
  reg = new AccountRegistry({ serverDb: { accountDir: (name) => join(dir, name) }, config: { mailboxes } });
});
afterEach(() => {
  reg.close();
  rmSync(dir, { recursive: true, force: true });
});

test('sessions of one account share one Account; the last release closes it', () => {
  const a1 = reg.acquire('mjl@example.org');
  const a2 = reg.acquire('mjl@example.org');
  const b = reg.acquire('other@example.org');
  expect(a2).toBe(a1);
  expect(b).not.toBe(a1);
  expect(reg.size).toBe(2);
  reg.release(a1);
  expect(a1.mailboxes().length).toBe(6);
  reg.release(a2);
  expect(reg.size).toBe(1);
  expect(() => a1.createMailbox('x')).toThrow(StoreError);
  expect(() => reg.release(a1)).toThrow();
  const again = reg.acquire('mjl@example.org');
  expect(again).not.toBe(a1);
  expect(again.findMailbox('Sent')).not.toBeNull();
});

test('close() closes every account', () => {
  const a = reg.acquire('mjl@example.org');
  reg.close();
  expect(reg.size).toBe(0);
  expect(() => a.subscribe('x')).toThrow(StoreError);
});

test('with lingerMs, an account stays open that long after its last release', async () => {
  const lingering = new AccountRegistry({ serverDb: { accountDir: (name) => join(dir, name) }, config: { mailboxes }, lingerMs: 150 });
  try {
    const a = lingering.acquire('mjl@example.org');
    lingering.release(a);
    expect(lingering.size).toBe(1);
    const again = lingering.acquire('mjl@example.org');
    expect(again).toBe(a);
    lingering.release(again);
    await Bun.sleep(300);
    expect(lingering.size).toBe(0);
    expect(() => a.createMailbox('x')).toThrow(StoreError);
  } finally {
    lingering.close();
  }
});

test('a lingering account removed from disk meanwhile is opened afresh, not served stale', () => {
  const lingering = new AccountRegistry({ serverDb: { accountDir: (name) => join(dir, name) }, config: { mailboxes }, lingerMs: 60_000 });
  try {
    const a = lingering.acquire('mjl@example.org');
    a.createMailbox('before');
    lingering.release(a);
    rmSync(join(dir, 'mjl@example.org'), { recursive: true, force: true });
    const b = lingering.acquire('mjl@example.org');
    expect(b).not.toBe(a);
    expect(b.findMailbox('before')).toBeNull();
    expect(b.findMailbox('Sent')).not.toBeNull();
    lingering.release(b);
  } finally {
    lingering.close();
  }
});
