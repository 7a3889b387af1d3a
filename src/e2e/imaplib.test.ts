// End-to-end with Python's imaplib (it ships with python3): login over STARTTLS and implicit
// TLS, LIST/CREATE/RENAME/DELETE, APPEND then STATUS, and IDLE (sent raw: imaplib 3.11 has
// none) receiving the EXISTS of another connection's APPEND. The flows are in py/.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { missing, startServer, type TestServer } from './harness.ts';

const SCRIPT = join(import.meta.dir, 'py', 'imaplib_flows.py');
const noPython = missing('python3', 'python3 is not installed; the imaplib tests need it');

let srv: TestServer;
beforeAll(async () => {
  if (!noPython) srv = await startServer({});
});
afterEach(() => {
  srv?.assertHealthy();
});
afterAll(async () => {
  await srv?.stop();
});

interface ListEntry { attrs: string[]; name: string }

/** Run one flow of the script; its JSON result, or a failure with its output and the server log tail. */
async function runFlow<T>(flow: string): Promise<T> {
  const proc = Bun.spawn(['python3', SCRIPT, flow, '127.0.0.1', String(srv.port), String(srv.tlsPort), srv.user.address, srv.user.password], {
    stdout: 'pipe', stderr: 'pipe', stdin: 'ignore',
  });
  const timer = setTimeout(() => proc.kill(9), 30_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0) {
    throw new Error(`imaplib flow ${flow} failed (exit ${code}):\n${out}${err}\nserver log tail:\n${srv.logs().slice(-20).join('\n')}`);
  }
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

describe('imaplib', () => {
  test.skipIf(noPython)('logs in over STARTTLS', async () => {
    const r = await runFlow<{ caps_before: string[]; caps_after: string[]; state: string }>('login-starttls');
    expect(r.state).toBe('done');
    expect(r.caps_before).toContain('STARTTLS');
    expect(r.caps_after).not.toContain('STARTTLS');
    expect(r.caps_after).toContain('IMAP4REV1'); // imaplib upper-cases
  });

  test.skipIf(noPython)('logs in over implicit TLS', async () => {
    const r = await runFlow<{ caps: string[]; state: string }>('login-implicit');
    expect(r.state).toBe('done');
    expect(r.caps).not.toContain('STARTTLS');
  });

  test.skipIf(noPython)('LIST, CREATE, RENAME, DELETE', async () => {
    const r = await runFlow<{ initial: ListEntry[]; created: string[]; renamed: string[]; deleted: string[]; create_inbox: [string, string] }>('mailboxes');
    expect(r.initial.map((e) => e.name).sort()).toEqual(['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
    expect(r.initial.find((e) => e.name === 'Trash')?.attrs).toContain('\\Trash');
    expect(r.created).toEqual(['py', 'py/child']);
    expect(r.renamed).toEqual(['py-renamed', 'py-renamed/child']);
    expect(r.deleted).not.toContain('py-renamed/child');
    expect(r.create_inbox[0]).toBe('NO');
    expect(r.create_inbox[1]).toContain('[ALREADYEXISTS]');
  });

  test.skipIf(noPython)('APPEND then STATUS', async () => {
    const r = await runFlow<{ appended: string; status: string }>('append-status');
    expect(r.appended).toMatch(/^\[APPENDUID \d+ 1\]/);
    const items = Object.fromEntries([...r.status.matchAll(/(\w+) (\d+)/g)].map((m) => [m[1], Number(m[2])]));
    expect(items).toEqual({ MESSAGES: 2, UNSEEN: 1, UIDNEXT: 3 });
  });

  test.skipIf(noPython)('IDLE receives EXISTS from another connection\'s APPEND', async () => {
    const r = await runFlow<{ before: number; exists: number; done: string }>('idle');
    expect(r.exists).toBe(r.before + 1);
    expect(r.done).toMatch(/^\S+ OK/);
  });
});
