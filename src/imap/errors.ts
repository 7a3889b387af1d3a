// One error type that carries its IMAP answer. A handler throws it where it knows the
// reason; the session catches it once per command and writes the tagged line.

export type Status = 'BAD' | 'NO' | 'BYE';

export class ImapError extends Error {
  constructor(readonly status: Status, readonly code: string | null, text: string) {
    super(text);
  }
}

export const bad = (text: string, code: string | null = null) => new ImapError('BAD', code, text);
export const no = (code: string | null, text: string) => new ImapError('NO', code, text);
export const bye = (text: string) => new ImapError('BYE', null, text);
