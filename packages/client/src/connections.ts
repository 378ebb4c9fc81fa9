/**
 * A room's peer connections (at most two: the publication and the receiving connection), as
 * Transports: made with the ICE settings of the latest welcome, reached by the server's
 * candidates through their transport id (candidates that overtake the response naming their
 * transport wait for it), and watched for failure.
 *
 * A connection that reaches `failed` (or is not connected in time, see Transport) waits
 * failureGraceMs for the signaling event that may explain it: if the SDK replaced or closed it
 * meanwhile, that was no failure. Otherwise it is reported as `ICE_FAILED` and the room rebuilds
 * it (republish, or a fresh receiving connection), at most 3 times a minute per role.
 */
import type { ServerMessage } from '@parley/protocol';
import { ParleyError } from './errors.js';
import type { SignalingConnection } from './signaling.js';
import { Transport, type MediaEnvironment, type TransportRole } from './transport.js';

type CandidateEvent = Extract<ServerMessage, { type: 'candidate' }>;

const restartWindowMs = 60_000;
/** How long a failed connection waits for the signaling event that may explain it. */
const failureGraceMs = 1_500;
const maxRestartsPerWindow = 3;

/** What the connections need from their room. */
export interface ConnectionsHost {
  readonly signaling: SignalingConnection;
  readonly media: MediaEnvironment;
  iceServers(): RTCIceServer[];
  /** 'relay' when the call application's media must go through its proxy. */
  iceTransportPolicy(): RTCIceTransportPolicy;
  /** The media-stream proxy (host[:port]), or null: named in ICE_FAILED messages. */
  mediaProxy(): string | null;
  roomState(): 'joined' | 'reconnecting' | 'closed';
  /** Every state change of a connection (the room's `mediaStateChanged`). */
  stateChanged(transport: Transport, state: RTCPeerConnectionState): void;
  /** An ICE_FAILED error for the room's `error` event. */
  failed(error: ParleyError): void;
  /** Rebuild this failed connection. */
  rebuild(transport: Transport): void;
}

export class Connections {
  readonly #host: ConnectionsHost;
  readonly #byId = new Map<string, Transport>();
  /** Candidates for transport ids we do not know yet (they can overtake the response). */
  readonly #early = new Map<string, { candidate: string; mid: string }[]>();
  readonly #restarts = new Map<TransportRole, number[]>();

  constructor(host: ConnectionsHost) {
    this.#host = host;
  }

  /** A new connection; the receiving one starts its connect timeout once it has a track to carry. */
  create(role: TransportRole): Transport {
    const host = this.#host;
    const pc = new host.media.RTCPeerConnection({
      iceServers: host.iceServers(),
      iceTransportPolicy: host.iceTransportPolicy(),
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
    });
    return new Transport(
      role,
      null,
      pc,
      (msg) => host.signaling.send(msg),
      (t, state) => this.#onState(t, state),
      role === 'publish' ? 20_000 : null,
    );
  }

  /** The server named the connection's transport id: candidates flow both ways from now. */
  register(transport: Transport, transportId: string): void {
    transport.setId(transportId);
    this.#byId.set(transportId, transport);
    const early = this.#early.get(transportId);
    this.#early.delete(transportId);
    for (const c of early ?? []) transport.addRemoteCandidate(c.candidate, c.mid);
  }

  drop(transport: Transport): void {
    if (transport.id !== null && this.#byId.get(transport.id) === transport) this.#byId.delete(transport.id);
    transport.close();
  }

  /** A server `candidate` event. */
  addCandidate(msg: CandidateEvent): void {
    const transport = this.#byId.get(msg.transportId);
    if (transport) return transport.addRemoteCandidate(msg.candidate, msg.mid);
    // Early (the response naming it is on its way) or late (a connection already replaced).
    const list = this.#early.get(msg.transportId) ?? [];
    if (list.length < 50) list.push({ candidate: msg.candidate, mid: msg.mid });
    this.#early.set(msg.transportId, list);
    if (this.#early.size > 20) {
      const oldest = this.#early.keys().next().value;
      if (oldest !== undefined) this.#early.delete(oldest);
    }
  }

  /** Allows at most 3 rebuilds a minute per role; counts this one. */
  mayRestart(role: TransportRole): boolean {
    const now = Date.now();
    const recent = (this.#restarts.get(role) ?? []).filter((t) => now - t < restartWindowMs);
    if (recent.length >= maxRestartsPerWindow) return false;
    recent.push(now);
    this.#restarts.set(role, recent);
    return true;
  }

  /** After a resume: a connection still `disconnected` a little later is not coming back by itself. */
  checkLater(transport: Transport): void {
    const state = transport.pc.connectionState;
    if (state !== 'disconnected' && state !== 'connecting') return;
    setTimeout(() => {
      if (transport.closed || this.#host.roomState() !== 'joined') return;
      if (transport.pc.connectionState === 'connected') return;
      transport.failed = true;
      this.#host.rebuild(transport);
    }, 4_000);
  }

  /** The room ended. */
  closeAll(): void {
    for (const t of this.#byId.values()) t.close();
    this.#byId.clear();
    this.#early.clear();
  }

  #onState(transport: Transport, state: RTCPeerConnectionState): void {
    this.#host.stateChanged(transport, state);
    if (state !== 'failed' || this.#host.roomState() === 'closed' || transport.failed) return;
    transport.failed = true;
    setTimeout(() => this.#onFailed(transport), failureGraceMs);
  }

  #onFailed(transport: Transport): void {
    if (transport.closed || this.#host.roomState() === 'closed') return;
    const who = transport.role === 'publish' ? 'sending your media' : "receiving the others' media";
    const retrying = this.mayRestart(transport.role);
    const proxy = this.#host.mediaProxy();
    const why = proxy
      ? `ICE could not connect through the media-stream proxy ${proxy}: check that the proxy is reachable ` +
        `(UDP/TCP), that its shared secret matches the call application's, and that its egress IPs are configured`
      : `ICE could not connect: check that UDP to the media server is allowed, or configure a TURN server`;
    this.#host.failed(
      new ParleyError(
        'ICE_FAILED',
        `The media connection for ${who} failed (${why})${retrying ? '; reconnecting it' : ''}.`,
      ),
    );
    if (!retrying) return;
    if (this.#host.signaling.state !== 'open') return; // rebuilt after the resume
    this.#host.rebuild(transport);
  }
}
