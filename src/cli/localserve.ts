// `postern localserve`: a ready-to-use server on loopback for trying postern and for
// developing against it. The first start creates its directory with a config file, a
// self-signed certificate and the account postern@localhost (password "postern");
// later starts reuse them, with --host and the port flags overriding the listeners.
// It never listens on anything but loopback addresses.

import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { defineCommand } from 'citty';
import { generateSelfSigned } from '../config/cert.ts';
import { defaultConfig } from '../config/defaults.ts';
import { type Config, ConfigError, loadConfig, writeConfig } from '../config/load.ts';
import { Logger } from '../log.ts';
import { ServerDb } from '../store/server.ts';
import { UsageError } from './common.ts';
import { type RunningListener, checkServable, runServer } from './serve.ts';

export const LOCALSERVE_ACCOUNT = 'postern@localhost';
export const LOCALSERVE_PASSWORD = 'postern';
export const LOCALSERVE_DEFAULTS = { host: '127.0.0.1', imapPort: 1143, imapsPort: 1993 } as const;
const CONFIG_FILE = 'postern.toml';
const CERT_FILE = 'cert.pem';
const KEY_FILE = 'key.pem';
const CERT_DAYS = 3650;

/** `$XDG_DATA_HOME/postern-localserve`, else `~/.local/share/postern-localserve`. */
export function defaultLocalserveDir(): string {
  const xdg = process.env.XDG_DATA_HOME;
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.local', 'share'), 'postern-localserve');
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and "localhost". */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const h = host.replace(/^::ffff:/i, '');
  if (isIP(h) === 4) return h.startsWith('127.');
  return isIP(host) === 6 && new URL(`http://[${host}]/`).hostname === '[::1]';
}

function parsePort(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new UsageError(`${flag}: expected a port number from 0 to 65535, got ${JSON.stringify(v)}`);
  return Number(v);
}

export interface LocalserveOptions {
  dir: string;
  /** Each overrides the config file when given. */
  host?: string;
  imapPort?: number;
  imapsPort?: number;
}

/** Write a fresh certificate and key unless a valid one is already there. */
function ensureCertificate(certPath: string, keyPath: string): void {
  if (existsSync(certPath) && existsSync(keyPath)) {
    try {
      const x = new X509Certificate(readFileSync(certPath));
      if (new Date(x.validTo).getTime() > Date.now() + 86400_000) return;
    } catch {
      // unreadable: replace it
    }
  }
  const { certPem, keyPem } = generateSelfSigned({
    commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'], days: CERT_DAYS,
  });
  for (const [path, text, mode] of [[keyPath, keyPem, 0o600], [certPath, certPem, 0o644]] as const) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path + '.tmp', text, { mode });
    renameSync(path + '.tmp', path);
  }
}

/**
 * Create (first start) or load the localserve directory and return the config to serve,
 * with the flags applied. Idempotent: a first start cut short is completed by the next.
 */
export function prepareLocalserve(opts: LocalserveOptions): { configPath: string; config: Config; created: boolean } {
  const dir = resolve(opts.dir);
  const configPath = join(dir, CONFIG_FILE);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const created = !existsSync(configPath);
  let config: Config;
  if (created) {
    const host = opts.host ?? LOCALSERVE_DEFAULTS.host;
    config = defaultConfig('data');
    config.listeners = [
      { name: 'imap', address: host, port: opts.imapPort ?? LOCALSERVE_DEFAULTS.imapPort, tls: 'starttls', cert: CERT_FILE, key: KEY_FILE },
      { name: 'imaps', address: host, port: opts.imapsPort ?? LOCALSERVE_DEFAULTS.imapsPort, tls: 'implicit', cert: CERT_FILE, key: KEY_FILE },
    ];
    ensureCertificate(join(dir, CERT_FILE), join(dir, KEY_FILE));
    const db = ServerDb.open(join(dir, 'data'));
    try {
      if (!db.domains().some((d) => d.name === 'localhost')) db.addDomain('localhost');
      if (!db.account(LOCALSERVE_ACCOUNT)) db.addAccount(LOCALSERVE_ACCOUNT, LOCALSERVE_PASSWORD);
    } finally {
      db.close();
    }
    // Written last: its presence means the directory is complete.
    writeConfig(configPath, config);
  }
  config = loadConfig(configPath);
  const plain = config.listeners.find((l) => l.tls !== 'implicit');
  const tls = config.listeners.find((l) => l.tls === 'implicit');
  config.listeners = config.listeners.map((l) => ({
    ...l,
    address: opts.host ?? l.address,
    port: l === plain && opts.imapPort !== undefined ? opts.imapPort : l === tls && opts.imapsPort !== undefined ? opts.imapsPort : l.port,
  }));
  config.listeners.forEach((l, i) => {
    if (!isLoopbackHost(l.address)) {
      throw new ConfigError(configPath, `listeners[${i}].address`, `localserve listens on loopback only, got ${JSON.stringify(l.address)}; use "postern serve" for other addresses`);
    }
    // Our own certificate, inside the directory: renew it when it is missing or expiring.
    if (l.cert && l.key && !relative(dir, l.cert).startsWith('..') && !relative(dir, l.key).startsWith('..')) {
      ensureCertificate(l.cert, l.key);
    }
  });
  checkServable(config, configPath);
  return { configPath, config, created };
}

function hostPort(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

export const localserveCommand = defineCommand({
  meta: { name: 'localserve', description: 'Serve IMAP on loopback with a ready-made config, certificate and account (for trying postern and for development)' },
  args: {
    dir: { type: 'string', valueHint: 'DIR', description: 'Directory for config, certificate and data (default: $XDG_DATA_HOME/postern-localserve or ~/.local/share/postern-localserve)' },
    host: { type: 'string', valueHint: 'ADDR', description: `Loopback address to listen on (default: ${LOCALSERVE_DEFAULTS.host})` },
    'imap-port': { type: 'string', valueHint: 'PORT', description: `Port for plain IMAP with STARTTLS (default: ${LOCALSERVE_DEFAULTS.imapPort}; 0 picks a free one)` },
    'imaps-port': { type: 'string', valueHint: 'PORT', description: `Port for IMAP over implicit TLS (default: ${LOCALSERVE_DEFAULTS.imapsPort}; 0 picks a free one)` },
  },
  async run({ args }) {
    if (args.host !== undefined && !isLoopbackHost(args.host)) {
      throw new UsageError(`--host: localserve listens on loopback only (127.0.0.1, ::1 or localhost), got ${JSON.stringify(args.host)}; use "postern serve" for other addresses`);
    }
    const imapPort = parsePort('--imap-port', args['imap-port']);
    const imapsPort = parsePort('--imaps-port', args['imaps-port']);
    if (imapPort !== undefined && imapPort !== 0 && imapPort === imapsPort) {
      throw new UsageError(`--imap-port and --imaps-port are both ${imapPort}; they need different ports`);
    }
    const dir = args.dir ?? defaultLocalserveDir();
    const { configPath, config, created } = prepareLocalserve({ dir, host: args.host, imapPort, imapsPort });
    const db = ServerDb.open(config.data_dir);
    let login: string;
    try {
      const account = db.account(LOCALSERVE_ACCOUNT);
      login = !account ? `(${LOCALSERVE_ACCOUNT} was removed; add accounts with: postern account add --config ${configPath})`
        : (await db.verifyPassword(LOCALSERVE_ACCOUNT, LOCALSERVE_PASSWORD)) ? LOCALSERVE_PASSWORD : '(changed since it was created)';
    } finally {
      db.close();
    }
    const log = new Logger(config.log_level);
    await runServer(config, log, (listeners: RunningListener[]) => {
      const lines = [`postern localserve: ${created ? 'created' : 'using'} ${dirname(configPath)}`];
      for (const l of listeners) {
        const what = l.tls === 'implicit' ? 'IMAPS (implicit TLS, self-signed certificate)' : l.tls === 'starttls' ? 'IMAP  (plain, STARTTLS)' : 'IMAP  (plain)';
        lines.push(`  ${what.padEnd(46)} ${hostPort(l.address, l.port)}`);
      }
      lines.push(`  login    ${LOCALSERVE_ACCOUNT}`, `  password ${login}`, `  config   ${configPath}`, 'Ctrl-C stops the server.');
      process.stdout.write(lines.join('\n') + '\n');
    });
  },
});
