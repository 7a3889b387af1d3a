// Getting authenticated: STARTTLS, LOGIN, AUTHENTICATE PLAIN with SASL-IR
// (RFC 9051 §6.2, RFC 4959, RFC 4616). Plaintext passwords are refused before TLS
// unless the connection is from loopback or the config allows it.

import { timingSafeEqual } from 'node:crypto';
import { bad, no } from '../errors.ts';
import type { Session } from '../session.ts';
import { utf8Decode } from '../session.ts';
import { NOTAUTH, spec } from './spec.ts';

/** RFC 9051 §6.2.1 STARTTLS; not authenticated state. */
const starttls = spec({
  names: ['STARTTLS'],
  states: NOTAUTH,
  async run(s, cmd) {
    if (s.tls) throw bad('TLS is already active');
    if (!s.starttlsAvailable) throw no('CANNOT', 'STARTTLS is not available on this listener');
    s.w.raw(cmd.tag).raw(' OK Begin TLS negotiation now').crlf();
    s.flush();
    await s.startTls();
    return SILENT;
  },
});

/** RFC 9051 §6.2.3 LOGIN; not authenticated state. */
const login = spec({
  names: ['LOGIN'],
  states: NOTAUTH,
  async run(s, cmd) {
    if (!s.plaintextAllowed) throw no('PRIVACYREQUIRED', 'plaintext login is not allowed without TLS');
    return authenticate(s, utf8Decode(cmd.user), cmd.pass);
  },
});

/** RFC 9051 §6.2.2 AUTHENTICATE; not authenticated state. Only PLAIN for now. */
const authenticateCmd = spec({
  names: ['AUTHENTICATE'],
  states: NOTAUTH,
  async run(s, cmd) {
    if (cmd.mechanism !== 'PLAIN') throw no('CANNOT', `unsupported authentication mechanism ${cmd.mechanism}`);
    if (!s.plaintextAllowed) throw no('PRIVACYREQUIRED', 'plaintext authentication is not allowed without TLS');
    let response = cmd.initial;
    if (response === null) {
      s.w.raw('+ ').crlf();
      s.flush();
      response = await s.readLine();
      if (response === null) return SILENT;
    }
    if (response.length === 1 && response[0] === 0x2a) throw bad('authentication cancelled');
    const decoded = decodeBase64(response);
    if (!decoded) throw bad('invalid base64 in authentication response');
    const parts = splitNul(decoded);
    if (!parts) throw bad('malformed PLAIN response');
    const [authz, authc, pass] = parts;
    const user = utf8Decode(authc);
    if (authz.length > 0 && !bytesEqual(authz, authc)) throw no('AUTHORIZATIONFAILED', 'authorization identity must match the authentication identity');
    return authenticate(s, user, pass);
  },
});

/** The tagged answer was already written (STARTTLS), or the connection is gone. */
const SILENT = { silent: true } as const;

async function authenticate(s: Session, user: string, pass: Uint8Array) {
  const ctx = s.ctx;
  await ctx.limiter.before(s.remoteAddress);
  const address = user.trim();
  const password = utf8Decode(pass);
  const ok = await ctx.serverDb.verifyPassword(address, password);
  if (!ok) {
    const delay = ctx.limiter.failed(s.remoteAddress);
    s.log.info('login failed', { user: address.slice(0, 100), delay_ms: delay });
    if (delay > 0) await Bun.sleep(delay);
    throw no('AUTHENTICATIONFAILED', 'invalid credentials');
  }
  ctx.limiter.succeeded(s.remoteAddress);
  const canonical = ctx.serverDb.account(address)?.address ?? address;
  const account = ctx.accounts.acquire(canonical);
  s.authenticated(canonical, account);
  return { code: 'CAPABILITY ' + s.capabilities().join(' '), text: 'logged in' };
}

function decodeBase64(b: Uint8Array): Uint8Array | null {
  const s = utf8Decode(b);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return null;
  return new Uint8Array(Buffer.from(s, 'base64'));
}

function splitNul(b: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] | null {
  const i = b.indexOf(0);
  if (i < 0) return null;
  const j = b.indexOf(0, i + 1);
  if (j < 0 || b.indexOf(0, j + 1) >= 0) return null;
  return [b.subarray(0, i), b.subarray(i + 1, j), b.subarray(j + 1)];
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export const authCommands = [starttls, login, authenticateCmd];
