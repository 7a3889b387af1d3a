// Scenario 7, login: 20 clients, each on its own account, loop connect + authenticate +
// LOGOUT for a fixed time, with LOGIN and with AUTHENTICATE PLAIN (SASL-IR). Both servers
// verify the same kind of stored secret: postern's argon2id (19 MiB, 2 passes); Dovecot's
// passwd-file holds {ARGON2ID} hashes with the same parameters (its default scheme would
// be a cheaper one; the same cost is the fair comparison of everything else).

import { mib, perServer, phase, split, type Figures, type RunOptions, type Scenario } from '../lib/scenario.ts';
import { summarize } from '../lib/stats.ts';
import { benchUsers, startDovecotTarget, startPostern, type Target } from '../lib/targets.ts';

export const loginScenario: Scenario = {
  name: 'login',
  description: 'logins per second with 20 clients (connect, LOGIN or AUTHENTICATE PLAIN, LOGOUT), both servers verifying argon2id hashes of the same cost',
  async run(opts: RunOptions) {
    const clients = Number(opts.flags['login-clients'] ?? (opts.quick ? 4 : 20));
    const durationMs = Number(opts.flags['login-seconds'] ?? (opts.quick ? 0.5 : 5)) * 1000;
    const workersN = Math.min(clients, Math.max(2, navigator.hardwareConcurrency || 2));
    const users = benchUsers(clients);
    const params = { clients, accounts: clients, duration_s: durationMs / 1000, mechanisms: ['LOGIN', 'AUTHENTICATE PLAIN (SASL-IR)'], cycle: 'connect, greeting, authenticate, LOGOUT', first: 'after a server restart, every client logs in once, all at once (LOGIN)', password_hash: 'argon2id m=19456 KiB t=2 p=1 on both', generator_processes: workersN, repetitions: opts.reps };
    const servers = await perServer(opts, async (name) => {
      const target: Target = name === 'postern'
        ? await startPostern({ users })
        : await startDovecotTarget({ users: users.map((u) => ({ ...u, passwordHash: opts.dovecotArgon2(u.password) })), maxConnections: clients + 50 });
      const reps: Figures[] = [];
      try {
        for (let rep = 0; rep < opts.reps; rep++) {
          const f: Figures = {};
          // First logins after a start: no login cache can help (postern keeps recent
          // successful logins in memory; Dovecot's auth cache, off by default, would still
          // verify the hash). All clients at once, one login each.
          await target.restart();
          const first = await phase(target, split(users, workersN).map((g) => ({ kind: 'login', port: target.port, users: g, mech: 'login', once: true })), {});
          const fl: number[] = first.msgs.flatMap((m) => m.auth as number[]);
          const fs = summarize(fl);
          f['first.logins_per_s'] = fl.length / first.seconds;
          f['first.auth_p50_ms'] = fs.p50_ms;
          f['first.auth_p99_ms'] = fs.p99_ms;
          f['first.server_cpu_ms_per_login'] = fl.length ? (first.server.cpu * 1000) / fl.length : null;
          f['first.errors_count'] = first.msgs.reduce((n, m) => n + Number(m.errors), 0);
          opts.log(`  ${name} rep ${rep + 1} first logins: ${fl.length} in ${first.seconds.toFixed(2)} s, auth p50 ${fs.p50_ms} ms`);
          for (const mech of ['login', 'plain'] as const) {
            const ph = await phase(target, split(users, workersN).map((g) => ({ kind: 'login', port: target.port, users: g, mech })), { durationMs });
            const cycle: number[] = [], auth: number[] = [];
            let errors = 0;
            for (const m of ph.msgs) {
              for (const x of m.cycle as number[]) cycle.push(x);
              for (const x of m.auth as number[]) auth.push(x);
              errors += Number(m.errors);
            }
            const c = summarize(cycle), a = summarize(auth);
            f[`${mech}.logins_per_s`] = cycle.length / ph.seconds;
            f[`${mech}.cycle_p50_ms`] = c.p50_ms;
            f[`${mech}.cycle_p99_ms`] = c.p99_ms;
            f[`${mech}.auth_p50_ms`] = a.p50_ms;
            f[`${mech}.auth_p99_ms`] = a.p99_ms;
            f[`${mech}.server_peak_rss_mib`] = mib(ph.server.peakRss);
            f[`${mech}.server_cpu_ms_per_login`] = cycle.length ? (ph.server.cpu * 1000) / cycle.length : null;
            f[`${mech}.gen_cpu_s`] = ph.genCpu;
            f[`${mech}.errors_count`] = errors;
            opts.log(`  ${name} rep ${rep + 1} ${mech}: ${(cycle.length / ph.seconds).toFixed(1)} logins/s, auth p50 ${a.p50_ms} ms${errors ? `, ${errors} errors (${ph.msgs.find((m) => m.firstError)?.firstError})` : ''}`);
          }
          reps.push(f);
        }
      } finally {
        await target.stop();
      }
      return { reps, problems: target.problems() };
    });
    const headline = ['first.logins_per_s', 'first.auth_p50_ms'].concat(['login', 'plain'].flatMap((m) => [`${m}.logins_per_s`, `${m}.auth_p50_ms`, `${m}.auth_p99_ms`, `${m}.server_cpu_ms_per_login`]));
    return { params, caps: [], notes: [], servers, headline };
  },
};
