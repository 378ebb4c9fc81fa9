/**
 * Limits password guesses (sign-in, and the current password of a password change).
 *
 * Threats: a guesser trying many passwords on one account (from one address or many), and a
 * sprayer trying a few passwords on many accounts from one address. What must not happen: a
 * user who knows their password is locked out by someone else's failures, e.g. everybody
 * behind the same reverse proxy or office NAT.
 *
 * The design is OWASP's "device cookie": a client that signed in to an account before holds a
 * signed cookie naming that account (see http/device-cookie.ts). An attempt from such a known
 * device counts only against that device's own budget, so nobody else's failures block it.
 * Attempts from unknown devices count per (address, account), per account and per address.
 *
 * Every attempt takes its slot before the password is checked (`begin` is synchronous and is
 * called before the first await), so parallel guesses cannot all be verified before the first
 * failure is counted. A successful attempt gives its slot back. Only failures use the budget:
 * a user who signs in correctly is never slowed down.
 */

/** Who is trying: the client address, the (normalised) email, and a device-cookie id if valid for that email. */
export interface LoginAttemptKey {
  ip: string;
  email: string;
  device: string | null;
}

export type LoginAttempt =
  | { allowed: false; retryAfterSeconds: number }
  | {
      allowed: true;
      /** The password was right: the slot is given back and this address's count for the account reset. */
      succeeded(): void;
    };

interface Budget {
  key: string;
  limit: number;
}

export class LoginLimiter {
  /** Times of failed (or still running) attempts, per budget key, oldest first. */
  readonly #attempts = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  /** The budgets an attempt counts against. */
  #budgets(k: LoginAttemptKey): Budget[] {
    if (k.device !== null) return [{ key: `device|${k.device}`, limit: this.maxFailures }];
    return [
      { key: `pair|${k.ip}|${k.email}`, limit: this.maxFailures },
      // Many addresses guessing one account (unknown devices only: known ones are not blocked).
      { key: `account|${k.email}`, limit: this.maxFailures * 4 },
      // One address spraying many accounts.
      { key: `ip|${k.ip}`, limit: this.maxFailures * 4 },
    ];
  }

  #recent(key: string, now: number): number[] {
    const list = (this.#attempts.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length === 0) this.#attempts.delete(key);
    else this.#attempts.set(key, list);
    return list;
  }

  /** Takes a slot for an attempt now, or says how long to wait. Synchronous by design (see above). */
  begin(k: LoginAttemptKey, now: number): LoginAttempt {
    const budgets = this.#budgets(k);
    let wait = 0;
    for (const b of budgets) {
      const list = this.#recent(b.key, now);
      if (list.length >= b.limit) {
        const oldest = list[list.length - b.limit] as number;
        wait = Math.max(wait, Math.ceil((oldest + this.windowMs - now) / 1000), 1);
      }
    }
    if (wait > 0) return { allowed: false, retryAfterSeconds: wait };
    if (this.#attempts.size > 100_000) this.#attempts.clear(); // bound memory under a spray attack
    for (const b of budgets) this.#attempts.set(b.key, [...this.#recent(b.key, now), now]);
    return {
      allowed: true,
      succeeded: () => {
        for (const b of budgets) {
          const list = this.#attempts.get(b.key);
          const i = list?.lastIndexOf(now) ?? -1;
          if (list && i >= 0) list.splice(i, 1);
          if (list?.length === 0) this.#attempts.delete(b.key);
        }
        this.#attempts.delete(`pair|${k.ip}|${k.email}`);
        if (k.device !== null) this.#attempts.delete(`device|${k.device}`);
      },
    };
  }
}
