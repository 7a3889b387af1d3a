// IDLE (RFC 2177, RFC 9051 §6.3.13): changes from other sessions are sent at once,
// with `* OK Still here` keep-alives, until the client sends DONE.

import { bad } from '../errors.ts';
import { AUTHED, spec } from './spec.ts';

const DONE = new TextEncoder().encode('DONE');

/** RFC 9051 §6.3.13 IDLE; authenticated or selected state. */
const idle = spec({
  names: ['IDLE'],
  states: AUTHED,
  async run(s) {
    s.deliverChanges(true);
    s.w.raw('+ idling').crlf();
    s.flush();
    s.idling = true;
    s.lastKeepalive = Date.now();
    let line: Uint8Array | null;
    try {
      line = await s.readLine();
    } finally {
      s.idling = false;
    }
    if (line === null) return { silent: true };
    if (!isDone(line)) throw bad('expected DONE');
  },
});

function isDone(line: Uint8Array): boolean {
  if (line.length !== DONE.length) return false;
  for (let i = 0; i < DONE.length; i++) if ((line[i] & 0xdf) !== DONE[i]) return false;
  return true;
}

export const idleCommands = [idle];
