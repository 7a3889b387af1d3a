// Open accounts of this process: each account is opened once and shared by all its
// sessions (so change broadcast and file holds see every session), refcounted, and
// closed when the last session releases it, or `lingerMs` later: clients that reconnect
// often (mbsync runs, phones) then find the database and its in-memory mailbox tables
// (store/table.ts) still open.
//
// Invariants callers rely on:
// - Every acquire() is paired with exactly one release(account) (logout, disconnect).
// - Nothing else in the process opens an account directory with Account.open while
//   the registry has it open: one Account per directory per process.

import type { Logger } from '../log.ts';
import { Account } from './account.ts';
import type { DefaultMailboxes } from './types.ts';

export interface AccountRegistryOptions {
  /** Where an account's directory is; ServerDb fits. */
  serverDb: { accountDir(name: string): string };
  /** The special-use mailboxes a new account gets; the server config fits. */
  config: { mailboxes: DefaultMailboxes };
  log?: Logger;
  /** Keep an account open this long after its last session left (default 0). */
  lingerMs?: number;
}

interface Entry { account: Account; refs: number; linger: ReturnType<typeof setTimeout> | null }

export class AccountRegistry {
  private readonly byName = new Map<string, Entry>();
  private readonly byAccount = new Map<Account, Entry>();

  constructor(private readonly opts: AccountRegistryOptions) {}

  /** The open account `name` (a canonical login address), opened on first use. */
  acquire(name: string): Account {
    let e = this.byName.get(name);
    // A lingering account whose files were removed (or replaced) meanwhile is stale.
    if (e && e.refs === 0 && !e.account.stillOnDisk()) {
      if (e.linger) clearTimeout(e.linger);
      this.closeEntry(e);
      e = undefined;
    }
    if (!e) {
      const account = Account.open(this.opts.serverDb.accountDir(name), { name, defaultMailboxes: this.opts.config.mailboxes, log: this.opts.log });
      e = { account, refs: 0, linger: null };
      this.byName.set(name, e);
      this.byAccount.set(account, e);
    }
    if (e.linger) clearTimeout(e.linger);
    e.linger = null;
    e.refs++;
    return e.account;
  }

  /** One acquire() is over; the last one closes the account. */
  release(account: Account): void {
    const e = this.byAccount.get(account);
    if (!e) throw new Error(`account ${account.name} released more often than acquired`);
    if (--e.refs > 0) return;
    const linger = this.opts.lingerMs ?? 0;
    if (linger <= 0) return this.closeEntry(e);
    e.linger = setTimeout(() => this.closeEntry(e), linger);
    e.linger.unref?.();
  }

  private closeEntry(e: Entry): void {
    e.linger = null;
    this.byName.delete(e.account.name);
    this.byAccount.delete(e.account);
    e.account.close();
  }

  /** Number of accounts open now. */
  get size(): number {
    return this.byName.size;
  }

  /** Close every account (server shutdown), whoever still holds it. */
  close(): void {
    for (const e of this.byName.values()) {
      if (e.linger) clearTimeout(e.linger);
      e.account.close();
    }
    this.byName.clear();
    this.byAccount.clear();
  }
}
