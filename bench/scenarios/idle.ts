// Scenario 5, idle: N connections of one account, each authenticated, INBOX selected, in
// IDLE, from 16 source addresses (127.0.0.2-17) so ports never run out. Measured: the
// server's resident memory per connection (RSS, and PSS, which splits pages shared
// between Dovecot's per-connection processes), its CPU while everyone idles, and the
// latency from an APPEND by another client of the same account until every idler has
// seen `* n EXISTS` (p50/p99/max over the idlers; one APPEND per repetition).
//
// Logins are the slow part of the set-up (argon2id on postern, ~25 ms of CPU each); they
// are not measured. Each N gets a fresh server.

import { ImapClient } from '../../src/imap/client.ts';
import { fixedSizeMessage } from '../lib/corpus.ts';
import { startWorkers, type Worker } from '../lib/pool.ts';
import { meminfo, raiseSysctl, sysctl, treePss, treeUsage } from '../lib/proc.ts';
import { mib, perServer, type Cap, type Figures, type RunOptions, type Scenario } from '../lib/scenario.ts';
import { percentile, round, wallMs } from '../lib/stats.ts';
import { benchUsers, startDovecotTarget, startPostern, type Target } from '../lib/targets.ts';
import { appendCommand } from '../jobs/common.ts';

const PER_WORKER = 2500;
const SOURCES = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`);

function nofileSoft(): number {
  const r = Bun.spawnSync(['sh', '-c', 'ulimit -n'], { stdout: 'pipe' });
  const n = Number(r.stdout.toString().trim());
  return Number.isFinite(n) ? n : 1024;
}

export const idleScenario: Scenario = {
  name: 'idle',
  description: 'N authenticated connections in IDLE (N = 1,000 and 10,000): server memory per connection, and APPEND-to-EXISTS latency over all idlers',
  async run(opts: RunOptions) {
    const wanted = opts.flags['idle-n']?.split(',').map(Number) ?? (opts.quick ? [50] : [1000, 10000]);
    const caps: Cap[] = [];
    const notes: string[] = [];
    const fdLimit = nofileSoft();
    const ns = wanted.map((n) => {
      const max = fdLimit - 200;
      if (n > max) {
        caps.push({ what: 'idle connections', wanted: n, used: max, why: `open-file limit ${fdLimit} of the bench and its servers (ulimit -n)` });
        return max;
      }
      return n;
    });
    // Dovecot watches the mailbox with one inotify instance per imap process (one per
    // connection); past the per-user limit it polls every 30 s (mailbox_idle_check_interval)
    // and logs that the limit should be raised, as operators with many IDLE users do.
    const inotify = Number(sysctl('fs/inotify/max_user_instances') ?? NaN);
    let inotifyTuned: { was: number; now: number; restore: () => void } | null = null;
    if (opts.servers.includes('dovecot') && ns.some((n) => n + 20 > inotify)) {
      const want = Math.max(...ns) + 1000;
      inotifyTuned = opts.flags.tune === 'no' ? null : raiseSysctl('fs/inotify/max_user_instances', want);
      if (inotifyTuned) notes.push(`fs.inotify.max_user_instances raised from ${inotifyTuned.was} to ${inotifyTuned.now} for this scenario (restored afterwards), as Dovecot asks operators to for many IDLE connections: past the limit an imap process polls every 30 s instead of being woken. --tune=no leaves it.`);
      else notes.push(`fs.inotify.max_user_instances is ${inotify} (not raised: ${opts.flags.tune === 'no' ? '--tune=no' : 'needs root'}): Dovecot's imap processes beyond it poll for new mail every 30 s (mailbox_idle_check_interval), so its notification latency measures that limit, not Dovecot. postern is unaffected.`);
    }
    const user = benchUsers(1)[0];
    const rounds = opts.reps;
    // Every round wakes every idler: at 10,000 Dovecot's imap processes (one per
    // connection) all sync the mailbox, 6 to 130 s per round here, so big N get one round
    // unless asked.
    const bigRounds = Number(opts.flags['idle-big-rounds'] ?? 1);
    const roundsFor = (n: number) => (n >= 5000 ? Math.min(rounds, bigRounds) : rounds);
    for (const n of ns) if (roundsFor(n) < rounds) caps.push({ what: `notify rounds at ${n} connections`, wanted: rounds, used: roundsFor(n), why: 'time: each APPEND wakes every one of Dovecot\'s imap processes, which at 10,000 took from 6 s to 130 s per round on 2 cores; --idle-big-rounds=N for more' });
    const params = { connections: ns, accounts: 1, source_addresses: SOURCES.length, per_generator_process: PER_WORKER, notify_rounds: rounds, append_bytes: 2048, inotify_max_user_instances: inotifyTuned ? { was: inotifyTuned.was, raised_to: inotifyTuned.now } : inotify };

    const servers = await perServer(opts, async (name) => {
      const reps: Figures[] = Array.from({ length: rounds }, () => ({}));
      const setup: Record<string, unknown> = {};
      const problems: string[] = [];
      for (const wantN of ns) {
        let n = wantN;
        if (name === 'dovecot' && setup.dovecot_kib_per_conn) {
          // One imap process per connection: do not let 10,000 of them swap the machine.
          const per = Number(setup.dovecot_kib_per_conn) * 1024;
          const fit = Math.floor((meminfo().available * 0.6) / per);
          if (n > fit) {
            caps.push({ what: 'dovecot idle connections', wanted: n, used: fit, why: `memory: ${Math.round(per / 1024)} KiB (PSS, +50%) per connection at the smaller N, ${Math.round(meminfo().available / 1048576)} MiB available` });
            n = fit;
          }
        }
        const key = `n${wantN}`;
        const t0 = performance.now();
        const target: Target = name === 'postern'
          ? await startPostern({ users: [user] })
          : await startDovecotTarget({ users: [user], maxConnections: n + 100 });
        let workers: Worker[] = [];
        let appender: ImapClient | null = null;
        try {
          appender = await ImapClient.connect({ port: target.port, timeoutMs: 120_000, name: 'appender' });
          await appender.login(user.user, user.password);
          await Bun.sleep(opts.quick ? 100 : 500);
          const base = treeUsage(target.pid);
          const basePss = treePss(target.pid);
          const jobs = [];
          for (let i = 0; i < n; i += PER_WORKER) {
            jobs.push({ kind: 'idle', port: target.port, user, count: Math.min(PER_WORKER, n - i), localAddresses: SOURCES, concurrency: 8, timeoutMs: 600_000 });
          }
          opts.log(`  ${name}: opening ${n} IDLE connections in ${jobs.length} worker(s)`);
          const started = await startWorkers(jobs, Math.max(300_000, n * 200));
          workers = started.workers;
          const connected = started.readyMsgs.reduce((s, m) => s + Number(m.connected), 0);
          const failures = started.readyMsgs.reduce((s, m) => s + Number(m.failures), 0);
          const setupS = (performance.now() - t0) / 1000;
          opts.log(`  ${name}: ${connected} idling after ${setupS.toFixed(1)} s${failures ? `, ${failures} failed (${started.readyMsgs.find((m) => m.firstError)?.firstError})` : ''}`);
          if (connected === 0) throw new Error(`no connection reached IDLE: ${started.readyMsgs.find((m) => m.firstError)?.firstError}`);
          await Bun.sleep(opts.quick ? 300 : 2000);
          const full = treeUsage(target.pid);
          const fullPss = treePss(target.pid);
          const cpu0 = treeUsage(target.pid).cpu;
          const t1 = performance.now();
          await Bun.sleep(opts.quick ? 300 : 3000);
          const idleCpu = (treeUsage(target.pid).cpu - cpu0) / ((performance.now() - t1) / 1000);
          const rssPer = Math.max(0, full.rss - base.rss) / connected / 1024;
          const pssPer = Math.max(0, fullPss - basePss) / connected / 1024;
          if (name === 'dovecot') setup.dovecot_kib_per_conn = Math.max(Number(setup.dovecot_kib_per_conn ?? 0), pssPer * 1.5);
          setup[key] = { connections: connected, failures, setup_seconds: round(setupS), server_processes: full.processes, server_rss_mib: mib(full.rss), server_pss_mib: mib(fullPss), baseline_rss_mib: mib(base.rss), baseline_pss_mib: mib(basePss) };
          const msg = fixedSizeMessage(424242, 2048);
          for (let r = 0; r < roundsFor(n); r++) {
            for (const w of workers) w.send({ type: 'arm', round: r + 1, exists: r + 1 });
            await Promise.all(workers.map((w) => w.next('armed', 60_000)));
            const cpuA = treeUsage(target.pid).cpu;
            const tA = wallMs();
            const res = await appender.command([appendCommand('INBOX', [{ bytes: msg }])]);
            if (res.status !== 'OK') throw new Error(`APPEND: ${res.status} ${res.text}`);
            const deadline = 30_000 + n * (name === 'dovecot' ? 25 : 5);
            const got = await Promise.all(workers.map(async (w) => {
              try {
                return await w.next('round', deadline);
              } catch {
                w.send({ type: 'collect' });
                return await w.next('round', 30_000);
              }
            }));
            const cpuB = treeUsage(target.pid).cpu;
            const lat = got.flatMap((m) => (m.times as number[]).map((t) => t - tA));
            const missing = got.reduce((s, m) => s + Number(m.missing), 0);
            const f = reps[r];
            f[`${key}.rss_per_conn_kib`] = rssPer;
            f[`${key}.pss_per_conn_kib`] = pssPer;
            f[`${key}.server_rss_mib`] = mib(full.rss);
            f[`${key}.idle_cpu_ms_per_s`] = idleCpu * 1000;
            f[`${key}.notify_p50_ms`] = percentile(lat, 50);
            f[`${key}.notify_p99_ms`] = percentile(lat, 99);
            f[`${key}.notify_max_ms`] = lat.length ? Math.max(...lat) : null;
            f[`${key}.notify_server_cpu_ms`] = (cpuB - cpuA) * 1000;
            f[`${key}.notify_missing_count`] = missing;
            f[`${key}.connections_n`] = connected;
            opts.log(`  ${name} n=${n} round ${r + 1}: p50 ${round(percentile(lat, 50))} ms, p99 ${round(percentile(lat, 99))} ms, max ${round(lat.length ? Math.max(...lat) : null)} ms${missing ? `, ${missing} never saw it` : ''}; ${round(rssPer)} KiB RSS, ${round(pssPer)} KiB PSS per connection`);
            await Bun.sleep(500);
          }
          for (const w of workers) w.send({ type: 'stop' });
          await Promise.all(workers.map((w) => w.next('result', 60_000).catch(() => null)));
        } finally {
          for (const w of workers) w.kill();
          appender?.close();
          problems.push(...target.problems().slice(0, 20));
          await target.stop();
        }
      }
      delete setup.dovecot_kib_per_conn;
      return { reps, setup, problems };
    }).finally(() => inotifyTuned?.restore());
    const headline = ns.flatMap((n) => [`n${n}.rss_per_conn_kib`, `n${n}.pss_per_conn_kib`, `n${n}.notify_p50_ms`, `n${n}.notify_p99_ms`, `n${n}.notify_max_ms`]);
    return { params, caps, notes, servers, headline };
  },
};
