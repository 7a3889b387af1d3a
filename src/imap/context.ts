// What every session of a server shares: config, databases, the account registry,
// the login limiter and the listener it came in on.

import type { SocketHandler, TLSOptions } from 'bun';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { AccountRegistry } from '../store/registry.ts';
import type { ServerDb } from '../store/server.ts';
import type { LoginLimiter } from './limiter.ts';
import type { Session, SocketData } from './session.ts';

export interface ServerContext {
  config: Config;
  log: Logger;
  serverDb: ServerDb;
  accounts: AccountRegistry;
  limiter: LoginLimiter;
  sessions: Set<Session>;
  /** Interval of `* OK Still here` during IDLE. */
  keepaliveMs: number;
  /** postern's version, for ID and logs. */
  version: string;
  nextCid(): number;
}

export interface ListenerContext {
  name: string;
  tls: 'none' | 'starttls' | 'implicit';
  /** Certificate and key for STARTTLS/implicit TLS; null when the listener has none. */
  tlsOptions: TLSOptions | null;
  /** The socket handlers, reused for the TLS socket after STARTTLS. */
  handlers: SocketHandler<SocketData>;
}
