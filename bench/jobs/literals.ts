// Worker job "literals": `users.length` connections (logged in, INBOX selected) that, on
// each {type:"attack",id,mode,literals,size}, all at once send one SEARCH command with
// `literals` TEXT keys whose strings are literals of `size` bytes: LITERAL+ (`{n+}`,
// everything sent without waiting, as an attacker would) or synchronizing (`{n}`, each
// literal only after the server's `+`). Per connection it reports the time until the
// tagged answer, the answer, whether the connection survived, and a NOOP after it.
// The bytes are sent raw (ImapClient.send), not through `command()`, so the time of the
// answer is taken when it arrives, even while a LITERAL+ upload is still going on.
//
// Worker job "probe": an ordinary client on its own account: NOOP every `intervalMs`
// from "go" until {type:"stop"}; reports [wall time, latency] of each.

import { ImapClient, type ServerResponse } from '../../src/imap/client.ts';
import { wallMs } from '../lib/stats.ts';
import type { WorkerIO } from '../lib/workerio.ts';
import { connectLogin, errorText, type UserCred } from './common.ts';

export interface LiteralsJob { kind: 'literals'; port: number; users: UserCred[] }

export interface AttackResult {
  /** Until the tagged answer, or until the server closed the connection. */
  answer_ms: number | null;
  upload_ms: number;
  answer: string;
  sent_literals: number;
  closed: boolean;
  noop_ok: boolean;
  noop_ms: number | null;
  error: string | null;
}

type Tagged = Extract<ServerResponse, { kind: 'tagged' }>;

async function attack(c: ImapClient, tag: string, mode: string, literals: number, data: Uint8Array): Promise<AttackResult> {
  const t0 = wallMs();
  let answer: { t: number; r: Tagged } | null = null;
  let closedAt: number | null = null;
  let sent = 0;
  let error: string | null = null;
  const size = data.length;
  const waitAnswer = (ms: number) => c.waitTagged(tag, ms).then((r) => { answer ??= { t: wallMs(), r }; return r; });
  try {
    if (mode === 'plus') {
      const answered = waitAnswer(600_000).catch((e) => { if (c.closed) closedAt ??= wallMs(); else error ??= errorText(e); return null; });
      await c.send(`${tag} SEARCH`);
      for (let i = 0; i < literals && !c.closed; i++) {
        await c.send(` TEXT {${size}+}\r\n`);
        await c.send(data);
        sent++;
      }
      if (!c.closed) await c.send('\r\n');
      await answered;
    } else {
      await c.send(`${tag} SEARCH TEXT {${size}}\r\n`);
      for (let i = 0; i < literals; i++) {
        const r = await c.waitFor((x) => x.kind === 'continuation' || (x.kind === 'tagged' && x.tag === tag), 600_000, `+ or ${tag}`);
        if (r.kind === 'tagged') { answer = { t: wallMs(), r }; break; }
        await c.send(data);
        sent++;
        await c.send(i + 1 < literals ? ` TEXT {${size}}\r\n` : '\r\n');
      }
      if (!answer) await waitAnswer(600_000);
    }
  } catch (e) {
    if (c.closed) closedAt ??= wallMs();
    else error ??= errorText(e);
  }
  const upload = wallMs() - t0;
  const a = answer as { t: number; r: Tagged } | null;
  let noopOk = false;
  let noopMs: number | null = null;
  if (!c.closed) {
    try {
      const n0 = wallMs();
      const r = await c.command('NOOP', { timeoutMs: 60_000 });
      noopMs = wallMs() - n0;
      noopOk = r.status === 'OK';
    } catch (e) {
      error ??= errorText(e);
    }
  }
  return {
    answer_ms: a ? a.t - t0 : closedAt !== null ? closedAt - t0 : null,
    upload_ms: upload,
    answer: a ? `${a.r.status}${a.r.code ? ` [${a.r.code.split(' ')[0]}]` : ''}` : c.closed ? (c.bye ? `${c.bye.raw.slice(2, 80)}, closed` : 'closed') : 'none',
    sent_literals: sent,
    closed: c.closed,
    noop_ok: noopOk,
    noop_ms: noopMs,
    error,
  };
}

export async function literalsJob(job: LiteralsJob, io: WorkerIO): Promise<Record<string, unknown>> {
  const clients = await Promise.all(job.users.map(async (u, i) => {
    const c = await connectLogin(job.port, u, { name: `attacker${i}` });
    await c.ok('SELECT INBOX');
    return c;
  }));
  io.ready();
  for (;;) {
    const m = await io.next();
    if (m.type === 'stop') break;
    if (m.type !== 'attack') continue;
    const data = new Uint8Array(Number(m.size)).fill(0x78);
    const results = await Promise.all(clients.map((c) => (c.closed ? null : attack(c, `X${String(m.id)}`, String(m.mode), Number(m.literals), data))));
    io.send({ type: 'attacked', id: m.id, results: results.filter((r) => r !== null), skipped_closed: results.filter((r) => r === null).length });
  }
  for (const c of clients) c.close();
  return {};
}

export interface ProbeJob { kind: 'probe'; port: number; user: UserCred; intervalMs: number }

export async function probeJob(job: ProbeJob, io: WorkerIO): Promise<Record<string, unknown>> {
  const c = await connectLogin(job.port, job.user, { name: 'probe' });
  await c.ok('SELECT INBOX');
  io.ready();
  await io.next('go');
  const samples: Array<[number, number]> = [];
  let errors = 0;
  for (;;) {
    if (io.poll()?.type === 'stop') break;
    const t0 = wallMs();
    try {
      const r = await c.command('NOOP', { timeoutMs: 120_000 });
      if (r.status !== 'OK') errors++;
      samples.push([t0, wallMs() - t0]);
    } catch {
      errors++;
      if (c.closed) break;
    }
    await Bun.sleep(job.intervalMs);
  }
  c.close();
  return { samples, errors };
}
