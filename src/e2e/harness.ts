// End-to-end harness: a real `postern serve` process per test file, on loopback ports
// chosen by the kernel, in a temporary directory, set up with the real CLI.
//
// Invariants:
// - Options objects only; `{}` gives one account, a plain+STARTTLS listener and an
//   implicit-TLS listener with a fresh self-signed certificate.
// - Every step has a deadline (server start 5 s, CLI 10 s): a broken server fails the test
//   with the log tail, it never hangs it.
// - `assertHealthy()` (call it in afterEach) and `stop()` fail the test when the server logged
//   `msg=serverbug` or died on its own; `stop()` also closes every client it handed out.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Subprocess } from 'bun';
import { afterAll, afterEach, beforeAll, setDefaultTimeout } from 'bun:test';
import { lines } from '../../bench/lib/lines.ts';
import { generateSelfSigned } from '../config/cert.ts';
import type { Config } from '../config/schema.ts';
import { ImapClient, type ConnectOptions } from '../imap/client.ts';

// bun test's default per-test timeout is 5 s (bunfig's [test] timeout is not applied by Bun
// 1.4.4), and on a timeout it SIGTERMs every process the file spawned, the server included.
// Our own waits (client 10 s, server start 5 s) must fail first, with a message.
setDefaultTimeout(60_000);

export const REPO = resolve(import.meta.dir, '../..');
const MAIN = join(REPO, 'src/main.ts');

export interface Account { address: string; password: string }

type DeepPartial<T> = T extends Array<infer U> ? Array<U> : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

export interface ServerOptions {
  /** Default: one account, `user@localhost` / `password1234`. */
  accounts?: Account[];
  /** Overrides of the generated config (deep-merged; arrays replace). */
  config?: DeepPartial<Config>;
  /** TLS listeners (default true): a plain+STARTTLS and an implicit-TLS listener; false: one plain listener without certificate. */
  tls?: boolean;
  /** Server start deadline, ms (default 5000). */
  startTimeoutMs?: number;
}

export interface ClientOptions {
  /** 'plain' (default), 'starttls' (plain port, then STARTTLS) or 'implicit'. */
  transport?: 'plain' | 'starttls' | 'implicit';
  /** Log in after connecting: true for the first account, or an account. */
  login?: boolean | Account;
  /** Capabilities to ENABLE after login (e.g. ['IMAP4rev2']). */
  enable?: string[];
  trace?: ConnectOptions['trace'];
  name?: string;
  timeoutMs?: number;
}

export interface TestServer {
  /** Port of the plain + STARTTLS listener. */
  readonly port: number;
  /** Port of the implicit-TLS listener (0 without TLS). */
  readonly tlsPort: number;
  /** Every listener's port by name. */
  readonly ports: Record<string, number>;
  /** The server process id (null while stopped). */
  readonly pid: number | null;
  readonly dir: string;
  readonly dataDir: string;
  readonly configPath: string;
  readonly certPem: string;
  readonly accounts: Account[];
  /** The first account. */
  readonly user: Account;
  /** `<data_dir>/accounts/<address>/index.db`. */
  accountDb(address?: string): string;
  /** A client; fresh unless `login`. */
  connect(opts?: ClientOptions): Promise<ImapClient>;
  /** A plain-port client logged in as this account (default the first). */
  login(address?: string, password?: string, opts?: Omit<ClientOptions, 'login'>): Promise<ImapClient>;
  /** Run the real CLI against this server's config; resolves with exit code and output. */
  cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Every log line of every run so far (stderr and stdout of the server). */
  logs(): string[];
  /** Throw if the server logged a SERVERBUG or exited on its own since the last check. */
  assertHealthy(): void;
  /** The SERVERBUG lines logged since the last check, taken so that they do not fail the test. */
  takeServerBugs(): string[];
  /** SIGKILL, no cleanup; the data directory stays. */
  kill9(): Promise<void>;
  /** Start again on the same config (new ports; after kill9 or stop). */
  restart(): Promise<void>;
  /** Close clients, stop the server, remove the directory; throws if it was unhealthy. */
  stop(): Promise<void>;
}

export const DEFAULT_ACCOUNT: Account = { address: 'user@localhost', password: 'password1234' };

const SERVERBUG = /\b(msg|result)="?serverbug\b/i;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? merge(out[k] as Record<string, unknown>, v) : v;
  return out;
}

/**
 * TOML for the config object, written here (not with the config module's writer) so that
 * whatever a test passes, unknown keys included, reaches the server's own validation.
 */
export function toToml(obj: Record<string, unknown>): string {
  const val = (v: unknown): string => {
    if (typeof v === 'string') return JSON.stringify(v);
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (Array.isArray(v)) return '[' + v.map(val).join(', ') + ']';
    throw new Error(`toToml: cannot write ${typeof v}`);
  };
  const out: string[] = [];
  const table = (path: string, o: Record<string, unknown>) => {
    const nested: Array<[string, unknown]> = [];
    for (const [k, v] of Object.entries(o)) {
      if (v === undefined) continue;
      if (isObject(v) || (Array.isArray(v) && v.length > 0 && v.every(isObject))) nested.push([k, v]);
      else out.push(`${k} = ${val(v)}`);
    }
    for (const [k, v] of nested) {
      const p = path ? `${path}.${k}` : k;
      if (Array.isArray(v)) {
        for (const item of v) {
          out.push('', `[[${p}]]`);
          table(p, item as Record<string, unknown>);
        }
      } else {
        out.push('', `[${p}]`);
        table(p, v as Record<string, unknown>);
      }
    }
  };
  table('', obj);
  return out.join('\n') + '\n';
}

/** logfmt fields of one line. */
export function parseLogfmt(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(\w[\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (const m of line.matchAll(re)) {
    let v = m[2];
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    out[m[1]] = v;
  }
  return out;
}

/** The environment for postern processes: ours, without a POSTERN_CONFIG that would redirect them. */
function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'POSTERN_CONFIG') env[k] = v;
  return env;
}

async function run(args: string[], opts: { timeoutMs?: number; stdin?: string } = {}) {
  const proc = Bun.spawn([process.execPath, MAIN, ...args], {
    cwd: REPO, stdout: 'pipe', stderr: 'pipe', stdin: opts.stdin === undefined ? 'ignore' : new TextEncoder().encode(opts.stdin),
    env: childEnv(),
  });
  const timer = setTimeout(() => proc.kill(9), opts.timeoutMs ?? 10_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export async function startServer(opts: ServerOptions = {}): Promise<TestServer> {
  const accounts = opts.accounts ?? [DEFAULT_ACCOUNT];
  const tls = opts.tls ?? true;
  const dir = mkdtempSync(join(tmpdir(), 'postern-e2e-'));
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'postern.toml');
  const { certPem, keyPem } = generateSelfSigned({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 2 });
  writeFileSync(join(dir, 'cert.pem'), certPem);
  writeFileSync(join(dir, 'key.pem'), keyPem, { mode: 0o600 });
  const tlsFiles = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  const base = {
    data_dir: dataDir,
    log_level: process.env.POSTERN_E2E_LOG_LEVEL ?? 'debug',
    auth: { plaintext_without_tls: 'loopback', failed_login_delay_ms: 0, failed_login_delay_max_ms: 0 },
    listeners: tls
      ? [
        { name: 'imap', address: '127.0.0.1', port: 0, tls: 'starttls', ...tlsFiles },
        { name: 'imaps', address: '127.0.0.1', port: 0, tls: 'implicit', ...tlsFiles },
      ]
      : [{ name: 'imap', address: '127.0.0.1', port: 0, tls: 'none' }],
  };
  const config = merge(base, (opts.config ?? {}) as Record<string, unknown>);
  writeFileSync(configPath, toToml(config));

  const cliOrThrow = async (args: string[]) => {
    const r = await run([...args, '--config', configPath]);
    if (r.code !== 0) throw new Error(`postern ${args.join(' ')} failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  };
  try {
    for (const domain of new Set(accounts.map((a) => a.address.split('@')[1]))) await cliOrThrow(['domain', 'add', domain]);
    for (const a of accounts) await cliOrThrow(['account', 'add', a.address, '--password', a.password]);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  const logs: string[] = [];
  let checked = 0;
  let proc: Subprocess<'ignore', 'pipe', 'pipe'> | null = null;
  let expectedExit = false;
  let crashed: string | null = null;
  let respawn = false;
  let ports: Record<string, number> = {};
  let port = 0;
  let tlsPort = 0;
  const clients: ImapClient[] = [];

  const tail = () => logs.slice(-30).join('\n');

  async function spawn(): Promise<void> {
    respawn = false;
    const p = Bun.spawn([process.execPath, MAIN, 'serve', '--config', configPath], {
      cwd: REPO, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', env: childEnv(),
    });
    proc = p;
    expectedExit = false;
    const found: Record<string, number> = {};
    const want = (config.listeners as Array<{ name: string }>).map((l) => l.name);
    let onListening: () => void = () => {};
    const listening = new Promise<void>((res) => { onListening = res; });
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const line of lines(stream)) {
        logs.push(line);
        if (process.env.POSTERN_E2E_LOGS) process.stderr.write(`[server] ${line}\n`);
        if (/\bmsg=listening\b/.test(line)) {
          const f = parseLogfmt(line);
          const n = Number(f.port);
          found[f.name ?? `#${Object.keys(found).length}`] = n;
          if (f.tls === 'implicit' && !tlsPort) tlsPort = n;
          else if (f.tls !== 'implicit' && !port) port = n;
          if (want.every((w) => w in found)) onListening();
        }
      }
    };
    void pump(p.stdout);
    void pump(p.stderr);
    void p.exited.then((code) => {
      if (expectedExit || proc !== p) return;
      crashed = `server exited on its own (code ${code}, signal ${p.signalCode})`;
      proc = null;
      respawn = true; // the next connect() starts it again, so one failure does not fail every later test
    });
    port = 0;
    tlsPort = 0;
    const deadline = opts.startTimeoutMs ?? 5000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      listening.then(() => 'ok' as const),
      p.exited.then(() => 'exited' as const),
      new Promise<'timeout'>((res) => { timer = setTimeout(() => res('timeout'), deadline); }),
    ]);
    clearTimeout(timer);
    if (outcome !== 'ok') {
      expectedExit = true;
      p.kill(9);
      await p.exited;
      await Bun.sleep(20); // let the pumps take the last lines
      throw new Error(`server did not start (${outcome === 'timeout' ? `no listening lines for ${want.join(', ')} within ${deadline} ms` : `exited with ${p.exitCode}`}):\n${tail()}`);
    }
    ports = found;
  }

  async function halt(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const p = proc;
    if (!p) return;
    expectedExit = true;
    p.kill(signal);
    const killer = setTimeout(() => p.kill(9), 3000);
    await p.exited;
    clearTimeout(killer);
    proc = null;
  }

  function takeServerBugs(): string[] {
    const fresh = logs.slice(checked);
    checked = logs.length;
    return fresh.filter((l) => SERVERBUG.test(l));
  }

  function assertHealthy(): void {
    const fresh = logs.slice(checked);
    checked = logs.length;
    const bugs = fresh.filter((l) => SERVERBUG.test(l));
    const problems: string[] = [];
    if (bugs.length) problems.push(`server logged SERVERBUG:\n${bugs.join('\n')}`);
    if (crashed) problems.push(crashed);
    crashed = null;
    if (problems.length) throw new Error(`${problems.join('\n')}\nlog tail:\n${tail()}`);
  }

  try {
    await spawn();
  } catch (e) {
    if (!process.env.POSTERN_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  const srv: TestServer = {
    get port() { return port; },
    get tlsPort() { return tlsPort; },
    get ports() { return ports; },
    get pid() { return proc?.pid ?? null; },
    dir,
    dataDir,
    configPath,
    certPem,
    accounts,
    user: accounts[0],
    accountDb: (address = accounts[0].address) => join(dataDir, 'accounts', address, 'index.db'),
    async connect(o: ClientOptions = {}) {
      if (respawn) {
        respawn = false;
        await spawn();
      }
      const transport = o.transport ?? 'plain';
      const c = await ImapClient.connect({
        port: transport === 'implicit' ? tlsPort : port,
        tls: transport === 'implicit',
        rejectUnauthorized: false,
        trace: o.trace,
        name: o.name,
        timeoutMs: o.timeoutMs,
      });
      clients.push(c);
      if (transport === 'starttls') {
        const r = await c.startTLS();
        if (r.status !== 'OK') throw new Error(`STARTTLS refused: ${r.status} ${r.text}`);
      }
      if (o.login) {
        const a = o.login === true ? accounts[0] : o.login;
        await c.login(a.address, a.password);
      }
      if (o.enable?.length) await c.ok(`ENABLE ${o.enable.join(' ')}`);
      return c;
    },
    login(address = accounts[0].address, password?: string, o: Omit<ClientOptions, 'login'> = {}) {
      const pw = password ?? accounts.find((a) => a.address === address)?.password ?? '';
      return srv.connect({ ...o, login: { address, password: pw } });
    },
    cli: (args) => run([...args, '--config', configPath]),
    logs: () => [...logs],
    assertHealthy,
    takeServerBugs,
    async kill9() {
      for (const c of clients.splice(0)) c.close();
      await halt('SIGKILL');
    },
    async restart() {
      await halt('SIGTERM');
      await spawn();
    },
    async stop() {
      for (const c of clients.splice(0)) c.close();
      await halt('SIGTERM');
      try {
        assertHealthy();
      } finally {
        if (!process.env.POSTERN_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return srv;
}

/** Whether a program is on PATH (for `test.skipIf`). */
export function have(program: string): boolean {
  return Bun.which(program) !== null;
}

/** Skip condition that also prints why: `test.skipIf(missing('python3'))`. */
export function missing(program: string, why = `${program} is not installed`): boolean {
  if (have(program)) return false;
  console.log(`skipping: ${why}`);
  return true;
}

/** A small RFC 5322 message. */
export function message(subject: string, body = 'Hello.\r\n', from = 'sender@example.org'): string {
  return `From: ${from}\r\nTo: user@localhost\r\nSubject: ${subject}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@example.org>\r\n\r\n${body}`;
}

/**
 * A server for the enclosing describe: started before its tests, stopped after them,
 * and checked for SERVERBUG after each test. Call the returned function inside a test.
 */
export function serverFor(opts: ServerOptions = {}): () => TestServer {
  let srv: TestServer | undefined;
  beforeAll(async () => {
    srv = await startServer(opts);
  });
  afterAll(async () => {
    await srv?.stop();
  });
  afterEach(() => srv?.assertHealthy());
  return () => {
    if (!srv) throw new Error('serverFor: the server is not running');
    return srv;
  };
}
