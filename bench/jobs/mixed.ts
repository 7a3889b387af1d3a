// Worker job "mixed": each connection (its own account, INBOX prefilled) runs a random
// mix of what real clients do, one command at a time, from "go" until the deadline:
//   select 5%, fetch_flags 20% (UID FETCH 1:* (UID FLAGS)), fetch_headers 15% (the newest
//   20: UID FLAGS RFC822.SIZE ENVELOPE), fetch_body 20% (one message, BODY.PEEK[]),
//   store 15% (+/-FLAGS \Seen or \Flagged on one message), append 10% (a corpus message,
//   LITERAL+), expunge 5% (UID STORE +FLAGS.SILENT \Deleted, then UID EXPUNGE: one op),
//   idle 10% (IDLE, 100 ms in IDLE, DONE; timed without the 100 ms).
// The PRNG is seeded per connection, so both servers get the same sequence of choices.
// With `compress`, every connection turns COMPRESS DEFLATE on after login.

import { readFileSync } from 'node:fs';
import { codeName, expectStatus, pick, type ImapClient } from '../../src/imap/client.ts';
import { type CorpusIndex, readMessages } from '../lib/corpus.ts';
import { wallMs } from '../lib/stats.ts';
import type { WorkerIO } from '../lib/workerio.ts';
import { appendCommand, connectLogin, errorText, type UserCred } from './common.ts';

export const MIX: Array<[string, number]> = [
  ['select', 5], ['fetch_flags', 20], ['fetch_headers', 15], ['fetch_body', 20],
  ['store', 15], ['append', 10], ['expunge', 5], ['idle', 10],
];
export const IDLE_HOLD_MS = 100;

export interface MixedJob { kind: 'mixed'; port: number; users: UserCred[]; seed: number; datPath: string; indexPath: string; poolSize: number; compress?: boolean }

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

export async function mixedJob(job: MixedJob, io: WorkerIO): Promise<Record<string, unknown>> {
  const index = JSON.parse(readFileSync(job.indexPath, 'utf8')) as CorpusIndex;
  const pool = readMessages({ index, datPath: job.datPath }, 0, Math.min(job.poolSize, index.count));
  const conns = await Promise.all(job.users.map(async (u) => {
    const c = await connectLogin(job.port, u);
    if (job.compress) await c.compress().then((r) => expectStatus(r, 'OK'));
    await c.ok('SELECT INBOX');
    const all = pick(await c.ok('UID SEARCH ALL'), 'SEARCH').flatMap((s) => s.nums);
    return { c, uids: all };
  }));
  io.ready();
  const go = await io.next('go');
  const until = Number(go.until);
  const lat: Record<string, number[]> = Object.fromEntries(MIX.map(([k]) => [k, []]));
  let errors = 0;
  let firstError: string | null = null;
  const total = MIX.reduce((n, [, w]) => n + w, 0);

  const one = async (c: ImapClient, uids: number[], r: () => number, op: string): Promise<number> => {
    const any = () => uids[Math.floor(r() * uids.length)];
    const ok = async (cmd: string | Uint8Array) => {
      const res = await c.command(typeof cmd === 'string' ? cmd : [cmd]);
      if (res.status !== 'OK') throw new Error(`${op}: ${res.status} ${res.code ?? ''} ${res.text}`);
      return res;
    };
    const t0 = wallMs();
    switch (op) {
      case 'select': await ok('SELECT INBOX'); break;
      case 'fetch_flags': await ok('UID FETCH 1:* (UID FLAGS)'); break;
      case 'fetch_headers': {
        const last = uids.slice(-20);
        if (last.length) await ok(`UID FETCH ${last.join(',')} (UID FLAGS RFC822.SIZE ENVELOPE)`);
        break;
      }
      case 'fetch_body': if (uids.length) await ok(`UID FETCH ${any()} BODY.PEEK[]`); break;
      case 'store': if (uids.length) await ok(`UID STORE ${any()} ${r() < 0.5 ? '+' : '-'}FLAGS.SILENT (${r() < 0.7 ? '\\Seen' : '\\Flagged'})`); break;
      case 'append': {
        const m = pool[Math.floor(r() * pool.length)];
        const res = await ok(appendCommand('INBOX', [{ bytes: m }]));
        const code = codeName(res.code) === 'APPENDUID' ? /(\d+)$/.exec(res.code ?? '') : null;
        if (code) uids.push(Number(code[1]));
        break;
      }
      case 'expunge': {
        if (uids.length < 20) break;
        const i = Math.floor(r() * uids.length);
        const uid = uids[i];
        await ok(`UID STORE ${uid} +FLAGS.SILENT (\\Deleted)`);
        await ok(`UID EXPUNGE ${uid}`);
        uids.splice(i, 1);
        break;
      }
      case 'idle': {
        const h = await c.idle();
        const t1 = wallMs();
        await Bun.sleep(IDLE_HOLD_MS);
        const t2 = wallMs();
        const res = await h.done();
        if (res.status !== 'OK') throw new Error(`idle: ${res.status} ${res.text}`);
        return (t1 - t0) + (wallMs() - t2);
      }
    }
    return wallMs() - t0;
  };

  await Promise.all(conns.map(async ({ c, uids }, ci) => {
    const r = rng(job.seed + ci * 7919);
    while (wallMs() < until) {
      let x = r() * total;
      let op = MIX[0][0];
      for (const [k, w] of MIX) { if (x < w) { op = k; break; } x -= w; }
      try {
        lat[op].push(await one(c, uids, r, op));
      } catch (e) {
        errors++;
        firstError ??= errorText(e);
        if (c.closed) break;
      }
    }
  }));
  const end = wallMs();
  for (const { c } of conns) c.close();
  return { latencies: lat, errors, firstError, end };
}
