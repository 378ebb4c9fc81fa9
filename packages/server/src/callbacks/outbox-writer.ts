/**
 * Writes callback events to the outbox, in emission order, in groups (one transaction per
 * group), so a busy server does not pay a commit per event and every order key keeps its order.
 *
 * Nothing is acknowledged before it is committed: a failed write is retried with backoff, and
 * an event still unwritten after `ackBudgetMs` makes its caller's promise reject with
 * STORE_UNAVAILABLE (the terminal is told to retry). The event itself is kept, at the head of
 * the queue, and written as soon as the database takes writes again, so a receiver never gets
 * a room's later events without its earlier ones. While writes fail, `health()` says so
 * (readiness reports it) until a write succeeds again.
 */
import type { Insertable } from 'kysely';
import type { FastifyBaseLogger } from 'fastify';
import { ParleyError } from '../errors.js';
import type { CallbackEventsTable, CallbackKind, Db } from '../store/schema.js';
import type { CallbackMetrics } from './metrics.js';
import { RequestIds } from './request-ids.js';

/** The call-application setting that holds the receiver URL of each kind of event. */
export const urlSettingOf = {
  room: 'room_callback_url',
  recording: 'recording_callback_url',
} as const satisfies Record<CallbackKind, string>;

export interface OutboxEvent {
  kind: CallbackKind;
  workspaceId: string;
  bizName: string;
  eventCode: number;
  roomId: string;
  uid: string;
  orderKey: string;
  /** The call-application setting that holds the receiver URL; an empty URL means the event is not sent. */
  url: { setting: (typeof urlSettingOf)[CallbackKind] };
  /** Other writes to commit atomically with the event (room presence). */
  effects?: (trx: Db) => Promise<void>;
  /** The payload without bizRequestId, which is assigned here. */
  payload: Record<string, unknown>;
  time: number;
}

export interface OutboxWriterOptions {
  db: Db;
  metrics: CallbackMetrics;
  log: FastifyBaseLogger;
  now: () => number;
  /** How long an event may wait for a successful write before its caller is told STORE_UNAVAILABLE. */
  ackBudgetMs: number;
  /** Called after each committed group (wakes the dispatcher). */
  onWritten: () => void;
}

export type StoreHealth = { ok: true } | { ok: false; since: number; reason: string };

interface Queued {
  event: OutboxEvent;
  /** performance.now() when enqueued. */
  at: number;
  settled: boolean;
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const firstBackoffMs = 50;
const maxBackoffMs = 2000;

export class OutboxWriter {
  readonly #ids = new RequestIds();
  /** Events not yet committed, in emission order; an event leaves only once committed. */
  readonly #queue: Queued[] = [];
  #writing: Promise<void> | null = null;
  #failure: { since: number; reason: string } | null = null;
  #closing = false;

  constructor(private readonly o: OutboxWriterOptions) {}

  /** Resolves once the event is committed; rejects with STORE_UNAVAILABLE when it could not be in time. */
  enqueue(event: OutboxEvent): Promise<void> {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers that fire and forget (the room model's listeners) must not crash the process:
    // the failure reaches the terminal through persisted().
    promise.catch(() => undefined);
    const queued: Queued = { event, at: performance.now(), settled: false, promise, resolve, reject };
    this.#queue.push(queued);
    this.#writing ??= this.#writeQueued();
    return promise;
  }

  /**
   * Resolves when every event enqueued so far is committed; rejects with STORE_UNAVAILABLE when
   * one of them could not be written within the budget (it is still written later).
   */
  persisted(): Promise<void> {
    return this.#queue.at(-1)?.promise ?? Promise.resolve();
  }

  health(): StoreHealth {
    return this.#failure ? { ok: false, ...this.#failure } : { ok: true };
  }

  /** Stops retrying forever: at close, writes are tried for one more budget, then given up (logged). */
  async close(): Promise<void> {
    this.#closing = true;
    while (this.#writing) await this.#writing;
  }

  async #writeQueued(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    let backoff = firstBackoffMs;
    while (this.#queue.length > 0) {
      const group = this.#queue.slice(0, 500);
      try {
        await this.#writeGroup(group.map((q) => q.event));
        this.#queue.splice(0, group.length);
        if (this.#failure) this.o.log.info('the callback outbox takes writes again');
        this.#failure = null;
        backoff = firstBackoffMs;
        for (const q of group) {
          q.settled = true;
          q.resolve();
        }
      } catch (err) {
        this.#failed(err);
        if (this.#closing && performance.now() - (this.#queue[0]?.at ?? 0) > this.o.ackBudgetMs) {
          this.o.log.error(
            { err, events: this.#queue.length },
            'shutting down with callback events the database would not take; they are lost',
          );
          this.#queue.splice(0);
          break;
        }
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, maxBackoffMs);
      }
    }
    this.#writing = null;
  }

  /** Marks the store failing and tells the callers whose events waited past the budget. */
  #failed(err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    if (!this.#failure) {
      this.#failure = { since: this.o.now(), reason };
      this.o.log.error({ err, events: this.#queue.length }, 'callback events could not be written; retrying');
    } else this.#failure.reason = reason;
    const now = performance.now();
    for (const q of this.#queue) {
      if (q.settled || now - q.at < this.o.ackBudgetMs) continue;
      q.settled = true;
      q.reject(
        new ParleyError('STORE_UNAVAILABLE', {
          message: `The database could not save the change (${reason}), so it was not acknowledged. Retryable: try again in a few seconds.`,
        }),
      );
    }
  }

  async #writeGroup(events: OutboxEvent[]): Promise<void> {
    const now = this.o.now();
    const urls = await this.#callbackUrls(events);
    // Another node may take the same id in the same millisecond: the group is retried with new ids.
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
    this.o.onWritten();
  }

  /** Each event's receiver URL, reading each call application's configuration once per group. */
  async #callbackUrls(events: OutboxEvent[]): Promise<Map<OutboxEvent, string>> {
    const bizNames = [...new Set(events.map((e) => e.bizName))];
    const configs = new Map<string, { room_callback_url: string; recording_callback_url: string }>();
    for (let i = 0; i < bizNames.length; i += 200) {
      const found = await this.o.db
        .selectFrom('call_apps')
        .select(['biz_name', 'room_callback_url', 'recording_callback_url'])
        .where('biz_name', 'in', bizNames.slice(i, i + 200))
        .execute();
      for (const f of found) configs.set(f.biz_name, f);
    }
    return new Map(events.map((e) => [e, configs.get(e.bizName)?.[e.url.setting] ?? '']));
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
}
