// Worker job "zidle" (the compress scenario): `count` connections of one account, each
// logged in, COMPRESS DEFLATE on, then `prelude` (SELECT INBOX and a FETCH), then idle:
// no IDLE command, no traffic, because the server's memory per connection is the figure.
// Answers "ready" with how many made it, then holds them until {type:"stop"}.
//
// The connections are RawImap (bench/lib/rawclient.ts): framing only, so a worker holds
// hundreds of them cheaply.

import { RawImap } from '../lib/rawclient.ts';
import type { WorkerIO } from '../lib/workerio.ts';
import { openMany, type UserCred } from './common.ts';

export interface ZIdleJob { kind: 'zidle'; port: number; user: UserCred; count: number; concurrency: number; prelude: string[] }

export async function zidleJob(job: ZIdleJob, io: WorkerIO): Promise<Record<string, unknown>> {
  const { opened: conns, failures, firstError, seconds } = await openMany(job.count, job.concurrency, () => RawImap.open(job.port, job.user, { compress: true, prelude: job.prelude }));
  io.ready({ connected: conns.length, failures, firstError, setup_seconds: seconds });
  await io.next('stop');
  for (const c of conns) c.close();
  return { connected: conns.length };
}
