// The compress scenario: COMPRESS=DEFLATE (RFC 4978) on both servers, each at its default
// level (postern `[compress] level = 6`; Dovecot 2.3's imap_zlib plugin,
// `imap_compress_deflate_level` left at 6). Three parts, each with fresh servers:
//
// - fetch: `UID FETCH <newest 2,000> BODY.PEEK[]` on the fetch scenario's mailbox (its
//   fixture and cache, bench/scenarios/mailbox.ts), each in a fresh session, with COMPRESS
//   (`fetch_deflate.`) and without (`fetch_plain.`, the reference): plaintext MiB/s, server
//   CPU seconds per plaintext MiB, and the wire bytes (counted on the client's socket) as a
//   percentage of the plaintext; the compression ratio, plaintext / wire, is in `details`.
//   Both sessions must frame the same plaintext, or a note says they did not.
// - mixed: the mixed scenario with every client compressed (bench/scenarios/mixed.ts,
//   --mixed-compress=yes), figures under `mixed.`.
// - idle: N connections (1,000; --quick 50) logged in, COMPRESS on, INBOX selected and its
//   ~64 KB of messages fetched once (a client after its first sync: postern's 4 KiB of
//   history is full), then no traffic. Server RSS and PSS growth per connection right
//   away (`idle.`) and after --compress-idle-wait seconds (35; --quick 0 = not measured)
//   without traffic (`idle_35s.`): postern drops a compressed connection's history after
//   30 s idle, Dovecot keeps its zlib streams. Measured once per server, not per
//   repetition: the wait is the cost.

import { ImapClient } from '../../src/imap/client.ts';
import { appendCommand } from '../jobs/common.ts';
import { loadCorpus, readMessages } from '../lib/corpus.ts';
import { startWorkers, type Worker } from '../lib/pool.ts';
import { treePss, treeUsage } from '../lib/proc.ts';
import { perServer, type Cap, type Figures, type RunOptions, type Scenario, type ServerRun } from '../lib/scenario.ts';
import { medianFigures, round } from '../lib/stats.ts';
import { benchUsers, startDovecotTarget, startPostern, type ServerName, type Target } from '../lib/targets.ts';
import { mailbox, measure, startOn } from './mailbox.ts';
import { mixedScenario } from './mixed.ts';

const MIB = 1024 * 1024;
const SELECT = ['SELECT INBOX'];
/** Connections per generator process in the idle part. */
const PER_WORKER = 500;
/** Plaintext the idle part's connections fetch: more than postern's 32 KiB window. */
const IDLE_FETCH_BYTES = 64 * 1024;

type Servers = Partial<Record<ServerName, ServerRun>>;
interface Part { servers: Servers; params: Record<string, unknown>; caps: Cap[]; notes: string[] }

async function fetchPart(opts: RunOptions): Promise<Part> {
  const fx = await mailbox(opts);
  const n = fx.n;
  const body = Math.min(opts.quick ? 200 : 2_000, n);
  const op = { name: 'fetch_body', command: `UID FETCH ${n - body + 1}:${n} BODY.PEEK[]` };
  const notes: string[] = [];
  const servers = await perServer(opts, async (name) => {
    const { target, cleanup } = await startOn(name, fx, { compress: true });
    const reps: Figures[] = [];
    const ratios: number[] = [];
    try {
      opts.log(`  ${name}: warm-up pass`);
      await measure(target, op, SELECT);
      await measure(target, op, SELECT, { compress: true });
      for (let rep = 0; rep < opts.reps; rep++) {
        const f: Figures = {};
        const plainBytes: number[] = [];
        for (const compress of [false, true]) {
          const m = await measure(target, op, SELECT, { compress });
          const key = compress ? 'fetch_deflate' : 'fetch_plain';
          const plainMib = m.op.bytes / MIB;
          if (m.op.count !== body) throw new Error(`${key}: ${m.op.count} FETCH responses, expected ${body}`);
          plainBytes.push(m.op.bytes);
          f[`${key}.mib_per_s`] = plainMib / (m.op.ms / 1000);
          f[`${key}.server_cpu_s_per_mib`] = m.serverCpu / plainMib;
          f[`${key}.wire_pct`] = (100 * m.op.wire) / m.op.bytes;
          f[`${key}.gen_cpu_s`] = m.genCpu;
          if (compress) ratios.push(round(m.op.bytes / m.op.wire)!);
        }
        if (plainBytes[0] !== plainBytes[1]) notes.push(`${name}: the compressed FETCH framed ${plainBytes[1]} bytes of plaintext, the plain one ${plainBytes[0]}`);
        reps.push(f);
        opts.log(`  ${name} rep ${rep + 1}: plain ${round(f['fetch_plain.mib_per_s'])} MiB/s, deflate ${round(f['fetch_deflate.mib_per_s'])} MiB/s at ratio ${ratios[ratios.length - 1]}, ${round(f['fetch_deflate.server_cpu_s_per_mib'])} server CPU s/MiB`);
      }
    } finally {
      await target.stop();
      cleanup();
    }
    return { reps, details: { fetch_compression_ratio: ratios }, problems: target.problems() };
  });
  return { servers, params: { command: op.command, messages: body, mailbox_messages: n, session: 'fresh per command, login, COMPRESS and SELECT untimed', warmup: 'one untimed pass of each' }, caps: fx.caps, notes };
}

async function mixedPart(opts: RunOptions): Promise<Part> {
  const out = await mixedScenario.run({ ...opts, flags: { ...opts.flags, 'mixed-compress': 'yes' } });
  return { servers: out.servers, params: out.params, caps: out.caps, notes: out.notes };
}

async function idlePart(opts: RunOptions): Promise<Part> {
  const n = Number(opts.flags['compress-idle-n'] ?? (opts.quick ? 50 : 1000));
  const waitS = Number(opts.flags['compress-idle-wait'] ?? (opts.quick ? 0 : 35));
  const user = benchUsers(1)[0];
  const corpus = loadCorpus(opts.cacheDir, 2_000);
  const msgs: Uint8Array[] = [];
  let size = 0;
  for (const m of readMessages(corpus, 0, 100)) {
    if (size >= IDLE_FETCH_BYTES) break;
    msgs.push(m);
    size += m.length;
  }
  const caps: Cap[] = waitS > 0 ? [] : [{ what: 'idle memory after the history is released', wanted: '35 s idle', used: 'not measured', why: '--quick (or --compress-idle-wait=0)' }];
  const servers = await perServer(opts, async (name) => {
    const target: Target = name === 'postern'
      ? await startPostern({ users: [user] })
      : await startDovecotTarget({ users: [user], maxConnections: n + 100, compress: true });
    let workers: Worker[] = [];
    let filler: ImapClient | null = null;
    const f: Figures = {};
    const setup: Record<string, unknown> = {};
    try {
      // The server with one connection logged in is the baseline, as in the idle scenario.
      filler = await ImapClient.connect({ port: target.port, timeoutMs: 120_000, name: 'filler' });
      await filler.login(user.user, user.password);
      await filler.ok([appendCommand('INBOX', msgs.map((bytes) => ({ bytes })))]);
      await Bun.sleep(opts.quick ? 100 : 500);
      const base = treeUsage(target.pid);
      const basePss = treePss(target.pid);
      const jobs = [];
      for (let i = 0; i < n; i += PER_WORKER) {
        jobs.push({ kind: 'zidle', port: target.port, user, count: Math.min(PER_WORKER, n - i), concurrency: 8, prelude: [...SELECT, 'UID FETCH 1:* BODY.PEEK[]'] });
      }
      const started = await startWorkers(jobs, Math.max(300_000, n * 200));
      workers = started.workers;
      const connected = started.readyMsgs.reduce((s, m) => s + Number(m.connected), 0);
      const failures = started.readyMsgs.reduce((s, m) => s + Number(m.failures), 0);
      if (connected === 0) throw new Error(`no compressed connection set up: ${started.readyMsgs.find((m) => m.firstError)?.firstError}`);
      setup.connections = connected;
      setup.failures = failures;
      const sample = (key: string) => {
        const u = treeUsage(target.pid);
        const pss = treePss(target.pid);
        f[`${key}.rss_per_conn_kib`] = Math.max(0, u.rss - base.rss) / connected / 1024;
        f[`${key}.pss_per_conn_kib`] = Math.max(0, pss - basePss) / connected / 1024;
        opts.log(`  ${name}: ${connected} compressed idle connections${failures ? ` (${failures} failed)` : ''}, ${key}: ${round(f[`${key}.rss_per_conn_kib`])} KiB RSS, ${round(f[`${key}.pss_per_conn_kib`])} KiB PSS per connection`);
      };
      await Bun.sleep(opts.quick ? 300 : 2000);
      sample('idle');
      if (waitS > 0) {
        await Bun.sleep(waitS * 1000);
        sample(`idle_${waitS}s`);
      }
      for (const w of workers) w.send({ type: 'stop' });
      await Promise.all(workers.map((w) => w.next('result', 60_000).catch(() => null)));
    } finally {
      for (const w of workers) w.kill();
      filler?.close();
      await target.stop();
    }
    return { reps: [f], setup, problems: target.problems() };
  });
  const params = { connections: n, fetched_bytes: size, fetched_messages: msgs.length, wait_s: waitS, per_generator_process: PER_WORKER, rounds: 1 };
  if (opts.reps > 1) caps.push({ what: 'idle memory rounds', wanted: opts.reps, used: 1, why: `time: each round waits ${waitS} s per server` });
  return { servers, params, caps, notes: [] };
}

/** One server's record from the parts: repetition i holds every part's repetition i. */
function merge(server: ServerName, parts: Record<string, { prefix: string; part: Part }>): ServerRun | undefined {
  const reps: Figures[] = [];
  const setup: Record<string, unknown> = {};
  const details: Record<string, unknown> = {};
  const problems: string[] = [];
  const errors: string[] = [];
  let any = false;
  for (const [name, { prefix, part }] of Object.entries(parts)) {
    const r = part.servers[server];
    if (!r) continue;
    any = true;
    r.reps.forEach((rep, j) => {
      const into = (reps[j] ??= {});
      for (const [k, v] of Object.entries(rep)) into[prefix + k] = v;
    });
    setup[name] = r.setup;
    details[name] = r.details;
    problems.push(...r.problems);
    if (r.error) errors.push(`${name}: ${r.error}`);
  }
  if (!any) return undefined;
  return { figures: medianFigures(reps), reps, setup, details, problems, ...(errors.length ? { error: errors.join('\n') } : {}) };
}

export const compressScenario: Scenario = {
  name: 'compress',
  description: 'COMPRESS=DEFLATE: BODY.PEEK[] of 2,000 messages with and without it, the mixed workload compressed, memory per idle compressed connection (1,000)',
  async run(opts: RunOptions) {
    const fetch = await fetchPart(opts);
    const mixed = await mixedPart(opts);
    const idle = await idlePart(opts);
    const parts = { fetch: { prefix: '', part: fetch }, mixed: { prefix: 'mixed.', part: mixed }, idle: { prefix: '', part: idle } };
    const servers: Servers = {};
    for (const name of opts.servers) {
      const r = merge(name, parts);
      if (r) servers[name] = r;
    }
    const waited = Number(idle.params.wait_s);
    const headline = [
      'fetch_deflate.mib_per_s', 'fetch_deflate.server_cpu_s_per_mib', 'fetch_deflate.wire_pct', 'fetch_plain.mib_per_s', 'fetch_plain.server_cpu_s_per_mib',
      'mixed.total_ops_per_s', 'mixed.all_p50_ms', 'mixed.all_p99_ms', 'mixed.server_cpu_ms_per_op',
      'idle.rss_per_conn_kib', 'idle.pss_per_conn_kib', ...(waited > 0 ? [`idle_${waited}s.rss_per_conn_kib`, `idle_${waited}s.pss_per_conn_kib`] : []),
    ];
    return {
      params: {
        levels: { postern: '[compress] level at its default, 6', dovecot: 'imap_zlib, imap_compress_deflate_level at its default, 6' },
        fetch: fetch.params, mixed: mixed.params, idle: idle.params,
      },
      caps: [...fetch.caps, ...mixed.caps, ...idle.caps],
      notes: [...fetch.notes, ...mixed.notes, ...idle.notes],
      servers,
      headline,
    };
  },
};
