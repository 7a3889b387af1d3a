// The command table: one spec per command, gathered from one file per family.
// session.ts is the only place that checks the connection state against `states`.

import type { CommandName } from '../parser.ts';
import { anyState } from './any.ts';
import { appendCommands } from './append.ts';
import { authCommands } from './auth.ts';
import { compressCommands } from './compress.ts';
import { copyMoveCommands } from './copymove.ts';
import { fetchCommands } from './fetch.ts';
import { idleCommands } from './idle.ts';
import { listCommands } from './list.ts';
import { mailboxCommands } from './mailbox.ts';
import { searchCommands } from './search.ts';
import { selectCommands } from './select.ts';
import type { CommandSpec } from './spec.ts';
import { statusCommands } from './status.ts';
import { storeCommands } from './store.ts';

export type { StateKind } from './spec.ts';

export const COMMANDS = new Map<CommandName, CommandSpec<any>>();
const FAMILIES = [
  anyState, authCommands, selectCommands, mailboxCommands, listCommands, statusCommands,
  appendCommands, idleCommands, fetchCommands, searchCommands, storeCommands, copyMoveCommands,
  compressCommands,
];
for (const family of FAMILIES) {
  for (const s of family) for (const n of s.names) COMMANDS.set(n, s);
}
