// Numbers: percentiles, medians, rounding, and the clock every bench process shares.
//
// Invariants:
// - `wallMs()` is comparable across processes on one machine (performance.timeOrigin is
//   the wall clock at process start; process.hrtime in Bun starts at zero per process).
// - Percentiles use the nearest-rank method on a sorted copy; an empty list gives null.

/** Milliseconds on a clock shared by every process on this machine, sub-millisecond. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; null for none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const s = Float64Array.from(values).sort();
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1];
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = Float64Array.from(values).sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface LatencySummary { n: number; p50_ms: number | null; p99_ms: number | null; max_ms: number | null; mean_ms: number | null }

export function summarize(latenciesMs: readonly number[]): LatencySummary {
  const n = latenciesMs.length;
  let sum = 0, max = -Infinity;
  for (const v of latenciesMs) { sum += v; if (v > max) max = v; }
  return {
    n,
    p50_ms: round(percentile(latenciesMs, 50)),
    p99_ms: round(percentile(latenciesMs, 99)),
    max_ms: n ? round(max) : null,
    mean_ms: n ? round(sum / n) : null,
  };
}

/** Round for the JSON: 1 decimal from 100, 2 from 10, 3 from 1, else 4 significant digits (null stays null). */
export function round(v: number | null): number | null {
  if (v === null || !Number.isFinite(v)) return null;
  const a = Math.abs(v);
  if (a === 0) return 0;
  if (a < 1) return Number(v.toPrecision(4));
  const d = a >= 100 ? 1 : a >= 10 ? 2 : 3;
  const f = 10 ** d;
  return Math.round(v * f) / f;
}

/** Median of each numeric key over repetitions; keys missing in some runs use the runs that have them. */
export function medianFigures(runs: ReadonlyArray<Record<string, number | null>>): Record<string, number | null> {
  const keys = new Set<string>();
  for (const r of runs) for (const k of Object.keys(r)) keys.add(k);
  const out: Record<string, number | null> = {};
  for (const k of keys) {
    const vals = runs.map((r) => r[k]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    out[k] = round(median(vals));
  }
  return out;
}

