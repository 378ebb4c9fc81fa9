/** The SFU (one MediaRouter per room) behind the live call's media interface. */
import type { MediaKind } from '@parley/protocol';
import { MediaRouter, SfuError, resolveSfuConfig, type SfuConfig, type SfuLogger } from '../sfu/index.js';
import type { SubscriberOfferEvent } from '../sfu/index.js';
import {
  MediaError,
  type MediaPlane,
  type RoomMedia,
  type RoomMediaEvents,
  type SubscriberOffer,
} from './room-media.js';

function mapError(err: unknown): never {
  if (err instanceof SfuError) {
    const code =
      err.code === 'unknown-transport'
        ? 'TRANSPORT_NOT_FOUND'
        : err.code === 'no-tracks'
          ? 'NOT_PUBLISHING'
          : err.code === 'unknown-participant'
            ? 'PARTICIPANT_NOT_FOUND'
            : err.code === 'offer-superseded'
              ? 'OFFER_SUPERSEDED'
              : 'MEDIA_FAILED';
    throw new MediaError(code, err.message);
  }
  throw err;
}

async function mapped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    return mapError(err);
  }
}

/** The SFU's offer as terminals get it: each track named by its publisher. */
function toSubscriberOffer(e: SubscriberOfferEvent): SubscriberOffer {
  return {
    transportId: e.transportId,
    version: e.version,
    sdp: e.offerSdp,
    tracks: e.tracks.map((t) => ({
      mid: t.mid,
      trackId: t.trackId,
      participantId: t.publisherId,
      kind: t.kind,
    })),
  };
}

function kindsOf(router: MediaRouter, participantId: string): MediaKind[] {
  return [...new Set(router.tracks(participantId).map((t) => t.kind))].sort();
}

class SfuRoomMedia implements RoomMedia {
  readonly #router: MediaRouter;

  constructor(router: MediaRouter, events: RoomMediaEvents) {
    this.#router = router;
    this.router = router;
    this.#router.on('localCandidate', (c) =>
      events.onCandidate(c.participantId, c.transportId, c.candidate, c.mid),
    );
    this.#router.on('subscriberOffer', (e) =>
      events.onSubscriberOffer(e.participantId, toSubscriberOffer(e)),
    );
    this.#router.on('remoteDenied', (e) => events.onRemoteDenied(e.participantId, e.address, e.port));
    this.#router.on('trackEnded', (track, reason) => {
      if (reason === 'transport-closed')
        events.onPublishedKindsChanged(track.participantId, kindsOf(this.#router, track.participantId));
    });
  }

  publish(participantId: string, offerSdp: string) {
    return mapped(async () => {
      const result = await this.#router.publish(participantId, offerSdp);
      return {
        transportId: result.transportId,
        answerSdp: result.answerSdp,
        kinds: kindsOf(this.#router, participantId),
      };
    });
  }

  subscribe(subscriberId: string, publisherId: string) {
    return mapped(async () => {
      const result = await this.#router.subscribe(subscriberId, publisherId);
      return { transportId: result.transportId, offerSdp: result.offerSdp };
    });
  }

  unsubscribe(subscriberId: string, publisherId: string): void {
    this.#router.unsubscribe(subscriberId, publisherId);
  }

  openSubscriber(participantId: string, options: { autoSubscribe?: boolean; restart: boolean }) {
    try {
      return this.#router.openSubscriber(participantId, options);
    } catch (err) {
      return mapError(err);
    }
  }

  setSubscriberAnswer(participantId: string, transportId: string, version: number, answerSdp: string) {
    return mapped(async () => {
      this.#own(participantId, transportId);
      await this.#router.setSubscriberAnswer(transportId, version, answerSdp);
    });
  }

  setSubscribed(subscriberId: string, publisherId: string, subscribed: boolean): void {
    try {
      this.#router.setSubscribed(subscriberId, publisherId, subscribed);
    } catch (err) {
      mapError(err);
    }
  }

  pendingSubscriberOffer(participantId: string): SubscriberOffer | null {
    if (this.#router.closed) return null;
    const pending = this.#router.pendingSubscriberOffer(participantId);
    return pending ? toSubscriberOffer(pending) : null;
  }

  /** A terminal may only touch its own transports. */
  #own(participantId: string, transportId: string): void {
    if (this.#router.participantOf(transportId) !== participantId) {
      throw new MediaError('TRANSPORT_NOT_FOUND', `No transport ${transportId} of yours.`);
    }
  }

  setAnswer(participantId: string, transportId: string, answerSdp: string) {
    return mapped(async () => {
      this.#own(participantId, transportId);
      await this.#router.setAnswer(transportId, answerSdp);
    });
  }

  addRemoteCandidate(participantId: string, transportId: string, candidate: string, mid: string): void {
    // Candidates race with a transport's close: those for a transport that is gone are dropped.
    if (this.#router.participantOf(transportId) === undefined) return;
    try {
      this.#own(participantId, transportId);
      this.#router.addRemoteCandidate(transportId, candidate, mid);
    } catch (err) {
      mapError(err);
    }
  }

  unpublish(participantId: string, kind?: MediaKind): MediaKind[] {
    try {
      this.#router.unpublish(participantId, kind);
    } catch (err) {
      mapError(err);
    }
    return kindsOf(this.#router, participantId);
  }

  /** Also after close (their transports went with the router). */
  removeParticipant(participantId: string): void {
    if (!this.#router.closed) this.#router.removeParticipant(participantId);
  }

  setRemoteAddressPolicy(addresses: readonly string[] | null): void {
    if (!this.#router.closed) this.#router.setRemoteAddressPolicy(addresses);
  }

  readonly router: MediaRouter;

  close(): void {
    this.#router.close();
  }

  stats() {
    return this.#router.stats();
  }
}

/** Validates the SFU configuration once (at start); each room's media gets its own router. */
export function sfuMediaPlane(config: SfuConfig, log: SfuLogger): MediaPlane {
  resolveSfuConfig(config);
  const open = new Set<RoomMedia>();
  return {
    createRoomMedia(events: RoomMediaEvents): RoomMedia {
      const media = new SfuRoomMedia(new MediaRouter(config, log), events);
      open.add(media);
      const close = media.close.bind(media);
      media.close = () => {
        open.delete(media);
        close();
      };
      return media;
    },
    rooms: () => open.size,
    close(): void {
      for (const media of [...open]) media.close();
    },
  };
}
