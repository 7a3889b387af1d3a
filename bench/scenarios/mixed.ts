// Scenario 4, mixed: 50 accounts, one client each, INBOX prefilled with 200 corpus
// messages; every client runs the mix of bench/jobs/mixed.ts back to back for a fixed
// time. Figures: operations per second per command and overall, latency percentiles.
// --mixed-compress=yes: every client turns COMPRESS DEFLATE on (the compress scenario).

import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCorpus } from '../lib/corpus.ts';
import { freshCopy, indexPath, posternFilled, writeMaildirs } from '../lib/mailbox.ts';
import { mib, perServer, phase, split, type Figures, type RunOptions, type Scenario } from '../lib/scenario.ts';
import { round, summarize } from '../lib/stats.ts';
import { benchUsers, startDovecotTarget, startPostern, type Target } from '../lib/targets.ts';
import { IDLE_HOLD_MS, MIX } from '../jobs/mixed.ts';

const CORPUS_N = 2_000;

export const mixedScenario: Scenario = {
  name: 'mixed',
  description: '50 accounts x 1 client running a realistic command mix (SELECT, FETCH flags/headers/bodies, STORE, APPEND, EXPUNGE, IDLE) for a fixed time',
  async run(opts: RunOptions) {
    const nUsers = Number(opts.flags['mixed-users'] ?? (opts.quick ? 5 : 50));
    const perUser = Number(opts.flags['mixed-messages'] ?? (opts.quick ? 50 : 200));
    const durationMs = Number(opts.flags['mixed-seconds'] ?? (opts.quick ? 1 : 10)) * 1000;
    const compress = opts.flags['mixed-compress'] === 'yes';
    const workersMax = Math.max(2, navigator.hardwareConcurrency || 2);
    const users = benchUsers(nUsers);
    const corpus = loadCorpus(opts.cacheDir, CORPUS_N);
    const slices = users.map((user) => ({ user, from: 0, to: perUser }));
    const params = { accounts: nUsers, clients_per_account: 1, messages_per_inbox: perUser, duration_s: durationMs / 1000, mix_percent: Object.fromEntries(MIX), idle_hold_ms: IDLE_HOLD_MS, compress, generator_processes: Math.min(nUsers, workersMax), repetitions: opts.reps, think_time: 'none (closed loop)' };
    const servers = await perServer(opts, async (name) => {
      const t0 = performance.now();
      const tmp = mkdtempSync(join(tmpdir(), 'postern-bench-mixed-'));
      chmodSync(tmp, 0o755); // Dovecot's mail processes run as another user (as root: dovecot)
      let target: Target;
      let setup: Record<string, unknown>;
      try {
        if (name === 'postern') {
          const filled = await posternFilled(opts.cacheDir, corpus, slices, opts.log);
          freshCopy(filled.dir, join(tmp, 'data'));
          target = await startPostern({ users, dataDir: join(tmp, 'data') });
          setup = { fill_cached: filled.cached, fill_seconds: round(filled.seconds) };
        } else {
          writeMaildirs(join(tmp, 'dovecot'), corpus, slices);
          target = await startDovecotTarget({ users, dir: join(tmp, 'dovecot'), maxConnections: nUsers + 50, compress });
          setup = { maildir: 'written directly' };
        }
      } catch (e) {
        rmSync(tmp, { recursive: true, force: true });
        throw e;
      }
      setup.seconds = round((performance.now() - t0) / 1000);
      const reps: Figures[] = [];
      try {
        for (let rep = 0; rep < opts.reps; rep++) {
          const groups = split(users, Math.min(nUsers, workersMax));
          const jobs = groups.map((g, gi) => ({ kind: 'mixed', port: target.port, users: g, seed: 1000 * rep + 100 * gi + 1, datPath: corpus.datPath, indexPath: indexPath(corpus), poolSize: 300, compress }));
          const ph = await phase(target, jobs, { durationMs });
          const all: number[] = [];
          const f: Figures = {};
          let ops = 0, errors = 0;
          for (const [op] of MIX) {
            const l: number[] = [];
            for (const m of ph.msgs) for (const x of (m.latencies as Record<string, number[]>)[op]) l.push(x);
            const s = summarize(l);
            f[`${op}_per_s`] = l.length / ph.seconds;
            f[`${op}_p50_ms`] = s.p50_ms;
            f[`${op}_p99_ms`] = s.p99_ms;
            ops += l.length;
            for (const x of l) all.push(x);
          }
          for (const m of ph.msgs) errors += Number(m.errors);
          const s = summarize(all);
          Object.assign(f, {
            total_ops_per_s: ops / ph.seconds, all_p50_ms: s.p50_ms, all_p99_ms: s.p99_ms,
            server_peak_rss_mib: mib(ph.server.peakRss), server_busy_cpu_s: ph.server.cpu,
            server_cpu_ms_per_op: ops ? (ph.server.cpu * 1000) / ops : null, gen_cpu_s: ph.genCpu, errors_count: errors,
          });
          reps.push(f);
          opts.log(`  ${name} rep ${rep + 1}: ${(ops / ph.seconds).toFixed(0)} ops/s, p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms${errors ? `, ${errors} errors (${ph.msgs.find((m) => m.firstError)?.firstError})` : ''}`);
        }
      } finally {
        await target.stop();
        rmSync(tmp, { recursive: true, force: true });
      }
      return { reps, setup, problems: target.problems() };
    });
    const headline = ['total_ops_per_s', 'all_p50_ms', 'all_p99_ms', ...MIX.map(([op]) => `${op}_p50_ms`), 'server_peak_rss_mib', 'server_cpu_ms_per_op'];
    return { params, caps: [], notes: [], servers, headline };
  },
};
