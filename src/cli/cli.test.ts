// The real CLI as a subprocess: every command, --help, and each kind of bad input (exit
// code 2, one line on stderr, no stack trace).

import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ServerDb } from '../store/server.ts';

const ROOT = resolve(import.meta.dir, '..', '..');
let tmp: string;
let cfg: string;

interface Result { code: number; stdout: string; stderr: string }

function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'POSTERN_CONFIG') env[k] = v;
  return { ...env, ...extra };
}

async function run(args: string[], opts: { env?: Record<string, string>; stdin?: string; cmd?: string[] } = {}): Promise<Result> {
  const p = Bun.spawn([...(opts.cmd ?? [process.execPath, 'src/main.ts']), ...args], {
    cwd: ROOT,
    env: cleanEnv(opts.env),
    stdin: opts.stdin === undefined ? 'ignore' : new Blob([opts.stdin]),
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

const c = (...args: string[]) => [...args, '--config', cfg];

function expectOk(r: Result): void {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  expect(r.stderr).toBe('');
}

/** Exit code 2, exactly one line `postern: ...` on stderr, nothing on stdout. */
function expectBad(r: Result, pattern?: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n');
  expect(lines.length).toBe(2);
  expect(lines[1]).toBe('');
  expect(lines[0]).toStartWith('postern: ');
  expect(r.stderr).not.toMatch(/\n\s+at |\bError:|\x1b\[/);
  if (pattern) expect(lines[0]).toMatch(pattern);
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'postern-cli-'));
  cfg = join(tmp, 'postern.toml');
  writeFileSync(cfg, 'data_dir = "data"\n');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('--help', () => {
  const commands = [
    [], ['serve'], ['localserve'], ['account'], ['account', 'add'], ['account', 'list'], ['account', 'setpassword'],
    ['account', 'remove'], ['domain'], ['domain', 'add'], ['domain', 'list'], ['domain', 'remove'],
  ];
  test.concurrent.each(commands.map((c) => [c.join(' ') || '(root)', c]))('%s', async (_name, cmd) => {
    const r = await run([...(cmd as string[]), '--help']);
    expectOk(r);
    expect(r.stdout).toContain(`USAGE postern${(cmd as string[]).length ? ' ' + (cmd as string[]).join(' ') : ''}`);
    expect(r.stdout).not.toContain('\x1b[');
  });
  test('-h and --version', async () => {
    expect((await run(['account', 'add', 'x', '-h'])).stdout).toContain('--password-stdin');
    const v = await run(['--version']);
    expectOk(v);
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });
});

describe('domains and accounts', () => {
  test('the whole life of a domain and its accounts', async () => {
    expectOk(await run(c('domain', 'add', 'Example.ORG')));
    expectOk(await run(c('domain', 'add', 'other.example')));
    const domains = await run(c('domain', 'list'));
    expect(domains.stdout).toBe('example.org\nother.example\n');

    const add1 = await run(c('account', 'add', 'joe@example.org', '--password', 'pw-joe'));
    expectOk(add1);
    expect(add1.stdout).toBe('added account joe@example.org\n');
    expectOk(await run(c('account', 'add', 'amy@example.org', '--password-stdin'), { stdin: 'pw amy\n' }));
    const gen = await run(c('account', 'add', 'gen@example.org'));
    expectOk(gen);
    const generated = /^password: (\S{20})$/m.exec(gen.stdout)?.[1];
    expect(generated).toBeDefined();

    // POSTERN_CONFIG stands in for --config.
    const list = await run(['account', 'list'], { env: { POSTERN_CONFIG: cfg } });
    expectOk(list);
    expect(list.stdout).toBe('amy@example.org\ngen@example.org\njoe@example.org\n');

    expectOk(await run(c('account', 'setpassword', 'JOE@example.org', '--password=new-joe')));
    const setgen = await run(c('account', 'setpassword', 'amy@example.org'));
    expect(setgen.stdout).toMatch(/^password set for amy@example.org\npassword: \S{20}\n$/);

    const db = ServerDb.open(join(tmp, 'data'));
    try {
      expect(await db.verifyPassword('joe@example.org', 'new-joe')).toBe(true);
      expect(await db.verifyPassword('joe@example.org', 'pw-joe')).toBe(false);
      expect(await db.verifyPassword('gen@example.org', generated!)).toBe(true);
      expect(await db.verifyPassword('amy@example.org', setgen.stdout.split('password: ')[1].trim())).toBe(true);
    } finally {
      db.close();
    }

    expectBad(await run(c('domain', 'remove', 'example.org')), /domain example.org still has 3 accounts/);
    for (const a of ['joe', 'amy', 'gen']) {
      const r = await run(c('account', 'remove', `${a}@example.org`));
      expectOk(r);
      expect(existsSync(join(tmp, 'data', 'accounts', `${a}@example.org`))).toBe(false);
    }
    expect((await run(c('account', 'list'))).stdout).toBe('');
    expectOk(await run(c('domain', 'remove', 'example.org')));
    expect((await run(c('domain', 'list'))).stdout).toBe('other.example\n');
  }, 30_000);
});

describe('bad input: exit 2 and one line', () => {
  beforeAll(() => {
    writeFileSync(join(tmp, 'badtoml.toml'), 'data_dir = "data"\n[limits\n');
    writeFileSync(join(tmp, 'badtype.toml'), 'data_dir = "data"\n[limits]\nidle_timeout_seconds = "long"\n');
    writeFileSync(join(tmp, 'unknownkey.toml'), 'data_dir = "data"\ncolour = "blue"\n');
    writeFileSync(join(tmp, 'nolisteners.toml'), 'data_dir = "data"\n');
    writeFileSync(join(tmp, 'nocert.toml'), 'data_dir = "data"\n[[listeners]]\nname = "imaps"\nport = 0\ntls = "implicit"\ncert = "missing.pem"\nkey = "missing.pem"\n');
  });
  const t = (name: string) => join(tmpdir(), name);
  const cases: Array<[string, () => string[], RegExp, string?]> = [
    ['no command', () => [], /^postern: missing command for postern: one of serve, localserve, account, domain/],
    ['unknown command', () => ['frobnicate'], /^postern: unknown command "frobnicate" for postern/],
    ['unknown subcommand', () => ['account', 'frob'], /^postern: unknown command "frob" for postern account: expected one of add, list, setpassword, remove$/],
    ['group without subcommand', () => ['domain'], /^postern: missing command for postern domain/],
    ['unknown flag at the root', () => ['--frob'], /^postern: unknown option --frob for postern /],
    ['unknown flag', () => c('account', 'list', '--frob'), /^postern: unknown option --frob for postern account list/],
    ['unknown short flag', () => c('domain', 'list', '-x'), /^postern: unknown option -x/],
    ['unknown flag with value', () => c('domain', 'list', '--frob=1'), /^postern: unknown option --frob /],
    ['flag given twice', () => [...c('domain', 'list'), '--config', cfg], /^postern: --config given twice$/],
    ['flag without its value', () => ['account', 'add', 'a@example.org', '--config'], /^postern: --config needs a value/],
    ['boolean flag with a value', () => c('account', 'add', 'a@example.org', '--password-stdin=yes'), /^postern: --password-stdin takes no value$/],
    ['missing argument', () => c('account', 'add'), /^postern: missing ADDRESS for postern account add/],
    ['extra argument', () => c('domain', 'add', 'a.example', 'b.example'), /^postern: unexpected argument "b.example"/],
    ['bad address', () => c('account', 'add', 'no-at-sign', '--password', 'x'), /^postern: invalid address "no-at-sign": expected localpart@domain$/],
    ['unsafe address', () => c('account', 'add', '../x@example.org', '--password', 'x'), /^postern: invalid address/],
    ['unknown domain', () => c('account', 'add', 'a@nowhere.example', '--password', 'x'), /^postern: domain nowhere.example does not exist$/],
    ['bad domain', () => c('domain', 'add', 'a..b'), /^postern: invalid domain "a..b"/],
    ['unknown account', () => c('account', 'remove', 'ghost@other.example'), /^postern: account ghost@other.example does not exist$/],
    ['both password options', () => c('account', 'add', 'a@other.example', '--password', 'x', '--password-stdin'), /exclude each other/],
    ['empty password', () => c('account', 'add', 'a@other.example', '--password='), /^postern: --password: the password is empty$/],
    ['empty password on stdin', () => c('account', 'add', 'a@other.example', '--password-stdin'), /^postern: --password-stdin: the password is empty$/, '\n'],
    ['no config', () => ['domain', 'list'], /^postern: no config file: pass --config FILE or set POSTERN_CONFIG$/],
    ['missing config file', () => ['domain', 'list', '--config', t('postern-does-not-exist.toml')], /^postern: .*postern-does-not-exist\.toml: cannot read config file: no such file$/],
    ['invalid TOML', () => ['domain', 'list', '--config', join(tmp, 'badtoml.toml')], /^postern: .*badtoml\.toml: line 2: invalid TOML: /],
    ['config value of the wrong type', () => ['domain', 'list', '--config', join(tmp, 'badtype.toml')], /^postern: .*badtype\.toml: limits\.idle_timeout_seconds: expected an integer >= 1, got "long"$/],
    ['unknown config key', () => ['account', 'list', '--config', join(tmp, 'unknownkey.toml')], /^postern: .*unknownkey\.toml: colour: unknown key; expected one of data_dir, /],
    ['serve without listeners', () => ['serve', '--config', join(tmp, 'nolisteners.toml')], /^postern: .*nolisteners\.toml: listeners: missing; at least one/],
    ['serve with a missing certificate', () => ['serve', '--config', join(tmp, 'nocert.toml')], /^postern: .*nocert\.toml: listeners\[0\]\.cert: cannot read .*missing\.pem: no such file$/],
    ['serve with an unknown flag', () => ['serve', '--config', cfg, '--port', '1'], /^postern: unknown option --port for postern serve/],
    ['localserve on a public address', () => ['localserve', '--dir', join(tmp, 'never'), '--host', '0.0.0.0'], /^postern: --host: localserve listens on loopback only/],
    ['localserve with a bad port', () => ['localserve', '--dir', join(tmp, 'never'), '--imap-port', 'http'], /^postern: --imap-port: expected a port number from 0 to 65535, got "http"$/],
    ['localserve with the same port twice', () => ['localserve', '--dir', join(tmp, 'never'), '--imap-port', '2000', '--imaps-port', '2000'], /need different ports/],
  ];
  beforeAll(async () => {
    // The test above leaves other.example behind; make sure of it when run alone.
    const r = await run(c('domain', 'add', 'other.example'));
    expect(r.code === 0 || r.stderr.includes('already exists')).toBe(true);
  });
  // Rows of four: a test function with more parameters than row entries gets a done callback.
  test.concurrent.each(cases.map(([name, args, pattern, stdin]) => [name, args, pattern, stdin ?? null] as const))('%s', async (_name, args, pattern, stdin) => {
    expectBad(await run(args(), { stdin: stdin ?? undefined }), pattern);
  });
  test('nothing was created by the refused localserve runs', () => {
    expect(existsSync(join(tmp, 'never'))).toBe(false);
  });
});

describe('bin/postern (Node launcher)', () => {
  test('node bin/postern runs the CLI and passes the exit code through', async () => {
    const help = await run(['--help'], { cmd: ['node', 'bin/postern'] });
    expectOk(help);
    expect(help.stdout).toContain('USAGE postern');
    expectBad(await run(['frob'], { cmd: ['node', 'bin/postern'] }), /unknown command "frob"/);
  });
  test('npx postern --help', async () => {
    const r = await run(['postern', '--help'], { cmd: ['npx', '--no-install'] });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('USAGE postern');
  }, 20_000);
});

// ---- running servers ----

/** Whether the IMAP server module loads at all (it is built in parallel with this CLI). */
const serverLoads = Bun.spawnSync([process.execPath, '-e', "await import('./src/imap/server.ts')"], { cwd: ROOT, stderr: 'pipe' }).exitCode === 0;

/** Start a long-running command; `until` resolves once its output matches. */
function start(args: string[], env: Record<string, string> = {}) {
  const p = Bun.spawn([process.execPath, 'src/main.ts', ...args], { cwd: ROOT, env: cleanEnv(env), stdout: 'pipe', stderr: 'pipe' });
  let out = '', err = '';
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    const dec = new TextDecoder();
    for await (const chunk of s) add(dec.decode(chunk, { stream: true }));
  };
  const done = Promise.all([pump(p.stdout, (t) => { out += t; }), pump(p.stderr, (t) => { err += t; })]);
  return {
    proc: p,
    get out() { return out; },
    get err() { return err; },
    async until(re: RegExp, which: 'out' | 'err' = 'out', ms = 10_000): Promise<RegExpExecArray> {
      const end = Date.now() + ms;
      for (;;) {
        const m = re.exec(which === 'out' ? out : err);
        if (m) return m;
        if (p.exitCode !== null || Date.now() > end) {
          await Promise.race([done, Bun.sleep(200)]);
          throw new Error(`no ${re} (exit ${p.exitCode}); stdout: ${out} stderr: ${err}`);
        }
        await Bun.sleep(20);
      }
    },
  };
}

async function greeting(port: number): Promise<string> {
  return await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error('no greeting')), 5000);
    Bun.connect({
      hostname: '127.0.0.1', port,
      socket: {
        data(s, d) { clearTimeout(timer); s.end(); res(new TextDecoder().decode(d)); },
        connectError(_s, e) { clearTimeout(timer); rej(e); },
      },
    }).catch(rej);
  });
}

describe('localserve', () => {
  test('the first start creates its directory, config, certificate and account under the data directory', async () => {
    const xdg = join(tmp, 'xdg');
    const ls = start(['localserve', '--imap-port', '0', '--imaps-port', '0'], { XDG_DATA_HOME: xdg });
    const dir = join(xdg, 'postern-localserve');
    // Without a server to run the process ends early; the directory is made first either way.
    await ls.until(/Ctrl-C stops/).catch(() => {});
    ls.proc.kill('SIGINT');
    await ls.proc.exited;
    for (const f of ['postern.toml', 'cert.pem', 'key.pem', 'data/server.db']) expect(existsSync(join(dir, f))).toBe(true);
    const db = ServerDb.open(join(dir, 'data'));
    try {
      expect(await db.verifyPassword('postern@localhost', 'postern')).toBe(true);
    } finally {
      db.close();
    }
  }, 20_000);

  test.skipIf(!serverLoads)('serves, prints the login, stops on Ctrl-C, and reuses its directory', async () => {
    const dir = join(tmp, 'ls');
    for (const round of ['created', 'using']) {
      const ls = start(['localserve', '--dir', dir, '--imap-port', '0', '--imaps-port', '0']);
      await ls.until(/Ctrl-C stops/);
      expect(ls.out).toContain(`postern localserve: ${round} ${dir}`);
      expect(ls.out).toMatch(/login +postern@localhost/);
      expect(ls.out).toMatch(/password +postern\n/);
      expect(ls.out).toContain(join(dir, 'postern.toml'));
      const port = Number(/STARTTLS\)\s+127\.0\.0\.1:(\d+)/.exec(ls.out)![1]);
      expect(await greeting(port)).toStartWith('* OK');
      ls.proc.kill('SIGINT');
      expect(await ls.proc.exited).toBe(0);
    }
  }, 30_000);
});

/** Send LOGIN on a plain connection; resolves to the tagged answer line. */
async function login(port: number, user: string, password: string): Promise<string> {
  return await new Promise<string>((res, rej) => {
    let buf = '';
    const timer = setTimeout(() => rej(new Error(`no answer: ${buf}`)), 8000);
    Bun.connect({
      hostname: '127.0.0.1', port,
      socket: {
        open(s) { s.write(`a LOGIN "${user}" "${password}"\r\n`); },
        data(s, d) {
          buf += new TextDecoder().decode(d);
          const m = /^a .*$/m.exec(buf);
          if (m) { clearTimeout(timer); s.end(); res(m[0].trim()); }
        },
        connectError(_s, e) { clearTimeout(timer); rej(e); },
      },
    }).catch(rej);
  });
}

describe.skipIf(!serverLoads)('serve', () => {
  test('serves the listeners of the config, sees accounts added meanwhile, and exits 0 on SIGTERM', async () => {
    const path = join(tmp, 'serve.toml');
    writeFileSync(path, 'data_dir = "served"\n[[listeners]]\nname = "plain"\nport = 0\ntls = "none"\n');
    const s = start(['serve', '--config', path]);
    const m = await s.until(/msg=listening.* port=(\d+)/, 'err');
    const port = Number(m[1]);
    expect(await greeting(port)).toStartWith('* OK');
    expect(existsSync(join(tmp, 'served', 'server.db'))).toBe(true);
    // The account commands work while the server runs, and the server sees their writes.
    expectOk(await run(['domain', 'add', 'live.example', '--config', path]));
    expectOk(await run(['account', 'add', 'new@live.example', '--password', 'fresh', '--config', path]));
    expect(await login(port, 'new@live.example', 'fresh')).toMatch(/^a OK/);
    s.proc.kill('SIGTERM');
    expect(await s.proc.exited).toBe(0);
  }, 20_000);
});
