// The parent side of the load generator: bench worker processes (`bun bench/worker.ts`),
// each given one job as a JSON line on stdin, answering with JSON lines on stdout.
//
// Protocol (one JSON object per line):
//   parent -> worker: the job (first line), then control messages: {type:"go",until?},
//                     {type:"arm",round,exists}, {type:"stop"}
//   worker -> parent: {type:"ready",cpu}, {type:"round",...}, {type:"result",cpu,...},
//                     {type:"error",message}
// `cpu` is the worker's own CPU seconds so far (process.cpuUsage), so the generator's CPU
// over a measured phase is result.cpu - ready.cpu.
//
// Invariants:
// - Every wait has a deadline; a worker that dies or reports an error fails the wait with
//   its stderr tail. kill() ends a worker by its pid; an `exit` hook kills leftovers.

import { join } from 'node:path';
import type { Subprocess } from 'bun';
import { lines } from './lines.ts';

const WORKER = join(import.meta.dir, '..', 'worker.ts');

export type Msg = { type: string; cpu?: number; [k: string]: unknown };

const live = new Set<Subprocess>();
process.on('exit', () => {
  for (const p of live) try { p.kill(9); } catch { /* gone */ }
});

export class Worker {
  private readonly queue: Msg[] = [];
  private waiters: Array<() => void> = [];
  private stderrTail: string[] = [];
  private exitCode: number | null = null;
  readonly exited: Promise<number>;

  private constructor(private readonly proc: Subprocess<'pipe', 'pipe', 'pipe'>, readonly name: string) {
    live.add(proc);
    this.exited = proc.exited.then((c) => { this.exitCode = c; live.delete(proc); this.wake(); return c; });
    void this.readStdout();
    void this.readStderr();
  }

  static spawn(job: Record<string, unknown>, name = String(job.kind)): Worker {
    const proc = Bun.spawn([process.execPath, WORKER], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', env: { ...process.env, POSTERN_TRACE: '' } });
    const w = new Worker(proc, name);
    w.send(job);
    return w;
  }

  get pid(): number {
    return this.proc.pid;
  }

  send(msg: Record<string, unknown>): void {
    if (this.exitCode !== null) return;
    try {
      this.proc.stdin.write(JSON.stringify(msg) + '\n');
      this.proc.stdin.flush();
    } catch {
      // exited meanwhile: the next wait reports it
    }
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  private async readStdout(): Promise<void> {
    for await (const raw of lines(this.proc.stdout)) {
      const line = raw.trim();
      if (!line) continue;
      try {
        this.queue.push(JSON.parse(line) as Msg);
      } catch {
        this.stderrTail.push(`(stdout) ${line}`);
      }
      this.wake();
    }
  }

  private async readStderr(): Promise<void> {
    for await (const line of lines(this.proc.stderr)) {
      if (process.env.BENCH_VERBOSE) process.stderr.write(`[${this.name} ${this.pid}] ${line}\n`);
      this.stderrTail.push(line);
      if (this.stderrTail.length > 40) this.stderrTail.shift();
    }
  }

  /** The next message of this type (others before it are dropped, errors throw). */
  next(type: string, timeoutMs: number): Promise<Msg> {
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => { cleanup(); reject(new Error(`worker ${this.name} (${this.pid}): no "${type}" within ${timeoutMs} ms\n${this.stderrTail.join('\n')}`)); }, timeoutMs);
      let done = false;
      const cleanup = () => { done = true; clearTimeout(timer); };
      const check = () => {
        if (done) return;
        while (this.queue.length) {
          const m = this.queue.shift()!;
          if (m.type === 'error') { cleanup(); reject(new Error(`worker ${this.name} (${this.pid}): ${String(m.message)}\n${this.stderrTail.join('\n')}`)); return; }
          if (m.type === type) { cleanup(); resolve(m); return; }
        }
        if (this.exitCode !== null) { cleanup(); reject(new Error(`worker ${this.name} (${this.pid}) exited with ${this.exitCode} before "${type}"\n${this.stderrTail.join('\n')}`)); return; }
        this.waiters.push(check);
      };
      check();
    });
  }

  kill(): void {
    try { this.proc.kill(9); } catch { /* gone */ }
  }
}

/** Spawn the workers, wait until all are ready; kill all if one fails. */
export async function startWorkers(jobs: Array<Record<string, unknown>>, readyTimeoutMs: number): Promise<{ workers: Worker[]; readyCpu: number[]; readyMsgs: Msg[] }> {
  const workers = jobs.map((j) => Worker.spawn(j));
  try {
    const ready = await Promise.all(workers.map((w) => w.next('ready', readyTimeoutMs)));
    return { workers, readyCpu: ready.map((m) => Number(m.cpu ?? 0)), readyMsgs: ready };
  } catch (e) {
    for (const w of workers) w.kill();
    throw e;
  }
}

/** Wait for every worker's result; CPU each spent since `readyCpu`. */
export async function results(workers: Worker[], readyCpu: number[], timeoutMs: number): Promise<{ msgs: Msg[]; cpu: number }> {
  try {
    const msgs = await Promise.all(workers.map((w) => w.next('result', timeoutMs)));
    let cpu = 0;
    msgs.forEach((m, i) => { cpu += Number(m.cpu ?? 0) - readyCpu[i]; });
    await Promise.all(workers.map((w) => Promise.race([w.exited, Bun.sleep(5000)])));
    return { msgs, cpu };
  } finally {
    for (const w of workers) w.kill();
  }
}
