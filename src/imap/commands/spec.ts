// The shape every command handler has (STYLE.md item 1).

import type { Command, CommandName } from '../parser.ts';
import type { Done, Session } from '../session.ts';

export type StateKind = 'notauth' | 'auth' | 'selected';

export const ANY: readonly StateKind[] = ['notauth', 'auth', 'selected'];
export const NOTAUTH: readonly StateKind[] = ['notauth'];
export const AUTHED: readonly StateKind[] = ['auth', 'selected'];
export const SELECTED: readonly StateKind[] = ['selected'];

export interface CommandSpec<N extends CommandName = CommandName> {
  names: readonly N[];
  states: readonly StateKind[];
  run(s: Session, cmd: Command & { name: N }): void | Done | Promise<void | Done>;
}

/** Typed constructor so `run` sees exactly its commands' argument shapes. */
export function spec<N extends CommandName>(s: CommandSpec<N>): CommandSpec<N> {
  return s;
}

