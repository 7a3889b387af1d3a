// The servers under test, behind one interface: postern (`src/main.ts serve` with a bench
// config, accounts made with the real CLI) and Dovecot (bench/dovecot.ts).
//
// Invariants:
// - postern gets a fresh data directory per start unless the caller hands it one (a
//   cached, filled mailbox copied for this scenario); `log_level = "warn"` (logging costs),
//   `max_connections_per_ip = 0`, one plain listener on 127.0.0.1, no failed-login delay.
//   With log level warn the server does not log `msg=listening`, so the port is chosen
//   here (free a moment before) and the server is up once it greets on it.
// - Every start has a deadline and every stop ends the whole process tree; a process
//   `exit` hook kills what is still running if the bench itself dies.
// - Server output is drained continuously (a full pipe would stall the server); the tail
//   is kept for errors and lines at level warn or above are counted for the report.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { alive, dovecotAvailable, dovecotVersion, freePort, greets, processTree, startDovecot, type Dovecot } from '../dovecot.ts';

export const REPO = resolve(import.meta.dir, '../..');
const MAIN = join(REPO, 'src/main.ts');

export type ServerName = 'postern' | 'dovecot';

export interface BenchUser { user: string; password: string }

export interface Target {
  name: ServerName;
  port: number;
  /** Root of the server's process tree. */
  pid: number;
  version: string;
  users: BenchUser[];
  /** postern: the data dir; dovecot: the base dir. */
  dir: string;
  /** Lines at warn/error level (postern) or Error/Fatal/Panic lines (dovecot) so far. */
  problems(): string[];
  /** Stop and start again on the same data (new port and pid; in-memory state is gone). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** `u0001@bench.test`-style names. */
export function benchUsers(n: number, password = 'bench-password-1'): BenchUser[] {
  return Array.from({ length: n }, (_, i) => ({ user: `u${String(i + 1).padStart(5, '0')}@bench.test`, password }));
}

function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'POSTERN_CONFIG' && k !== 'POSTERN_TRACE') env[k] = v;
  return env;
}

async function cli(args: string[], timeoutMs = 60_000): Promise<void> {
  const p = Bun.spawn([process.execPath, MAIN, ...args], { cwd: REPO, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', env: childEnv() });
  const timer = setTimeout(() => p.kill(9), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`postern ${args.join(' ')}: exit ${code}\n${out}${err}`);
}

/** Run `f` over items with at most `n` at once. */
export async function parallel<T>(items: readonly T[], n: number, f: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      await f(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, lane));
}

function gitCommit(): { commit: string | null; dirty: boolean | null } {
  try {
    const r = Bun.spawnSync(['git', 'rev-parse', 'HEAD'], { cwd: REPO, stdout: 'pipe', stderr: 'ignore' });
    const commit = r.exitCode === 0 ? r.stdout.toString().trim() : null;
    const s = Bun.spawnSync(['git', 'status', '--porcelain', '--', 'src', 'package.json'], { cwd: REPO, stdout: 'pipe', stderr: 'ignore' });
    return { commit, dirty: s.exitCode === 0 ? s.stdout.toString().trim() !== '' : null };
  } catch {
    return { commit: null, dirty: null };
  }
}

export function posternInfo(): { version: string; commit: string | null; dirty: boolean | null } {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  return { version: pkg.version, ...gitCommit() };
}

export function dovecotInfo(): { available: boolean; version: string | null } {
  return { available: dovecotAvailable(), version: dovecotVersion() };
}

export interface PosternOptions {
  users: BenchUser[];
  /** The data dir to serve (default a fresh one inside the temporary dir). */
  dataDir?: string;
  /** Create the accounts with the CLI (default: only when `dataDir` is not given: a given one is a copy of a filled one). */
  createAccounts?: boolean;
  /** Where to put the temporary dir (default the OS temp dir). */
  parent?: string;
  startTimeoutMs?: number;
}

/** The config TOML of a bench postern. */
export function posternConfig(dataDir: string, port: number): string {
  return [
    `data_dir = ${JSON.stringify(dataDir)}`,
    'log_level = "warn"',
    '',
    '[auth]',
    'plaintext_without_tls = "loopback"',
    'failed_login_delay_ms = 0',
    'failed_login_delay_max_ms = 0',
    '',
    '[limits]',
    'max_connections_per_ip = 0',
    'idle_timeout_seconds = 3600',
    'login_timeout_seconds = 600',
    '',
    '[[listeners]]',
    'name = "imap"',
    'address = "127.0.0.1"',
    `port = ${port}`,
    'tls = "none"',
    '',
  ].join('\n');
}

/** BENCH_PROFILE=DIR: every postern server of the run writes a CPU profile (JSON and
 * Markdown) into DIR when it stops. */
function profileFlags(): string[] {
  const dir = process.env.BENCH_PROFILE;
  return dir ? ['--cpu-prof', '--cpu-prof-md', `--cpu-prof-dir=${dir}`] : [];
}

/** Create the accounts of `users` in the data dir of `configPath` with the real CLI. */
export async function addPosternAccounts(configPath: string, users: BenchUser[]): Promise<void> {
  for (const d of new Set(users.map((u) => u.user.split('@')[1]))) await cli(['domain', 'add', d, '--config', configPath]);
  // argon2id per account: run a few CLIs at once.
  await parallel(users, Math.max(2, navigator.hardwareConcurrency || 2), (u) => cli(['account', 'add', u.user, '--password', u.password, '--config', configPath]));
}

/** Start postern; with `dataDir` the accounts are assumed to exist, else they are created. */
export async function startPostern(opts: PosternOptions): Promise<Target> {
  const dir = mkdtempSync(join(opts.parent ?? tmpdir(), 'postern-bench-'));
  const dataDir = opts.dataDir ?? join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const configPath = join(dir, 'postern.toml');
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const tail: string[] = [];
  const problems: string[] = [];
  try {
    writeFileSync(configPath, posternConfig(dataDir, 0));
    if (opts.createAccounts ?? !opts.dataDir) await addPosternAccounts(configPath, opts.users);
  } catch (e) {
    cleanup();
    throw e;
  }

  let proc: ReturnType<typeof Bun.spawn> | null = null;
  let port = 0;
  const onExit = () => { if (proc) try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ } };
  process.on('exit', onExit);

  const spawn = async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      port = await freePort();
      writeFileSync(configPath, posternConfig(dataDir, port));
      const p = Bun.spawn([process.execPath, ...profileFlags(), MAIN, 'serve', '--config', configPath], { cwd: REPO, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', env: childEnv() });
      let exited = false;
      void p.exited.then(() => { exited = true; });
      const pump = async (st: ReadableStream<Uint8Array>) => {
        const dec = new TextDecoder();
        let buf = '';
        for await (const chunk of st) {
          buf += dec.decode(chunk, { stream: true });
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            tail.push(line);
            if (tail.length > 50) tail.shift();
            if ((/\blevel=(warn|error)\b/.test(line) || /serverbug/i.test(line)) && problems.length < 1000) problems.push(line);
          }
        }
      };
      void pump(p.stdout as ReadableStream<Uint8Array>);
      void pump(p.stderr as ReadableStream<Uint8Array>);
      if (await greets(port, Date.now() + (opts.startTimeoutMs ?? 15_000), () => exited)) {
        proc = p;
        return;
      }
      p.kill(9);
      await p.exited;
      if (!tail.some((l) => /EADDRINUSE|address already in use/i.test(l))) break;
    }
    throw new Error(`postern did not start on port ${port}:\n${tail.join('\n')}`);
  };
  const halt = async () => {
    const p = proc;
    if (!p) return;
    proc = null;
    const tree = processTree(p.pid);
    p.kill('SIGTERM');
    const killer = setTimeout(() => { for (const x of tree) try { process.kill(x, 'SIGKILL'); } catch { /* gone */ } }, 10_000);
    await p.exited;
    clearTimeout(killer);
    for (const x of tree) if (alive(x)) try { process.kill(x, 'SIGKILL'); } catch { /* gone */ }
  };

  try {
    await spawn();
  } catch (e) {
    process.off('exit', onExit);
    cleanup();
    throw e;
  }
  let stopped = false;
  return {
    name: 'postern', get port() { return port; }, get pid() { return proc?.pid ?? 0; }, version: posternInfo().version, users: opts.users, dir: dataDir,
    problems: () => [...problems],
    async restart() {
      await halt();
      await spawn();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await halt();
      process.off('exit', onExit);
      cleanup();
    },
  };
}

export interface DovecotTargetOptions {
  users: Array<BenchUser & { passwordHash?: string }>;
  /** A kept base dir (a cached maildir); default a temporary one removed on stop. */
  dir?: string;
  maxConnections?: number;
  /** Offer COMPRESS=DEFLATE (bench/dovecot.ts). */
  compress?: boolean;
}

export async function startDovecotTarget(opts: DovecotTargetOptions): Promise<Target> {
  // A dir of our own, so that restart() keeps the mail; removed by stop() unless given.
  const own = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'postern-bench-dovecot-'));
  const start = () => startDovecot({ users: opts.users, storage: 'maildir', dir, maxConnections: opts.maxConnections ?? 1000, startTimeoutMs: 30_000, compress: opts.compress });
  let d: Dovecot;
  try {
    d = await start();
  } catch (e) {
    if (own) rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const logs: string[] = [];
  return {
    name: 'dovecot', get port() { return d.port; }, get pid() { return d.pid; }, version: d.version, users: opts.users, dir,
    problems: () => logs.concat(d.log()).join('\n').split('\n').filter((l) => /\b(Error|Fatal|Panic):/.test(l)).slice(0, 1000),
    async restart() {
      logs.push(d.log());
      await d.stop();
      d = await start();
    },
    async stop() {
      await d.stop();
      if (own) rmSync(dir, { recursive: true, force: true });
    },
  };
}
