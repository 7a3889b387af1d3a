// Worker job "idle": `count` connections from the given 127.0.0.x source addresses, each
// logged in, INBOX selected, in IDLE. Then rounds: on {type:"arm",round,exists} every
// connection waits for `* <n> EXISTS` with n >= exists and records when it arrived; once
// all have, the worker answers {type:"round",round,times,missing} (times on the shared
// wall clock, bench/lib/stats.ts). {type:"collect",round} makes it answer with what it has.
// {type:"stop"} closes everything and ends the job.
//
// The connections use a small line-level IMAP driver over node:net, not src/imap/client.ts:
// our client cannot bind a source address (Bun.connect accepts an undocumented
// `localAddress` in 1.4.4; node:net documents it), and 10,000 full clients would make the
// generator the heavy side. It speaks exactly LOGIN, SELECT and IDLE.

import net from 'node:net';
import { wallMs } from '../lib/stats.ts';
import type { WorkerIO } from '../lib/workerio.ts';
import { quote } from '../../src/imap/client.ts';
import { openMany } from './common.ts';

export interface IdleJob {
  kind: 'idle'; port: number; user: { user: string; password: string };
  count: number; localAddresses: string[]; concurrency: number; timeoutMs: number;
}

class Idler {
  sock!: net.Socket;
  private buf = '';
  exists = 0;
  want = Infinity;
  seenAt = 0;
  closed = false;
  onSeen: (() => void) | null = null;

  /** Connect, LOGIN, SELECT INBOX, IDLE; resolves at the `+`. */
  open(port: number, localAddress: string, user: string, password: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let step = 0; // 0 greeting, 1 login, 2 select, 3 idle, 4 idling
      const timer = setTimeout(() => { fail(new Error(`timeout in step ${step}`)); }, timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        this.sock?.destroy();
        reject(e);
      };
      this.sock = net.connect({ host: '127.0.0.1', port, localAddress });
      this.sock.setNoDelay(true);
      this.sock.setEncoding('latin1');
      this.sock.on('error', (e) => { this.closed = true; if (step < 4) fail(e); });
      this.sock.on('close', () => { this.closed = true; if (step < 4) fail(new Error(`closed in step ${step}`)); });
      this.sock.on('data', (d: string) => {
        this.buf += d;
        let i: number;
        while ((i = this.buf.indexOf('\n')) >= 0) {
          const line = this.buf.slice(0, i).replace(/\r$/, '');
          this.buf = this.buf.slice(i + 1);
          const m = /^\* (\d+) EXISTS/.exec(line);
          if (m) {
            this.exists = Number(m[1]);
            if (step === 4 && this.exists >= this.want && this.seenAt === 0) {
              this.seenAt = wallMs();
              this.onSeen?.();
            }
            continue;
          }
          if (step === 0 && line.startsWith('* OK')) { step = 1; this.sock.write(`a LOGIN ${quote(user)} ${quote(password)}\r\n`); }
          else if (step === 1 && line.startsWith('a ')) {
            if (!line.startsWith('a OK')) return fail(new Error(`LOGIN: ${line}`));
            step = 2; this.sock.write('b SELECT INBOX\r\n');
          } else if (step === 2 && line.startsWith('b ')) {
            if (!line.startsWith('b OK')) return fail(new Error(`SELECT: ${line}`));
            step = 3; this.sock.write('c IDLE\r\n');
          } else if (step === 3 && (line.startsWith('+') || line.startsWith('c '))) {
            if (!line.startsWith('+')) return fail(new Error(`IDLE: ${line}`));
            step = 4;
            clearTimeout(timer);
            resolve();
          }
        }
      });
    });
  }
}

export async function idleJob(job: IdleJob, io: WorkerIO): Promise<Record<string, unknown>> {
  const { opened: idlers, failures, firstError, seconds } = await openMany(job.count, job.concurrency, async (i) => {
    const d = new Idler();
    await d.open(job.port, job.localAddresses[i % job.localAddresses.length], job.user.user, job.user.password, job.timeoutMs);
    return d;
  });
  io.ready({ connected: idlers.length, failures, firstError, setup_seconds: seconds });

  let collect: (() => void) | null = null;
  for (;;) {
    const m = await io.next();
    if (m.type === 'stop') break;
    if (m.type === 'collect') collect?.();
    if (m.type === 'arm') {
      const round = Number(m.round);
      let pending = 0;
      let answered = false;
      const answer = () => {
        if (answered) return;
        answered = true;
        const times: number[] = [];
        let missing = 0, closed = 0;
        for (const d of idlers) {
          if (d.seenAt) times.push(d.seenAt);
          else missing++;
          if (d.closed) closed++;
        }
        io.send({ type: 'round', round, times, missing, closed });
      };
      for (const d of idlers) {
        d.want = Number(m.exists);
        d.seenAt = d.exists >= d.want ? wallMs() : 0;
        if (!d.seenAt) pending++;
        d.onSeen = () => { if (--pending === 0) answer(); };
      }
      collect = answer;
      io.send({ type: 'armed', round });
      if (pending === 0) answer();
    }
  }
  const still = idlers.filter((d) => !d.closed).length;
  for (const d of idlers) d.sock.destroy();
  return { connected: idlers.length, still_open_at_stop: still, failures, firstError };
}
