// What every CLI command shares: the --config flag, opening the databases, reading a
// password, and the errors that end a command with exit code 2 and one line on stderr.

import { randomInt } from 'node:crypto';
import type { ArgsDef } from 'citty';
import { type Config, ConfigError, loadConfig } from '../config/load.ts';
import { ServerDb } from '../store/server.ts';

/** Bad input from the user: printed as `postern: <message>`, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const configArg = {
  config: {
    type: 'string',
    valueHint: 'FILE',
    description: 'Config file (default: $POSTERN_CONFIG)',
  },
} as const satisfies ArgsDef;

/** The config file from --config or $POSTERN_CONFIG. */
export function configPath(args: { config?: string }): string {
  const p = args.config ?? process.env.POSTERN_CONFIG;
  if (p === undefined || p === '') throw new UsageError('no config file: pass --config FILE or set POSTERN_CONFIG');
  return p;
}

export function loadConfigFrom(args: { config?: string }): { path: string; config: Config } {
  const path = configPath(args);
  return { path, config: loadConfig(path) };
}

/** Open the server database of a config; the caller closes it. */
export function openServerDb(config: Config): ServerDb {
  try {
    return ServerDb.open(config.data_dir);
  } catch (e) {
    if (e instanceof Error && e.name === 'ServerDbError') throw e;
    throw new Error(`cannot open ${config.data_dir}/server.db: ${(e as Error).message}`);
  }
}

export function withServerDb<T>(args: { config?: string }, f: (db: ServerDb, config: Config) => T): T {
  const { config } = loadConfigFrom(args);
  const db = openServerDb(config);
  try {
    return f(db, config);
  } finally {
    db.close();
  }
}

export const passwordArgs = {
  password: {
    type: 'string',
    valueHint: 'P',
    description: 'The password (visible to other local users in the process list; prefer --password-stdin)',
  },
  'password-stdin': {
    type: 'boolean',
    description: 'Read the password from the first line of standard input',
  },
} as const satisfies ArgsDef;

/**
 * The password from --password or --password-stdin, or a new random one when neither is
 * given (`generated` tells the caller to print it).
 */
export async function passwordFrom(args: { password?: string; 'password-stdin'?: boolean }): Promise<{ password: string; generated: boolean }> {
  if (args.password !== undefined && args['password-stdin']) {
    throw new UsageError('--password and --password-stdin exclude each other');
  }
  if (args.password !== undefined) {
    if (args.password === '') throw new UsageError('--password: the password is empty');
    return { password: args.password, generated: false };
  }
  if (args['password-stdin']) {
    const text = await Bun.stdin.text();
    const m = /^([^\r\n]*)(\r?\n)?$/.exec(text);
    if (!m) throw new UsageError('--password-stdin: expected one line, got several');
    if (m[1] === '') throw new UsageError('--password-stdin: the password is empty');
    return { password: m[1], generated: false };
  }
  return { password: generatePassword(), generated: true };
}

// No 0/O, 1/l/I: read aloud or copied by hand without mistakes. 20 of 56: ~116 bits.
const ALPHABET = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

export function generatePassword(length = 20): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

/** Errors that are the user's to fix: one line, exit code 2. */
export function isUserError(e: unknown): e is Error {
  return e instanceof UsageError || e instanceof ConfigError
    || (e instanceof Error && (e.name === 'ServerDbError' || e.name === 'CLIError'));
}
