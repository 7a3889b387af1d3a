// COMPRESS (RFC 4978): DEFLATE only; valid once logged in. The transport layer and why
// it is built the way it is: ../compress.ts.

import { bad, no } from '../errors.ts';
import { AUTHED, spec } from './spec.ts';

/** RFC 4978 §3 COMPRESS; authenticated or selected state. */
const compress = spec({
  names: ['COMPRESS'],
  states: AUTHED,
  run(s, cmd) {
    if (cmd.mechanism.toUpperCase() !== 'DEFLATE') throw bad(`unknown compression mechanism ${cmd.mechanism}`);
    if (!s.ctx.config.compress.enabled) throw bad('COMPRESS is not enabled');
    if (s.compressed) throw no('COMPRESSIONACTIVE', 'DEFLATE compression is already active');
    s.w.raw(cmd.tag).raw(' OK DEFLATE active').crlf();
    s.startCompression();
    return { silent: true };
  },
});

export const compressCommands = [compress];
