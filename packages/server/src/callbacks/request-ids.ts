import { randomInt } from 'node:crypto';

/**
 * bizRequestId: a decimal string of 16 digits, epoch ms × 1000 plus a small random offset,
 * strictly increasing within a process. It stays below 2^53, so a receiver that parses it as a
 * number (the mPaaS example shows a numeric id) gets it exactly, in JavaScript as in Java.
 * Uniqueness across processes is enforced by the outbox's unique index.
 */
export class RequestIds {
  #last = 0;

  next(now: number): string {
    this.#last = Math.max(now * 1000 + randomInt(0, 100), this.#last + 1);
    return String(this.#last);
  }
}
