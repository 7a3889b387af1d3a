// Commands valid in any state: CAPABILITY, NOOP, LOGOUT, ID, ENABLE (RFC 9051 §6.1,
// RFC 2971, RFC 5161), and NAMESPACE and CHECK, which need authentication.

import { utf8Decode } from '../session.ts';
import { ANY, AUTHED, SELECTED, spec } from './spec.ts';

/** RFC 9051 §6.1.1 CAPABILITY; any state. */
const capability = spec({
  names: ['CAPABILITY'],
  states: ANY,
  run(s) {
    s.w.raw('* CAPABILITY ').raw(s.capabilities().join(' ')).crlf();
  },
});

/** RFC 9051 §6.1.2 NOOP; any state. Pending updates go out before the tagged OK. */
const noop = spec({ names: ['NOOP'], states: ANY, run() {} });

/** RFC 9051 §6.4.1 CHECK (rev1 only; harmless in rev2): every write is already durable. */
const check = spec({ names: ['CHECK'], states: SELECTED, run() {} });

/** RFC 9051 §6.1.3 LOGOUT; any state. */
const logout = spec({
  names: ['LOGOUT'],
  states: ANY,
  run(s) {
    s.logout();
  },
});

/** RFC 2971 ID; any state. The client's values are kept for logging. */
const id = spec({
  names: ['ID'],
  states: ANY,
  run(s, cmd) {
    if (cmd.params) {
      const parts: string[] = [];
      for (const [k, v] of cmd.params.slice(0, 30)) {
        parts.push(`${utf8Decode(k).slice(0, 30)}=${v === null ? 'NIL' : utf8Decode(v).slice(0, 128)}`);
      }
      s.clientId = parts.join(', ');
      s.log.set('client', s.clientId);
      s.log.info('client id', {});
    }
    s.w.raw('* ID (').string('name').sp().string('postern').sp().string('version').sp().string(s.ctx.version).raw(')').crlf();
  },
});

const ENABLEABLE = new Set(['IMAP4REV2', 'UTF8=ACCEPT']);

/** RFC 5161 ENABLE; authenticated state (RFC 9051 §6.3.1). */
const enable = spec({
  names: ['ENABLE'],
  states: AUTHED,
  run(s, cmd) {
    const now: string[] = [];
    for (const cap of cmd.caps) {
      if (!ENABLEABLE.has(cap) || s.enabled.has(cap)) continue;
      s.enabled.add(cap);
      now.push(cap === 'IMAP4REV2' ? 'IMAP4rev2' : cap);
    }
    s.w.utf8 = s.utf8;
    s.w.raw('* ENABLED');
    for (const c of now) s.w.sp().raw(c);
    s.w.crlf();
  },
});

/** RFC 9051 §6.3.10 NAMESPACE: one personal namespace, separator '/'. */
const namespace = spec({
  names: ['NAMESPACE'],
  states: AUTHED,
  run(s) {
    s.w.raw('* NAMESPACE (("" "/")) NIL NIL').crlf();
  },
});

export const anyState = [capability, noop, check, logout, id, enable, namespace];
