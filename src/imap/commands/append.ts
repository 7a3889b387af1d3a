// APPEND with MULTIAPPEND (RFC 9051 §6.3.12, RFC 3502, UIDPLUS RFC 4315, BINARY
// literal8 RFC 3516). The literal was checked before `+` (destination exists, size
// under APPENDLIMIT) and streamed into a temp file; the store takes the file over,
// fsyncs it and commits, all messages of the command in one transaction, grouped with
// the APPENDs other sessions make at the same moment (one fsync serves them all).

import type { AppendInput } from '../../store/types.ts';
import { renderStructure } from '../bodystructure.ts';
import { Upload } from '../upload.ts';
import { AUTHED, spec } from './spec.ts';
import { parseFlags } from './flags.ts';

/** RFC 9051 §6.3.12 APPEND; authenticated or selected state. */
const append = spec({
  names: ['APPEND'],
  states: AUTHED,
  async run(s, cmd) {
    const account = s.account;
    const mb = account.mailboxByName(s.mailboxName(cmd.mailbox), { missing: 'TRYCREATE' });
    const inputs: AppendInput[] = cmd.messages.map((m) => {
      const { bits, keywords } = parseFlags(m.flags);
      const internalDate = m.date ? m.date.ms : Date.now();
      if (m.data) {
        // A literal the parser buffered: store it through the same path as a streamed one.
        const up = new Upload(account.takeTmpFile(), m.binary);
        up.write(m.data);
        up.finish();
        s.adoptUpload(m.literal, up);
      }
      const { path, size, structure, searchHeaders } = s.upload(m.literal).result();
      return { tmpPath: path, size, structure, searchHeaders, rendered: renderStructure(structure), flags: bits, keywords, internalDate };
    });
    const pending = account.appendGrouped(mb.id, inputs);
    // The store owns the files from here, even if the connection closes meanwhile.
    for (const m of cmd.messages) s.upload(m.literal).handedOver();
    const r = await pending;
    const first = r[0].uid;
    const last = r[r.length - 1].uid;
    return { code: `APPENDUID ${r[0].uidValidity} ${first === last ? first : `${first}:${last}`}`, text: 'APPEND completed' };
  },
});

export const appendCommands = [append];
