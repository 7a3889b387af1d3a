// Worker job "append": each connection (one account each) APPENDs fixed-size messages
// to INBOX, one at a time with LITERAL+, from "go" until the deadline.
// Job "fill": one connection APPENDs corpus messages [from, to) with their flags and
// dates, pipelined (a window of commands in flight), LITERAL+.

import { fixedSizeMessage, type CorpusIndex, readMessages } from '../lib/corpus.ts';
import { wallMs } from '../lib/stats.ts';
import type { WorkerIO } from '../lib/workerio.ts';
import { appendCommand, connectLogin, errorText, type UserCred } from './common.ts';
import { readFileSync } from 'node:fs';

export interface AppendJob { kind: 'append'; port: number; users: UserCred[]; size: number; seed: number }

export async function appendJob(job: AppendJob, io: WorkerIO): Promise<Record<string, unknown>> {
  const clients = await Promise.all(job.users.map((u) => connectLogin(job.port, u)));
  // A pool of distinct messages, built before the clock starts.
  const pool = Array.from({ length: 32 }, (_, i) => appendCommand('INBOX', [{ bytes: fixedSizeMessage(job.seed + i, job.size) }]));
  io.ready();
  const go = await io.next('go');
  const until = Number(go.until);
  const latencies: number[] = [];
  let count = 0, bytes = 0, errors = 0;
  let firstError: string | null = null;
  await Promise.all(clients.map(async (c, ci) => {
    let k = ci;
    while (wallMs() < until) {
      const cmd = pool[k++ % pool.length];
      const t0 = wallMs();
      try {
        const r = await c.command([cmd]);
        const t1 = wallMs();
        if (r.status !== 'OK') throw new Error(`${r.status} ${r.code ?? ''} ${r.text}`);
        latencies.push(t1 - t0);
        count++;
        bytes += job.size;
      } catch (e) {
        errors++;
        firstError ??= errorText(e);
        if (c.closed) break;
      }
    }
  }));
  const end = wallMs();
  for (const c of clients) c.close();
  return { count, bytes, latencies, errors, firstError, end };
}

export interface FillJob {
  kind: 'fill'; port: number; user: UserCred; datPath: string; indexPath: string;
  from: number; to: number;
  /** Commands in flight. */
  window: number;
  /** Messages per APPEND command (MULTIAPPEND when > 1). */
  batch: number;
  mailbox?: string;
}

export async function fillJob(job: FillJob, io: WorkerIO): Promise<Record<string, unknown>> {
  const index = JSON.parse(readFileSync(job.indexPath, 'utf8')) as CorpusIndex;
  const c = await connectLogin(job.port, job.user);
  io.ready();
  const t0 = wallMs();
  const mailbox = job.mailbox ?? 'INBOX';
  const inflight = new Set<Promise<unknown>>();
  let errors = 0;
  let firstError: string | null = null;
  const READ = 1000;
  for (let b = job.from; b < job.to; b += READ) {
    const end = Math.min(job.to, b + READ);
    const msgs = readMessages({ index, datPath: job.datPath }, b, end);
    for (let i = 0; i < msgs.length; i += job.batch) {
      const group = msgs.slice(i, i + job.batch).map((bytes, k) => ({ bytes, flags: index.flags[b + i + k], date: index.dates[b + i + k] }));
      const p: Promise<unknown> = c.command([appendCommand(mailbox, group)]).then((r) => {
        if (r.status !== 'OK') { errors++; firstError ??= `${r.status} ${r.code ?? ''} ${r.text}`; }
      }, (e) => { errors++; firstError ??= errorText(e); }).finally(() => inflight.delete(p));
      inflight.add(p);
      while (inflight.size >= job.window) await Promise.race(inflight);
    }
  }
  await Promise.all(inflight);
  const seconds = (wallMs() - t0) / 1000;
  await c.logout().catch(() => c.close());
  if (errors) throw new Error(`fill: ${errors} APPEND commands failed, first: ${firstError}`);
  return { count: job.to - job.from, seconds };
}
