// What the worker jobs share: connecting and logging in with our client, building
// APPEND commands, and measuring responses.

import { ImapClient, imapDateTime, quote } from '../../src/imap/client.ts';

export interface UserCred { user: string; password: string }

/** Generous: a loaded server may take long to answer, and a bench must not flake on it. */
export const TIMEOUT_MS = 300_000;

export async function connectLogin(port: number, u: UserCred, opts: { name?: string; timeoutMs?: number } = {}): Promise<ImapClient> {
  const c = await ImapClient.connect({ port, name: opts.name ?? u.user, timeoutMs: opts.timeoutMs ?? TIMEOUT_MS });
  try {
    await c.login(u.user, u.password);
  } catch (e) {
    c.close();
    throw e;
  }
  return c;
}

const enc = new TextEncoder();

/**
 * The text of an APPEND after the tag, with the messages as LITERAL+ literals, as one
 * buffer (several messages: MULTIAPPEND). Sent with `command([bytes])` it is one write,
 * so pipelined commands never interleave. A synchronizing literal must wait for `+`:
 * use `client.append` for that.
 */
export function appendCommand(mailbox: string, msgs: Array<{ bytes: Uint8Array; flags?: string[]; date?: number }>): Uint8Array {
  const parts: Uint8Array[] = [enc.encode(`APPEND ${quote(mailbox)}`)];
  for (const m of msgs) {
    let head = ' ';
    if (m.flags?.length) head += `(${m.flags.join(' ')}) `;
    if (m.date !== undefined) head += `${quote(imapDateTime(new Date(m.date)))} `;
    head += `{${m.bytes.length}+}\r\n`;
    parts.push(enc.encode(head), m.bytes);
  }
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] : String(e);
}

/** Open `count` connections, `concurrency` at a time. Failures are counted, the first
 * one's message kept; `seconds` is how long it all took. */
export async function openMany<T>(count: number, concurrency: number, open: (i: number) => Promise<T>): Promise<{ opened: T[]; failures: number; firstError: string | null; seconds: number }> {
  const t0 = performance.now();
  const opened: T[] = [];
  let next = 0;
  let failures = 0;
  let firstError: string | null = null;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      try {
        opened.push(await open(i));
      } catch (e) {
        failures++;
        firstError ??= errorText(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return { opened, failures, firstError, seconds: (performance.now() - t0) / 1000 };
}
