/**
 * Counts failed sign-ins per (address, email) and per address in a sliding window. Written
 * here rather than with a generic request rate limiter because only failures should count:
 * a user who signs in correctly is never slowed down.
 */
export class LoginLimiter {
  readonly #failures = new Map<string, number[]>();
  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  #recent(key: string, now: number): number[] {
    const list = (this.#failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, list);
    return list;
  }

  /** Seconds until another attempt is allowed, or 0 when allowed now. */
  retryAfterSeconds(ip: string, email: string, now: number): number {
    const perPair = this.#recent(`${ip}|${email}`, now);
    const perIp = this.#recent(ip, now);
    const blockedBy =
      perPair.length >= this.maxFailures ? perPair : perIp.length >= this.maxFailures * 4 ? perIp : null;
    if (!blockedBy) return 0;
    const oldest = blockedBy[0] as number;
    return Math.max(1, Math.ceil((oldest + this.windowMs - now) / 1000));
  }

  recordFailure(ip: string, email: string, now: number): void {
    for (const key of [`${ip}|${email}`, ip]) {
      const list = this.#recent(key, now);
      list.push(now);
      this.#failures.set(key, list);
    }
    if (this.#failures.size > 100_000) this.#failures.clear(); // bound memory under a spray attack
  }

  recordSuccess(ip: string, email: string): void {
    this.#failures.delete(`${ip}|${email}`);
  }
}
