// The IMAP server: listeners from the config, one Session per connection, a shared
// context, and one sweep timer for timeouts and IDLE keep-alives (no timer per
// connection, so idle connections stay cheap).

import { readFileSync } from 'node:fs';
import type { SocketHandler, TCPSocketListener, TLSOptions } from 'bun';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { AccountRegistry } from '../store/registry.ts';
import { ServerDb } from '../store/server.ts';
import type { ListenerContext, ServerContext } from './context.ts';
import { LoginLimiter } from './limiter.ts';
import { Session, type SocketData } from './session.ts';
import { Transport } from './transport.ts';
import pkg from '../../package.json' with { type: 'json' };

export interface RunningServer {
  listeners: Array<{ name: string; address: string; port: number; tls: string }>;
  stop(): Promise<void>;
}

/** How often the sweep checks timeouts; also the resolution of keep-alives. */
const SWEEP_MS = 1000;
/** An account stays open this long after its last session (store/registry.ts). */
const ACCOUNT_LINGER_MS = 60_000;

export async function serve(config: Config, log: Logger): Promise<RunningServer> {
  const serverDb = ServerDb.open(config.data_dir);
  const accounts = new AccountRegistry({ serverDb, config, log, lingerMs: ACCOUNT_LINGER_MS });
  let cid = 0;
  const ctx: ServerContext = {
    config,
    log,
    serverDb,
    accounts,
    limiter: new LoginLimiter(config.auth.failed_login_delay_ms, config.auth.failed_login_delay_max_ms),
    sessions: new Set(),
    keepaliveMs: config.limits.idle_keepalive_seconds * 1000,
    version: pkg.version,
    nextCid: () => ++cid,
  };

  const listeners: TCPSocketListener<SocketData>[] = [];
  /** Open connections per remote address, for limits.max_connections_per_ip. */
  const perIp = new Map<string, number>();
  const out: RunningServer['listeners'] = [];
  try {
    for (const l of config.listeners) {
      const tlsOptions: TLSOptions | null = l.cert && l.key ? { cert: readFileSync(l.cert, 'utf8'), key: readFileSync(l.key, 'utf8') } : null;
      if (l.tls === 'implicit' && !tlsOptions) throw new Error(`listener ${l.name}: implicit TLS needs cert and key`);
      const lctx: ListenerContext = { name: l.name, tls: l.tls, tlsOptions: l.tls === 'none' ? null : tlsOptions, handlers: undefined as never };
      lctx.handlers = handlers(ctx, lctx, perIp);
      const listener = Bun.listen<SocketData>({
        hostname: l.address,
        port: l.port,
        ...(l.tls === 'implicit' && tlsOptions ? { tls: tlsOptions } : {}),
        socket: lctx.handlers,
      });
      listeners.push(listener);
      out.push({ name: l.name, address: l.address, port: listener.port, tls: l.tls });
      log.info('listening', { name: l.name, address: l.address, port: listener.port, tls: l.tls });
    }
  } catch (err) {
    for (const l of listeners) l.stop(true);
    accounts.close();
    serverDb.close();
    throw err;
  }

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const s of ctx.sessions) s.tick(now);
  }, SWEEP_MS);
  sweep.unref?.();

  return {
    listeners: out,
    async stop() {
      clearInterval(sweep);
      for (const l of listeners) l.stop(false);
      for (const s of [...ctx.sessions]) s.close('server shutting down');
      // Give the BYE lines a moment to reach the clients.
      await Bun.sleep(50);
      for (const l of listeners) l.stop(true);
      accounts.close();
      serverDb.close();
      log.info('stopped');
    },
  };
}

function handlers(ctx: ServerContext, lctx: ListenerContext, perIp: Map<string, number>): SocketHandler<SocketData> {
  return {
    binaryType: 'uint8array',
    open(socket) {
      // The TLS socket of a STARTTLS upgrade opens too: it already has its session.
      if (socket.data?.session) return;
      const max = ctx.config.limits.max_connections_per_ip;
      const addr = socket.remoteAddress;
      if (max > 0 && (perIp.get(addr) ?? 0) >= max) {
        ctx.log.info('connection refused', { remote: addr, reason: 'too many connections from this address' });
        socket.data = { session: null, ignore: true };
        socket.write('* BYE too many connections from your address\r\n');
        socket.end();
        return;
      }
      perIp.set(addr, (perIp.get(addr) ?? 0) + 1);
      const transport = new Transport<SocketData>(socket);
      const session = new Session(ctx, lctx, transport, socket.remoteAddress);
      socket.data = { session, ignore: false };
      socket.setKeepAlive(true, 60_000);
      socket.setNoDelay(true);
      ctx.sessions.add(session);
      session.greet();
    },
    data(socket, chunk) {
      const d = socket.data;
      if (!d || d.ignore || !d.session) return;
      d.session.onData(chunk);
    },
    drain(socket) {
      const d = socket.data;
      if (!d || d.ignore || !d.session) return;
      d.session.onDrain();
    },
    close(socket) {
      const d = socket.data;
      if (!d || d.ignore || !d.session) return;
      const addr = d.session.remoteAddress;
      const n = (perIp.get(addr) ?? 1) - 1;
      if (n <= 0) perIp.delete(addr);
      else perIp.set(addr, n);
      d.session.onClose();
    },
    error(socket, err) {
      const d = socket.data;
      (d?.session?.log ?? ctx.log).info('socket error', { err: err.message });
    },
  } as SocketHandler<SocketData>;
}
