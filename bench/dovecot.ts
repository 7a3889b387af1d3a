// A throwaway Dovecot on loopback, for the comparison tests of issue 4 and the benchmarks of
// issue 5: Debian's `dovecot-imapd` with a complete configuration written under a temporary
// directory, started with `dovecot -F -c <file>` and stopped by its master pid.
//
// Invariants:
// - Nothing outside the directory is read or written: no /etc/dovecot (the config has no
//   !include), base_dir, state_dir, logs, passwd-file and mail all live under `dir`, and
//   `instance_name` is unique, so a system Dovecot (or another instance) is never touched.
// - Listens on 127.0.0.1 only, on a port picked free just before start (retried if taken),
//   plaintext IMAP (`ssl = no`, cleartext auth allowed), no imaps listener.
// - Durability and notification behaviour are Dovecot's defaults (`mail_fsync`,
//   `imap_idle_notify_interval` are not set), so benchmark figures are what an operator gets.
// - Process and client limits are raised to `maxConnections` (imap-login in
//   "high-performance" mode: long-lived login processes, one per core, each serving many
//   clients; one imap process per connection, as Dovecot always does), so connection-heavy
//   scenarios measure Dovecot, not its safety limits.
// - Dovecot runs with TZ=UTC, so INTERNALDATEs (file times in maildir) read back in +0000.
// - Every wait is bounded: start 10 s (then the log tail is in the error), stop 5 s, then
//   SIGKILL for the whole process tree. A process `exit` hook kills a still-running master.
//
// Running as root (CI): Dovecot refuses imap-login as root ("This process must not be run as
// root") and mail access as UID 0 ("userdb returned 0 as uid"). So the master and the internal
// services run as root, imap-login as `dovenull` (else `nobody`), and mail processes as the
// `dovecot` system user (else `nobody`), owning `<dir>/mail`. As another user, every service
// runs as that user and the login chroot is off.

import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface DovecotUser {
  user: string;
  password: string;
  /**
   * The stored password with its scheme, written instead of `{PLAIN}<password>`, e.g.
   * `{ARGON2ID}$argon2id$v=19$...` (the bench's login scenario: the same hashing cost as postern).
   */
  passwordHash?: string;
}

export interface DovecotOptions {
  users: DovecotUser[];
  /** Mail storage format (default maildir). */
  storage?: 'maildir' | 'sdbox';
  /**
   * Directory to run in. Default: a fresh temporary directory, removed by `stop()`. A given
   * directory is created if needed and kept by `stop()` (its mail too: a cached mailbox can be
   * reused across runs); config, run and state files in it are rewritten on each start.
   */
  dir?: string;
  /** Connections the limits must allow (default 1000). */
  maxConnections?: number;
  /** Start deadline, ms (default 10000). */
  startTimeoutMs?: number;
  /** Offer COMPRESS=DEFLATE (RFC 4978): 2.3 loads its imap_zlib plugin, 2.4 has it built in. */
  compress?: boolean;
}

export interface Dovecot {
  port: number;
  /** `dovecot --version`, e.g. `2.3.19.1`. */
  version: string;
  dir: string;
  /** The master process id (its children are the login, auth and imap processes). */
  pid: number;
  configPath: string;
  logPath: string;
  /** `<dir>/mail/<user>`: a user's home; the mail is in `Maildir/` or `sdbox/` under it. */
  home(user: string): string;
  /** The log so far. */
  log(): string;
  /** Stop the master (SIGTERM, then SIGKILL of the tree after 5 s) and remove a temporary dir. */
  stop(): Promise<void>;
}

const SBIN = ['/usr/sbin/dovecot', '/usr/local/sbin/dovecot'];

function dovecotPath(): string | null {
  return Bun.which('dovecot') ?? Bun.which('dovecot', { PATH: '/usr/sbin:/usr/local/sbin:/sbin' }) ?? SBIN.find((p) => existsSync(p)) ?? null;
}

/** Whether Dovecot is installed (for skipping tests and benchmark halves). */
export function dovecotAvailable(): boolean {
  return dovecotPath() !== null;
}

/** `2.3.19.1` from `dovecot --version` (`2.3.19.1 (9b53102964)`), or null if not installed. */
export function dovecotVersion(): string | null {
  const bin = dovecotPath();
  if (!bin) return null;
  const r = Bun.spawnSync([bin, '--version'], { stdout: 'pipe', stderr: 'pipe' });
  const m = /^(\d+(?:\.\d+)+)/.exec(r.stdout.toString().trim());
  return m ? m[1] : null;
}

function atLeast(version: string, major: number, minor: number): boolean {
  const [a, b] = version.split('.').map(Number);
  return a > major || (a === major && b >= minor);
}

/** A port that was free a moment ago (the kernel's choice on 127.0.0.1). */
export async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

interface Ids { name: string; uid: number; gid: number }

function lookupUser(names: string[]): Ids | null {
  let passwd: string;
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return null;
  }
  for (const want of names) {
    for (const line of passwd.split('\n')) {
      const f = line.split(':');
      if (f[0] === want && f.length >= 4) return { name: want, uid: Number(f[2]), gid: Number(f[3]) };
    }
  }
  return null;
}

/** Everything needed to write the config; exported for tests and the bench's notes. */
export interface ConfigInput {
  version: string;
  dir: string;
  port: number;
  storage: 'maildir' | 'sdbox';
  maxConnections: number;
  /** User names for the services and the mail processes. */
  internalUser: string;
  internalGroup: string;
  loginUser: string;
  mail: Ids;
  /** True when not running as root: no login chroot. */
  unprivileged: boolean;
  cores: number;
  /** Load imap_zlib (2.3) for COMPRESS=DEFLATE, at its default level (6). */
  compress?: boolean;
}

/**
 * The complete dovecot.conf. Dovecot 2.3 syntax, or 2.4 syntax (`dovecot_config_version`,
 * named passdb/userdb blocks, `mail_driver`/`mail_path`, `auth_allow_cleartext`, `%{user}`)
 * for 2.4 and later.
 */
export function dovecotConfig(c: ConfigInput): string {
  const v24 = atLeast(c.version, 2, 4);
  const d = c.dir;
  const n = c.maxConnections;
  const loginProcesses = Math.max(1, c.cores);
  const lines: string[] = [];
  const add = (...l: string[]) => lines.push(...l);
  if (v24) add('dovecot_config_version = 2.4.0', 'dovecot_storage_version = 2.4.0');
  add(
    `# postern throwaway Dovecot ${c.version}: generated by bench/dovecot.ts, no includes`,
    'protocols = imap',
    'listen = 127.0.0.1',
    `base_dir = ${d}/run`,
    `state_dir = ${d}/state`,
    `instance_name = postern-${d.replace(/[^A-Za-z0-9]/g, '').slice(-24)}`,
    `log_path = ${d}/dovecot.log`,
    `info_log_path = ${d}/dovecot.log`,
    'ssl = no',
    v24 ? 'auth_allow_cleartext = yes' : 'disable_plaintext_auth = no',
    'auth_mechanisms = plain login',
    `default_internal_user = ${c.internalUser}`,
    `default_internal_group = ${c.internalGroup}`,
    `default_login_user = ${c.loginUser}`,
    `first_valid_uid = ${Math.min(c.mail.uid, 500)}`,
    `first_valid_gid = ${Math.min(c.mail.gid, 500)}`,
    // Connection limits: fair for scenarios with thousands of connections from one address.
    `default_process_limit = ${n + 100}`,
    `default_client_limit = ${2 * n + 100}`,
    `mail_uid = ${c.mail.uid}`,
    `mail_gid = ${c.mail.gid}`,
  );
  if (v24) {
    add(
      `mail_home = ${d}/mail/%{user}`,
      `mail_driver = ${c.storage}`,
      `mail_path = ~/${c.storage === 'sdbox' ? 'sdbox' : 'Maildir'}`,
      'namespace inbox {', '  inbox = yes', '  separator = /', '}',
      'passdb passwd-file {', `  passwd_file_path = ${d}/users`, '}',
      'userdb static {', '}',
    );
  } else {
    add(
      `mail_home = ${d}/mail/%u`,
      `mail_location = ${c.storage}:~/${c.storage === 'sdbox' ? 'sdbox' : 'Maildir'}`,
      'namespace inbox {', '  inbox = yes', '  separator = /', '  prefix =', '}',
      'passdb {', '  driver = passwd-file', `  args = scheme=PLAIN username_format=%u ${d}/users`, '}',
      'userdb {', '  driver = static', '  args =', '}',
    );
  }
  add(
    'protocol imap {', `  mail_max_userip_connections = ${n + 100}`,
    c.compress && !v24 ? '  mail_plugins = $mail_plugins imap_zlib' : '',
    '}',
    'service imap-login {',
    '  inet_listener imap {', `    port = ${c.port}`, '  }',
    '  inet_listener imaps {', '    port = 0', '  }',
    // High-performance login mode: a few long-lived processes serving many clients each.
    v24 ? '  restart_request_count = unlimited' : '  service_count = 0',
    `  process_min_avail = ${loginProcesses}`,
    `  process_limit = ${loginProcesses}`,
    `  client_limit = ${n + 100}`,
    c.unprivileged ? '  chroot =' : '',
    '}',
    'service imap {', `  process_limit = ${n + 100}`, '  client_limit = 1', '}',
    'service anvil {', `  client_limit = ${2 * n + 100}`, '}',
    'service auth {', `  client_limit = ${2 * n + 100}`, '}',
  );
  return lines.filter((l) => l !== '').join('\n') + '\n';
}

/** The pids of a process and all its descendants (Linux /proc). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [root];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(e));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(root);
  return out;
}

/** Whether a process still runs (a zombie, exited but not yet reaped, does not). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    try {
      process.kill(pid, 0);
      return !existsSync('/proc/self');
    } catch {
      return false;
    }
  }
}

/** Resolves true once something on the port sends an `* OK` greeting, false at the deadline. */
export async function greets(port: number, deadline: number, exited: () => boolean = () => false): Promise<boolean> {
  while (Date.now() < deadline && !exited()) {
    const ok = await new Promise<boolean>((resolve) => {
      let buf = '';
      let done = false;
      const finish = (v: boolean, s?: { end(): void }) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        try { s?.end(); } catch { /* closed */ }
        resolve(v);
      };
      const timer = setTimeout(() => finish(false), 1000);
      Bun.connect({
        hostname: '127.0.0.1', port,
        socket: {
          data(s, d) {
            buf += Buffer.from(d).toString('latin1');
            if (buf.includes('\n')) finish(buf.startsWith('* OK'), s);
          },
          close() { finish(false); },
          error() { finish(false); },
          connectError() { finish(false); },
        },
      }).catch(() => finish(false));
    });
    if (ok) return true;
    await Bun.sleep(50);
  }
  return false;
}

/**
 * Start a Dovecot with these users (plaintext passwords in a passwd-file). Throws, with the
 * log tail, if Dovecot is missing or does not greet within the deadline.
 */
export async function startDovecot(opts: DovecotOptions): Promise<Dovecot> {
  const bin = dovecotPath();
  const version = dovecotVersion();
  if (!bin || !version) throw new Error('dovecot is not installed (Debian: apt-get install dovecot-imapd)');
  for (const u of opts.users) {
    if (/[:\s]/.test(u.user) || /[:\r\n]/.test(u.password) || /[:\r\n]/.test(u.passwordHash ?? '')) throw new Error(`startDovecot: user ${JSON.stringify(u.user)}: no ':' or whitespace in names, no ':' or newline in passwords`);
  }
  const temporary = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'postern-dovecot-'));
  const root = process.getuid?.() === 0;
  const me = userInfo();
  let mail: Ids;
  let internalUser: string, internalGroup: string, loginUser: string;
  if (root) {
    mail = lookupUser(['dovecot', 'nobody']) ?? { name: 'nobody', uid: 65534, gid: 65534 };
    internalUser = 'root';
    internalGroup = 'root';
    loginUser = lookupUser(['dovenull', 'nobody'])?.name ?? 'nobody';
  } else {
    mail = { name: me.username, uid: me.uid, gid: me.gid };
    internalUser = me.username;
    internalGroup = String(me.gid);
    loginUser = me.username;
  }

  mkdirSync(dir, { recursive: true });
  // Login and mail processes run as other users: they must be able to traverse the dir.
  chmodSync(dir, 0o755);
  for (const sub of ['run', 'state']) {
    rmSync(join(dir, sub), { recursive: true, force: true });
    mkdirSync(join(dir, sub), { mode: 0o755 });
  }
  const mailDir = join(dir, 'mail');
  // A reused dir (a cached mailbox) is already owned by the mail user: then only new homes
  // need chown, not every message file again.
  const reused = existsSync(mailDir) && statSync(mailDir).uid === mail.uid;
  mkdirSync(mailDir, { recursive: true, mode: 0o755 });
  const fresh = opts.users.map((u) => join(mailDir, u.user)).filter((h) => !existsSync(h));
  for (const u of opts.users) mkdirSync(join(mailDir, u.user), { recursive: true, mode: 0o700 });
  if (root) {
    const chownTree = (p: string) => {
      chownSync(p, mail.uid, mail.gid);
      for (const e of readdirSync(p, { withFileTypes: true })) {
        if (e.isDirectory()) chownTree(join(p, e.name));
        else chownSync(join(p, e.name), mail.uid, mail.gid);
      }
    };
    if (reused) for (const h of fresh) chownTree(h);
    else chownTree(mailDir);
  }
  writeFileSync(join(dir, 'users'), opts.users.map((u) => `${u.user}:${u.passwordHash ?? `{PLAIN}${u.password}`}::::::`).join('\n') + '\n', { mode: 0o600 });
  const configPath = join(dir, 'dovecot.conf');
  const logPath = join(dir, 'dovecot.log');
  writeFileSync(logPath, '');
  const readLog = () => {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };
  const cleanup = () => {
    if (temporary && !process.env.POSTERN_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  };

  const timeout = opts.startTimeoutMs ?? 10_000;
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    writeFileSync(configPath, dovecotConfig({
      version, dir, port, storage: opts.storage ?? 'maildir', maxConnections: opts.maxConnections ?? 1000,
      internalUser, internalGroup, loginUser, mail, unprivileged: !root, cores: navigator.hardwareConcurrency || 2, compress: opts.compress,
    }));
    const logStart = readLog().length;
    // TZ=UTC: maildir keeps INTERNALDATE as a file time, shown in the server's zone.
    const proc = Bun.spawn([bin, '-F', '-c', configPath], { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', cwd: dir, env: { ...process.env, TZ: 'UTC' } });
    let exited = false;
    void proc.exited.then(() => { exited = true; });
    const out = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    const up = await greets(port, Date.now() + timeout, () => exited);
    if (up) {
      const pid = proc.pid;
      const onExit = () => {
        for (const p of processTree(pid).reverse()) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
      };
      process.on('exit', onExit);
      let stopped = false;
      return {
        port, version, dir, pid, configPath, logPath,
        home: (user) => join(mailDir, user),
        log: readLog,
        async stop() {
          if (stopped) return;
          stopped = true;
          process.off('exit', onExit);
          const tree = processTree(pid);
          try { proc.kill('SIGTERM'); } catch { /* gone */ }
          const t = setTimeout(() => {
            for (const p of processTree(pid).concat(tree)) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
          }, 5000);
          await proc.exited;
          clearTimeout(t);
          // Children leave once the master is gone; give stragglers a moment, then kill them.
          const until = Date.now() + 2000;
          while (tree.some(alive) && Date.now() < until) await Bun.sleep(20);
          for (const p of tree) if (alive(p)) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
          cleanup();
        },
      };
    }
    for (const p of processTree(proc.pid).reverse()) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    await proc.exited;
    const [so, se] = await out;
    const log = readLog().slice(logStart);
    lastError = `${exited ? `exited with ${proc.exitCode}` : `no greeting within ${timeout} ms`}\n${(so + se).trim()}\n${log.split('\n').slice(-20).join('\n')}`;
    if (!/address already in use/i.test(lastError)) break;
  }
  cleanup();
  throw new Error(`dovecot did not start: ${lastError}`);
}
