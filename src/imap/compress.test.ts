import { describe, expect, test } from 'bun:test';
import { constants as zc, createDeflateRaw, deflateRawSync, inflateRawSync } from 'node:zlib';
import { CorruptStreamError, deflateLayer, slideWindow } from './compress.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** What a client's zlib stream sends for these commands, each flushed with `flush`. */
async function clientStream(commands: string[], flush: number): Promise<Uint8Array[]> {
  const z = createDeflateRaw();
  const out: Uint8Array[] = [];
  let cur: Buffer[] = [];
  z.on('data', (d: Buffer) => cur.push(d));
  for (const c of commands) {
    z.write(c);
    await new Promise<void>((resolve) => z.flush(flush, () => resolve()));
    out.push(new Uint8Array(Buffer.concat(cur)));
    cur = [];
  }
  z.close();
  return out;
}

/** Everything the layer hands out for this input, pulling as the session does. */
function drain(layer: ReturnType<typeof deflateLayer>, input: Uint8Array): string {
  layer.input(input);
  let s = '';
  for (let piece = layer.pull(); piece !== null; piece = layer.pull()) s += dec.decode(piece);
  return s;
}

describe('inflating what the client sends', () => {
  for (const [name, flush] of [['partial', zc.Z_PARTIAL_FLUSH], ['sync', zc.Z_SYNC_FLUSH], ['full', zc.Z_FULL_FLUSH]] as const) {
    test(`every byte decodable after a ${name} flush comes out at once, fed whole or byte by byte`, async () => {
      const cmds = ['a1 NOOP\r\n', 'a2 SELECT INBOX\r\n', 'a3 UID FETCH 1:* (FLAGS)\r\n'];
      const pieces = await clientStream(cmds, flush);
      const whole = deflateLayer(1);
      const bytewise = deflateLayer(1);
      pieces.forEach((p, i) => {
        expect(drain(whole, p)).toBe(cmds[i]);
        let got = '';
        for (const b of p) got += drain(bytewise, Uint8Array.of(b));
        expect(got).toBe(cmds[i]);
      });
    });
  }

  test('one pull inflates at most a slice, so a bomb comes out in bounded pieces', () => {
    const bomb = deflateRawSync(new Uint8Array(64 * 1024 * 1024).fill(0x61), { finishFlush: zc.Z_SYNC_FLUSH });
    const layer = deflateLayer(1);
    layer.input(bomb);
    let total = 0;
    let largest = 0;
    for (let piece = layer.pull(); piece !== null; piece = layer.pull()) {
      total += piece.length;
      largest = Math.max(largest, piece.length);
    }
    expect(total).toBe(64 * 1024 * 1024);
    expect(largest).toBeLessThanOrEqual(4096 * 1040);
  });

  test('input after the final block is a corrupt stream', () => {
    const layer = deflateLayer(1);
    const ended = deflateRawSync(enc.encode('a1 LOGOUT\r\n'));
    expect(drain(layer, ended)).toBe('a1 LOGOUT\r\n');
    layer.input(Uint8Array.of(1, 2, 3));
    expect(() => layer.pull()).toThrow(CorruptStreamError);
  });

  test('a corrupt stream throws CorruptStreamError and keeps nothing', () => {
    const layer = deflateLayer(1);
    layer.input(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x12]));
    expect(() => {
      while (layer.pull() !== null);
    }).toThrow(CorruptStreamError);
    expect(layer.pending).toBe(0);
  });
});

describe('deflating what the server sends', () => {
  test('each burst decodes completely on its own end, with history across bursts and after a release', () => {
    const layer = deflateLayer(6);
    const bursts = ['* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n', '* 2 FETCH (UID 2 FLAGS (\\Seen))\r\n', 'a OK done\r\n'];
    const wire: Uint8Array[] = [];
    for (const [i, b] of bursts.entries()) {
      const out = layer.output(enc.encode(b), true);
      expect(out.length).toBe(1);
      // Ends on a sync flush marker: the peer can decode all of it now.
      expect(Array.from(out[0].subarray(-4))).toEqual([0, 0, 0xff, 0xff]);
      wire.push(out[0]);
      if (i === 1) layer.releaseIdle();
    }
    // The second burst refers back into the first: it is smaller than the first.
    expect(wire[1].length).toBeLessThan(wire[0].length);
    const all = new Uint8Array(wire.reduce((n, w) => n + w.length, 0));
    let off = 0;
    for (const w of wire) {
      all.set(w, off);
      off += w.length;
    }
    expect(dec.decode(inflateRawSync(all, { finishFlush: zc.Z_SYNC_FLUSH }))).toBe(bursts.join(''));
  });

  test('output is held until the burst ends or 64 KiB gather', () => {
    const layer = deflateLayer(1);
    expect(layer.output(enc.encode('x'.repeat(1000)), false)).toEqual([]);
    expect(layer.output(new Uint8Array(70 * 1024), false).length).toBe(1);
    expect(layer.output(new Uint8Array(0), true)).toEqual([]);
  });
});

test('slideWindow keeps the last 4 KiB, compactly', () => {
  const a = new Uint8Array(3 * 1024).fill(1);
  const b = new Uint8Array(2 * 1024).fill(2);
  const w = slideWindow(a, b);
  expect(w.length).toBe(4 * 1024);
  expect(w[0]).toBe(1);
  expect(w[w.length - 1]).toBe(2);
  expect(slideWindow(new Uint8Array(0), b).length).toBe(2048);
  expect(slideWindow(w, new Uint8Array(40 * 1024)).length).toBe(4 * 1024);
});
