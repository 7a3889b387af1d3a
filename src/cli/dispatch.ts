// Runs a citty command tree with postern's rules for the command line:
// - `--help`/`-h` anywhere (before `--`) prints the usage of the command named so far;
// - unknown commands, unknown or repeated flags, missing flag values and wrong positional
//   counts are refused before anything runs (citty itself ignores unknown flags);
// - any user error ends with exit code 2 and ONE line on stderr, `postern: <what>`;
//   anything unexpected with exit code 1 and one line (the stack with POSTERN_DEBUG=1).

import { type ArgDef, type ArgsDef, type CommandDef, renderUsage, runCommand } from 'citty';
import { UsageError, isUserError } from './common.ts';

type AnyCommand = CommandDef<ArgsDef>;

const HELP = new Set(['--help', '-h']);

async function resolve<T>(v: T | Promise<T> | (() => T) | (() => Promise<T>) | undefined): Promise<T | undefined> {
  return typeof v === 'function' ? await (v as () => T | Promise<T>)() : await v;
}

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

async function usage(cmd: AnyCommand, names: string[]): Promise<string> {
  const parent = names.length > 1 ? { meta: { name: names.slice(0, -1).join(' ') } } : undefined;
  const text = await renderUsage(cmd, parent as AnyCommand | undefined);
  return process.stdout.isTTY ? text : stripAnsi(text);
}

/** Check a leaf command's raw arguments against its declared args. Throws UsageError. */
export function checkArgs(defs: ArgsDef, raw: string[], name: string): void {
  const flags = new Map<string, ArgDef>();
  for (const [k, d] of Object.entries(defs)) {
    if (d.type === 'positional') continue;
    flags.set(k, d);
    for (const a of ['alias' in d && d.alias ? d.alias : []].flat()) flags.set(a, d);
  }
  const positionals = Object.entries(defs).filter(([, d]) => d.type === 'positional');
  const seen = new Set<ArgDef>();
  const see = (d: ArgDef, flag: string) => {
    if (seen.has(d)) throw new UsageError(`${flag} given twice`);
    seen.add(d);
  };
  const hint = `see: ${name} --help`;
  let count = 0;
  for (let i = 0; i < raw.length; i++) {
    const a = raw[i];
    if (a === '--') { count += raw.length - i - 1; break; }
    if (a.startsWith('-') && a !== '-') {
      const eq = a.indexOf('=');
      const flag = eq < 0 ? a : a.slice(0, eq);
      const key = flag.replace(/^--?/, '');
      // Long flags by name (or --no-NAME for booleans), short ones only as one-letter aliases.
      let d = flag.startsWith('--') || key.length === 1 ? flags.get(key) : undefined;
      if (d === undefined && flag.startsWith('--no-') && flags.get(key.slice(3))?.type === 'boolean') d = flags.get(key.slice(3));
      if (d === undefined) {
        throw new UsageError(`unknown option ${flag} for ${name} (${hint})`);
      }
      see(d, flag);
      if (d.type === 'boolean') {
        if (eq >= 0) throw new UsageError(`${flag} takes no value`);
        continue;
      }
      const value = eq >= 0 ? a.slice(eq + 1) : raw[i + 1];
      if (eq < 0) {
        if (value === undefined) throw new UsageError(`${flag} needs a value (${hint})`);
        i++;
      }
      if (d.type === 'enum' && d.options && !d.options.includes(value)) {
        throw new UsageError(`${flag}: expected one of ${d.options.join(', ')}, got ${JSON.stringify(value)}`);
      }
      continue;
    }
    count++;
    if (count > positionals.length) {
      throw new UsageError(`unexpected argument ${JSON.stringify(a)} for ${name} (${hint})`);
    }
  }
  const required = positionals.filter(([, d]) => d.required !== false && d.default === undefined);
  if (count < required.length) {
    throw new UsageError(`missing ${required[count][0].toUpperCase()} for ${name} (${hint})`);
  }
}

/** Run the CLI; resolves to the exit code. */
export async function runCli(root: AnyCommand, argv: string[], version: string): Promise<number> {
  const names: string[] = [(await resolve(root.meta))?.name ?? 'postern'];
  try {
    let cmd = root;
    let i = 0;
    for (;;) {
      const subs = await resolve(cmd.subCommands);
      if (!subs) break;
      const a = argv[i];
      const name = names.join(' ');
      if (a === undefined) {
        throw new UsageError(`missing command for ${name}: one of ${Object.keys(subs).join(', ')} (see: ${name} --help)`);
      }
      if (HELP.has(a)) {
        process.stdout.write((await usage(cmd, names)) + '\n');
        return 0;
      }
      if (cmd === root && (a === '--version' || a === '-V')) {
        process.stdout.write(version + '\n');
        return 0;
      }
      if (a.startsWith('-')) throw new UsageError(`unknown option ${a.split('=')[0]} for ${name} (see: ${name} --help)`);
      const sub = subs[a];
      if (sub === undefined) {
        throw new UsageError(`unknown command ${JSON.stringify(a)} for ${name}: expected one of ${Object.keys(subs).join(', ')}`);
      }
      cmd = (await resolve(sub)) as AnyCommand;
      names.push(a);
      i++;
    }
    const rest = argv.slice(i);
    const dashdash = rest.indexOf('--');
    if ((dashdash < 0 ? rest : rest.slice(0, dashdash)).some((a) => HELP.has(a))) {
      process.stdout.write((await usage(cmd, names)) + '\n');
      return 0;
    }
    checkArgs((await resolve(cmd.args)) ?? {}, rest, names.join(' '));
    await runCommand(cmd, { rawArgs: rest });
    return 0;
  } catch (e) {
    const msg = stripAnsi(e instanceof Error ? e.message : String(e)).split('\n')[0];
    if (process.env.POSTERN_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    if (isUserError(e)) {
      process.stderr.write(`postern: ${msg}\n`);
      return 2;
    }
    process.stderr.write(`postern: ${msg}\n`);
    return 1;
  }
}
