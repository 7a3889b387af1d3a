// An APPEND literal on its way into a temp file in the account's tmp/ directory.
// Bare LF line endings are turned into CRLF as the bytes stream in (except for a
// BINARY literal8), so the stored size is exactly what FETCH later sends, and the
// message is parsed in the same pass so APPEND never reads it back.

import { closeSync, unlinkSync, writeSync } from 'node:fs';
import { NewlineNormalizer } from '../message/newlines.ts';
import { MessageParser } from '../message/parse.ts';
import type { MessageInfo } from '../message/types.ts';

export class Upload {
  private fd: number;
  private size = 0;
  private readonly normalizer: NewlineNormalizer | null;
  private readonly parser = new MessageParser();
  private structure: MessageInfo | null = null;
  private taken = false;
  /** A write failed; the rest of the literal is read and dropped, and the command fails. */
  error: unknown = null;

  readonly path: string;

  /** `file`: a new file open for writing (Account.takeTmpFile). */
  constructor(file: { path: string; fd: number }, binary: boolean) {
    this.path = file.path;
    this.fd = file.fd;
    this.normalizer = binary ? null : new NewlineNormalizer();
  }

  write(data: Uint8Array): void {
    if (this.error !== null) return;
    try {
      this.put(this.normalizer ? this.normalizer.push(data) : data);
    } catch (err) {
      this.error = err;
    }
  }

  /** The literal is complete. */
  finish(): void {
    try {
      if (this.error === null) this.structure = this.parser.end();
    } catch (err) {
      this.error = err;
    } finally {
      this.closeFd();
    }
  }

  /** What the store needs to take the file over; throws the write error, if any. */
  result(): { path: string; size: number; structure: MessageInfo; searchHeaders: string } {
    if (this.error !== null) throw this.error;
    if (!this.structure) throw new Error('upload not finished');
    return { path: this.path, size: this.size, structure: this.structure, searchHeaders: this.parser.searchHeaders };
  }

  /** The store has the file now (it removes it whether the append succeeds or not). */
  handedOver(): void {
    this.taken = true;
  }

  /** Close and remove the file unless the store has taken it over. */
  discard(): void {
    this.closeFd();
    if (this.taken) return;
    try {
      unlinkSync(this.path);
    } catch {
      // Gone already.
    }
  }

  private put(b: Uint8Array): void {
    if (b.length === 0) return;
    this.parser.feed(b);
    let off = 0;
    while (off < b.length) off += writeSync(this.fd, b, off, b.length - off);
    this.size += b.length;
  }

  private closeFd(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
