// The worker side of bench/lib/pool.ts: read the job and control messages from stdin,
// write JSON lines to stdout.

import { lines } from './lines.ts';
import { selfCpu } from './proc.ts';

export type Control = { type: string; [k: string]: unknown };

export class WorkerIO {
  private readonly queue: Control[] = [];
  private waiters: Array<() => void> = [];
  private ended = false;
  private first: ((v: Control) => void) | null = null;
  readonly job: Promise<Control>;

  constructor() {
    this.job = new Promise((res) => { this.first = res; });
    void this.read();
  }

  private async read(): Promise<void> {
    for await (const raw of lines(Bun.stdin.stream())) {
      const line = raw.trim();
      if (!line) continue;
      const m = JSON.parse(line) as Control;
      if (this.first) { const f = this.first; this.first = null; f(m); } else this.queue.push(m);
      this.wake();
    }
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** The next control message (of this type, if given; others are dropped). Rejects at stdin EOF. */
  next(type?: string): Promise<Control> {
    return new Promise((resolve, reject) => {
      const check = () => {
        while (this.queue.length) {
          const m = this.queue.shift()!;
          if (!type || m.type === type) { resolve(m); return; }
        }
        if (this.ended) { reject(new Error('stdin closed')); return; }
        this.waiters.push(check);
      };
      check();
    });
  }

  /** A control message if one is queued, else null (never waits). */
  poll(): Control | null {
    return this.queue.shift() ?? null;
  }

  send(msg: Record<string, unknown>): void {
    const line = JSON.stringify({ ...msg, cpu: selfCpu() }) + '\n';
    this.written = this.written.then(() => Bun.write(Bun.stdout, line));
  }

  /** Messages are written in order; each write resolves once the pipe has taken it all. */
  private written: Promise<unknown> = Promise.resolve();

  /** Exit once stdout has taken everything sent: a pipe is written asynchronously, and
   * exiting at once cut long result lines (the login job's latencies) short. */
  async exit(code: number): Promise<never> {
    await this.written;
    process.exit(code);
  }

  ready(extra: Record<string, unknown> = {}): void {
    this.send({ type: 'ready', ...extra });
  }
}
