// `npm run bench [-- --quick] [-- --only NAME[,NAME]]`: every scenario against postern and a
// throwaway Dovecot, side by side in the same run. Writes one JSON document to
// bench/results/<timestamp>.json and to stdout, and a short table to stderr.
//
// Flags: --quick (small sizes, 1 repetition: checks the harness, never a timing),
// --only NAME[,NAME], --reps N, --no-dovecot, --out FILE, --list, and scenario knobs
// --NAME=VALUE (see bench/README.md), e.g. --idle-n=1000,10000.
//
// Invariants:
// - Each scenario starts its own servers (fresh data dirs, or a fresh copy of a cached
//   mailbox) and stops them, so one scenario's state never reaches the next.
// - A scenario that fails for one server is recorded with its error; the run goes on.
// - Without Dovecot, postern runs alone and the JSON and the table say so.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname, release } from 'node:os';
import { join } from 'node:path';
import { compare, direction, type RunOptions, type Scenario, type ScenarioResult } from './lib/scenario.ts';
import { meminfo, sysctl } from './lib/proc.ts';
import { dovecotInfo, posternInfo, REPO, type ServerName } from './lib/targets.ts';
import { codecsScenario } from './codecs.ts';
import { appendScenario } from './scenarios/append.ts';
import { compressScenario } from './scenarios/compress.ts';
import { fetchScenario, searchScenario } from './scenarios/mailbox.ts';
import { idleScenario } from './scenarios/idle.ts';
import { literalsScenario } from './scenarios/literals.ts';
import { loginScenario } from './scenarios/login.ts';
import { mixedScenario } from './scenarios/mixed.ts';

export const SCENARIOS: Scenario[] = [appendScenario, fetchScenario, searchScenario, mixedScenario, idleScenario, literalsScenario, loginScenario, compressScenario, codecsScenario];

export const SCHEMA = 'postern-bench/1';

interface Args { quick: boolean; only: string[] | null; reps: number | null; dovecot: boolean; out: string | null; list: boolean; flags: Record<string, string> }

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, only: null, reps: null, dovecot: true, out: null, list: false, flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [k, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    switch (k) {
      case '--quick': a.quick = true; break;
      case '--only': a.only = value().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--reps': a.reps = Number(value()); break;
      case '--no-dovecot': a.dovecot = false; break;
      case '--out': a.out = value(); break;
      case '--list': a.list = true; break;
      case '--help': case '-h':
        process.stderr.write('usage: npm run bench -- [--quick] [--only NAME[,NAME]] [--reps N] [--no-dovecot] [--out FILE] [--list] [--KNOB=VALUE]\n');
        process.exit(0);
        break;
      default:
        if (k.startsWith('--') && inline !== undefined) a.flags[k.slice(2)] = inline;
        else throw new Error(`unknown argument ${arg} (knobs take --name=value)`);
    }
  }
  if (a.reps !== null && !(a.reps >= 1)) throw new Error('--reps needs a number >= 1');
  return a;
}

function machine() {
  const m = meminfo();
  const cpu = cpus();
  const nofile = Bun.spawnSync(['sh', '-c', 'ulimit -n; ulimit -Hn'], { stdout: 'pipe' }).stdout.toString().trim().split('\n');
  return {
    cores: navigator.hardwareConcurrency || cpu.length,
    cpu_model: cpu[0]?.model ?? null,
    memory_mib: Math.round(m.total / 1024 / 1024),
    memory_available_mib: Math.round(m.available / 1024 / 1024),
    kernel: release(),
    hostname: hostname(),
    bun: Bun.version,
    ulimit_nofile: { soft: Number(nofile[0]), hard: Number(nofile[1]) },
    inotify_max_user_instances: Number(sysctl('fs/inotify/max_user_instances') ?? NaN),
    ip_local_port_range: sysctl('net/ipv4/ip_local_port_range'),
    pid_max: Number(sysctl('kernel/pid_max') ?? NaN),
    running_as_root: process.getuid?.() === 0,
  };
}

function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(0) : a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/** The table for people: per scenario, its headline figures, postern, Dovecot, ratio. */
export function table(doc: { scenarios: ScenarioResult[]; dovecot: { available: boolean; version: string | null; used: boolean } }): string {
  const rows: string[][] = [['scenario', 'figure', 'postern', doc.dovecot.used ? `dovecot ${doc.dovecot.version}` : 'dovecot (not run)', 'p/d', 'better']];
  for (const s of doc.scenarios) {
    const p = s.servers.postern, d = s.servers.dovecot;
    if (p?.error) rows.push([s.name, 'postern FAILED', p.error.split('\n')[0].slice(0, 60), '', '', '']);
    if (d?.error) rows.push([s.name, 'dovecot FAILED', '', d.error.split('\n')[0].slice(0, 60), '', '']);
    for (const k of s.headline) {
      const c = s.comparison[k];
      const dir = direction(k);
      const pv = p?.figures[k], dv = d?.figures[k];
      if (pv === undefined && dv === undefined) continue;
      const better = !c || c.postern_better === null || !(c.ratio! > 0) ? '' : c.postern_better ? `postern ${fmt(dir === 'higher' ? c.ratio! : 1 / c.ratio!)}x` : `dovecot ${fmt(dir === 'higher' ? 1 / c.ratio! : c.ratio!)}x`;
      rows.push([s.name, k, fmt(pv), d ? fmt(dv) : '-', c ? fmt(c.ratio) : '-', better]);
    }
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r, ri) => r.map((c, i) => (i >= 2 && ri > 0 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ')).join('\n') + '\n';
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.name}\t${s.description}\n`);
    return 0;
  }
  const unknown = (args.only ?? []).filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const chosen = SCENARIOS.filter((s) => !args.only || args.only.includes(s.name));
  const dv = dovecotInfo();
  const useDovecot = args.dovecot && dv.available;
  const servers: ServerName[] = useDovecot ? ['postern', 'dovecot'] : ['postern'];
  const reps = args.reps ?? (args.quick ? 1 : 3);
  const started = new Date();
  const log = (msg: string) => process.stderr.write(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`);
  const notes: string[] = [];
  if (!dv.available) notes.push('Dovecot is not installed (Debian: dovecot-imapd): postern ran alone, there are no ratios.');
  else if (!args.dovecot) notes.push('--no-dovecot: postern ran alone, there are no ratios.');
  if (args.quick) notes.push('--quick: small sizes and 1 repetition; checks that the harness works, the figures are not comparable to a full run.');
  const hashCache = new Map<string, string>();
  const opts: RunOptions = {
    quick: args.quick, reps, servers, cacheDir: join(REPO, 'bench', '.cache'), log, flags: args.flags,
    dovecotArgon2(password) {
      let h = hashCache.get(password);
      if (!h) {
        // postern's parameters (src/sasl/secrets.ts): argon2id, 19 MiB, 2 passes.
        h = `{ARGON2ID}${Bun.password.hashSync(password, { algorithm: 'argon2id', memoryCost: 19456, timeCost: 2 })}`;
        hashCache.set(password, h);
      }
      return h;
    },
  };
  log(`postern vs ${useDovecot ? `Dovecot ${dv.version}` : 'nothing (Dovecot not run)'}; scenarios: ${chosen.map((s) => s.name).join(', ')}; ${reps} repetition(s)${args.quick ? '; quick' : ''}`);
  const results: ScenarioResult[] = [];
  for (const s of chosen) {
    log(`scenario ${s.name}: ${s.description}`);
    const t0 = performance.now();
    const out = await s.run(opts);
    const r: ScenarioResult = { name: s.name, description: s.description, ...out, comparison: compare(out.servers), duration_s: Math.round((performance.now() - t0) / 100) / 10 };
    results.push(r);
    log(`scenario ${s.name} done in ${r.duration_s} s`);
  }
  const finished = new Date();
  const doc = {
    schema: SCHEMA,
    started: started.toISOString(),
    finished: finished.toISOString(),
    duration_s: Math.round((finished.getTime() - started.getTime()) / 100) / 10,
    mode: args.quick ? 'quick' : 'full',
    only: args.only,
    repetitions: reps,
    argv,
    postern: posternInfo(),
    dovecot: { ...dv, used: useDovecot, storage: 'maildir', config: 'bench/dovecot.ts: loopback, plaintext, passwd-file, maildir, fsync defaults, process and client limits raised per scenario' },
    machine: machine(),
    notes,
    scenarios: results,
  };
  const json = JSON.stringify(doc, null, 2);
  const outPath = args.out ?? join(REPO, 'bench', 'results', `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(outPath, '..'), { recursive: true });
  writeFileSync(outPath, json + '\n');
  process.stdout.write(json + '\n');
  process.stderr.write('\n' + table(doc) + (notes.length ? notes.map((n) => `note: ${n}`).join('\n') + '\n' : '') + `written to ${outPath}\n`);
  const failed = results.some((r) => Object.values(r.servers).some((s) => s?.error));
  return failed ? 1 : 0;
}

if (import.meta.main) {
  try {
    process.exit(await main(process.argv.slice(2)));
  } catch (e) {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  }
}
