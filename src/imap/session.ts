// One IMAP connection: the state machine, command dispatch, literals, untagged updates.
//
// Invariants:
// - Exactly one tagged answer per command; ImapError carries it, anything else becomes
//   `NO [SERVERBUG] ... (cid N)` and a log line with the same cid.
// - Commands run in order. A command that awaits (login delay, AUTHENTICATE, IDLE)
//   holds the pump; input meanwhile stays in the parser, and past a bound the socket
//   is paused so a client cannot grow our memory.
// - Responses of a turn go out as one write; a client that does not read makes us
//   stop reading from it (Transport.backlog), never buffer without bound.
// - Changes from other sessions are queued and drained before the tagged answer (never
//   in the middle of a command's responses), and at once while idling.
// - A refused literal is answered at once (`NO [TOOBIG]` and the like), before its data:
//   before `+` for `{n}`; for `{n+}`, which the client sends anyway, the parser then drops
//   the rest of the command as it arrives, keeping nothing. When a command's refused data
//   passes MAX_DISCARD, or a line passes MAX_LINE, the parser gives up: `* BYE`, and a
//   lingering close (Transport.linger) so that the answers reach a client still sending.

import type { Socket } from 'bun';
import type { Logger } from '../log.ts';
import type { Account } from '../store/account.ts';
import { StoreError, type Change } from '../store/types.ts';
import { ResponseWriter } from './encode.ts';
import { ImapError, bad } from './errors.ts';
import { CorruptStreamError, deflateLayer } from './compress.ts';
import { CommandParser, commandText, type Command, type ParseEvent } from './parser.ts';
import type { Transport } from './transport.ts';
import type { ServerContext, ListenerContext } from './context.ts';
import { COMMANDS, type StateKind } from './commands/index.ts';
import { Upload } from './upload.ts';
import type { SelectedView } from './view.ts';
import { decodeMailboxName } from './mailboxname.ts';

export type State =
  | { kind: 'notauth' }
  | { kind: 'auth'; account: Account; user: string }
  | { kind: 'selected'; account: Account; user: string; view: SelectedView }
  | { kind: 'logout' };

/** What a handler may set on the tagged OK. */
export interface Done {
  code?: string;
  text?: string;
  /** The handler already wrote the tagged answer (STARTTLS) or the connection is gone. */
  silent?: boolean;
}

export function assertNever(x: never): never {
  throw new Error('unexpected state ' + JSON.stringify(x));
}

/** Past this much unanswered output we stop reading from the client. */
const OUTPUT_HIGH = 1 << 20;
/** Past this much unparsed input while a command is busy we pause the socket. */
const INPUT_HIGH = 256 * 1024;
/** How long a closing connection may take to drain its last answers. */
const CLOSE_DRAIN_MS = 5000;
/** After a protocol error, how long a client still sending has to read our last answers. */
const LINGER_MS = 1000;
/** Changes queued for a session before it is told to resync instead. */
const MAX_PENDING_CHANGES = 10000;
/** A compressed connection this long without input drops its compression history. */
const COMPRESS_IDLE_MS = 30_000;
const NO_BYTES = new Uint8Array(0);

const dec = new TextDecoder();
const enc = new TextEncoder();

export class Session {
  readonly cid: number;
  readonly log: Logger;
  state: State = { kind: 'notauth' };
  readonly w = new ResponseWriter();
  readonly parser = new CommandParser();
  tls: boolean;
  enabled = new Set<string>();
  /** The client's ID parameters, for logging. */
  clientId: string | null = null;
  /** Set while IDLE runs; changes are delivered at once. */
  idling = false;
  lastActivity = Date.now();
  /** COMPRESS DEFLATE is on. */
  compressed = false;
  private idleReleased = false;
  lastKeepalive = 0;
  /** UIDs saved by SEARCH RETURN (SAVE), for `$` (RFC 5182). */
  savedUids: number[] = [];

  private busy = false;
  private lineWaiter: ((line: Uint8Array | null) => void) | null = null;
  private pausedInput = 0;
  private paused = false;
  private closed = false;
  private pending: Change[] = [];
  private pendingOverflow = false;
  private unsubscribe: (() => void) | null = null;
  /** Streamed APPEND literals of the current command, by literal index. */
  private uploads = new Map<number, Upload>();
  private currentUpload: Upload | null = null;
  private commandStarted = 0;
  /** Close once the current command's tagged answer is written (LOGOUT, a deleted selected mailbox). */
  private closeAfterCommand = false;

  constructor(
    readonly ctx: ServerContext,
    readonly listener: ListenerContext,
    readonly transport: Transport<SocketData>,
    readonly remoteAddress: string,
  ) {
    this.cid = ctx.nextCid();
    this.tls = listener.tls === 'implicit';
    this.log = ctx.log.child({ cid: this.cid });
  }

  // ---- state helpers ------------------------------------------------------------

  get account(): Account {
    const st = this.state;
    if (st.kind === 'auth' || st.kind === 'selected') return st.account;
    throw new Error('no account in state ' + st.kind);
  }

  get view(): SelectedView {
    if (this.state.kind !== 'selected') throw new Error('no mailbox selected');
    return this.state.view;
  }

  /** IMAP4rev2 or UTF8=ACCEPT enabled: mailbox names and strings are UTF-8. */
  get utf8(): boolean {
    return this.enabled.has('IMAP4REV2') || this.enabled.has('UTF8=ACCEPT');
  }

  get rev2(): boolean {
    return this.enabled.has('IMAP4REV2');
  }

  /** Plaintext passwords are allowed on this connection. */
  get plaintextAllowed(): boolean {
    if (this.tls) return true;
    const mode = this.ctx.config.auth.plaintext_without_tls;
    if (mode === 'always') return true;
    if (mode === 'never') return false;
    return isLoopback(this.remoteAddress);
  }

  get starttlsAvailable(): boolean {
    return !this.tls && this.listener.tls === 'starttls' && this.listener.tlsOptions !== null;
  }

  capabilities(): string[] {
    const caps = ['IMAP4rev2', 'IMAP4rev1', 'LITERAL+', 'ID', 'ENABLE', 'SASL-IR'];
    if (this.state.kind === 'notauth') {
      if (this.starttlsAvailable) caps.push('STARTTLS');
      if (this.plaintextAllowed) caps.push('AUTH=PLAIN');
      else caps.push('LOGINDISABLED');
      return caps;
    }
    caps.push(
      'IDLE', 'NAMESPACE', 'UNSELECT', 'UIDPLUS', 'CHILDREN', 'LIST-EXTENDED', 'LIST-STATUS',
      'SPECIAL-USE', 'CREATE-SPECIAL-USE', 'STATUS=SIZE', 'UTF8=ACCEPT', 'MULTIAPPEND', 'MOVE',
      'ESEARCH', 'SEARCHRES', 'WITHIN', 'BINARY',
      `APPENDLIMIT=${this.ctx.config.limits.append_max_bytes}`,
    );
    if (this.ctx.config.compress.enabled && !this.compressed) caps.push('COMPRESS=DEFLATE');
    return caps;
  }

  /** Decode a mailbox name from the wire (UTF-7 or UTF-8 per session) to its stored form. */
  mailboxName(b: Uint8Array): string {
    return decodeMailboxName(b, this.utf8);
  }

  // ---- input ----------------------------------------------------------------------

  greet(): void {
    this.w.raw('* OK [CAPABILITY ').raw(this.capabilities().join(' ')).raw('] postern ready').crlf();
    this.flush();
    this.log.info('connect', { remote: this.remoteAddress, listener: this.listener.name, tls: this.tls });
  }

  onData(chunk: Uint8Array): void {
    if (this.closed) return;
    this.lastActivity = Date.now();
    this.idleReleased = false;
    for (const c of this.transport.input(chunk)) this.parser.feed(c);
    if (this.busy && !this.lineWaiter) {
      this.pausedInput += chunk.length;
      if (this.pausedInput > INPUT_HIGH && !this.paused) this.pause();
      return;
    }
    this.pump();
  }

  onDrain(): void {
    this.transport.drain();
    if (this.paused && this.transport.backlog < OUTPUT_HIGH / 2 && !this.busy) {
      this.resume();
      this.pump();
    }
  }

  private pause(): void {
    this.paused = true;
    this.transport.socket.pause();
  }

  private resume(): void {
    this.paused = false;
    this.pausedInput = 0;
    this.transport.socket.resume();
  }

  /** Process parser events until input runs out or a command must wait. */
  private pump(): void {
    while (!this.closed) {
      if (this.busy && !this.lineWaiter) return;
      if (!this.busy && this.transport.backlog > OUTPUT_HIGH) {
        this.flush();
        if (!this.paused) this.pause();
        return;
      }
      let ev: ParseEvent;
      try {
        ev = this.parser.next();
      } catch (err) {
        this.serverBug(null, 'parse', err);
        this.close('internal error');
        return;
      }
      switch (ev.kind) {
        case 'need-more': {
          // A compressed stream is inflated a slice at a time, as the parser asks.
          let more: Uint8Array | null;
          try {
            more = this.transport.pull();
          } catch (err) {
            if (!(err instanceof CorruptStreamError)) throw err;
            this.log.info('protocol error', { reason: err.message });
            this.close('corrupt compressed stream', { stillSending: true });
            return;
          }
          if (more !== null) {
            this.parser.feed(more);
            break;
          }
          this.flush();
          if (this.paused && !this.busy) this.resume();
          return;
        }
        case 'line': {
          const w = this.lineWaiter;
          this.lineWaiter = null;
          this.parser.setLineMode(false);
          if (w) w(ev.line);
          break;
        }
        case 'literal':
          this.onLiteral(ev);
          break;
        case 'literal-data':
          this.onLiteralData(ev.data, ev.done);
          break;
        case 'error':
          this.discardUploads();
          if (ev.fatal) {
            this.log.info('protocol error', { reason: ev.text });
            this.close(ev.text, { stillSending: true });
            return;
          }
          this.logCommand(ev.tag ?? '*', '?', ev.status === 'BAD' ? 'bad' : 'no', ev.text);
          this.w.raw(ev.tag ?? '*').sp().raw(ev.status).sp();
          if (ev.code) this.w.raw('[').raw(ev.code).raw('] ');
          this.w.raw(sanitize(ev.text)).crlf();
          break;
        case 'command':
          if (this.log.enabled('trace')) this.log.trace('C: ' + redact(commandText(ev.raw, ev.lits)));
          this.execute(ev.command);
          break;
        default:
          assertNever(ev);
      }
    }
  }

  /** Check a literal before `+` is sent: limits, and for APPEND the destination and size. */
  private onLiteral(ev: Extract<ParseEvent, { kind: 'literal' }>): void {
    if (ev.appendMailbox !== null) {
      let upload: Upload;
      try {
        const reason = this.checkAppendLiteral(ev.appendMailbox, ev.size);
        if (reason) {
          this.parser.rejectLiteral(reason.code, reason.message, reason.status === 'BAD' ? 'BAD' : 'NO');
          return;
        }
        upload = new Upload(this.account.takeTmpFile(), ev.binary);
      } catch (err) {
        this.logBug('append literal', err);
        this.parser.rejectLiteral('SERVERBUG', `internal error (cid ${this.cid})`);
        return;
      }
      if (!this.parser.acceptLiteral('stream')) {
        upload.discard();
        return;
      }
      this.currentUpload = upload;
      this.uploads.set(ev.index, upload);
    } else if (!this.parser.acceptLiteral('buffer')) {
      return;
    }
    if (ev.sync) {
      this.w.raw('+ Ready for literal data').crlf();
      this.flush();
    }
  }

  private checkAppendLiteral(mailbox: Uint8Array, size: number): ImapError | null {
    if (this.state.kind !== 'auth' && this.state.kind !== 'selected') return bad('APPEND is not allowed before authentication');
    const max = this.ctx.config.limits.append_max_bytes;
    if (size > max) return new ImapError('NO', 'TOOBIG', `message is larger than the limit of ${max} bytes`);
    try {
      const name = this.mailboxName(mailbox);
      if (!this.account.findMailbox(name)) return new ImapError('NO', 'TRYCREATE', 'mailbox does not exist');
    } catch (err) {
      if (err instanceof ImapError) return err;
      throw err;
    }
    return null;
  }

  private onLiteralData(data: Uint8Array, done: boolean): void {
    const up = this.currentUpload;
    if (!up) return;
    up.write(data);
    if (done) {
      up.finish();
      this.currentUpload = null;
    }
  }

  /** The finished upload of a streamed APPEND literal, by literal index. */
  upload(index: number): Upload {
    const up = this.uploads.get(index);
    if (!up) throw new Error(`no upload for literal ${index}`);
    return up;
  }

  /** Track an upload the command made itself, so it is cleaned up like a streamed one. */
  adoptUpload(index: number, up: Upload): void {
    this.uploads.set(index, up);
  }

  private discardUploads(): void {
    for (const up of this.uploads.values()) up.discard();
    this.uploads.clear();
    this.currentUpload = null;
  }

  /** Wait for the client's next line (AUTHENTICATE responses, IDLE's DONE). Null when the connection closes. */
  readLine(): Promise<Uint8Array | null> {
    this.parser.setLineMode(true);
    return new Promise((resolve) => {
      this.lineWaiter = resolve;
      // The line may already be buffered.
      queueMicrotask(() => this.pump());
    });
  }

  // ---- commands -----------------------------------------------------------------

  private execute(cmd: Command): void {
    const spec = COMMANDS.get(cmd.name);
    this.commandStarted = performance.now();
    if (!spec) {
      this.finish(cmd, bad(`${cmd.name} is not supported`));
      return;
    }
    const allowed = spec.states as readonly StateKind[];
    if (!allowed.includes(this.state.kind as StateKind)) {
      this.finish(cmd, bad(`${cmd.uid ? 'UID ' : ''}${cmd.name} is not allowed ${stateText(this.state.kind)}`));
      return;
    }
    const st = this.state;
    const account = st.kind === 'auth' || st.kind === 'selected' ? st.account : null;
    const commits = account?.commitCount ?? 0;
    let result: void | Done | Promise<void | Done>;
    try {
      result = spec.run(this, cmd as never);
    } catch (err) {
      this.finish(cmd, err);
      return;
    }
    // A command that wrote answers OK only once its commit is durable (the store fsyncs
    // its log off the event loop, one fsync for every session waiting).
    if (account !== null && account.commitCount !== commits) result = Promise.resolve(result).then(async (done) => {
      await account.durable();
      return done;
    });
    if (result instanceof Promise) {
      this.busy = true;
      result.then(
        (done) => this.afterAsync(cmd, done),
        (err) => this.afterAsync(cmd, undefined, err),
      );
      return;
    }
    this.finish(cmd, null, result);
    if (this.closeAfterCommand) this.close();
  }

  private afterAsync(cmd: Command, done: void | Done, err?: unknown): void {
    this.busy = false;
    this.pausedInput = 0;
    if (this.closed) {
      this.discardUploads();
      return;
    }
    this.finish(cmd, err ?? null, done);
    if (this.closeAfterCommand) this.close();
    if (this.closed) return;
    if (this.paused && this.transport.backlog < OUTPUT_HIGH) this.resume();
    this.pump();
  }

  /** Write the tagged answer (after pending untagged updates) for a finished command. */
  private finish(cmd: Command, err: unknown, done?: void | Done): void {
    this.discardUploads();
    // Store refusals map to IMAP codes one-to-one (STYLE.md item 6).
    if (err instanceof StoreError && err.code !== 'SERVERBUG') err = new ImapError('NO', err.code, err.message);
    const name = (cmd.uid ? 'UID ' : '') + cmd.name;
    if (err === null || err === undefined) {
      if (done && done.silent) {
        this.logCommand(cmd.tag, name, 'ok');
        return;
      }
      this.deliverChanges(expungeAllowed(cmd));
      this.w.raw(cmd.tag).raw(' OK ');
      if (done && done.code) this.w.raw('[').raw(done.code).raw('] ');
      this.w.raw(done && done.text ? done.text : `${name} completed`).crlf();
      this.logCommand(cmd.tag, name, 'ok');
      return;
    }
    if (err instanceof ImapError) {
      if (err.status === 'BYE') {
        this.logCommand(cmd.tag, name, 'bye', err.message);
        this.close(err.message);
        return;
      }
      if (err.status === 'NO') this.deliverChanges(expungeAllowed(cmd));
      this.w.raw(cmd.tag).sp().raw(err.status).sp();
      if (err.code) this.w.raw('[').raw(err.code).raw('] ');
      this.w.raw(sanitize(err.message)).crlf();
      this.logCommand(cmd.tag, name, err.status === 'BAD' ? 'bad' : 'no', err.message);
      return;
    }
    this.serverBug(cmd.tag, name, err);
  }

  private serverBug(tag: string | null, name: string, err: unknown): void {
    this.logBug(name, err);
    this.w.raw(tag ?? '*').raw(` NO [SERVERBUG] internal error (cid ${this.cid})`).crlf();
  }

  private logBug(name: string, err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.log.error('serverbug', { cmd: name, err: e.message, stack: e.stack?.split('\n').slice(1, 6).join(' | ') });
  }

  private logCommand(tag: string, name: string, result: string, reason?: string): void {
    if (!this.log.enabled('debug')) return;
    const ms = Math.round((performance.now() - this.commandStarted) * 100) / 100;
    this.log.debug('command', { tag, cmd: name, result, ms, reason });
  }

  /** Send what the writer holds, and end the burst (deflate sync-flushes). */
  flush(): void {
    if (this.w.length === 0) {
      if (this.compressed) this.transport.send(NO_BYTES, true);
      return;
    }
    const out = this.w.take();
    if (this.log.enabled('trace')) this.log.trace('S: ' + traceText(out));
    this.transport.send(out, true);
  }

  // ---- state transitions ---------------------------------------------------------

  /** Enter the authenticated state for an account the registry opened for us. */
  authenticated(user: string, account: Account): void {
    this.state = { kind: 'auth', account, user };
    this.log.set('user', user);
    this.unsubscribe = account.subscribeChanges((changes) => this.onChanges(changes));
    this.log.info('login');
  }

  select(view: SelectedView): void {
    const st = this.state;
    if (st.kind !== 'auth' && st.kind !== 'selected') throw new Error('select needs an account');
    if (st.kind === 'selected') st.view.release();
    this.pending = this.pending.filter((c) => !('mailboxId' in c) || c.mailboxId !== view.mailbox.id);
    this.state = { kind: 'selected', account: st.account, user: st.user, view };
    // RFC 5182: the saved search result belongs to the mailbox it was made in.
    this.savedUids = [];
  }

  unselect(): void {
    const st = this.state;
    if (st.kind !== 'selected') return;
    st.view.release();
    this.savedUids = [];
    this.state = { kind: 'auth', account: st.account, user: st.user };
  }

  /**
   * COMPRESS DEFLATE (RFC 4978) after its tagged OK has been written: the OK goes out
   * uncompressed, everything after it compressed. Bytes the client sent after the
   * command's CRLF are compressed already (RFC 4978 §3): they go through the inflater.
   */
  startCompression(): void {
    this.flush();
    const unread = this.parser.takeUnread();
    this.transport.addLayer(deflateLayer(this.ctx.config.compress.level));
    this.compressed = true;
    for (const c of unread) this.transport.input(c);
    this.log.info('compression on', { mechanism: 'DEFLATE', pipelined: unread.reduce((n, c) => n + c.length, 0) });
  }

  /** Switch to TLS after `OK Begin TLS negotiation now` has been written. */
  async startTls(): Promise<void> {
    const opts = this.listener.tlsOptions;
    if (!opts) throw new Error('no TLS configured');
    await this.transport.drained();
    // Anything the client pipelined after STARTTLS was sent in plaintext: discard it.
    this.parser.reset();
    const old = this.transport.socket;
    old.data.ignore = true;
    const [, tlsSocket] = old.upgradeTLS<SocketData>({
      tls: opts,
      socket: this.listener.handlers,
      data: { session: this, ignore: false },
    });
    this.transport.replaceSocket(tlsSocket);
    this.tls = true;
  }

  // ---- changes from other sessions -----------------------------------------------

  private onChanges(changes: readonly Change[]): void {
    if (this.closed) return;
    for (const c of changes) {
      if (this.pending.length >= MAX_PENDING_CHANGES) {
        this.pendingOverflow = true;
        break;
      }
      this.pending.push(c);
    }
    if (this.idling) {
      this.deliverChanges(true);
      this.flush();
    }
  }

  /**
   * Forget queued changes of a write this session made itself (one modseq per
   * transaction): its command reports them in its own responses.
   */
  dropOwnChanges(modseq: bigint): void {
    this.pending = this.pending.filter((c) => !('modseq' in c) || c.modseq !== modseq);
  }

  /** A new keyword joined the mailbox: tell the client the new FLAGS and PERMANENTFLAGS. */
  announceFlags(keywords: readonly string[]): void {
    const flags = [...SYSTEM_FLAG_NAMES, ...keywords];
    this.w.raw('* FLAGS ').atomList(flags).crlf();
    this.w.raw('* OK [PERMANENTFLAGS ').atomList([...flags, '\\*']).raw('] flags permitted').crlf();
  }

  /** Turn queued changes into untagged responses for this session's view. */
  deliverChanges(allowExpunge: boolean): void {
    if (this.pending.length === 0 && !this.pendingOverflow) return;
    const st = this.state;
    if (st.kind !== 'selected') {
      this.pending = [];
      this.pendingOverflow = false;
      return;
    }
    const view = st.view;
    const keep: Change[] = [];
    let grew = false;
    for (const c of this.pending) {
      switch (c.kind) {
        case 'added':
          if (c.mailboxId === view.mailbox.id && view.add(c.uid)) grew = true;
          break;
        case 'expunged':
          if (c.mailboxId !== view.mailbox.id) break;
          if (!allowExpunge) {
            keep.push(c);
            break;
          }
          if (grew) {
            this.w.raw('* ').num(view.count).raw(' EXISTS').crlf();
            grew = false;
          }
          for (const seq of view.expunge(c.uids)) this.w.raw('* ').num(seq).raw(' EXPUNGE').crlf();
          break;
        case 'flags': {
          if (c.mailboxId !== view.mailbox.id) break;
          const seq = view.seq(c.uid);
          if (seq === 0) break;
          this.w.raw('* ').num(seq).raw(' FETCH (FLAGS ').atomList(flagNames(c.flags, c.keywords)).raw(')').crlf();
          break;
        }
        case 'mailbox-deleted':
          if (c.mailboxId === view.mailbox.id) {
            this.w.raw('* BYE selected mailbox was deleted, have to disconnect').crlf();
            this.closeAfterCommand = true;
            if (this.idling) queueMicrotask(() => this.close());
          }
          break;
        case 'mailbox-renamed':
          if (c.mailboxId === view.mailbox.id) view.mailbox = { ...view.mailbox, name: c.newName };
          break;
        case 'mailbox-created':
        case 'subscription':
          break;
        default:
          assertNever(c);
      }
    }
    if (grew) this.w.raw('* ').num(view.count).raw(' EXISTS').crlf();
    this.pending = keep;
    if (this.pendingOverflow) {
      this.pendingOverflow = false;
      this.w.raw('* OK [NOTIFICATIONOVERFLOW] too many changes, reselect the mailbox').crlf();
    }
  }

  // ---- lifetime -------------------------------------------------------------------

  /** Periodic check from the server: timeouts and IDLE keep-alives. */
  tick(now: number): void {
    if (this.closed) return;
    const limits = this.ctx.config.limits;
    const timeout = (this.state.kind === 'notauth' ? limits.login_timeout_seconds : limits.idle_timeout_seconds) * 1000;
    if (now - this.lastActivity > timeout) {
      this.log.info('timeout', { state: this.state.kind });
      this.close('Autologout; idle for too long');
      return;
    }
    if (this.compressed && !this.idleReleased && now - this.lastActivity > COMPRESS_IDLE_MS) {
      this.idleReleased = true;
      this.transport.releaseIdle();
    }
    if (this.idling && now - Math.max(this.lastKeepalive, this.lastActivity) > this.ctx.keepaliveMs) {
      this.lastKeepalive = now;
      this.w.raw('* OK Still here').crlf();
      this.flush();
    }
  }

  /**
   * Send `* BYE reason` (when given) and close. `stillSending`: the client is in the middle
   * of a command, so close with a linger (Transport.linger) rather than a reset.
   */
  close(reason?: string, opts: { stillSending?: boolean } = {}): void {
    if (this.closed) return;
    if (reason) {
      this.w.raw('* BYE ').raw(sanitize(reason)).crlf();
    }
    this.flush();
    this.closed = true;
    const waiter = this.lineWaiter;
    this.lineWaiter = null;
    if (waiter) waiter(null);
    const t = this.transport;
    // A client that does not read would never drain: give it a moment, then cut it off.
    const cutoff = setTimeout(() => t.end(), CLOSE_DRAIN_MS);
    void t.drained().then(() => {
      clearTimeout(cutoff);
      if (opts.stillSending) t.linger(LINGER_MS);
      else t.end();
    });
  }

  /** The socket closed (either side). */
  onClose(): void {
    this.closed = true;
    this.transport.closed = true;
    const waiter = this.lineWaiter;
    this.lineWaiter = null;
    if (waiter) waiter(null);
    this.discardUploads();
    this.unsubscribe?.();
    this.unsubscribe = null;
    const st = this.state;
    if (st.kind === 'selected') st.view.release();
    if (st.kind === 'auth' || st.kind === 'selected') this.ctx.accounts.release(st.account);
    this.state = { kind: 'logout' };
    this.ctx.sessions.delete(this);
    this.log.info('disconnect');
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** LOGOUT: `* BYE` now, the tagged OK, then the connection closes. */
  logout(): void {
    this.w.raw('* BYE logging out').crlf();
    this.closeAfterCommand = true;
  }
}

export interface SocketData {
  session: Session | null;
  /** The plaintext side of a socket upgraded by STARTTLS: its data is ciphertext. */
  ignore: boolean;
}

export type SessionSocket = Socket<SocketData>;

/** RFC 9051 §7.5.1: no EXPUNGE while answering FETCH, STORE or SEARCH by sequence number. */
function expungeAllowed(cmd: Command): boolean {
  if (cmd.uid) return true;
  return cmd.name !== 'FETCH' && cmd.name !== 'STORE' && cmd.name !== 'SEARCH';
}

function stateText(kind: State['kind']): string {
  switch (kind) {
    case 'notauth':
      return 'before authentication';
    case 'auth':
      return 'without a selected mailbox';
    case 'selected':
      return 'with a mailbox selected';
    case 'logout':
      return 'after logout';
    default:
      return assertNever(kind);
  }
}

export const SYSTEM_FLAG_NAMES = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];

export function flagNames(flags: number, keywords: readonly string[]): string[] {
  const out: string[] = [];
  if (flags & 2) out.push('\\Answered');
  if (flags & 4) out.push('\\Flagged');
  if (flags & 8) out.push('\\Deleted');
  if (flags & 1) out.push('\\Seen');
  if (flags & 16) out.push('\\Draft');
  for (const k of keywords) out.push(k);
  return out;
}

export function isLoopback(addr: string): boolean {
  return addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.');
}

/** Text we echo in a response line: printable ASCII only. */
function sanitize(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}

/** A command for the trace log, with LOGIN/AUTHENTICATE secrets replaced by their length. */
function redact(text: string): string {
  const m = /^(\S+ (?:LOGIN|AUTHENTICATE)\b)(.*)$/is.exec(text);
  if (m) return `${m[1]} <redacted ${m[2].length} bytes>`;
  return text.length > 400 ? text.slice(0, 400) + `... (${text.length} chars)` : text;
}

function traceText(out: Uint8Array): string {
  return out.length > 400 ? dec.decode(out.subarray(0, 400)) + `... (${out.length} bytes)` : dec.decode(out);
}

export const utf8Encode = (s: string) => enc.encode(s);
export const utf8Decode = (b: Uint8Array) => dec.decode(b);
