// Scenarios 2 (fetch) and 3 (search) on one big mailbox: the corpus (100,000 messages,
// ~700 MB) in the INBOX of one account, UID n = corpus message n-1 on both servers.
//
// Each measured command runs in a fresh session of a worker process (login and, except
// for the SELECT itself, SELECT INBOX are not timed), so the server's CPU and memory are
// sampled for exactly that command. Before the repetitions, one untimed pass of every
// command warms both servers up (Dovecot builds its index and cache on first access;
// postern parsed at APPEND) and the page cache; its times are kept as `cold` details.
// Result counts are compared across servers: the same mailbox must give the same answers.

import { type Corpus, loadCorpus, NEEDLES } from '../lib/corpus.ts';
import { dovecotFilled, duBytes, freshCopy, posternFilled } from '../lib/mailbox.ts';
import { mib, perServer, phase, type Cap, type Figures, type RunOptions, type Scenario, type ScenarioOutput } from '../lib/scenario.ts';
import { benchUsers, startDovecotTarget, startPostern, type Target } from '../lib/targets.ts';
import { round } from '../lib/stats.ts';
import type { Op, OpResult } from '../jobs/ops.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FULL_N = 100_000;
const QUICK_N = 2_000;

export interface Fixture { corpus: Corpus; postern: string; dovecot: string; setup: Record<string, unknown>; caps: Cap[]; n: number }

let fixture: Promise<Fixture> | null = null;

/** The corpus, postern's filled data dir and Dovecot's maildir: made once per run (compress.ts too). */
export function mailbox(opts: RunOptions): Promise<Fixture> {
  fixture ??= (async () => {
    const caps: Cap[] = [];
    let n = Number(opts.flags['mailbox-n'] ?? (opts.quick ? QUICK_N : FULL_N));
    if (!opts.quick && n !== FULL_N) caps.push({ what: 'mailbox messages', wanted: FULL_N, used: n, why: '--mailbox-n' });
    const user = benchUsers(1)[0];
    opts.log(`  mailbox: corpus of ${n} messages`);
    const corpus = loadCorpus(opts.cacheDir, n, (d) => opts.log(`  generated ${d}`));
    const slices = [{ user, from: 0, to: n }];
    const p = await posternFilled(opts.cacheDir, corpus, slices, opts.log);
    const d = opts.servers.includes('dovecot') ? dovecotFilled(opts.cacheDir, corpus, slices, opts.log) : null;
    const setup = {
      corpus: { messages: n, bytes: corpus.index.totalBytes, mean_bytes: Math.round(corpus.index.totalBytes / n), generated_now: corpus.generated, seconds: round(corpus.seconds) },
      postern_fill: { cached: p.cached, seconds: round(p.seconds), method: 'MULTIAPPEND of 100 messages per command, LITERAL+, 4 commands in flight', data_dir_mib: mib(duBytes(p.dir)) },
      dovecot_maildir: d ? { cached: d.cached, seconds: round(d.seconds), method: 'maildir written directly (cur/, S= and W= sizes, flags, mtime, dovecot-uidlist)' } : null,
    };
    return { corpus, postern: p.dir, dovecot: d?.dir ?? '', setup, caps, n };
  })();
  return fixture;
}

export async function startOn(name: 'postern' | 'dovecot', fx: Fixture, o: { compress?: boolean } = {}): Promise<{ target: Target; cleanup: () => void }> {
  const user = benchUsers(1)[0];
  if (name === 'postern') {
    const tmp = mkdtempSync(join(tmpdir(), 'postern-bench-copy-'));
    freshCopy(fx.postern, join(tmp, 'data'));
    const target = await startPostern({ users: [user], dataDir: join(tmp, 'data') });
    return { target, cleanup: () => rmSync(tmp, { recursive: true, force: true }) };
  }
  const target = await startDovecotTarget({ users: [user], dir: fx.dovecot, maxConnections: 50, compress: o.compress });
  return { target, cleanup: () => {} };
}

export interface Measured { op: OpResult; serverCpu: number; serverPeakRss: number; genCpu: number }

/** One op in a fresh session: prelude untimed, then the op, server sampled around it. */
export async function measure(target: Target, op: Op, prelude: string[], o: { compress?: boolean } = {}): Promise<Measured> {
  const user = benchUsers(1)[0];
  const ph = await phase(target, [{ kind: 'ops', port: target.port, user, ops: [op], prelude, compress: o.compress }], {});
  const r = (ph.msgs[0].ops as OpResult[])[0];
  if (r.status !== 'OK') throw new Error(`${op.command}: ${r.status} ${r.text}`);
  return { op: r, serverCpu: ph.server.cpu, serverPeakRss: ph.server.peakRss, genCpu: ph.genCpu };
}

interface OpSpec extends Op { key: string; prelude: string[]; expect?: number; throughput?: 'literal' | 'bytes' }

async function runOps(opts: RunOptions, scenario: string, specs: OpSpec[], extra: (fx: Fixture) => Record<string, unknown>): Promise<ScenarioOutput> {
  const fx = await mailbox(opts);
  const counts: Record<string, Record<string, number>> = {};
  const servers = await perServer(opts, async (name) => {
    const t0 = performance.now();
    const { target, cleanup } = await startOn(name, fx);
    const setup = { start_seconds: round((performance.now() - t0) / 1000) };
    const reps: Figures[] = [];
    const cold: Record<string, number | null> = {};
    try {
      opts.log(`  ${name}: warm-up pass`);
      for (const s of specs) cold[`${s.key}_ms`] = round((await measure(target, s, s.prelude)).op.ms);
      for (let rep = 0; rep < opts.reps; rep++) {
        const f: Figures = {};
        let peak = 0;
        for (const s of specs) {
          const m = await measure(target, s, s.prelude);
          f[`${s.key}_ms`] = m.op.ms;
          if (s.throughput) f[`${s.key}_mib_per_s`] = ((s.throughput === 'literal' ? m.op.literal : m.op.bytes) / 1024 / 1024) / (m.op.ms / 1000);
          f[`${s.key}_server_cpu_s`] = m.serverCpu;
          f[`${s.key}_gen_cpu_s`] = m.genCpu;
          f[`${s.key}_result_count`] = m.op.count;
          (counts[name] ??= {})[s.key] = m.op.count;
          if (m.serverPeakRss > peak) peak = m.serverPeakRss;
        }
        f.server_peak_rss_mib = mib(peak);
        reps.push(f);
        opts.log(`  ${name} rep ${rep + 1}: ${specs.map((s) => `${s.key} ${round(f[`${s.key}_ms`] as number)} ms`).join(', ')}`);
      }
    } finally {
      const problems = target.problems();
      await target.stop();
      cleanup();
      if (problems.length) opts.log(`  ${name}: ${problems.length} problem lines, first: ${problems[0]}`);
    }
    return { reps, setup, details: { cold_pass: cold }, problems: target.problems() };
  });
  const notes: string[] = [];
  for (const s of specs) {
    const p = counts.postern?.[s.key], d = counts.dovecot?.[s.key];
    if (s.expect !== undefined && p !== undefined && p !== s.expect) notes.push(`${s.key}: postern answered ${p} results, expected ${s.expect}`);
    if (p !== undefined && d !== undefined && p !== d) notes.push(`${s.key}: result counts differ: postern ${p}, dovecot ${d}`);
  }
  return {
    params: { mailbox_messages: fx.n, mailbox_bytes: fx.corpus.index.totalBytes, corpus: fx.setup.corpus, commands: Object.fromEntries(specs.map((s) => [s.key, s.command])), session: 'each command in a fresh session (login and SELECT untimed, except select)', warmup: 'one untimed pass of every command first', repetitions: opts.reps, ...extra(fx) },
    caps: fx.caps,
    notes,
    servers: Object.fromEntries(Object.entries(servers).map(([k, v]) => [k, { ...v!, setup: { ...v!.setup, mailbox: k === 'postern' ? fx.setup.postern_fill : fx.setup.dovecot_maildir } }])),
    headline: specs.flatMap((s) => [`${s.key}_ms`, ...(s.throughput ? [`${s.key}_mib_per_s`] : [])]).filter((k) => !k.endsWith('_mib_per_s') || scenario === 'fetch').concat(['server_peak_rss_mib']),
  };
}

export const fetchScenario: Scenario = {
  name: 'fetch',
  description: 'a 100,000-message mailbox: SELECT; UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE); ENVELOPE+BODYSTRUCTURE of 10,000; BODY.PEEK[] of 2,000',
  async run(opts) {
    const fx = await mailbox(opts);
    const n = fx.n;
    const env = Math.min(opts.quick ? 500 : 10_000, n), body = Math.min(opts.quick ? 200 : 2_000, n);
    const sel = ['SELECT INBOX'];
    const specs: OpSpec[] = [
      // The worker process is new for every measured command: one untimed SELECT first, so
      // the figure is the server's SELECT and not the client's first run of its own code.
      { key: 'select', name: 'select', command: 'SELECT INBOX', prelude: ['SELECT INBOX', 'UNSELECT'], expect: n },
      { key: 'fetch_meta', name: 'fetch_meta', command: 'UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)', prelude: sel, expect: n, throughput: 'bytes' },
      { key: 'fetch_env_bs', name: 'fetch_env_bs', command: `UID FETCH ${n - env + 1}:${n} (ENVELOPE BODYSTRUCTURE)`, prelude: sel, expect: env, throughput: 'bytes' },
      { key: 'fetch_body', name: 'fetch_body', command: `UID FETCH ${n - body + 1}:${n} BODY.PEEK[]`, prelude: sel, expect: body, throughput: 'literal' },
    ];
    return runOps(opts, 'fetch', specs, () => ({ envelope_bodystructure_messages: env, body_messages: body }));
  },
};

export const searchScenario: Scenario = {
  name: 'search',
  description: 'the same mailbox: flag search, FROM and SUBJECT header searches, BODY text search over 10,000 messages, ESEARCH COUNT',
  async run(opts) {
    const fx = await mailbox(opts);
    const n = fx.n;
    const bodyN = Math.min(opts.quick ? 1_000 : 10_000, n);
    const sel = ['SELECT INBOX'];
    const specs: OpSpec[] = [
      { key: 'flag', name: 'flag', command: 'UID SEARCH FLAGGED', prelude: sel },
      { key: 'from', name: 'from', command: `UID SEARCH FROM "${NEEDLES.from}"`, prelude: sel },
      { key: 'subject', name: 'subject', command: `UID SEARCH SUBJECT "${NEEDLES.subject}"`, prelude: sel },
      { key: 'body', name: 'body', command: `UID SEARCH UID ${n - bodyN + 1}:${n} BODY "${NEEDLES.body}"`, prelude: sel },
      { key: 'esearch_count', name: 'esearch_count', command: 'UID SEARCH RETURN (COUNT) UNSEEN', prelude: sel },
    ];
    return runOps(opts, 'search', specs, () => ({ body_search_messages: bodyN }));
  },
};
