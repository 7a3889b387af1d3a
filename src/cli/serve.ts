// `postern serve --config FILE`: the production server, listeners from the config.
// runServer() is shared with localserve: start, report the listeners, stop cleanly on
// SIGINT/SIGTERM.

import { accessSync, constants } from 'node:fs';
import { defineCommand } from 'citty';
import { type Config, ConfigError } from '../config/load.ts';
import { Logger } from '../log.ts';
import { configArg, loadConfigFrom, openServerDb } from './common.ts';

/** How long stop() may take before the process exits anyway. */
const STOP_TIMEOUT_MS = 10_000;

export interface RunningListener { name: string; address: string; port: number; tls: string }

/** Refuse a config the server cannot start with, naming the key. */
export function checkServable(config: Config, path: string): void {
  if (config.listeners.length === 0) {
    throw new ConfigError(path, 'listeners', 'missing; at least one [[listeners]] table is needed to serve');
  }
  config.listeners.forEach((l, i) => {
    for (const k of ['cert', 'key'] as const) {
      const f = l[k];
      if (f === undefined) continue;
      try {
        accessSync(f, constants.R_OK);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new ConfigError(path, `listeners[${i}].${k}`, `cannot read ${f}: ${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message}`);
      }
    }
  });
}

/**
 * Start the IMAP server, call `started` with the bound listeners, and resolve once a
 * SIGINT or SIGTERM has stopped it. A repeated signal while stopping is ignored (a
 * terminal's Ctrl-C reaches both bin/postern and this process).
 */
export async function runServer(config: Config, log: Logger, started: (ls: RunningListener[]) => void): Promise<void> {
  // Loaded here, not at the top: the account and domain commands need no server code.
  const { serve } = await import('../imap/server.ts');
  let server: Awaited<ReturnType<typeof serve>>;
  try {
    server = await serve(config, log);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const hint = err.code === 'EADDRINUSE' ? ' (is another server running on that port?)' : '';
    throw new Error(`cannot serve: ${err.message.split('\n')[0]}${hint}`);
  }
  started(server.listeners);
  await new Promise<void>((done) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info('stopping', { signal });
      const force = setTimeout(() => {
        log.error('stop timed out, exiting');
        process.exit(1);
      }, STOP_TIMEOUT_MS);
      force.unref();
      server.stop().then(
        () => done(),
        (e) => { log.error('stop failed', { err: String(e) }); process.exit(1); },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export const serveCommand = defineCommand({
  meta: { name: 'serve', description: 'Run the IMAP server with the listeners of a config file' },
  args: { ...configArg },
  async run({ args }) {
    const { path, config } = loadConfigFrom(args);
    checkServable(config, path);
    // Creates or migrates server.db before any client can log in.
    openServerDb(config).close();
    const log = new Logger(config.log_level);
    await runServer(config, log, () => {});
  },
});
