// Loading, validating and writing the TOML config.
//
// loadConfig() returns an object with the TOML's own snake_case keys, every default
// filled in, and every path (data_dir, cert, key) absolute: relative paths resolve
// against the config file's directory. Any problem is one ConfigError whose message is a
// single line: the file, the key path, and what was expected, e.g.
//   postern.toml: listeners[0].tls: expected one of "none", "starttls", "implicit", got "yes"

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { isIP } from 'node:net';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType } from '@sinclair/typebox/value';
import { DEFAULTS } from './defaults.ts';
import { type Config, ConfigSchema } from './schema.ts';

export type { Config, ListenerConfig, TlsMode } from './schema.ts';

export class ConfigError extends Error {
  /** `file` as the user named it; `key` like "listeners[0].tls", or null for file-level problems. */
  constructor(readonly file: string, readonly key: string | null, what: string) {
    super(`${file}: ${key === null ? '' : key + ': '}${what}`);
    this.name = 'ConfigError';
  }
}

/** Read, parse and validate a config file. Throws ConfigError. */
export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied'
      : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw new ConfigError(path, null, `cannot read config file: ${why}`);
  }
  return parseConfig(text, path);
}

/** Parse and validate config text; `path` names the file in errors and anchors relative paths. */
export function parseConfig(text: string, path: string): Config {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const raw = parseToml(text, path);
  const value = Value.Default(ConfigSchema, raw) as unknown;
  const first = Value.Errors(ConfigSchema, value).First();
  if (first) throw schemaError(path, first);
  const cfg = value as Config;
  checkSemantics(cfg, path);
  return resolvePaths(cfg, dirname(resolve(path)));
}

// ---- TOML ----

function parseToml(text: string, path: string): unknown {
  try {
    return Bun.TOML.parse(text);
  } catch (e) {
    const reason = tomlReason(e);
    throw new ConfigError(path, null, `line ${tomlErrorLine(text, reason)}: invalid TOML: ${reason}`);
  }
}

function tomlReason(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/^TOML Parse error:\s*/i, '').split('\n')[0];
}

/**
 * Bun's TOML errors carry no position. The failing line is the one after the longest
 * prefix of lines that does not fail with the same reason: prefixes that end inside a
 * multi-line string or array fail with that reason too, but resolve once it closes.
 */
function tomlErrorLine(text: string, reason: string): number {
  // Prefix n: the first n lines with their line ends (the parser's reason can depend on them).
  const ends: number[] = [];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) ends.push(i + 1);
  if (ends.length === 0 || ends[ends.length - 1] < text.length) ends.push(text.length);
  let lastOther = 0;
  for (let n = 1; n <= ends.length; n++) {
    let same = false;
    try {
      Bun.TOML.parse(text.slice(0, ends[n - 1]));
    } catch (e) {
      same = tomlReason(e) === reason;
    }
    if (!same) lastOther = n;
  }
  return Math.min(lastOther + 1, ends.length);
}

// ---- schema errors ----

interface SchemaErrorLike { type: ValueErrorType; path: string; schema: TSchema; value: unknown }

/** "/listeners/0/tls" -> "listeners[0].tls" */
export function keyPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += (out ? '.' : '') + (/^[A-Za-z0-9_-]+$/.test(seg) ? seg : JSON.stringify(seg));
  }
  return out;
}

function schemaError(path: string, e: SchemaErrorLike): ConfigError {
  const key = keyPath(e.path);
  if (e.type === ValueErrorType.ObjectAdditionalProperties) {
    const known = Object.keys((e.schema as { properties?: object }).properties ?? {});
    return new ConfigError(path, key, `unknown key; expected one of ${known.join(', ')}`);
  }
  if (e.type === ValueErrorType.ObjectRequiredProperty) {
    return new ConfigError(path, key, `missing; expected ${expected(e.schema)}`);
  }
  return new ConfigError(path, key || null, `expected ${expected(e.schema)}, got ${describe(e.value)}`);
}

function expected(s: TSchema): string {
  if (Array.isArray(s.anyOf) && s.anyOf.every((x: TSchema) => 'const' in x)) {
    return 'one of ' + s.anyOf.map((x: TSchema) => JSON.stringify(x.const)).join(', ');
  }
  switch (s.type) {
    case 'integer': {
      const { minimum: lo, maximum: hi } = s as { minimum?: number; maximum?: number };
      if (lo !== undefined && hi !== undefined) return `an integer from ${lo} to ${hi}`;
      if (lo === 0) return 'an integer >= 0';
      if (lo !== undefined) return `an integer >= ${lo}`;
      return 'an integer';
    }
    case 'string': return s.minLength ? 'a non-empty string' : 'a string';
    case 'boolean': return 'true or false';
    case 'object': return 'a table';
    case 'array': return s.items?.type === 'object' ? 'an array of tables' : 'an array';
    default: return 'a valid value';
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') {
    const q = JSON.stringify(v);
    return q.length > 60 ? q.slice(0, 57) + '..."' : q;
  }
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === undefined || v === null) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return 'a date/time';
  return 'a table';
}

// ---- checks the schema cannot express ----

function checkSemantics(cfg: Config, path: string): void {
  const err = (key: string, what: string) => new ConfigError(path, key, what);
  const names = new Map<string, number>();
  const sockets = new Map<string, number>();
  cfg.listeners.forEach((l, i) => {
    const at = `listeners[${i}]`;
    const prev = names.get(l.name);
    if (prev !== undefined) throw err(`${at}.name`, `${JSON.stringify(l.name)} is already the name of listeners[${prev}]`);
    names.set(l.name, i);
    if (l.address !== 'localhost' && isIP(l.address) === 0) {
      throw err(`${at}.address`, `expected an IP address or "localhost", got ${describe(l.address)}`);
    }
    if (l.port !== 0) {
      const sock = `${l.address}:${l.port}`;
      const other = sockets.get(sock);
      if (other !== undefined) throw err(`${at}.port`, `${l.port} on ${l.address} is already used by listeners[${other}]`);
      sockets.set(sock, i);
    }
    if (l.tls === 'implicit') {
      if (l.cert === undefined) throw err(`${at}.cert`, 'missing; required when tls = "implicit"');
      if (l.key === undefined) throw err(`${at}.key`, 'missing; required when tls = "implicit"');
    } else if (l.tls === 'starttls') {
      if (l.cert !== undefined && l.key === undefined) throw err(`${at}.key`, 'missing; required when cert is set');
      if (l.key !== undefined && l.cert === undefined) throw err(`${at}.cert`, 'missing; required when key is set');
    } else {
      if (l.cert !== undefined) throw err(`${at}.cert`, 'not used with tls = "none"; remove it or use "starttls"');
      if (l.key !== undefined) throw err(`${at}.key`, 'not used with tls = "none"; remove it or use "starttls"');
    }
  });
  if (cfg.auth.failed_login_delay_max_ms < cfg.auth.failed_login_delay_ms) {
    throw err('auth.failed_login_delay_max_ms', `expected at least failed_login_delay_ms (${cfg.auth.failed_login_delay_ms}), got ${cfg.auth.failed_login_delay_max_ms}`);
  }
  const seen = new Map<string, string>();
  for (const k of Object.keys(DEFAULTS.mailboxes) as (keyof Config['mailboxes'])[]) {
    const name = cfg.mailboxes[k];
    const key = `mailboxes.${k}`;
    if (name.toUpperCase() === 'INBOX' || name.toUpperCase().startsWith('INBOX/')) throw err(key, `expected a name outside INBOX, got ${describe(name)}`);
    if (/[\x00-\x1f\x7f]/.test(name) || name.startsWith('/') || name.endsWith('/') || name.includes('//')) {
      throw err(key, `expected a mailbox name (no control characters, no empty hierarchy level), got ${describe(name)}`);
    }
    const other = seen.get(name.toLowerCase());
    if (other !== undefined) throw err(key, `${describe(name)} is already the name of mailboxes.${other}`);
    seen.set(name.toLowerCase(), k);
  }
}

function resolvePaths(cfg: Config, baseDir: string): Config {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    ...cfg,
    data_dir: abs(cfg.data_dir),
    listeners: cfg.listeners.map((l) => ({
      ...l,
      ...(l.cert === undefined ? {} : { cert: abs(l.cert) }),
      ...(l.key === undefined ? {} : { key: abs(l.key) }),
    })),
  };
}

// ---- writing ----

/** A TOML basic string: JSON's escapes are TOML's, plus DEL, which JSON leaves bare. */
export function tomlString(s: string): string {
  return JSON.stringify(s).replace(/\x7f/g, '\\u007F');
}

function tomlValue(v: unknown): string {
  if (typeof v === 'string') return tomlString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error(`cannot write ${typeof v} as a TOML value`);
}

function comment(text: string | undefined, out: string[]): void {
  if (!text) return;
  let line = '#';
  for (const word of text.split(' ')) {
    if (line.length + word.length + 1 > 90 && line !== '#') { out.push(line); line = '#'; }
    line += ' ' + word;
  }
  out.push(line);
}

function writeKeys(schema: TSchema, obj: Record<string, unknown>, out: string[]): void {
  for (const [k, s] of Object.entries(schema.properties as Record<string, TSchema>)) {
    const v = obj[k];
    if (v === undefined || s.type === 'object' || s.type === 'array') continue;
    comment(s.description, out);
    out.push(`${k} = ${tomlValue(v)}`);
  }
}

/**
 * The config as commented TOML: top-level keys, then [[listeners]], then the tables, each
 * key under its description from the schema. Paths are written as given (localserve
 * passes paths relative to the file).
 */
export function configToToml(cfg: Config): string {
  const out: string[] = [
    '# postern configuration. Every key and its default is listed in README.md.',
    '# Relative paths are resolved against the directory of this file.',
    '',
  ];
  const props = ConfigSchema.properties as Record<string, TSchema>;
  writeKeys(ConfigSchema, cfg as unknown as Record<string, unknown>, out);
  for (const [k, s] of Object.entries(props)) {
    const v = (cfg as unknown as Record<string, unknown>)[k];
    if (s.type === 'array') {
      out.push('');
      comment(s.description, out);
      for (const item of v as Record<string, unknown>[]) {
        out.push(`[[${k}]]`);
        writeKeys(s.items, item, out);
        out.push('');
      }
      if (out[out.length - 1] === '') out.pop();
    } else if (s.type === 'object') {
      out.push('');
      comment(s.description, out);
      out.push(`[${k}]`);
      writeKeys(s, v as Record<string, unknown>, out);
    }
  }
  return out.join('\n') + '\n';
}

/** Write the config atomically (temporary file, fsync, rename, fsync of the directory). */
export function writeConfig(path: string, cfg: Config): void {
  const text = configToToml(cfg);
  const tmp = resolve(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dirname(resolve(path)), 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
}
