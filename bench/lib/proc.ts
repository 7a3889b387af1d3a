// What a server process tree costs, read from Linux /proc: resident memory (RSS, and PSS
// on request), CPU seconds, and a sampler that keeps the peak while a load runs.
//
// Invariants:
// - CPU of a tree is the sum over its live processes of utime + stime + cutime + cstime:
//   a child that exited and was reaped by a process of the tree (Dovecot's master reaps
//   its imap processes) is still counted, exactly once. A delta between two readings is
//   therefore the CPU the tree spent in between, even as processes come and go.
// - RSS of a tree is the sum of each process's resident pages, so pages shared between
//   processes (Dovecot's libraries in every imap process) count once per process. PSS
//   (proportional set size, /proc/<pid>/smaps_rollup) splits shared pages between their
//   users; it is read on request only (it walks every mapping).
// - The tree (the pid list) is re-read on every sample, at an interval that grows with
//   the cost of a sample, so that sampling 10,000 processes does not become the load.

import { readFileSync, writeFileSync } from 'node:fs';
import { processTree } from '../dovecot.ts';

function getconf(name: string, fallback: number): number {
  try {
    const r = Bun.spawnSync(['getconf', name], { stdout: 'pipe', stderr: 'ignore' });
    const n = Number(r.stdout.toString().trim());
    return n > 0 ? n : fallback;
  } catch {
    return fallback;
  }
}

export const CLK_TCK = getconf('CLK_TCK', 100);
export const PAGE_SIZE = getconf('PAGESIZE', 4096);

export interface ProcReading {
  /** Resident bytes, summed. */
  rss: number;
  /** CPU seconds (utime + stime + cutime + cstime), summed. */
  cpu: number;
  processes: number;
}

/** One process's stat fields we need, or null if it is gone. */
function statOf(pid: number): { rssPages: number; ticks: number } | null {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // Fields after the command name: index 0 is field 3 (state).
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return { rssPages: Number(f[21]), ticks };
}

export function readTree(pids: readonly number[]): ProcReading {
  let rss = 0, ticks = 0, n = 0;
  for (const p of pids) {
    const st = statOf(p);
    if (!st) continue;
    rss += st.rssPages * PAGE_SIZE;
    ticks += st.ticks;
    n++;
  }
  return { rss, cpu: ticks / CLK_TCK, processes: n };
}

/** The tree of `root` now: RSS, CPU, process count. */
export function treeUsage(root: number): ProcReading {
  return readTree(processTree(root));
}

/** Proportional set size of the tree, bytes (slow for big trees: one smaps_rollup per process). */
export function treePss(root: number): number {
  let pss = 0;
  for (const p of processTree(root)) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'latin1'));
      if (m) pss += Number(m[1]) * 1024;
    } catch {
      // gone
    }
  }
  return pss;
}

/** CPU seconds of this process so far (user + system). */
export function selfCpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export interface SamplerResult {
  /** RSS when the sampler started, bytes. */
  startRss: number;
  /** Highest RSS seen, bytes. */
  peakRss: number;
  /** RSS at stop, bytes. */
  endRss: number;
  /** CPU seconds the tree spent between start and stop. */
  cpu: number;
  /** Most processes seen at once. */
  peakProcesses: number;
  samples: number;
  intervalMs: number;
}

/**
 * Samples a process tree from start() to stop(): peak RSS and the CPU delta. The interval
 * starts at `intervalMs` and becomes 5x the cost of the last sample when that is larger.
 */
export class TreeSampler {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private start0: ProcReading | null = null;
  private last: ProcReading | null = null;
  private peakRss = 0;
  private peakProcs = 0;
  private samples = 0;
  private interval: number;

  constructor(private readonly root: number, private readonly intervalMs = 100) {
    this.interval = intervalMs;
  }

  sample(): ProcReading {
    const t = performance.now();
    const r = treeUsage(this.root);
    const cost = performance.now() - t;
    this.interval = Math.max(this.intervalMs, cost * 5);
    this.samples++;
    if (r.rss > this.peakRss) this.peakRss = r.rss;
    if (r.processes > this.peakProcs) this.peakProcs = r.processes;
    this.last = r;
    return r;
  }

  start(): this {
    this.start0 = this.sample();
    const tick = () => {
      this.sample();
      this.timer = setTimeout(tick, this.interval);
    };
    this.timer = setTimeout(tick, this.interval);
    return this;
  }

  stop(): SamplerResult {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const end = this.sample();
    const s = this.start0 ?? end;
    return {
      startRss: s.rss, peakRss: this.peakRss, endRss: end.rss, cpu: end.cpu - s.cpu,
      peakProcesses: this.peakProcs, samples: this.samples, intervalMs: Math.round(this.interval),
    };
  }
}

/** Total and available memory (bytes) from /proc/meminfo. */
export function meminfo(): { total: number; available: number } {
  const t = readFileSync('/proc/meminfo', 'latin1');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0) * 1024;
  return { total: kb('MemTotal'), available: kb('MemAvailable') };
}

/** A /proc/sys value as text, or null. */
export function sysctl(path: string): string | null {
  try {
    return readFileSync(`/proc/sys/${path}`, 'latin1').trim();
  } catch {
    return null;
  }
}

/**
 * Raise a /proc/sys value to at least `min` (root only) and return a function that puts
 * the old value back (also run at exit). Null when it was high enough or cannot be set.
 */
export function raiseSysctl(path: string, min: number): { was: number; now: number; restore: () => void } | null {
  const cur = Number(sysctl(path));
  if (!Number.isFinite(cur) || cur >= min || process.getuid?.() !== 0) return null;
  const file = `/proc/sys/${path}`;
  try {
    writeFileSync(file, String(min));
  } catch {
    return null;
  }
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    process.off('exit', restore);
    try { writeFileSync(file, String(cur)); } catch { /* leave it */ }
  };
  process.on('exit', restore);
  return { was: cur, now: min, restore };
}
