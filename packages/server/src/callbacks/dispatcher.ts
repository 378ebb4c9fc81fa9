/**
 * The durable callback outbox and its dispatcher.
 *
 * Events are inserted before anything is sent (`enqueue` resolves once the row is committed;
 * see outbox-writer.ts). The dispatcher leases due events — only the oldest unfinished event of
 * each order key (a room, a recording), so a room's events arrive in order while different
 * rooms proceed in parallel — delivers them to the call application's URL of the moment,
 * records every attempt, and schedules retries with exponential backoff and jitter, honouring
 * Retry-After. After the last retry an event is marked failed, never dropped. At-least-once:
 * the same bizRequestId on every attempt.
 *
 * Rooms and call applications never wait for each other:
 * - one call application holds at most `concurrencyPerApp` of the `concurrency` slots (a slot
 *   is a request being sent), so a receiver that hangs cannot take the capacity the others need;
 * - a pass (tick) only leases and starts attempts, never waits for one, and always sets its
 *   timer for the next retry, so a retry is sent when due, not when some slot frees up;
 * - with nothing due, the dispatcher sleeps until the next retry or lease expiry (events
 *   waiting behind an unfinished event of their room need no timer: its end wakes the
 *   dispatcher) or until an enqueue wakes it; it never polls.
 * A lease lasts one attempt's timeout plus a margin; a lease whose outcome could not be saved
 * is reclaimed once it expires, while the server runs. Leasing re-checks that each event is
 * still pending in the same statement, so two nodes never lease the same event.
 */
import { sql } from 'kysely';
import type { FastifyBaseLogger } from 'fastify';
import type { CallbackEventsTable, CallbackKind, Db } from '../store/schema.js';
import type { KeyVault } from '../security/keys.js';
import type { AttemptResult, CallbackSender } from './deliver.js';
import type { CallbackMetrics } from './metrics.js';
import { OutboxWriter, type OutboxEvent, type StoreHealth } from './outbox-writer.js';
import { signingSecrets } from './secrets.js';

export type { OutboxEvent } from './outbox-writer.js';

export interface DispatcherOptions {
  db: Db;
  vault: KeyVault;
  sender: CallbackSender;
  metrics: CallbackMetrics;
  log: FastifyBaseLogger;
  now: () => number;
  /** Delay before each retry, ms; its length is the number of retries. */
  retryScheduleMs: readonly number[];
  /** ±fraction of each delay, so receivers that failed together don't get retried together. */
  jitter: number;
  concurrency: number;
  /** Most attempts one call application may have in flight (capped at `concurrency`). */
  concurrencyPerApp: number;
  /** One attempt's timeout (the sender's); a lease lasts this plus `leaseMarginMs`. */
  attemptTimeoutMs: number;
  leaseMarginMs?: number;
  /** How long an event may wait for the database before its terminal is told STORE_UNAVAILABLE. */
  writeBudgetMs?: number;
}

type EventRow = Pick<
  CallbackEventsTable,
  | 'biz_request_id'
  | 'biz_name'
  | 'kind'
  | 'url'
  | 'payload'
  | 'attempts'
  | 'retry_base'
  | 'created_at'
  | 'order_key'
> & { id: number };

const maxRetryAfterMs = 24 * 3600_000;
/** Longest sleep: several nodes share the outbox, and another node's enqueue does not wake this one. */
const maxSleepMs = 60_000;
/** Expired leases are looked for at most this often (and whenever one is due to expire). */
const sweepEveryMs = 1000;

const urlLabel: Record<CallbackKind, string> = {
  room: 'room-status callback URL',
  recording: 'recording callback URL',
};

export class CallbackDispatcher {
  readonly #writer: OutboxWriter;
  /** Attempts of this process not yet recorded, by event id (their leases are never reclaimed). */
  readonly #inFlight = new Map<number, Promise<void>>();
  /** Requests being sent (what the concurrency limits count), in all and per call application. */
  #sending = 0;
  readonly #perApp = new Map<string, number>();
  readonly #perAppCap: number;
  readonly #leaseMs: number;
  readonly #secretCache = new Map<string, { secrets: string[]; at: number }>();
  readonly #outcomes: {
    row: EventRow;
    url: string;
    startedAt: number;
    result: AttemptResult;
    resolve: () => void;
    reject: (err: unknown) => void;
  }[] = [];
  /** A pass soon (after a wake). */
  #passTimer: NodeJS.Timeout | null = null;
  /** The next retry or lease expiry, and when it fires. */
  #dueTimer: NodeJS.Timeout | null = null;
  #dueAt: number | null = null;
  /** The due timer must be computed again from the database (at start, after it fired, after a failure). */
  #dueUnknown = true;
  #ticking = false;
  #again = false;
  #started = false;
  #closed = false;
  #lastSweep = 0;

  constructor(private readonly o: DispatcherOptions) {
    this.#perAppCap = Math.max(1, Math.min(o.concurrencyPerApp, o.concurrency));
    this.#leaseMs = o.attemptTimeoutMs + (o.leaseMarginMs ?? 5000);
    this.#writer = new OutboxWriter({
      db: o.db,
      metrics: o.metrics,
      log: o.log,
      now: o.now,
      ackBudgetMs: o.writeBudgetMs ?? 3000,
      onWritten: () => this.wake(),
    });
  }

  /** Returns leases a crashed process left behind, then starts delivering. */
  async start(): Promise<void> {
    // Single node: any lease is from a previous run of this process. (Several nodes rely on
    // lease expiry instead: see #sweepExpiredLeases.)
    await this.o.db
      .updateTable('callback_events')
      .set({ status: 'pending', lease_until: null })
      .where('status', '=', 'delivering')
      .execute();
    this.#started = true;
    this.wake();
  }

  /**
   * Writes the event to the outbox; resolves when it is committed, rejects with
   * STORE_UNAVAILABLE when the database would not take it in time (it is written later).
   */
  enqueue(event: OutboxEvent): Promise<void> {
    return this.#writer.enqueue(event);
  }

  /** Resolves when every event enqueued so far is committed; rejects with STORE_UNAVAILABLE otherwise. */
  persisted(): Promise<void> {
    return this.#writer.persisted();
  }

  /** Whether the outbox takes writes (readiness). */
  storeHealth(): StoreHealth {
    return this.#writer.health();
  }

  /** Runs a dispatch pass soon (coalesced). */
  wake(): void {
    if (!this.#started || this.#closed) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    if (this.#passTimer) return;
    this.#passTimer = setTimeout(() => {
      this.#passTimer = null;
      void this.#tick();
    }, 0);
  }

  /** Arms the due timer for `at` unless it fires earlier already. */
  #armDue(at: number): void {
    if (this.#closed || (this.#dueAt !== null && this.#dueAt <= at)) return;
    if (this.#dueTimer) clearTimeout(this.#dueTimer);
    this.#dueAt = at;
    const delay = Math.max(0, Math.min(at - this.o.now(), maxSleepMs));
    this.#dueTimer = setTimeout(() => {
      this.#dueTimer = null;
      this.#dueAt = null;
      this.#dueUnknown = true;
      this.wake();
    }, delay);
    this.#dueTimer.unref();
  }

  #disarmDue(): void {
    if (this.#dueTimer) clearTimeout(this.#dueTimer);
    this.#dueTimer = null;
    this.#dueAt = null;
  }

  /** One pass: reclaim expired leases, lease what is due, start those attempts (never awaited), sleep. */
  async #tick(): Promise<void> {
    if (this.#closed) return;
    this.#ticking = true;
    this.#again = false;
    try {
      // One instant for the whole pass: what was not due then is what the timer waits for.
      const now = this.o.now();
      await this.#sweepExpiredLeases(now);
      const free = this.o.concurrency - this.#sending;
      if (free > 0) {
        const leased = await this.#leaseDue(free, now);
        for (const { row, url } of leased) this.#startAttempt(row, url);
        if (leased.length === free) this.#again = true;
      }
      if (!this.#again && this.#dueUnknown && !this.#closed) {
        this.#dueUnknown = false;
        await this.#sleepUntilNextDue(now);
      }
    } catch (err) {
      if (!this.#closed) {
        this.o.log.error({ err }, 'callback dispatch pass failed; retrying in 1 s');
        this.#dueUnknown = true;
        this.#armDue(this.o.now() + 1000);
      }
    } finally {
      this.#ticking = false;
      if (this.#again && !this.#closed) this.wake();
    }
  }

  /**
   * Holds a slot (in all and of the call application) while the request is being sent; the
   * slot is free again once the answer is in, while the outcome is being recorded.
   */
  #startAttempt(row: EventRow, url: string): void {
    this.#sending += 1;
    this.#perApp.set(row.biz_name, (this.#perApp.get(row.biz_name) ?? 0) + 1);
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.#sending -= 1;
      const left = (this.#perApp.get(row.biz_name) ?? 1) - 1;
      if (left > 0) this.#perApp.set(row.biz_name, left);
      else this.#perApp.delete(row.biz_name);
      this.wake();
    };
    const done = this.#deliver(row, url, release)
      .catch((err: unknown) =>
        this.o.log.error({ err, id: row.id }, 'callback delivery crashed; the lease will be reclaimed'),
      )
      .finally(() => {
        this.#inFlight.delete(row.id);
        release();
        // The next event of its order key may be leased now.
        this.wake();
      });
    this.#inFlight.set(row.id, done);
  }

  /** Call applications holding all the slots one may hold. */
  #saturatedApps(): string[] {
    return [...this.#perApp].filter(([, n]) => n >= this.#perAppCap).map(([bizName]) => bizName);
  }

  /**
   * Sets the due timer for the next retry or the next lease to expire, whichever comes first
   * (read from the database when it is not known; retries this process schedules arm it
   * directly, so a busy pass costs no query for it).
   * Events already due but not leased need no timer: they wait behind an unfinished event of
   * their order key, or for a slot of their call application, and whatever finishes that
   * wakes the dispatcher; enqueues wake it too. Nothing waiting: no timer at all.
   */
  async #sleepUntilNextDue(passStartedAt: number): Promise<void> {
    // Due after the pass began (not after now): an event that fell due during the pass gets
    // a timer of 0 instead of being missed.
    const retry = this.o.db
      .selectFrom('callback_events')
      .select((eb) => eb.fn.min('next_attempt_at').as('at'))
      .where('status', '=', 'pending')
      .where('next_attempt_at', '>', passStartedAt);
    let lease = this.o.db
      .selectFrom('callback_events')
      .select((eb) => eb.fn.min('lease_until').as('at'))
      .where('status', '=', 'delivering');
    const mine = [...this.#inFlight.keys()];
    if (mine.length > 0) lease = lease.where('id', 'not in', mine);
    const [r, l] = await Promise.all([retry.executeTakeFirst(), lease.executeTakeFirst()]);
    // An expired lease is reclaimed by the next sweep, which may not run before its throttle allows.
    const leaseAt =
      l?.at === null || l?.at === undefined ? null : Math.max(Number(l.at), this.#lastSweep + sweepEveryMs);
    const times = [r?.at, leaseAt].filter((t) => t !== null && t !== undefined).map(Number);
    // Only ever brought forward here: a retry the outcome writer armed meanwhile must stand,
    // and a timer that turns out early merely runs a pass that finds nothing.
    if (times.length > 0) this.#armDue(Math.min(...times));
  }

  /**
   * Leases whose attempt outcome was never saved (the process crashed meanwhile, or the
   * database refused the outcome) go back to pending once they expire. Not this process's
   * attempts still in flight, whatever their lease says.
   */
  async #sweepExpiredLeases(now: number): Promise<void> {
    if (now - this.#lastSweep < sweepEveryMs) return;
    this.#lastSweep = now;
    let q = this.o.db
      .updateTable('callback_events')
      .set({ status: 'pending', lease_until: null })
      .where('status', '=', 'delivering')
      .where('lease_until', '<=', now);
    const mine = [...this.#inFlight.keys()];
    if (mine.length > 0) q = q.where('id', 'not in', mine);
    const r = await q.executeTakeFirst();
    const n = Number(r.numUpdatedRows);
    if (n > 0) this.o.log.warn({ events: n }, 'reclaimed callback leases whose outcome was never saved');
  }

  /**
   * Leases up to `free` due events, at most the free slots of each call application: picks
   * the heads of their order keys with their call application's URLs of the moment (a
   * corrected URL applies to pending retries and redeliveries too), then leases them in one
   * statement (UPDATE … RETURNING) that re-checks each is still pending, so two nodes never
   * lease the same event.
   */
  async #leaseDue(free: number, now: number): Promise<{ row: EventRow; url: string }[]> {
    const saturated = this.#saturatedApps();
    let heads = this.o.db
      .selectFrom('callback_events as e')
      .leftJoin('call_apps as a', 'a.biz_name', 'e.biz_name')
      .select(['e.id', 'e.biz_name', 'e.kind', 'a.room_callback_url', 'a.recording_callback_url'])
      .where('e.status', '=', 'pending')
      // Unary + keeps SQLite on the (status, id) index, which yields rows in lease order and
      // stops at the limit; the (status, next_attempt_at) index would read every pending row.
      .where(sql<number>`+e.next_attempt_at`, '<=', now)
      // Not waiting behind an earlier unfinished event of its order key.
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('callback_events as p')
              .select(sql`1`.as('one'))
              .whereRef('p.order_key', '=', 'e.order_key')
              .whereRef('p.id', '<', 'e.id')
              .where('p.status', 'in', ['pending', 'delivering']),
          ),
        ),
      );
    if (saturated.length > 0) heads = heads.where('e.biz_name', 'not in', saturated);
    // Per-app caps drop at most as many candidates as are being sent, so this many is enough.
    const candidates = await heads.orderBy('e.id').limit(this.o.concurrency).execute();
    const urls = new Map<number, string>();
    const taking = new Map<string, number>();
    for (const c of candidates) {
      if (urls.size >= free) break;
      const held = (this.#perApp.get(c.biz_name) ?? 0) + (taking.get(c.biz_name) ?? 0);
      if (held >= this.#perAppCap) continue;
      taking.set(c.biz_name, (taking.get(c.biz_name) ?? 0) + 1);
      urls.set(Number(c.id), (c.kind === 'room' ? c.room_callback_url : c.recording_callback_url) ?? '');
    }
    if (urls.size === 0) return [];
    const rows = await this.o.db
      .updateTable('callback_events')
      .set({ status: 'delivering', lease_until: now + this.#leaseMs })
      .where('id', 'in', [...urls.keys()])
      .where('status', '=', 'pending')
      .returning([
        'id',
        'biz_request_id',
        'biz_name',
        'kind',
        'url',
        'payload',
        'attempts',
        'retry_base',
        'created_at',
        'order_key',
      ])
      .execute();
    return (rows as EventRow[])
      .map((r) => ({ row: { ...r, id: Number(r.id) }, url: urls.get(Number(r.id)) ?? '' }))
      .sort((x, y) => x.row.id - y.row.id);
  }

  async #secrets(bizName: string): Promise<string[]> {
    const now = this.o.now();
    const cached = this.#secretCache.get(bizName);
    if (cached && now - cached.at < 10_000) return cached.secrets;
    const secrets = await signingSecrets(this.o.db, this.o.vault, bizName, now);
    this.#secretCache.set(bizName, { secrets, at: now });
    return secrets;
  }

  forgetSecrets(bizName: string): void {
    this.#secretCache.delete(bizName);
  }

  /** Sends one attempt, frees its slot (`sent`) once the answer is in, then records the outcome. */
  async #deliver(row: EventRow, url: string, sent: () => void): Promise<void> {
    const startedAt = this.o.now();
    if (url !== row.url) {
      // The delivery log shows where the event goes now; each attempt keeps its own URL.
      await this.o.db.updateTable('callback_events').set({ url }).where('id', '=', row.id).execute();
    }
    const result: AttemptResult =
      url === ''
        ? {
            success: false,
            statusCode: null,
            error: `the call application has no ${urlLabel[row.kind]} any more`,
            excerpt: null,
            durationMs: 0,
            retryAfterMs: null,
            permanent: true,
          }
        : await this.o.sender.send({
            url,
            body: row.payload,
            bizRequestId: row.biz_request_id,
            secrets: await this.#secrets(row.biz_name),
          });
    sent();
    await this.#record(row, url, startedAt, result);
  }

  /**
   * Outcomes are written in groups (one transaction for all attempts that finished meanwhile),
   * which is what lets one SQLite file or one PostgreSQL round trip keep up with a busy outbox.
   */
  #record(row: EventRow, url: string, startedAt: number, result: AttemptResult): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#outcomes.push({ row, url, startedAt, result, resolve, reject });
      if (this.#outcomes.length === 1) setImmediate(() => void this.#flushOutcomes());
    });
  }

  async #flushOutcomes(): Promise<void> {
    const batch = this.#outcomes.splice(0);
    if (batch.length === 0) return;
    const now = this.o.now();
    const succeeded: number[] = [];
    const others: { id: number; update: Partial<Omit<CallbackEventsTable, 'id'>> }[] = [];
    for (const { row, result } of batch) {
      const attempt = row.attempts + 1;
      const retriesUsed = attempt - row.retry_base - 1;
      this.o.metrics.attempts.inc({ result: result.success ? 'success' : 'failure' });
      if (result.success) {
        succeeded.push(row.id);
        this.o.metrics.succeeded.inc();
        this.o.metrics.latency.observe((now - row.created_at) / 1000);
      } else if (result.permanent || retriesUsed >= this.o.retryScheduleMs.length) {
        others.push({
          id: row.id,
          update: {
            status: 'failed',
            completed_at: now,
            lease_until: null,
            last_error: result.error,
            attempts: attempt,
          },
        });
        this.o.metrics.failed.inc();
        this.o.log.warn(
          { bizRequestId: row.biz_request_id, url: row.url, error: result.error, attempts: attempt },
          result.permanent ? 'callback failed: retrying cannot help' : 'callback failed after the last retry',
        );
      } else {
        const base = this.o.retryScheduleMs[retriesUsed] as number;
        const jittered = base * (1 + (Math.random() * 2 - 1) * this.o.jitter);
        const wait = Math.max(jittered, Math.min(result.retryAfterMs ?? 0, maxRetryAfterMs));
        others.push({
          id: row.id,
          update: {
            status: 'pending',
            next_attempt_at: now + Math.round(wait),
            lease_until: null,
            last_error: result.error,
            attempts: attempt,
          },
        });
        this.o.metrics.retries.inc();
      }
    }
    try {
      await this.o.db.transaction().execute(async (trx) => {
        const attempts = batch.map(({ row, url, startedAt, result }) => ({
          event_id: row.id,
          url,
          attempt: row.attempts + 1,
          started_at: startedAt,
          duration_ms: result.durationMs,
          status_code: result.statusCode,
          success: result.success ? 1 : 0,
          error: result.error,
          response_excerpt: result.excerpt,
        }));
        for (let i = 0; i < attempts.length; i += 100) {
          await trx
            .insertInto('callback_attempts')
            .values(attempts.slice(i, i + 100))
            .execute();
        }
        for (let i = 0; i < succeeded.length; i += 500) {
          await trx
            .updateTable('callback_events')
            .set((eb) => ({
              status: 'succeeded',
              completed_at: now,
              lease_until: null,
              last_error: null,
              attempts: eb('attempts', '+', 1),
            }))
            .where('id', 'in', succeeded.slice(i, i + 500))
            .execute();
        }
        for (const { id, update } of others)
          await trx.updateTable('callback_events').set(update).where('id', '=', id).execute();
      });
      // The retries just scheduled: the due timer fires for the earliest.
      const retryAt = others.map((o) => o.update.next_attempt_at ?? Infinity);
      if (retryAt.length > 0 && Math.min(...retryAt) < Infinity) this.#armDue(Math.min(...retryAt));
      for (const o of batch) o.resolve();
    } catch (err) {
      // These events stay leased until their leases expire: the due timer must cover that.
      this.#dueUnknown = true;
      for (const o of batch) o.reject(err);
    }
  }

  /** Pending and in-flight events, for the queue-depth gauge (read when metrics are scraped). */
  async queueDepth(): Promise<number> {
    const r = await this.o.db
      .selectFrom('callback_events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', 'in', ['pending', 'delivering'])
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Idempotent: stops leasing, waits for pending writes and in-flight attempts (bounded by the sender's timeout). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#passTimer) clearTimeout(this.#passTimer);
    this.#disarmDue();
    await this.#writer.close();
    await Promise.allSettled([...this.#inFlight.values()]);
  }
}
