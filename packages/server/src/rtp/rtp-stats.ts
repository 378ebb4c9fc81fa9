/**
 * Receiving-side bookkeeping for one publisher stream: RFC 3550 sequence/loss/jitter statistics
 * for the receiver reports the SFU sends, and the list of lost packets the SFU NACKs.
 */
import type { ReportBlock } from './rtcp.js';

const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;

export class ReceiveStats {
  readonly #clockRate: number;
  #started = false;
  #baseSeq = 0;
  #maxSeq = 0;
  #cycles = 0;
  #received = 0;
  #expectedPrior = 0;
  #receivedPrior = 0;
  #jitter = 0;
  #lastArrivalMs = 0;
  #lastTimestamp = 0;
  #lastSrMiddle = 0;
  #lastSrArrivalMs = 0;

  constructor(clockRate: number) {
    this.#clockRate = clockRate;
  }

  get started(): boolean {
    return this.#started;
  }

  /**
   * Accounts for one RTP packet. Returns how many packets are missing right before it (a forward
   * gap, 0 when in order, for a duplicate or for a late packet).
   */
  onRtp(seq: number, timestamp: number, arrivalMs: number): number {
    if (!this.#started) {
      this.#started = true;
      this.#baseSeq = seq;
      this.#maxSeq = seq;
      this.#received = 1;
      this.#lastArrivalMs = arrivalMs;
      this.#lastTimestamp = timestamp;
      return 0;
    }
    this.#received++;
    const udelta = (seq - this.#maxSeq) & 0xffff;
    if (udelta === 0) return 0;
    if (udelta < MAX_DROPOUT) {
      if (seq < this.#maxSeq) this.#cycles += 0x10000;
      this.#maxSeq = seq;
      // RFC 3550 A.8 interarrival jitter, in RTP timestamp units.
      const arrivalDelta = ((arrivalMs - this.#lastArrivalMs) * this.#clockRate) / 1000;
      const tsDelta = (timestamp - this.#lastTimestamp) | 0;
      const d = Math.abs(arrivalDelta - tsDelta);
      this.#jitter += (d - this.#jitter) / 16;
      this.#lastArrivalMs = arrivalMs;
      this.#lastTimestamp = timestamp;
      return udelta - 1;
    }
    if (udelta <= 0x10000 - MAX_MISORDER) {
      // A very large jump: the sender restarted its sequence; start over from here.
      this.#baseSeq = seq;
      this.#maxSeq = seq;
      this.#cycles = 0;
      this.#received = 1;
      this.#expectedPrior = 0;
      this.#receivedPrior = 0;
    }
    return 0; // late (reordered or retransmitted) packet
  }

  onSenderReport(ntpMsw: number, ntpLsw: number, arrivalMs: number): void {
    this.#lastSrMiddle = (((ntpMsw & 0xffff) << 16) | (ntpLsw >>> 16)) >>> 0;
    this.#lastSrArrivalMs = arrivalMs;
  }

  /** The report block for the next RR (advances the "since last report" counters). */
  reportBlock(ssrc: number, nowMs: number): ReportBlock | null {
    if (!this.#started) return null;
    const extendedMax = this.#cycles + this.#maxSeq;
    const expected = extendedMax - this.#baseSeq + 1;
    const expectedInterval = expected - this.#expectedPrior;
    const receivedInterval = this.#received - this.#receivedPrior;
    this.#expectedPrior = expected;
    this.#receivedPrior = this.#received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost =
      expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval * 256) / expectedInterval);
    return {
      ssrc,
      fractionLost: Math.min(255, fractionLost),
      cumulativeLost: expected - this.#received,
      extendedHighestSeq: extendedMax >>> 0,
      jitter: this.#jitter,
      lastSr: this.#lastSrMiddle,
      delaySinceLastSr: this.#lastSrMiddle === 0 ? 0 : ((nowMs - this.#lastSrArrivalMs) * 65536) / 1000,
    };
  }
}

const NACK_MAX_GAP = 100;
const NACK_MAX_TRIES = 3;
const NACK_MAX_AGE_MS = 1000;
const NACK_MAX_PENDING = 300;

/** Tracks packets lost between a publisher and the SFU and says which to ask for again. */
export class NackTracker {
  readonly #missing = new Map<number, { firstMs: number; lastMs: number; tries: number }>();

  get pending(): number {
    return this.#missing.size;
  }

  /** Registers a received packet and the gap before it; returns the newly missing sequence numbers. */
  onRtp(seq: number, gapBefore: number, nowMs: number): number[] {
    if (this.#missing.size > 0) this.#missing.delete(seq);
    if (gapBefore <= 0) return [];
    if (gapBefore > NACK_MAX_GAP) {
      this.#missing.clear(); // too much at once: a burst like this is not worth repairing packet by packet
      return [];
    }
    const fresh: number[] = [];
    for (let i = gapBefore; i >= 1; i--) {
      const s = (seq - i) & 0xffff;
      this.#missing.set(s, { firstMs: nowMs, lastMs: nowMs, tries: 1 });
      fresh.push(s);
    }
    while (this.#missing.size > NACK_MAX_PENDING) {
      const oldest = this.#missing.keys().next();
      if (oldest.done) break;
      this.#missing.delete(oldest.value);
    }
    return fresh;
  }

  /** Sequence numbers to ask for again now (each at most NACK_MAX_TRIES times, for at most 1 s). */
  due(nowMs: number, retryAfterMs: number): number[] {
    const out: number[] = [];
    for (const [seq, m] of this.#missing) {
      if (m.tries >= NACK_MAX_TRIES || nowMs - m.firstMs > NACK_MAX_AGE_MS) {
        this.#missing.delete(seq);
      } else if (nowMs - m.lastMs >= retryAfterMs) {
        m.tries++;
        m.lastMs = nowMs;
        out.push(seq);
      }
    }
    return out;
  }
}
