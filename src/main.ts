// The `postern` command line: one citty command per group in src/cli/, run by
// runCli (src/cli/dispatch.ts), which checks flags and turns user errors into one line on
// stderr and exit code 2.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineCommand } from 'citty';
import { accountCommand } from './cli/account.ts';
import { runCli } from './cli/dispatch.ts';
import { domainCommand } from './cli/domain.ts';
import { localserveCommand } from './cli/localserve.ts';
import { serveCommand } from './cli/serve.ts';

export const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(join(import.meta.dir, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

export const postern = defineCommand({
  meta: { name: 'postern', version: VERSION, description: 'An IMAP4rev2 server' },
  subCommands: {
    serve: serveCommand,
    localserve: localserveCommand,
    account: accountCommand,
    domain: domainCommand,
  },
});

if (import.meta.main) {
  const code = await runCli(postern, process.argv.slice(2), VERSION);
  // End by emptying the event loop, not process.exit(): that drops stdout still queued
  // for a pipe (a long `account list | less`). Should a handle linger, exit anyway.
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2000).unref();
}
