// A bench worker process: `bun bench/worker.ts`, its job as the first JSON line on stdin,
// control messages after it, results as JSON lines on stdout (bench/lib/pool.ts has the
// protocol). One job per process, so the load generator uses every core and its CPU is
// measured apart from the bench's own.

import { appendJob, fillJob } from './jobs/append.ts';
import { zidleJob } from './jobs/compress.ts';
import { idleJob } from './jobs/idle.ts';
import { literalsJob, probeJob } from './jobs/literals.ts';
import { loginJob } from './jobs/login.ts';
import { mixedJob } from './jobs/mixed.ts';
import { opsJob } from './jobs/ops.ts';
import { WorkerIO } from './lib/workerio.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const JOBS: Record<string, (job: any, io: WorkerIO) => Promise<Record<string, unknown>>> = {
  append: appendJob,
  fill: fillJob,
  ops: opsJob,
  mixed: mixedJob,
  idle: idleJob,
  literals: literalsJob,
  probe: probeJob,
  login: loginJob,
  zidle: zidleJob,
};

const io = new WorkerIO();
try {
  const job = await io.job;
  const run = JOBS[String(job.kind)];
  if (!run) throw new Error(`unknown job kind ${String(job.kind)}`);
  const result = await run(job, io);
  io.send({ type: 'result', ...result });
  await io.exit(0);
} catch (e) {
  io.send({ type: 'error', message: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) });
  await io.exit(1);
}
