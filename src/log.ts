// Structured logfmt logging. Every line of a connection carries its `cid`, so a user
// can quote the cid from a SERVERBUG answer and an operator can grep one connection.

export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

export type Fields = Record<string, string | number | bigint | boolean | null | undefined>;

let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');

/** Redirect output (tests); returns the previous sink. */
export function setLogSink(f: (line: string) => void): (line: string) => void {
  const prev = sink;
  sink = f;
  return prev;
}

function quote(v: string): string {
  if (v !== '' && !/[\s"=\\\x00-\x1f\x7f]/.test(v)) return v;
  return '"' + v.replace(/[\\"]/g, (c) => '\\' + c).replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/[\x00-\x1f\x7f]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0')) + '"';
}

export function formatFields(f: Fields): string {
  let s = '';
  for (const k in f) {
    const v = f[k];
    if (v === undefined) continue;
    s += ' ' + k + '=' + (v === null ? '' : quote(String(v)));
  }
  return s;
}

export class Logger {
  constructor(private min: Level, private readonly base: Fields = {}) {}

  /** A logger whose lines all carry these fields too (e.g. cid, user). */
  child(fields: Fields): Logger {
    return new Logger(this.min, { ...this.base, ...fields });
  }

  /** Add a field to every later line of this logger (e.g. user after login). */
  set(key: string, value: string | number | null): void {
    this.base[key] = value;
  }

  setLevel(level: Level): void {
    this.min = level;
  }

  enabled(level: Level): boolean {
    return RANK[level] >= RANK[this.min];
  }

  log(level: Level, msg: string, fields?: Fields): void {
    if (RANK[level] < RANK[this.min]) return;
    const t = new Date().toISOString();
    sink(`t=${t} level=${level} msg=${quote(msg)}${formatFields(this.base)}${fields ? formatFields(fields) : ''}`);
  }

  trace(msg: string, f?: Fields): void { this.log('trace', msg, f); }
  debug(msg: string, f?: Fields): void { this.log('debug', msg, f); }
  info(msg: string, f?: Fields): void { this.log('info', msg, f); }
  warn(msg: string, f?: Fields): void { this.log('warn', msg, f); }
  error(msg: string, f?: Fields): void { this.log('error', msg, f); }
}

export function isLevel(s: string): s is Level {
  return s in RANK;
}
