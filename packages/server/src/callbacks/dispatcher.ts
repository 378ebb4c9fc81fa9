/**
 * The durable callback outbox and its dispatcher.
 *
 * Events are inserted before anything is sent (`enqueue*` resolve once the row is committed).
 * The dispatcher leases due events — only the oldest unfinished event of each order key (a
 * room, a recording), so a room's events arrive in order while different rooms proceed in
 * parallel — delivers them, records every attempt, and schedules retries with exponential
 * backoff and jitter, honouring Retry-After. After the last retry an event is marked failed,
 * never dropped. At-least-once: the same bizRequestId on every attempt.
 */
import { sql, type Insertable } from 'kysely';
import type { FastifyBaseLogger } from 'fastify';
import type { CallbackEventsTable, CallbackKind, Db } from '../store/schema.js';
import type { Dialect } from '../store/migrations.js';
import type { KeyVault } from '../security/keys.js';
import type { AttemptResult, CallbackSender } from './deliver.js';
import type { CallbackMetrics } from './metrics.js';
import { RequestIds } from './request-ids.js';
import { signingSecrets } from './secrets.js';

export interface DispatcherOptions {
  db: Db;
  dialect: Dialect;
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
}

export interface OutboxEvent {
  kind: CallbackKind;
  workspaceId: string;
  bizName: string;
  eventCode: number;
  roomId: string;
  uid: string;
  orderKey: string;
  /** The receiver URL, or the call-application setting that holds it; empty means the event is not sent. */
  url: string | { setting: 'room_callback_url' | 'recording_callback_url' };
  /** Other writes to commit atomically with the event (room presence). */
  effects?: (trx: Db) => Promise<void>;
  /** The payload without bizRequestId, which is assigned here. */
  payload: Record<string, unknown>;
  time: number;
}

type EventRow = Pick<
  CallbackEventsTable,
  'biz_request_id' | 'biz_name' | 'url' | 'payload' | 'attempts' | 'retry_base' | 'created_at' | 'order_key'
> & { id: number };

const maxRetryAfterMs = 24 * 3600_000;

export class CallbackDispatcher {
  readonly #ids = new RequestIds();
  /** Events waiting to be written, in emission order. */
  readonly #pending: { event: OutboxEvent; resolve: () => void }[] = [];
  #writing: Promise<void> | null = null;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #secretCache = new Map<string, { secrets: string[]; at: number }>();
  readonly #outcomes: {
    row: EventRow;
    startedAt: number;
    result: AttemptResult;
    resolve: () => void;
    reject: (err: unknown) => void;
  }[] = [];
  #timer: NodeJS.Timeout | null = null;
  #ticking = false;
  #again = false;
  #started = false;
  #closed = false;

  constructor(private readonly o: DispatcherOptions) {}

  /** Returns leases a crashed process left behind, then starts delivering. */
  async start(): Promise<void> {
    // Single node: any lease is from a previous run of this process. (Several nodes would
    // compare lease_until with the clock instead.)
    await this.o.db
      .updateTable('callback_events')
      .set({ status: 'pending', lease_until: null })
      .where('status', '=', 'delivering')
      .execute();
    this.#started = true;
    this.wake();
  }

  /**
   * Writes the event to the outbox; resolves when it is committed. Events are written in
   * emission order, in groups (one transaction per group), so a busy server does not pay a
   * commit per event and every order key keeps its order.
   */
  enqueue(event: OutboxEvent): Promise<void> {
    return new Promise((resolve) => {
      this.#pending.push({ event, resolve });
      if (!this.#writing) this.#writing = this.#writeQueued();
    });
  }

  /** Resolves when every event enqueued so far is committed (or has failed and been logged). */
  async persisted(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  async #writeQueued(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, 500);
      try {
        await this.#writeBatch(batch.map((b) => b.event));
      } catch (err) {
        this.o.log.error({ err, events: batch.length }, 'callback events could not be written to the outbox');
      }
      for (const b of batch) b.resolve();
    }
    this.#writing = null;
  }

  async #writeBatch(events: OutboxEvent[]): Promise<void> {
    const now = this.o.now();
    const urls = await this.#callbackUrls(events);
    // Another node may take the same id in the same millisecond: the batch is retried with new ids.
    for (let attempt = 1; ; attempt += 1) {
      const rows: Insertable<CallbackEventsTable>[] = [];
      try {
        await this.o.db.transaction().execute(async (trx) => {
          for (const event of events) {
            await event.effects?.(trx);
            const url = urls.get(event) ?? '';
            if (url !== '') rows.push(this.#row(event, url, now));
          }
          for (let i = 0; i < rows.length; i += 50)
            await trx
              .insertInto('callback_events')
              .values(rows.slice(i, i + 50))
              .execute();
        });
        break;
      } catch (err) {
        if (attempt >= 5 || !/unique|duplicate/i.test(String((err as Error).message))) throw err;
      }
    }
    for (const event of events) if (urls.get(event)) this.o.metrics.enqueued.inc({ kind: event.kind });
    this.wake();
  }

  /** Each event's receiver URL, reading each call application's configuration once per group. */
  async #callbackUrls(events: OutboxEvent[]): Promise<Map<OutboxEvent, string>> {
    const bizNames = [...new Set(events.filter((e) => typeof e.url !== 'string').map((e) => e.bizName))];
    const configs = new Map<string, { room_callback_url: string; recording_callback_url: string }>();
    for (let i = 0; i < bizNames.length; i += 200) {
      const found = await this.o.db
        .selectFrom('call_apps')
        .select(['biz_name', 'room_callback_url', 'recording_callback_url'])
        .where('biz_name', 'in', bizNames.slice(i, i + 200))
        .execute();
      for (const f of found) configs.set(f.biz_name, f);
    }
    return new Map(
      events.map((e) => [
        e,
        typeof e.url === 'string' ? e.url : (configs.get(e.bizName)?.[e.url.setting] ?? ''),
      ]),
    );
  }

  #row(event: OutboxEvent, url: string, now: number): Insertable<CallbackEventsTable> {
    const bizRequestId = this.#ids.next(now);
    return {
      biz_request_id: bizRequestId,
      workspace_id: event.workspaceId,
      biz_name: event.bizName,
      kind: event.kind,
      event_code: event.eventCode,
      room_id: event.roomId,
      uid: event.uid,
      order_key: event.orderKey,
      url,
      payload: JSON.stringify({ bizRequestId, ...event.payload }),
      status: 'pending',
      attempts: 0,
      retry_base: 0,
      next_attempt_at: now,
      lease_until: null,
      created_at: event.time,
      completed_at: null,
      last_error: null,
    };
  }

  /** Runs a dispatch pass soon (coalesced). */
  wake(): void {
    if (!this.#started || this.#closed) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), 0);
  }

  async #tick(): Promise<void> {
    this.#timer = null;
    if (this.#closed) return;
    this.#ticking = true;
    this.#again = false;
    try {
      const free = this.o.concurrency - this.#inFlight.size;
      if (free > 0) {
        const rows = await this.#leaseDue(free);
        for (const row of rows) {
          const delivery = this.#deliver(row).catch((err: unknown) =>
            this.o.log.error({ err, id: row.id }, 'callback delivery crashed'),
          );
          this.#inFlight.add(delivery);
          void delivery.finally(() => {
            this.#inFlight.delete(delivery);
            this.wake();
          });
        }
        if (rows.length === free) this.#again = true;
        if (rows.length === 0) await this.#scheduleNextDue();
      }
    } catch (err) {
      if (!this.#closed) this.o.log.error({ err }, 'callback dispatch pass failed; retrying in 1 s');
      this.#timer = setTimeout(() => void this.#tick(), 1000);
    } finally {
      this.#ticking = false;
      if (this.#again && !this.#closed) this.wake();
    }
  }

  /** Leases up to `limit` due events in one statement (UPDATE … RETURNING). */
  async #leaseDue(limit: number): Promise<EventRow[]> {
    const now = this.o.now();
    let due = this.o.db
      .selectFrom('callback_events as e')
      .select('e.id')
      .where('e.status', '=', 'pending')
      .where('e.next_attempt_at', '<=', now)
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
      )
      .orderBy('e.id')
      .limit(limit);
    if (this.o.dialect === 'postgres') due = due.forUpdate().skipLocked();
    const rows = await this.o.db
      .updateTable('callback_events')
      .set({ status: 'delivering', lease_until: now + 120_000 })
      .where('id', 'in', due)
      .returning([
        'id',
        'biz_request_id',
        'biz_name',
        'url',
        'payload',
        'attempts',
        'retry_base',
        'created_at',
        'order_key',
      ])
      .execute();
    return (rows as EventRow[]).sort((x, y) => x.id - y.id);
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

  async #deliver(row: EventRow): Promise<void> {
    const startedAt = this.o.now();
    const result = await this.o.sender.send({
      url: row.url,
      body: row.payload,
      bizRequestId: row.biz_request_id,
      secrets: await this.#secrets(row.biz_name),
    });
    await this.#record(row, startedAt, result);
  }

  /**
   * Outcomes are written in groups (one transaction for all attempts that finished meanwhile),
   * which is what lets one SQLite file or one PostgreSQL round trip keep up with a busy outbox.
   */
  #record(row: EventRow, startedAt: number, result: AttemptResult): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#outcomes.push({ row, startedAt, result, resolve, reject });
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
      } else if (retriesUsed >= this.o.retryScheduleMs.length) {
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
          'callback failed after the last retry',
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
        const attempts = batch.map(({ row, startedAt, result }) => ({
          event_id: row.id,
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
      for (const o of batch) o.resolve();
    } catch (err) {
      for (const o of batch) o.reject(err);
    }
  }

  async #scheduleNextDue(): Promise<void> {
    const next = await this.o.db
      .selectFrom('callback_events')
      .select((eb) => eb.fn.min('next_attempt_at').as('at'))
      .where('status', '=', 'pending')
      .executeTakeFirst();
    const at = next?.at === null || next?.at === undefined ? null : Number(next.at);
    if (at === null || this.#closed) return;
    const delay = Math.max(0, Math.min(at - this.o.now(), 60_000));
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), delay);
    this.#timer.unref();
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
    if (this.#timer) clearTimeout(this.#timer);
    await this.persisted();
    await Promise.allSettled([...this.#inFlight]);
  }
}
