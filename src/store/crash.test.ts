// Durability: a process appending is killed with SIGKILL; every append it reported as
// done is there after reopening, with its flags and its file, and the database is sound.

import { expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Account } from './account.ts';
import { DB_FILE } from './files.ts';
import { SysFlag } from './types.ts';

const DEFAULTS = { drafts: 'Drafts', sent: 'Sent', archive: 'Archive', junk: 'Junk', trash: 'Trash' };

const CHILD = `
import { closeSync, writeFileSync, writeSync } from 'node:fs';
import { Account } from ${JSON.stringify(join(import.meta.dir, 'account.ts'))};
const a = Account.open(process.argv[2], { name: 'crash', defaultMailboxes: ${JSON.stringify(DEFAULTS)} });
const inbox = a.findMailbox('INBOX').id;
for (let i = 0; ; i++) {
  const body = 'Subject: ' + i + '\\r\\n\\r\\n' + 'x'.repeat((i * 37) % 5000);
  const { path: tmpPath, fd } = a.takeTmpFile();
  closeSync(fd);
  writeFileSync(tmpPath, body);
  const r = a.append(inbox, { tmpPath, size: Buffer.byteLength(body), flags: 4 | (i % 2), keywords: ['$k' + (i % 3)] });
  writeSync(1, r.uid + '\\n');
}
`;

test('appends reported done survive kill -9', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-crash-'));
  try {
    const script = join(dir, 'child.ts');
    writeFileSync(script, CHILD);
    const acct = join(dir, 'acct');
    const proc = Bun.spawn([process.execPath, script, acct], { stdout: 'pipe', stderr: 'inherit' });
    const reader = proc.stdout.getReader();
    const dec = new TextDecoder();
    let out = '';
    while (out.split('\n').length <= 20) {
      const { value, done } = await reader.read();
      if (done) break;
      out += dec.decode(value);
    }
    proc.kill(9);
    await proc.exited;
    expect(proc.signalCode).toBe('SIGKILL');
    const reported = out.split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
    expect(reported.length).toBeGreaterThanOrEqual(20);

    const a = Account.open(acct, { name: 'crash', defaultMailboxes: DEFAULTS });
    try {
      const inbox = a.findMailbox('INBOX')!.id;
      const stored = new Map(a.messages(inbox).map((m) => [m.uid, m]));
      for (const uid of reported) {
        const i = uid - 1;
        const m = stored.get(uid);
        expect(m).toBeDefined();
        expect(m!.flags).toBe(SysFlag.Flagged | (i % 2 ? SysFlag.Seen : 0));
        expect(m!.keywords).toEqual(['$k' + (i % 3)]);
      }
      // No row without its file, whatever the moment of the kill.
      for (const m of stored.values()) {
        const path = a.messagePath(inbox, m.uid);
        expect(existsSync(path)).toBe(true);
        expect(readFileSync(path, 'latin1').startsWith(`Subject: ${m.uid - 1}\r\n`)).toBe(true);
      }
      const [r] = a.recalculateCounts(inbox);
      expect(r.after).toEqual(r.before);
    } finally {
      a.close();
    }
    const db = new Database(join(acct, DB_FILE), { readonly: true });
    expect(db.query('PRAGMA integrity_check').values()).toEqual([['ok']]);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
