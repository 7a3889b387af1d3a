// Failed logins are slowed per source address: the answer to a failure waits a delay
// that doubles with each failure, and later attempts from the same address wait for
// it too, so a password guesser gains nothing from parallel connections. Other
// addresses are never slowed.

interface Source {
  failures: number;
  /** When the next attempt from this source may be checked. */
  nextAt: number;
  lastFailure: number;
}

/** Forget a source this long after its last failure. */
const FORGET_MS = 15 * 60 * 1000;

export class LoginLimiter {
  private sources = new Map<string, Source>();

  constructor(private readonly baseMs: number, private readonly maxMs: number) {}

  /** Wait until an attempt from this address may be checked. */
  async before(addr: string): Promise<void> {
    const s = this.sources.get(addr);
    if (!s) return;
    const now = Date.now();
    if (now - s.lastFailure > FORGET_MS) {
      this.sources.delete(addr);
      return;
    }
    // Reserve a slot so parallel attempts queue behind each other.
    const at = Math.max(now, s.nextAt);
    s.nextAt = at + this.delay(s.failures);
    if (at > now) await Bun.sleep(at - now);
  }

  /** Count a failure; returns how long to wait before answering it. */
  failed(addr: string): number {
    const now = Date.now();
    let s = this.sources.get(addr);
    if (!s) {
      s = { failures: 0, nextAt: now, lastFailure: now };
      this.sources.set(addr, s);
    }
    s.failures++;
    s.lastFailure = now;
    const d = this.delay(s.failures);
    s.nextAt = Math.max(s.nextAt, now + d);
    if (this.sources.size > 100000) this.prune(now);
    return d;
  }

  succeeded(addr: string): void {
    this.sources.delete(addr);
  }

  private delay(failures: number): number {
    if (failures <= 0) return 0;
    return Math.min(this.baseMs * 2 ** Math.min(failures - 1, 20), this.maxMs);
  }

  private prune(now: number): void {
    for (const [k, s] of this.sources) if (now - s.lastFailure > FORGET_MS) this.sources.delete(k);
  }
}
