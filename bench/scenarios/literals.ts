// Scenario 6, literal-limits: the guard against unbounded literal memory (the class of
// CVE-2024-34055). 100 authenticated connections each send one SEARCH with 1,000 TEXT
// literals of 100 KiB, first with LITERAL+ (the attacker sends everything without
// waiting), then with synchronizing literals; then one oversized 10 MiB literal each,
// synchronizing and LITERAL+. Measured per attack: the server's peak RSS growth, the time
// until each connection's tagged answer (postern: NO [TOOBIG]), what the answers were,
// whether the connections survived (a NOOP after), and the NOOP latency of an ordinary
// client of another account during the attack, against its latency before it.

import { startWorkers, type Worker } from '../lib/pool.ts';
import { TreeSampler } from '../lib/proc.ts';
import { mib, perServer, split, type Figures, type RunOptions, type Scenario } from '../lib/scenario.ts';
import { percentile, round, wallMs } from '../lib/stats.ts';
import { benchUsers, startDovecotTarget, startPostern, type Target } from '../lib/targets.ts';
import type { AttackResult } from '../jobs/literals.ts';

const PROBE_WINDOW_MIN_MS = 500;

interface Attack { key: string; mode: 'plus' | 'sync'; literals: number; size: number }

export const literalsScenario: Scenario = {
  name: 'literals',
  description: '100 connections x 1,000 literals of 100 KiB (LITERAL+ and synchronizing) and single 10 MiB literals: RSS growth, time to the answer, an ordinary client\'s latency meanwhile',
  async run(opts: RunOptions) {
    const conns = Number(opts.flags['literals-conns'] ?? (opts.quick ? 4 : 100));
    const count = Number(opts.flags['literals-count'] ?? (opts.quick ? 30 : 1000));
    const big = (opts.quick ? 2 : 10) * 1024 * 1024;
    const attacks: Attack[] = [
      { key: 'many_plus', mode: 'plus', literals: count, size: 100 * 1024 },
      { key: 'many_sync', mode: 'sync', literals: count, size: 100 * 1024 },
      { key: 'big_sync', mode: 'sync', literals: 1, size: big },
      { key: 'big_plus', mode: 'plus', literals: 1, size: big },
    ];
    const workersN = Math.min(conns, Math.max(2, navigator.hardwareConcurrency || 2));
    const [attacker, ordinary] = benchUsers(2);
    const params = { connections: conns, attacks: attacks.map((a) => ({ key: a.key, literal: a.mode === 'plus' ? 'LITERAL+ {n+}' : 'synchronizing {n}', literals_per_command: a.literals, literal_bytes: a.size })), command: 'SEARCH TEXT <literal> TEXT <literal> ...', accounts: { attackers: 1, ordinary_client: 1 }, probe: 'NOOP every 20 ms on its own account', generator_processes: workersN, repetitions: opts.reps };
    const servers = await perServer(opts, async (name) => {
      const target: Target = name === 'postern'
        ? await startPostern({ users: [attacker, ordinary] })
        : await startDovecotTarget({ users: [attacker, ordinary], maxConnections: conns + 50 });
      const reps: Figures[] = [];
      const answers: Record<string, Record<string, number>> = {};
      const errors: Record<string, string[]> = {};
      let probe: Worker | null = null;
      try {
        const p = await startWorkers([{ kind: 'probe', port: target.port, user: ordinary, intervalMs: 20 }], 120_000);
        probe = p.workers[0];
        probe.send({ type: 'go' });
        const windows: Array<{ rep: number; key: string; from: number; to: number }> = [];
        const tBase0 = wallMs();
        await Bun.sleep(opts.quick ? 500 : 2000);
        const tBase1 = wallMs();
        for (let rep = 0; rep < opts.reps; rep++) {
          const f: Figures = {};
          for (const [ai, a] of attacks.entries()) {
            // Fresh connections for each attack: a server may close the attacked ones.
            const groups = split(Array.from({ length: conns }, () => attacker), workersN);
            const { workers } = await startWorkers(groups.map((g) => ({ kind: 'literals', port: target.port, users: g })), 300_000);
            try {
              await Bun.sleep(300);
              const sampler = new TreeSampler(target.pid, 20).start();
              const t0 = wallMs();
              const id = rep * 10 + ai;
              for (const w of workers) w.send({ type: 'attack', id, mode: a.mode, literals: a.literals, size: a.size });
              const got = await Promise.all(workers.map((w) => w.next('attacked', 900_000)));
              const t1 = wallMs();
              // The ordinary client's window: the attack, and at least half a second (a
              // refused literal is over in milliseconds; its aftermath is what counts).
              const tEnd = Math.max(t1, t0 + PROBE_WINDOW_MIN_MS);
              await Bun.sleep(tEnd - wallMs());
              const s = sampler.stop();
              windows.push({ rep, key: a.key, from: t0, to: tEnd });
              const rs = got.flatMap((m) => m.results as AttackResult[]);
              const ans = rs.map((r) => r.answer_ms).filter((x): x is number => x !== null);
              const hist = (answers[a.key] ??= {});
              for (const r of rs) hist[r.answer] = (hist[r.answer] ?? 0) + 1;
              const errs = rs.map((r) => r.error).filter((e): e is string => e !== null);
              if (errs.length) (errors[a.key] ??= []).push(...errs.slice(0, 3));
              f[`${a.key}.answer_p50_ms`] = percentile(ans, 50);
              f[`${a.key}.answer_p99_ms`] = percentile(ans, 99);
              f[`${a.key}.answer_max_ms`] = ans.length ? Math.max(...ans) : null;
              f[`${a.key}.attack_s`] = (t1 - t0) / 1000;
              f[`${a.key}.rss_growth_mib`] = mib(Math.max(0, s.peakRss - s.startRss));
              f[`${a.key}.server_cpu_s`] = s.cpu;
              f[`${a.key}.survived_count`] = rs.filter((r) => r.noop_ok).length;
              f[`${a.key}.toobig_count`] = rs.filter((r) => /TOOBIG/.test(r.answer)).length;
              const h: Record<string, number> = {};
              for (const r of rs) h[r.answer] = (h[r.answer] ?? 0) + 1;
              opts.log(`  ${name} rep ${rep + 1} ${a.key}: ${JSON.stringify(h)}, answer p50 ${round(percentile(ans, 50))} ms, max ${round(ans.length ? Math.max(...ans) : null)} ms, RSS +${mib(Math.max(0, s.peakRss - s.startRss))} MiB, ${((t1 - t0) / 1000).toFixed(1)} s`);
              for (const w of workers) w.send({ type: 'stop' });
              await Promise.all(workers.map((w) => w.next('result', 30_000).catch(() => null)));
            } finally {
              for (const w of workers) w.kill();
            }
          }
          reps.push(f);
        }
        probe.send({ type: 'stop' });
        const pr = await probe.next('result', 180_000);
        const samples = pr.samples as Array<[number, number]>;
        const inWin = (from: number, to: number) => samples.filter(([t]) => t >= from && t <= to).map(([, l]) => l);
        const base = inWin(tBase0, tBase1);
        for (const [rep, f] of reps.entries()) {
          f['probe.baseline_p50_ms'] = percentile(base, 50);
          f['probe.baseline_p99_ms'] = percentile(base, 99);
          for (const w of windows.filter((x) => x.rep === rep)) {
            const l = inWin(w.from, w.to);
            f[`${w.key}.probe_p50_ms`] = percentile(l, 50);
            f[`${w.key}.probe_p99_ms`] = percentile(l, 99);
            f[`${w.key}.probe_max_ms`] = l.length ? Math.max(...l) : null;
            f[`${w.key}.probe_samples_n`] = l.length;
          }
        }
      } finally {
        probe?.kill();
        await target.stop();
      }
      return { reps, details: { answers, client_errors: errors }, problems: target.problems() };
    });
    const headline = attacks.flatMap((a) => [`${a.key}.answer_p50_ms`, `${a.key}.rss_growth_mib`, `${a.key}.probe_p99_ms`, `${a.key}.survived_count`]).concat(['probe.baseline_p99_ms']);
    return { params, caps: [], notes: [], servers, headline };
  },
};
