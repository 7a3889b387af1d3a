// End-to-end: malformed input in every state gets BAD (or NO where the syntax is fine but the
// request is not), never a crash or SERVERBUG; the same connection then answers NOOP with OK,
// and another connection of the same account is unaffected.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import type { ImapClient, ServerResponse } from '../imap/client.ts';
import { startServer, type TestServer } from './harness.ts';

type State = 'notauth' | 'auth' | 'selected' | 'idle';
interface Case {
  name: string;
  input: string;
  state: State;
  /** Allowed answers (default BAD). */
  expect?: Array<'BAD' | 'NO'>;
  /** The server may also ignore the input silently. */
  ignorable?: boolean;
}

const corpus: Case[] = [
  // not authenticated
  { state: 'notauth', name: 'LOGIN without arguments', input: 'a1 LOGIN\r\n' },
  { state: 'notauth', name: 'LOGIN with a truncated quoted string', input: 'a1 LOGIN "user@localhost pass\r\n' },
  { state: 'notauth', name: 'NUL byte in an atom', input: 'a1 LOGIN us\0er pass\r\n' },
  { state: 'notauth', name: 'NUL byte in a quoted string', input: 'a1 LOGIN "us\0er" pass\r\n' },
  { state: 'notauth', name: 'NUL byte after a command', input: 'a1 NOOP\0\r\n' },
  { state: 'notauth', name: 'literal with letters for a size', input: 'a1 LOGIN {abc}\r\n' },
  { state: 'notauth', name: 'literal without closing brace', input: 'a1 LOGIN {5\r\n' },
  { state: 'notauth', name: 'negative literal size', input: 'a1 LOGIN {-1}\r\n' },
  { state: 'notauth', name: 'absurd literal size', input: 'a1 LOGIN {99999999999999999999}\r\n', expect: ['BAD', 'NO'] },
  { state: 'notauth', name: 'literal marker not at the end of the line', input: 'a1 LOGIN {3} pass\r\n' },
  { state: 'notauth', name: 'SELECT before login (wrong state)', input: 'a1 SELECT INBOX\r\n' },
  { state: 'notauth', name: 'APPEND before login with LITERAL+', input: 'a1 APPEND INBOX {5+}\r\nhello\r\n' },
  { state: 'notauth', name: 'unknown command', input: 'a1 XYZZY\r\n' },
  { state: 'notauth', name: 'empty line', input: '\r\n', ignorable: true },
  { state: 'notauth', name: 'tag without command', input: 'a1\r\n' },
  { state: 'notauth', name: 'leading space', input: ' a1 NOOP\r\n' },
  { state: 'notauth', name: 'overlong tag', input: 'T'.repeat(5000) + ' NOOP\r\n' },
  { state: 'notauth', name: 'tag with +', input: 'a+1 NOOP\r\n' },
  { state: 'notauth', name: 'tag with *', input: 'a*1 NOOP\r\n' },
  { state: 'notauth', name: 'tag with {', input: 'a{1 NOOP\r\n' },
  { state: 'notauth', name: 'NOOP with an argument', input: 'a1 NOOP extra\r\n' },
  { state: 'notauth', name: 'CAPABILITY with an argument', input: 'a1 CAPABILITY now\r\n' },
  { state: 'notauth', name: 'two spaces between tag and command', input: 'a1  NOOP\r\n' },
  { state: 'notauth', name: 'AUTHENTICATE without mechanism', input: 'a1 AUTHENTICATE\r\n' },
  { state: 'notauth', name: 'AUTHENTICATE unknown mechanism', input: 'a1 AUTHENTICATE X-NOPE\r\n', expect: ['BAD', 'NO'] },
  { state: 'notauth', name: 'AUTHENTICATE PLAIN with bad base64', input: 'a1 AUTHENTICATE PLAIN !!!notbase64\r\n', expect: ['BAD', 'NO'] },
  { state: 'notauth', name: 'ID with unbalanced parenthesis', input: 'a1 ID ("name" "x"\r\n' },
  { state: 'notauth', name: 'ID with an odd number of strings', input: 'a1 ID ("name" "x" "version")\r\n' },
  { state: 'notauth', name: 'invalid UTF-8 bytes', input: 'a1 \xff\xfe\xfd\r\n' },
  { state: 'notauth', name: 'bare CR inside a line', input: 'a1 NOOP\rb1 NOOP\r\n' },
  { state: 'notauth', name: 'quoted string with a bad escape', input: 'a1 LOGIN "a\\b" pass\r\n' },
  { state: 'notauth', name: 'DONE outside IDLE', input: 'DONE\r\n' },

  // authenticated
  { state: 'auth', name: 'CREATE without a name', input: 'a1 CREATE\r\n' },
  { state: 'auth', name: 'CREATE with invalid modified UTF-7', input: 'a1 CREATE "&Jjo!"\r\n' },
  { state: 'auth', name: 'CREATE with unterminated modified UTF-7', input: 'a1 CREATE "a&ZeVnLIqe"\r\n' },
  { state: 'auth', name: 'CREATE with a NUL in a literal name', input: 'a1 CREATE {3+}\r\na\0b\r\n', expect: ['BAD', 'NO'] },
  { state: 'auth', name: 'RENAME with one name', input: 'a1 RENAME onlyone\r\n' },
  { state: 'auth', name: 'STATUS without items', input: 'a1 STATUS INBOX\r\n' },
  { state: 'auth', name: 'STATUS with an unknown item', input: 'a1 STATUS INBOX (BOGUS)\r\n' },
  { state: 'auth', name: 'STATUS with unbalanced parenthesis', input: 'a1 STATUS INBOX (MESSAGES\r\n' },
  { state: 'auth', name: 'STATUS with too many closing parentheses', input: 'a1 STATUS INBOX (MESSAGES))\r\n' },
  { state: 'auth', name: 'LIST with unbalanced pattern list', input: 'a1 LIST "" ("INBOX"\r\n' },
  { state: 'auth', name: 'LIST with nested parentheses', input: 'a1 LIST ((("\r\n' },
  { state: 'auth', name: 'LIST with an unknown return option', input: 'a1 LIST "" "*" RETURN (BOGUS)\r\n' },
  { state: 'auth', name: 'LIST with an unknown selection option', input: 'a1 LIST (BOGUS) "" "*"\r\n' },
  { state: 'auth', name: 'APPEND with an unclosed flag list', input: 'a1 APPEND INBOX (\\Seen {3+}\r\nabc\r\n' },
  { state: 'auth', name: 'APPEND with an unclosed flag list (sync literal)', input: 'a1 APPEND INBOX (\\Seen {3}\r\n' },
  { state: 'auth', name: 'APPEND with a malformed date', input: 'a1 APPEND INBOX "yesterday" {1+}\r\nx\r\n' },
  { state: 'auth', name: 'APPEND with an impossible time', input: 'a1 APPEND INBOX () "01-Jan-2020 25:61:00 +0000" {1+}\r\nx\r\n' },
  { state: 'auth', name: 'APPEND without a message', input: 'a1 APPEND INBOX\r\n' },
  { state: 'auth', name: 'APPEND with a quoted message', input: 'a1 APPEND INBOX "not a literal"\r\n' },
  { state: 'auth', name: 'APPEND with text after the literal', input: 'a1 APPEND INBOX {1+}\r\nx trailing\r\n' },
  { state: 'auth', name: 'ENABLE without arguments', input: 'a1 ENABLE\r\n' },
  { state: 'auth', name: 'SELECT without a name', input: 'a1 SELECT\r\n' },
  { state: 'auth', name: 'SELECT with a broken parameter list', input: 'a1 SELECT INBOX (garbage\r\n' },
  { state: 'auth', name: 'EXAMINE with a truncated quoted string', input: 'a1 EXAMINE "INBOX\r\n' },
  { state: 'auth', name: 'SUBSCRIBE without a name', input: 'a1 SUBSCRIBE\r\n' },
  { state: 'auth', name: 'IDLE with an argument', input: 'a1 IDLE now\r\n' },
  { state: 'auth', name: 'LOGIN again (wrong state)', input: 'a1 LOGIN user@localhost password1234\r\n' },
  { state: 'auth', name: 'EXPUNGE without a selected mailbox', input: 'a1 EXPUNGE\r\n' },
  { state: 'auth', name: 'FETCH without a selected mailbox', input: 'a1 FETCH 1 FLAGS\r\n' },
  { state: 'auth', name: 'UID without a command', input: 'a1 UID\r\n' },
  { state: 'auth', name: 'NUL in a mailbox name', input: 'a1 SELECT "IN\0BOX"\r\n' },

  // selected
  { state: 'selected', name: 'CLOSE with an argument', input: 'a1 CLOSE now\r\n' },
  { state: 'selected', name: 'EXPUNGE with an argument', input: 'a1 EXPUNGE all\r\n' },
  { state: 'selected', name: 'UNSELECT with an argument', input: 'a1 UNSELECT x\r\n' },
  { state: 'selected', name: 'CHECK with an argument', input: 'a1 CHECK x\r\n' },
  { state: 'selected', name: 'unknown command', input: 'a1 FROB 1:*\r\n' },
  { state: 'selected', name: 'STATUS with a list inside a list', input: 'a1 STATUS INBOX ((MESSAGES))\r\n' },
  { state: 'selected', name: 'unbalanced parenthesis', input: 'a1 SELECT INBOX (CONDSTORE\r\n' },

  // in IDLE: anything but DONE ends it with BAD
  { state: 'idle', name: 'a command instead of DONE', input: 'a1 NOOP\r\n' },
  { state: 'idle', name: 'garbage instead of DONE', input: '\0\xff garbage\r\n' },
];

let srv: TestServer;
let watcher: ImapClient;
beforeAll(async () => {
  srv = await startServer({});
  watcher = await srv.login();
  await watcher.ok('SELECT INBOX');
});
afterAll(async () => {
  await srv?.stop();
});
afterEach(async () => {
  srv?.assertHealthy();
  await watcher?.ok('NOOP');
});

/** Raw bytes of a string whose chars are all < 256 (the corpus writes bytes as \xNN). */
const bytes = (s: string) => Uint8Array.from(s, (ch) => ch.charCodeAt(0));

async function inState(state: State): Promise<{ c: ImapClient; idleTag?: string }> {
  if (state === 'notauth') return { c: await srv.connect() };
  const c = await srv.login();
  if (state === 'auth') return { c };
  await c.ok('SELECT INBOX');
  if (state === 'selected') return { c };
  await c.send('i1 IDLE\r\n');
  expect((await c.readResponse()).kind).toBe('continuation');
  return { c, idleTag: 'i1' };
}

/** Send the input, then a NOOP; everything that came before the NOOP's answer, and that answer. */
async function probe(c: ImapClient, input: string): Promise<{ before: ServerResponse[]; noop: ServerResponse }> {
  await c.send(bytes(input));
  const before: ServerResponse[] = [];
  if (/\{\d+\}\r\n$/.test(input)) {
    // A synchronizing literal in a command already malformed: refused, never `+`.
    const first = await c.readResponse(5000);
    if (first.kind === 'continuation') throw new Error(`server sent "${first.raw}" for a literal in a malformed command`);
    before.push(first);
  }
  await c.send('zz9 NOOP\r\n');
  for (;;) {
    const r = await c.readResponse(5000);
    if (r.kind === 'tagged' && r.tag === 'zz9') return { before, noop: r };
    before.push(r);
  }
}

describe('malformed input', () => {
  for (const k of corpus) {
    test(`${k.state}: ${k.name}`, async () => {
      const { c, idleTag } = await inState(k.state);
      const { before, noop } = await probe(c, k.input);
      const allowed = k.expect ?? ['BAD'];
      const answers = before.filter((r) => r.kind === 'tagged' || (r.kind === 'untagged' && (r.untagged.type === 'BAD' || r.untagged.type === 'NO' || r.untagged.type === 'BYE')));
      expect(answers.filter((r) => r.kind === 'untagged' && r.untagged.type === 'BYE')).toEqual([]);
      // The malformed command is answered: tagged with its tag (or the IDLE's), or untagged
      // BAD when no tag could be read.
      const tag = idleTag ?? (/^([^\s]+)/.exec(k.input)?.[1] ?? null);
      const status = (r: ServerResponse) => (r.kind === 'tagged' ? r.status : r.kind === 'untagged' ? r.untagged.type : '+');
      const mine = answers.filter((r) => (r.kind === 'tagged' && r.tag === tag) || r.kind === 'untagged');
      if (!k.ignorable) expect(mine.length).toBeGreaterThan(0);
      for (const r of mine) expect(`${status(r)}: ${r.raw}`).toMatch(new RegExp(`^(${allowed.join('|')}): `));
      // Nothing else was answered OK (e.g. "b1 NOOP" hidden after a bare CR).
      expect(before.filter((r) => r.kind === 'tagged' && r.status === 'OK' && r.tag !== idleTag)).toEqual([]);
      expect(noop).toMatchObject({ kind: 'tagged', status: 'OK' });
      await c.ok('NOOP');
    });
  }

  test('a burst of the whole corpus on one connection, then NOOP', async () => {
    const c = await srv.login();
    const all = corpus.filter((k) => k.state === 'auth' && !/\{\d+\}\r\n$/.test(k.input)).map((k) => k.input).join('');
    await c.send(bytes(all));
    await c.ok('NOOP', { timeoutMs: 10_000 });
  });
});
