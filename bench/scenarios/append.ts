// Scenario 1, append: 1, 8 and 50 clients, each on its own account, APPEND 20 KB messages
// (one at a time per client, LITERAL+) for a fixed time. Every OK is durable on both
// servers: postern fsyncs file and database before answering; Dovecot's default
// mail_fsync=optimized fsyncs the new maildir file before it is linked into cur/new.

import { summarize } from '../lib/stats.ts';
import { mib, perServer, phase, split, type Figures, type RunOptions, type Scenario } from '../lib/scenario.ts';
import { benchUsers, startDovecotTarget, startPostern, type Target } from '../lib/targets.ts';

export const appendScenario: Scenario = {
  name: 'append',
  description: 'APPEND throughput and latency: N clients, each on its own account, one 20 KB message at a time (LITERAL+) for a fixed time',
  async run(opts: RunOptions) {
    const clients = opts.flags['append-clients']?.split(',').map(Number) ?? (opts.quick ? [1, 4] : [1, 8, 50]);
    const durationMs = Number(opts.flags['append-seconds'] ?? (opts.quick ? 0.5 : 5)) * 1000;
    const size = 20 * 1024;
    const workersMax = Math.max(2, navigator.hardwareConcurrency || 2);
    const users = benchUsers(Math.max(...clients));
    const params = { clients, duration_s: durationMs / 1000, message_bytes: size, literal: 'LITERAL+', accounts: 'one per client', pipelining: 'none (one APPEND in flight per client)', generator_processes_max: workersMax, repetitions: opts.reps };
    const servers = await perServer(opts, async (name) => {
      const setupStart = performance.now();
      const target: Target = name === 'postern'
        ? await startPostern({ users })
        : await startDovecotTarget({ users, maxConnections: Math.max(...clients) + 50 });
      const setup = { seconds: (performance.now() - setupStart) / 1000 };
      const reps: Figures[] = [];
      try {
        for (let rep = 0; rep < opts.reps; rep++) {
          const f: Figures = {};
          for (const n of clients) {
            const groups = split(users.slice(0, n), Math.min(n, workersMax));
            const jobs = groups.map((g, gi) => ({ kind: 'append', port: target.port, users: g, size, seed: rep * 100_000 + gi * 1000 }));
            const ph = await phase(target, jobs, { durationMs });
            let count = 0, bytes = 0, errors = 0;
            const lat: number[] = [];
            for (const m of ph.msgs) {
              count += Number(m.count); bytes += Number(m.bytes); errors += Number(m.errors);
              for (const x of m.latencies as number[]) lat.push(x);
            }
            const s = summarize(lat);
            const k = `c${n}`;
            f[`${k}.msg_per_s`] = count / ph.seconds;
            f[`${k}.mib_per_s`] = bytes / 1024 / 1024 / ph.seconds;
            f[`${k}.p50_ms`] = s.p50_ms;
            f[`${k}.p99_ms`] = s.p99_ms;
            f[`${k}.server_peak_rss_mib`] = mib(ph.server.peakRss);
            f[`${k}.server_busy_cpu_s`] = ph.server.cpu;
            f[`${k}.server_cpu_ms_per_msg`] = count ? (ph.server.cpu * 1000) / count : null;
            f[`${k}.gen_cpu_s`] = ph.genCpu;
            f[`${k}.errors_count`] = errors;
            opts.log(`  ${name} rep ${rep + 1} ${n} clients: ${(count / ph.seconds).toFixed(1)} msg/s, p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms${errors ? `, ${errors} errors (${ph.msgs.find((m) => m.firstError)?.firstError})` : ''}`);
          }
          reps.push(f);
        }
      } finally {
        const problems = target.problems();
        await target.stop();
        if (problems.length) opts.log(`  ${name}: ${problems.length} problem lines, first: ${problems[0]}`);
      }
      return { reps, setup, problems: target.problems() };
    });
    const headline = clients.flatMap((n) => [`c${n}.msg_per_s`, `c${n}.p50_ms`, `c${n}.p99_ms`]).concat([`c${Math.max(...clients)}.server_peak_rss_mib`, `c${Math.max(...clients)}.server_cpu_ms_per_msg`]);
    return { params, caps: [], notes: [], servers, headline };
  },
};
