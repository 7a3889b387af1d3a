// End-to-end: every input limit at its edge over a real socket (issue 3, DESIGN.md "Limits",
// STYLE.md item 10): exactly at the limit passes, one byte over gets the documented answer,
// the same again split across chunks, and NOOP still answers OK on the same connection.
//
// Limits: a non-APPEND literal at most 100 KiB; at most 1000 literals and 1 MiB of literal
// data per command; APPEND at most limits.append_max_bytes (set low here). Past them: NO
// [TOOBIG] at once, before the literal's data: before `+` for a synchronizing literal; for
// a `{n+}` one, which the client sends anyway, the data and the rest of the command are
// then dropped, up to 1 MiB of refused data per command (past it: * BYE and the connection
// closes, before that data). A command line (without literals, CRLF included) at most 64
// KiB (past it: * BYE). LIST "" (pattern ...) carries the literals: it takes any number of
// them and answers OK.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { codeName, literal, type CommandPart, type ImapClient } from '../imap/client.ts';
import { startServer, type TestServer } from './harness.ts';

const KiB = 1024;
const LITERAL_MAX = 100 * KiB;
const LITERALS_MAX = 1000;
const LITERAL_BYTES_MAX = 1024 * KiB;
const LINE_MAX = 64 * KiB;
const DISCARD_MAX = 1024 * KiB;
const APPEND_MAX = 4096;

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({ config: { limits: { append_max_bytes: APPEND_MAX } } });
});
afterAll(async () => {
  await srv?.stop();
});
afterEach(() => {
  srv?.assertHealthy();
});

/** LIST "" (lit lit ...): a command that takes any number of literals and answers OK. */
function listWith(sizes: number[], plus: boolean): CommandPart[] {
  const parts: CommandPart[] = ['LIST "" ('];
  sizes.forEach((n, i) => {
    if (i > 0) parts.push(' ');
    parts.push(literal('x'.repeat(n), { plus }));
  });
  parts.push(')');
  return parts;
}

/** Raw bytes of a LIST with one `{n+}` literal. */
function rawListPlus(tag: string, n: number): Uint8Array {
  return new TextEncoder().encode(`${tag} LIST "" {${n}+}\r\n${'x'.repeat(n)}\r\n`);
}

/** Send in small pieces with pauses, so the server sees many reads. */
async function sendChunked(c: ImapClient, bytes: Uint8Array, size = 997): Promise<void> {
  for (let i = 0; i < bytes.length; i += size) {
    await c.send(bytes.subarray(i, i + size));
    await Bun.sleep(1);
  }
}

async function stillWorks(c: ImapClient): Promise<void> {
  await c.ok('NOOP');
}

function expectTooBig(r: { status: string; code: string | null }): void {
  expect(`${r.status} ${codeName(r.code)}`).toBe('NO TOOBIG');
}

describe('one literal: 100 KiB', () => {
  test('synchronizing: at the limit gets + and OK; one over is NO [TOOBIG] before +', async () => {
    const c = await srv.login();
    const at = await c.command(listWith([LITERAL_MAX], false));
    expect(at.continued).toBe(1);
    expect(at.status).toBe('OK');
    await stillWorks(c);
    const over = await c.command(listWith([LITERAL_MAX + 1], false));
    expectTooBig(over);
    expect(over.continued).toBe(0);
    await stillWorks(c);
  });

  test('non-synchronizing: at the limit OK; one over is NO [TOOBIG], its data dropped', async () => {
    const c = await srv.login();
    expect((await c.command(listWith([LITERAL_MAX], true))).status).toBe('OK');
    await stillWorks(c);
    expectTooBig(await c.command(listWith([LITERAL_MAX + 1], true)));
    await stillWorks(c);
  });

  test('non-synchronizing: the answer comes before the client has sent the data', async () => {
    const c = await srv.login();
    await c.send(`e1 LIST "" {${LITERAL_MAX + 1}+}\r\n`);
    expectTooBig(await c.waitTagged('e1'));
    await c.send('x'.repeat(LITERAL_MAX + 1) + '\r\n');
    await stillWorks(c);
  });

  test('non-synchronizing, split across many reads', async () => {
    const c = await srv.login();
    await sendChunked(c, rawListPlus('s1', LITERAL_MAX));
    expect((await c.waitTagged('s1')).status).toBe('OK');
    await sendChunked(c, rawListPlus('s2', LITERAL_MAX + 1));
    expectTooBig(await c.waitTagged('s2'));
    await stillWorks(c);
  });

  test('before login too (LOGIN with an oversized literal)', async () => {
    const c = await srv.connect();
    const r = await c.command(['LOGIN ', literal('u'.repeat(LITERAL_MAX + 1)), ' pass']);
    expectTooBig(r);
    expect(r.continued).toBe(0);
    await stillWorks(c);
  });
});

describe('number of literals: 1000', () => {
  test('non-synchronizing: 1000 pass, 1001 is NO [TOOBIG]', async () => {
    const c = await srv.login();
    expect((await c.command(listWith(Array(LITERALS_MAX).fill(1), true))).status).toBe('OK');
    await stillWorks(c);
    expectTooBig(await c.command(listWith(Array(LITERALS_MAX + 1).fill(1), true)));
    await stillWorks(c);
  });

  test('synchronizing: the 1001st is refused before its +', async () => {
    const c = await srv.login();
    const ok = await c.command(listWith(Array(LITERALS_MAX).fill(1), false), { timeoutMs: 30_000 });
    expect(ok.status).toBe('OK');
    expect(ok.continued).toBe(LITERALS_MAX);
    const over = await c.command(listWith(Array(LITERALS_MAX + 1).fill(1), false), { timeoutMs: 30_000 });
    expectTooBig(over);
    expect(over.continued).toBe(LITERALS_MAX);
    await stillWorks(c);
  });

  test('split across many reads', async () => {
    const c = await srv.login();
    const many = (tag: string, n: number) => new TextEncoder().encode(`${tag} LIST "" (${Array(n).fill('{1+}\r\nx').join(' ')})\r\n`);
    await sendChunked(c, many('m1', LITERALS_MAX), 113);
    expect((await c.waitTagged('m1')).status).toBe('OK');
    await sendChunked(c, many('m2', LITERALS_MAX + 1), 113);
    expectTooBig(await c.waitTagged('m2'));
    await stillWorks(c);
  });

  test('non-synchronizing: the 1001st is answered before its data', async () => {
    const c = await srv.login();
    await c.send(`m3 LIST "" (${'{1+}\r\nx '.repeat(LITERALS_MAX)}{1+}\r\n`);
    expectTooBig(await c.waitTagged('m3'));
    await c.send('x)\r\n');
    await stillWorks(c);
  });
});

describe('literal bytes per command: 1 MiB', () => {
  // 10 literals at the single-literal limit plus one to reach exactly 1 MiB.
  const exact = [...Array(10).fill(LITERAL_MAX), LITERAL_BYTES_MAX - 10 * LITERAL_MAX];
  const over = [...exact.slice(0, -1), exact[exact.length - 1] + 1];

  test('non-synchronizing: exactly 1 MiB passes, one byte more is NO [TOOBIG]', async () => {
    const c = await srv.login();
    expect(exact.reduce((a, b) => a + b)).toBe(LITERAL_BYTES_MAX);
    expect((await c.command(listWith(exact, true))).status).toBe('OK');
    await stillWorks(c);
    expectTooBig(await c.command(listWith(over, true)));
    await stillWorks(c);
  });

  test('synchronizing: the literal that crosses 1 MiB is refused before its +', async () => {
    const c = await srv.login();
    const ok = await c.command(listWith(exact, false));
    expect(ok.status).toBe('OK');
    expect(ok.continued).toBe(exact.length);
    const r = await c.command(listWith(over, false));
    expectTooBig(r);
    expect(r.continued).toBe(over.length - 1);
    await stillWorks(c);
  });

  test('split across many reads', async () => {
    const c = await srv.login();
    const raw = (tag: string, sizes: number[]) => new TextEncoder().encode(`${tag} LIST "" (${sizes.map((n) => `{${n}+}\r\n${'y'.repeat(n)}`).join(' ')})\r\n`);
    await sendChunked(c, raw('b1', exact), 16 * KiB);
    expect((await c.waitTagged('b1')).status).toBe('OK');
    await sendChunked(c, raw('b2', over), 16 * KiB);
    expectTooBig(await c.waitTagged('b2'));
    await stillWorks(c);
  });
});

describe('refused LITERAL+ data per command: 1 MiB, then * BYE', () => {
  // A literal one byte over the single-literal limit is refused; the next one is dropped
  // too and brings the command's refused data to exactly 1 MiB, or one byte over.
  const first = LITERAL_MAX + 1;
  const head = (tag: string, second: number) => `${tag} LIST "" ({${first}+}\r\n${'x'.repeat(first)} {${second}+}\r\n`;
  const whole = (tag: string, second: number) => new TextEncoder().encode(`${head(tag, second)}${'y'.repeat(second)})\r\n`);

  test('exactly 1 MiB is dropped and the connection lives on (whole and split)', async () => {
    const c = await srv.login();
    await c.send(whole('d1', DISCARD_MAX - first));
    expectTooBig(await c.waitTagged('d1'));
    await stillWorks(c);
    await sendChunked(c, whole('d2', DISCARD_MAX - first), 16 * KiB);
    expectTooBig(await c.waitTagged('d2'));
    await stillWorks(c);
  });

  test('one byte more: NO [TOOBIG], then * BYE and close, before that data is sent', async () => {
    const variants = [['plain', false], ['plain', true], ['implicit', false], ['starttls', true]] as const;
    for (const [transport, split] of variants) {
      const c = await srv.login(undefined, undefined, { transport });
      const bytes = new TextEncoder().encode(head('d3', DISCARD_MAX - first + 1));
      await (split ? sendChunked(c, bytes, 16 * KiB) : c.send(bytes));
      expectTooBig(await c.waitTagged('d3'));
      await c.waitFor((r) => r.kind === 'untagged' && r.untagged.type === 'BYE', 5000, '* BYE');
      await c.waitClosed(5000);
    }
    await stillWorks(await srv.login());
  });

  test('an APPEND over APPENDLIMIT and over 1 MiB: NO [TOOBIG] and * BYE reach a client still uploading', async () => {
    const other = await srv.login();
    await other.ok('SELECT INBOX');
    const c = await srv.login();
    const size = 4 * DISCARD_MAX;
    await c.send(`a1 APPEND INBOX {${size}+}\r\n`);
    const upload = c.send(new Uint8Array(size).fill(0x7a)).catch(() => undefined);
    expectTooBig(await c.waitTagged('a1'));
    await c.waitFor((r) => r.kind === 'untagged' && r.untagged.type === 'BYE', 5000, '* BYE');
    await c.waitClosed(5000);
    await upload;
    await other.ok('NOOP');
  });

  test('a flood of 100 KiB LITERAL+ literals is answered after 1 MiB and cut off, others unaffected', async () => {
    const probe = await srv.login();
    const c = await srv.login();
    const literal = new TextEncoder().encode(` {${LITERAL_MAX}+}\r\n${'x'.repeat(LITERAL_MAX)}`);
    await c.send('f1 LIST "" (x');
    const flood = (async () => {
      for (let i = 0; i < 1000 && !c.closed; i++) await c.send(literal);
    })().catch(() => undefined);
    const r = await c.waitTagged('f1');
    expectTooBig(r);
    expect(r.raw).toContain('in total');
    await probe.ok('NOOP');
    await c.waitFor((x) => x.kind === 'untagged' && x.untagged.type === 'BYE', 5000, '* BYE');
    await c.waitClosed(5000);
    await flood;
    await probe.ok('NOOP');
  });
});

describe('command line: 64 KiB', () => {
  /** `tag LIST "" "xxx…"` + CRLF of exactly `total` bytes. */
  const line = (tag: string, total: number) => {
    const head = `${tag} LIST "" "`;
    return `${head}${'x'.repeat(total - head.length - 3)}"\r\n`;
  };

  test('a line of 64 KiB (CRLF included) is answered', async () => {
    const c = await srv.login();
    const l = line('l1', LINE_MAX);
    expect(l.length).toBe(LINE_MAX);
    await c.send(l);
    expect((await c.waitTagged('l1')).status).toBe('OK');
    await stillWorks(c);
  });

  test('a line over 64 KiB (also without CRLF) gets * BYE and the connection closes', async () => {
    for (const variant of ['whole', 'split', 'no-crlf'] as const) {
      const c = await srv.login();
      const l = line('l2', LINE_MAX + 1); // the limit counts the CRLF (src/imap/limits.ts)
      const bytes = new TextEncoder().encode(variant === 'no-crlf' ? l.slice(0, -3) + 'x'.repeat(KiB) : l);
      const sent = variant === 'split' ? sendChunked(c, bytes, 4 * KiB) : c.send(bytes);
      await sent.catch(() => undefined); // the server may close before reading everything
      const bye = await c.waitFor((r) => r.kind === 'untagged' && r.untagged.type === 'BYE', 5000, `* BYE (${variant})`);
      expect(bye.kind).toBe('untagged');
      await c.waitClosed(5000);
    }
    const other = await srv.login();
    await stillWorks(other);
  });
});

describe('APPEND size: limits.append_max_bytes', () => {
  test('APPENDLIMIT is announced', async () => {
    const c = await srv.login();
    expect(await c.capabilities()).toContain(`APPENDLIMIT=${APPEND_MAX}`);
  });

  test('at the limit OK; one over is NO [TOOBIG] before +; with LITERAL+ its data is dropped', async () => {
    const c = await srv.login();
    const body = (n: number) => {
      const head = 'Subject: size\r\n\r\n';
      return head + 'z'.repeat(n - head.length);
    };
    const at = await c.append('INBOX', body(APPEND_MAX));
    expect(at.status).toBe('OK');
    expect(at.continued).toBe(1);
    const over = await c.append('INBOX', body(APPEND_MAX + 1));
    expectTooBig(over);
    expect(over.continued).toBe(0);
    await stillWorks(c);
    const plus = await c.append('INBOX', body(APPEND_MAX + 1), { literalPlus: true });
    expectTooBig(plus);
    await stillWorks(c);
    const big = await c.append('INBOX', body(50 * APPEND_MAX), { literalPlus: true });
    expectTooBig(big);
    await stillWorks(c);
  });
});
