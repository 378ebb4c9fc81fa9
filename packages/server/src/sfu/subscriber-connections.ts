/**
 * The router's subscriber connections (one per participant at most, see subscriber-connection.ts)
 * and who wants whose tracks on them: by default every other participant's, including tracks
 * published later; setSubscribed() adds or removes publishers. Those choices belong to the
 * participant: they outlive a restarted connection, until removeParticipant().
 */
import type { SourceTrack } from './publisher.js';
import { SubscriberConnection } from './subscriber-connection.js';
import { newId, type RouterContext } from './transport.js';
import type { OpenSubscriberOptions, SubscriberOfferEvent } from './types.js';

export interface SubscriberConnectionsHost {
  readonly ctx: RouterContext;
  /** A new connection, for the router's transport table (stats, candidates, close). */
  register(c: SubscriberConnection): void;
  offer(e: SubscriberOfferEvent): void;
  /** Every live published track of the router. */
  liveSources(): SourceTrack[];
}

/** auto: everyone but `except`; otherwise only `except`. */
interface Choices {
  auto: boolean;
  except: Set<string>;
}

export class SubscriberConnections {
  readonly #open = new Map<string, SubscriberConnection>();
  readonly #choices = new Map<string, Choices>();

  constructor(private readonly host: SubscriberConnectionsHost) {}

  #wants(subscriberId: string, publisherId: string): boolean {
    if (subscriberId === publisherId) return false;
    const c = this.#choices.get(subscriberId);
    if (!c) return true;
    return c.auto !== c.except.has(publisherId);
  }

  /** The participant's open connection, or a new one (restart: always a new one). */
  open(participantId: string, options: OpenSubscriberOptions): SubscriberConnection {
    const current = this.#open.get(participantId);
    if (current && !current.closed && !options.restart) return current;
    current?.close('transport-closed', true);
    if (options.autoSubscribe !== undefined) {
      this.#choices.set(participantId, { auto: options.autoSubscribe, except: new Set() });
    }
    const connection = new SubscriberConnection(this.host.ctx, newId('sub'), participantId, {
      offer: (e) => this.host.offer(e),
      closed: (c) => {
        if (this.#open.get(c.participantId) === c) this.#open.delete(c.participantId);
      },
    });
    this.#open.set(participantId, connection);
    this.host.register(connection);
    for (const s of this.host.liveSources()) {
      if (this.#wants(participantId, s.info.participantId)) connection.add(s);
    }
    void connection.begin();
    return connection;
  }

  setSubscribed(subscriberId: string, publisherId: string, subscribed: boolean): void {
    let c = this.#choices.get(subscriberId);
    if (!c) this.#choices.set(subscriberId, (c = { auto: true, except: new Set() }));
    if (subscribed === c.auto) c.except.delete(publisherId);
    else c.except.add(publisherId);
    const connection = this.#open.get(subscriberId);
    if (!connection) return;
    if (!subscribed) {
      connection.removePublisher(publisherId);
      return;
    }
    for (const s of this.host.liveSources()) {
      if (s.info.participantId === publisherId && subscriberId !== publisherId) connection.add(s);
    }
  }

  /** New tracks: onto every connection that wants them (one offer per connection and tick). */
  published(sources: readonly SourceTrack[]): void {
    for (const [subscriberId, connection] of this.#open) {
      for (const s of sources) {
        if (this.#wants(subscriberId, s.info.participantId)) connection.add(s);
      }
    }
  }

  pendingOffer(participantId: string): SubscriberOfferEvent | null {
    return this.#open.get(participantId)?.pendingOffer ?? null;
  }

  /** The participant is gone: its choices, and others' choices about it. */
  forget(participantId: string): void {
    this.#choices.delete(participantId);
    for (const c of this.#choices.values()) c.except.delete(participantId);
  }

  clear(): void {
    this.#open.clear();
    this.#choices.clear();
  }
}
