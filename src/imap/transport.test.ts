import { describe, expect, test } from 'bun:test';
import type { Socket } from 'bun';
import { Transport, type Layer } from './transport.ts';

/** A socket that accepts at most `room` bytes per write until drained. */
function fakeSocket(room: number) {
  const written: number[] = [];
  let free = room;
  const sock = {
    write(d: Uint8Array) {
      const n = Math.min(free, d.length);
      for (let i = 0; i < n; i++) written.push(d[i]);
      free -= n;
      return n;
    },
    end() {},
  };
  return { sock: sock as unknown as Socket<unknown>, written, refill: (n: number) => (free = n) };
}

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (a: number[]) => new TextDecoder().decode(new Uint8Array(a));

describe('Transport', () => {
  test('linger: half-closes, stops reading, sends nothing more, cuts the socket after the delay', async () => {
    const calls: string[] = [];
    const f = fakeSocket(100);
    const sock = Object.assign(f.sock, {
      shutdown: () => calls.push('shutdown'),
      pause: () => calls.push('pause'),
      terminate: () => calls.push('terminate'),
    });
    const t = new Transport(sock);
    t.send(bytes('* BYE x\r\n'));
    t.linger(20);
    t.send(bytes('late'));
    expect(text(f.written)).toBe('* BYE x\r\n');
    expect(calls).toEqual(['shutdown', 'pause']);
    await Bun.sleep(60);
    expect(calls).toEqual(['shutdown', 'pause', 'terminate']);
  });

  test('keeps what the socket did not accept and writes it on drain, in order', async () => {
    const f = fakeSocket(3);
    const t = new Transport(f.sock);
    t.send(bytes('hello '));
    t.send(bytes('world'));
    expect(text(f.written)).toBe('hel');
    expect(t.backlog).toBe(8);
    let drained = false;
    void t.drained().then(() => (drained = true));
    f.refill(4);
    t.drain();
    expect(text(f.written)).toBe('hello w');
    await Bun.sleep(0);
    expect(drained).toBe(false);
    f.refill(100);
    t.drain();
    expect(text(f.written)).toBe('hello world');
    expect(t.backlog).toBe(0);
    await Bun.sleep(0);
    expect(drained).toBe(true);
  });

  test('layers transform output outermost-first and input innermost-first', () => {
    const f = fakeSocket(1000);
    const t = new Transport(f.sock);
    const tag = (name: string): Layer => ({
      input: (d) => [bytes(`${name}<`), d],
      output: (d, flush) => [bytes(`${name}${flush ? '!' : ''}(`), d, bytes(')')],
    });
    t.addLayer(tag('a'));
    t.addLayer(tag('b'));
    t.send(bytes('x'), true);
    // b wraps first, then a wraps each of b's pieces.
    expect(text(f.written)).toBe('a!(b!()a!(x)a!())');
    const got = t.input(bytes('y')).map((c) => new TextDecoder().decode(c)).join('');
    expect(got).toBe('b<a<b<y');
  });
});
