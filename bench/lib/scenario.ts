// What every scenario shares: its options, its result shape, the postern-vs-Dovecot
// comparison, and a measured phase (workers + process-tree sampling).
//
// Figure keys carry their direction in their name, so the comparison needs no table:
// `..._per_s` is better higher; keys with `gen_`, or ending `_n`, `_count` or
// `_busy_cpu_s` (CPU spent in a fixed-time run, which grows with throughput) are not
// compared; every other figure (times `_ms`/`_s`, memory `_mib`/`_kib`, CPU per op) is
// better lower. `ratio` is always postern / Dovecot; `postern_better` reads it.

import type { ServerName, Target } from './targets.ts';
import { medianFigures, round, wallMs } from './stats.ts';
import { TreeSampler, type SamplerResult } from './proc.ts';
import { results, startWorkers, type Msg } from './pool.ts';

export type Figures = Record<string, number | null>;

export interface Cap { what: string; wanted: number | string; used: number | string; why: string }

export interface RunOptions {
  quick: boolean;
  reps: number;
  servers: ServerName[];
  cacheDir: string;
  /** Dovecot stored password for the login scenario: `{ARGON2ID}...`, postern's cost. */
  dovecotArgon2: (password: string) => string;
  log: (msg: string) => void;
  /** Scenario-specific overrides from the command line (--idle-n=...). */
  flags: Record<string, string>;
}

export interface ServerRun {
  /** Median of each figure over the repetitions. */
  figures: Figures;
  /** Each repetition's figures. */
  reps: Figures[];
  setup?: Record<string, unknown>;
  details?: unknown;
  /** Server log lines at warn/error level (postern) or Error/Fatal lines (Dovecot). */
  problems: string[];
  error?: string;
}

export interface Comparison { postern: number | null; dovecot: number | null; ratio: number | null; better: 'higher' | 'lower'; postern_better: boolean | null }

export interface ScenarioOutput {
  params: Record<string, unknown>;
  caps: Cap[];
  notes: string[];
  servers: Partial<Record<ServerName, ServerRun>>;
  /** Keys for the table on stderr. */
  headline: string[];
}

export interface ScenarioResult extends ScenarioOutput {
  name: string;
  description: string;
  comparison: Record<string, Comparison>;
  duration_s: number;
}

export interface Scenario {
  name: string;
  description: string;
  run(opts: RunOptions): Promise<ScenarioOutput>;
}

export function direction(key: string): 'higher' | 'lower' | 'none' {
  if (key.includes('gen_') || /(_n|_count|_busy_cpu_s)$/.test(key)) return 'none';
  if (key.endsWith('_per_s')) return 'higher';
  return 'lower';
}

export function compare(servers: Partial<Record<ServerName, ServerRun>>): Record<string, Comparison> {
  const p = servers.postern?.figures, d = servers.dovecot?.figures;
  if (!p || !d) return {};
  const out: Record<string, Comparison> = {};
  for (const k of Object.keys(p)) {
    const dir = direction(k);
    if (dir === 'none' || !(k in d)) continue;
    const a = p[k], b = d[k];
    const ratio = a !== null && b !== null && b !== 0 ? round(a / b) : null;
    out[k] = { postern: a, dovecot: b, ratio, better: dir, postern_better: ratio === null ? null : dir === 'higher' ? ratio > 1 : ratio < 1 };
  }
  return out;
}

const MIB = 1024 * 1024;
export const mib = (bytes: number) => round(bytes / MIB);

/** Run `f` for each server; a failure of one is recorded, not thrown. */
export async function perServer(
  opts: RunOptions,
  f: (server: ServerName) => Promise<Omit<ServerRun, 'figures' | 'problems'> & { problems?: string[] }>,
): Promise<Partial<Record<ServerName, ServerRun>>> {
  const out: Partial<Record<ServerName, ServerRun>> = {};
  for (const s of opts.servers) {
    try {
      const r = await f(s);
      out[s] = { figures: medianFigures(r.reps), problems: r.problems ?? [], ...r };
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      opts.log(`${s}: FAILED: ${msg.split('\n').slice(0, 8).join('\n')}`);
      out[s] = { figures: {}, reps: [], problems: [], error: msg.slice(0, 4000) };
    }
  }
  return out;
}

export interface Phase {
  msgs: Msg[];
  /** Generator CPU seconds during the measured part. */
  genCpu: number;
  server: SamplerResult;
  /** Seconds from "go" to the last result. */
  seconds: number;
}

/**
 * A measured phase: spawn the workers, wait until all are connected and logged in, start
 * sampling the server tree, send "go" (with a deadline `durationMs` from now, if given),
 * wait for every result.
 */
export async function phase(target: Target, jobs: Array<Record<string, unknown>>, o: { durationMs?: number; readyTimeoutMs?: number; resultTimeoutMs?: number }): Promise<Phase> {
  const { workers, readyCpu } = await startWorkers(jobs, o.readyTimeoutMs ?? 600_000);
  const sampler = new TreeSampler(target.pid).start();
  const t0 = wallMs();
  const until = o.durationMs !== undefined ? t0 + o.durationMs : undefined;
  // CPU is read at the deadline too: the phase's rate is work done by then.
  let atDeadline: { cpu: number; t: number } | null = null;
  const startCpu = sampler.sample().cpu;
  const timer = o.durationMs !== undefined ? setTimeout(() => { atDeadline = { cpu: sampler.sample().cpu, t: wallMs() }; }, o.durationMs) : null;
  for (const w of workers) w.send({ type: 'go', until });
  let r: Awaited<ReturnType<typeof results>>;
  let server: SamplerResult;
  try {
    r = await results(workers, readyCpu, (o.durationMs ?? 0) + (o.resultTimeoutMs ?? 600_000));
  } finally {
    if (timer) clearTimeout(timer);
    server = sampler.stop();
  }
  const ends = r.msgs.map((m) => Number(m.end ?? 0)).filter((x) => x > 0);
  const end = ends.length ? Math.max(...ends) : wallMs();
  const dl = atDeadline as { cpu: number; t: number } | null;
  if (dl) server = { ...server, cpu: dl.cpu - startCpu };
  return { msgs: r.msgs, genCpu: r.cpu, server, seconds: (end - t0) / 1000 };
}

/** Split items into n nearly equal consecutive groups (none empty). */
export function split<T>(items: readonly T[], n: number): T[][] {
  const k = Math.max(1, Math.min(n, items.length));
  const out: T[][] = [];
  for (let i = 0; i < k; i++) out.push(items.slice(Math.floor((i * items.length) / k), Math.floor(((i + 1) * items.length) / k)));
  return out;
}
