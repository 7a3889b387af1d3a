// The byte stream under a session: the socket (plain or TLS, which Bun handles) plus
// optional layers that transform bytes, e.g. deflate after COMPRESS. A layer sits
// exactly where TLS sits below it: input passes through the layers innermost-first,
// output outermost-first.
//
// Invariant: bytes the socket does not accept are kept and written on drain, in
// order (PLATFORM.md: Bun drops what `write` does not accept). `backlog` tells the
// session when to stop reading from a client that does not read.
//
// Closing: `end()` closes the socket at once. Bun then resets a connection whose peer is
// still sending, and a reset can destroy our last answer (a BYE) in the client's buffer
// before the client reads it (measured: a client reading 500 ms late got nothing).
// `linger()` is for that case: FIN after the answer, stop reading, cut after a delay.

import type { Socket } from 'bun';

export interface Layer {
  /** Transform bytes read from below; may return nothing yet. */
  input(data: Uint8Array): Uint8Array[];
  /** A layer that keeps input until asked (deflate: a small input can hold gigabytes)
   * hands out the next piece here: bytes (maybe none), or null when it holds nothing. */
  pull?(): Uint8Array | null;
  /** Transform bytes to send; `flush` ends a burst so the peer can decode all of it. */
  output(data: Uint8Array, flush: boolean): Uint8Array[];
  /** The connection is idle: drop what can be rebuilt. */
  releaseIdle?(): void;
  close?(): void;
}

export class Transport<T = unknown> {
  private queue: Uint8Array[] = [];
  private queueHead = 0;
  private queued = 0;
  private layers: Layer[] = [];
  private drainWaiters: Array<() => void> = [];
  closed = false;

  constructor(public socket: Socket<T>) {}

  get backlog(): number {
    return this.queued;
  }

  addLayer(layer: Layer): void {
    this.layers.push(layer);
  }

  /** Replace the socket after STARTTLS; nothing may be queued. */
  replaceSocket(socket: Socket<T>): void {
    this.socket = socket;
  }

  /** Bytes read from the socket, through the layers. */
  input(data: Uint8Array): Uint8Array[] {
    let chunks = [data];
    for (const layer of this.layers) {
      const next: Uint8Array[] = [];
      for (const c of chunks) for (const o of layer.input(c)) next.push(o);
      chunks = next;
    }
    return chunks;
  }

  /** The next piece of input a layer kept (see Layer.pull), or null when none is kept.
   * A pulling layer must be the outermost (COMPRESS is the only layer there is). */
  pull(): Uint8Array | null {
    const top = this.layers[this.layers.length - 1];
    return top?.pull ? top.pull() : null;
  }

  /** Tell the layers the connection is idle. */
  releaseIdle(): void {
    for (const layer of this.layers) layer.releaseIdle?.();
  }

  /** Send bytes; `flush` ends a burst (matters to layers such as deflate). */
  send(data: Uint8Array, flush = true): void {
    if (this.closed) return;
    let chunks = [data];
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const next: Uint8Array[] = [];
      for (const c of chunks) for (const o of this.layers[i].output(c, flush)) next.push(o);
      chunks = next;
    }
    for (const c of chunks) this.write(c);
  }

  private write(data: Uint8Array): void {
    if (data.length === 0) return;
    if (this.queued > 0) {
      this.queue.push(data);
      this.queued += data.length;
      return;
    }
    const n = this.socket.write(data);
    if (n < data.length) {
      const rest = data.subarray(Math.max(n, 0));
      this.queue.push(rest);
      this.queued += rest.length;
    }
  }

  /** Called from the socket's drain handler. */
  drain(): void {
    while (this.queueHead < this.queue.length) {
      const chunk = this.queue[this.queueHead];
      const n = this.socket.write(chunk);
      if (n < chunk.length) {
        const rest = chunk.subarray(Math.max(n, 0));
        this.queue[this.queueHead] = rest;
        this.queued -= chunk.length - rest.length;
        return;
      }
      this.queued -= chunk.length;
      this.queue[this.queueHead++] = EMPTY;
    }
    this.queue = [];
    this.queueHead = 0;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once everything queued has been handed to the socket. */
  drained(): Promise<void> {
    if (this.queued === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  end(): void {
    if (this.closed) return;
    this.stop();
    this.socket.end();
  }

  /**
   * Close a connection whose client may still be sending: half-close (the client reads
   * our last answers, then EOF), read nothing more, and cut the socket after `ms`.
   */
  linger(ms: number): void {
    if (this.closed) return;
    this.stop();
    this.socket.shutdown();
    this.socket.pause();
    const socket = this.socket;
    setTimeout(() => socket.terminate(), ms).unref();
  }

  private stop(): void {
    this.closed = true;
    for (const layer of this.layers) layer.close?.();
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}

const EMPTY = new Uint8Array(0);
