// Worker job "login": each of `clients` slots loops from "go" until the deadline: connect,
// read the greeting, authenticate (LOGIN, or AUTHENTICATE PLAIN with SASL-IR), LOGOUT,
// close. Reports the whole cycle's latency and the authentication command's alone.
// With `once`, each slot logs in exactly once (first logins after a server start).

import { ImapClient, quote } from '../../src/imap/client.ts';
import { wallMs } from '../lib/stats.ts';
import type { WorkerIO } from '../lib/workerio.ts';
import { errorText, TIMEOUT_MS, type UserCred } from './common.ts';

export interface LoginJob { kind: 'login'; port: number; users: UserCred[]; mech: 'login' | 'plain'; /** One login per user instead of looping until the deadline. */ once?: boolean }

export async function loginJob(job: LoginJob, io: WorkerIO): Promise<Record<string, unknown>> {
  io.ready();
  const go = await io.next('go');
  const until = Number(go.until);
  const cycle: number[] = [];
  const auth: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  await Promise.all(job.users.map(async (u) => {
    const cmd = job.mech === 'login'
      ? `LOGIN ${quote(u.user)} ${quote(u.password)}`
      : `AUTHENTICATE PLAIN ${Buffer.from(`\0${u.user}\0${u.password}`).toString('base64')}`;
    for (let k = 0; job.once ? k < 1 : wallMs() < until; k++) {
      const t0 = wallMs();
      let c: ImapClient | null = null;
      try {
        c = await ImapClient.connect({ port: job.port, timeoutMs: TIMEOUT_MS, name: u.user });
        const t1 = wallMs();
        const r = await c.command(cmd);
        const t2 = wallMs();
        if (r.status !== 'OK') throw new Error(`${r.status} ${r.code ?? ''} ${r.text}`);
        await c.logout();
        cycle.push(wallMs() - t0);
        auth.push(t2 - t1);
      } catch (e) {
        errors++;
        firstError ??= errorText(e);
        c?.close();
      }
    }
  }));
  return { cycle, auth, errors, firstError, end: wallMs() };
}
