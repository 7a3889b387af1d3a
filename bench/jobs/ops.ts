// Worker job "ops": one connection runs a list of commands one after another and times
// each (fetch and search scenarios). The login and the prelude are not timed; a SELECT
// is an op like any other when the list has one. Answers are framed, not parsed
// (bench/lib/rawclient.ts): the big ones would make the generator the bottleneck.

import type { WorkerIO } from '../lib/workerio.ts';
import { RawImap, type RawResult } from '../lib/rawclient.ts';
import type { UserCred } from './common.ts';

export interface Op { name: string; command: string }
export interface OpsJob {
  kind: 'ops'; port: number; user: UserCred; ops: Op[];
  /** Commands after login, before "ready" (not timed). */ prelude?: string[];
  /** COMPRESS DEFLATE right after login. */ compress?: boolean;
}

export interface OpResult {
  name: string;
  ms: number;
  status: string;
  text: string;
  /** FETCH responses, or SEARCH hits, or the ESEARCH COUNT. */
  count: number;
  /** Bytes of the answer: lines (as text, with CRLF) and literals. */
  bytes: number;
  /** Bytes of the answer on the wire (compressed with `compress`). */
  wire: number;
  /** Literal bytes in FETCH responses (message data). */
  literal: number;
  cpu: number;
}

/** What a result counts: FETCH responses, SEARCH hits, an ESEARCH COUNT/ALL, or EXISTS. */
export function resultCount(r: RawResult): number {
  let search = 0, sawSearch = false;
  for (const line of r.kept) {
    if (/^\* SEARCH\b/i.test(line)) { sawSearch = true; search += line.split(' ').slice(2).filter((x) => /^\d+$/.test(x)).length; continue; }
    if (/^\* ESEARCH\b/i.test(line)) {
      const m = /\bCOUNT (\d+)/i.exec(line);
      if (m) return Number(m[1]);
      const all = /\bALL (\S+)/i.exec(line);
      if (all) return all[1].split(',').reduce((n, part) => { const [a, b] = part.split(':').map(Number); return n + (b === undefined ? 1 : Math.abs(b - a) + 1); }, 0);
      return 0;
    }
    const e = /^\* (\d+) EXISTS/i.exec(line);
    if (e) return Number(e[1]);
  }
  return sawSearch ? search : r.fetches;
}

export async function opsJob(job: OpsJob, io: WorkerIO): Promise<Record<string, unknown>> {
  const c = await RawImap.open(job.port, job.user, { compress: job.compress, prelude: job.prelude });
  io.ready();
  await io.next('go');
  const out: OpResult[] = [];
  for (const op of job.ops) {
    const cpu0 = process.cpuUsage();
    const r = await c.command(op.command, { keep: /^\* (SEARCH|ESEARCH|\d+ EXISTS)\b/i });
    const cu = process.cpuUsage(cpu0);
    out.push({ name: op.name, ms: r.ms, status: r.status, text: r.text.slice(0, 200), count: resultCount(r), bytes: r.bytes, wire: r.wire, literal: r.literal, cpu: (cu.user + cu.system) / 1e6 });
  }
  await c.command('LOGOUT').catch(() => null);
  c.close();
  return { ops: out };
}
