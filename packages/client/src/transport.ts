/**
 * One RTCPeerConnection and its signaling transport id: trickles local ICE candidates once
 * the id is known, and holds remote candidates until the remote description is set.
 */
import type { ClientMessage } from '@parley/protocol';
import { ParleyError } from './errors.js';

/** What the SDK needs from the browser's media APIs; injectable for tests and non-browser hosts. */
export interface MediaEnvironment {
  RTCPeerConnection: new (config?: RTCConfiguration) => RTCPeerConnection;
  MediaStream: new (tracks?: MediaStreamTrack[]) => MediaStream;
  getUserMedia(constraints: MediaStreamConstraints): Promise<MediaStream>;
}

/** The browser's media APIs, looked up when first used. */
export function browserMedia(): MediaEnvironment {
  const g = globalThis as unknown as {
    RTCPeerConnection?: MediaEnvironment['RTCPeerConnection'];
    MediaStream?: MediaEnvironment['MediaStream'];
    navigator?: { mediaDevices?: { getUserMedia?: (c: MediaStreamConstraints) => Promise<MediaStream> } };
  };
  const missing = (what: string) => new ParleyError('UNSUPPORTED', `This browser has no ${what}.`);
  return {
    get RTCPeerConnection() {
      if (!g.RTCPeerConnection) throw missing('RTCPeerConnection (WebRTC)');
      return g.RTCPeerConnection;
    },
    get MediaStream() {
      if (!g.MediaStream) throw missing('MediaStream');
      return g.MediaStream;
    },
    getUserMedia(constraints) {
      const devices = g.navigator?.mediaDevices;
      if (!devices?.getUserMedia) {
        return Promise.reject(
          missing('navigator.mediaDevices.getUserMedia (is the page served over https?)'),
        );
      }
      return devices.getUserMedia.call(devices, constraints);
    },
  };
}

export type TransportRole = 'publish' | 'subscribe';

type CandidateMessage = Extract<ClientMessage, { type: 'candidate' }>;

export class Transport {
  id: string | null = null;
  readonly pc: RTCPeerConnection;
  /** Set when the connection failed and is to be replaced. */
  failed = false;
  #closed = false;
  #remoteSet = false;
  #localQueue: { candidate: string; mid: string }[] = [];
  #remoteQueue: { candidate: string; mid: string }[] = [];
  #connectTimer: ReturnType<typeof setTimeout> | null = null;
  #connectArmed = false;
  readonly #onState: (transport: Transport, state: RTCPeerConnectionState) => void;

  constructor(
    readonly role: TransportRole,
    readonly participantId: string | null,
    pc: RTCPeerConnection,
    readonly send: (message: CandidateMessage) => void,
    onState: (transport: Transport, state: RTCPeerConnectionState) => void,
    /**
     * A connection not connected after this long counts as failed. Browsers can stay in
     * 'connecting' for long when nothing answers at all (an unreachable TURN proxy gives no
     * candidate to check), and the user deserves a clear error instead of a silent call.
     * null: not yet, see armConnectTimeout().
     */
    connectTimeoutMs: number | null = 20_000,
  ) {
    this.pc = pc;
    this.#onState = onState;
    if (connectTimeoutMs !== null) this.armConnectTimeout(connectTimeoutMs);
    pc.onicecandidate = (ev) => {
      const c = ev.candidate;
      if (!c || !c.candidate) return; // end of candidates: protocol v1 has no message for it
      const item = { candidate: c.candidate, mid: c.sdpMid ?? '0' };
      if (this.id === null) this.#localQueue.push(item);
      else this.#sendCandidate(item);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected' && this.#connectTimer) {
        clearTimeout(this.#connectTimer);
        this.#connectTimer = null;
      }
      if (!this.#closed) this.#onState(this, pc.connectionState);
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Starts the connect timeout (once per connection), for a connection that has nothing to
   * carry at first and so cannot connect yet (the receiving one before its first track).
   */
  armConnectTimeout(ms = 20_000): void {
    if (this.#connectArmed || this.#closed) return;
    this.#connectArmed = true;
    if (this.pc.connectionState === 'connected') return;
    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = null;
      if (!this.#closed && this.pc.connectionState !== 'connected') this.#onState(this, 'failed');
    }, ms);
  }

  /** The server told us the transport id: send the candidates gathered so far. */
  setId(id: string): void {
    this.id = id;
    for (const item of this.#localQueue.splice(0)) this.#sendCandidate(item);
  }

  async setRemoteDescription(description: RTCSessionDescriptionInit): Promise<void> {
    await this.pc.setRemoteDescription(description);
    this.#remoteSet = true;
    for (const item of this.#remoteQueue.splice(0)) this.#addRemote(item);
  }

  addRemoteCandidate(candidate: string, mid: string): void {
    if (this.#closed || !candidate) return;
    if (!this.#remoteSet) this.#remoteQueue.push({ candidate, mid });
    else this.#addRemote({ candidate, mid });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
    this.pc.onicecandidate = null;
    this.pc.onconnectionstatechange = null;
    this.pc.ontrack = null;
    try {
      this.pc.close();
    } catch {
      /* already closed */
    }
  }

  #sendCandidate(item: { candidate: string; mid: string }): void {
    if (this.#closed || this.id === null) return;
    this.send({ type: 'candidate', transportId: this.id, candidate: item.candidate, mid: item.mid });
  }

  #addRemote(item: { candidate: string; mid: string }): void {
    this.pc.addIceCandidate({ candidate: item.candidate, sdpMid: item.mid }).catch(() => {
      /* a candidate the browser cannot use (e.g. another address family) is not an error */
    });
  }
}
