/**
 * "Test proxy": checks a call app's media-stream proxy (a TURN server, typically coturn with
 * `use-auth-secret`) the way a terminal will use it, and says in one sentence what is wrong:
 *
 *   resolve the host → connected UDP socket → Allocate without credentials (expect 401 with
 *   REALM and NONCE) → Allocate with TURN REST credentials from the shared secret → read the
 *   relayed address → Refresh with LIFETIME 0 to release the allocation at once.
 *
 * The socket is connect()ed so an ICMP port-unreachable comes back as ECONNREFUSED instead of a
 * silent timeout. Requests are retransmitted at 0, 500, 1500, 3500 ms … (RFC 5389 RTO 500 ms,
 * doubling) until the total timeout, which covers DNS too.
 *
 * The STUN encoding is in ./stun.ts, our own: see there for why not a library.
 *
 * Loopback, link-local and metadata addresses are not probed unless allow-listed: the probe
 * throws ProbeAddressRefused before sending anything (./probe-guard.ts).
 */
import dgram from 'node:dgram';
import { promises as dnsPromises } from 'node:dns';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { proxyHostPort, turnCredentials } from './turn-credentials.js';
import { ProbeAddressRefused, probeRefusal } from './probe-guard.js';
import {
  StunAttr,
  StunMethod,
  TRANSPORT_UDP,
  checkFingerprint,
  checkMessageIntegrity,
  decodeErrorCode,
  decodeStun,
  decodeXorAddress,
  encodeStun,
  formatTransportAddress,
  getAttribute,
  longTermKey,
  newTransactionId,
  u32,
  type DecodedStunMessage,
  type StunAttribute,
} from './stun.js';

export type ProxyProbeStage = 'ok' | 'dns' | 'refused' | 'timeout' | 'credentials' | 'protocol';

export interface ProxyProbeResult {
  ok: boolean;
  /** What failed, or 'ok'. */
  stage: ProxyProbeStage;
  /** As given ("host" or "host:port"). */
  address: string;
  host: string;
  port: number;
  /** The IP the host resolved to and that was tried. */
  resolvedAddress: string | null;
  /** "ip:port" of the allocation on success (XOR-RELAYED-ADDRESS). */
  relayedAddress: string | null;
  /** One English sentence for the config page. */
  message: string;
  durationMs: number;
}

/** The subset of dns.promises.lookup the probe uses. */
export type ProbeLookup = (hostname: string) => Promise<{ address: string; family: number }>;

export interface ProbeTurnProxyOptions {
  /** "host", "host:port", "[v6]:port"; port 3478 by default. */
  address: string;
  /** The call app's shared secret (coturn's static-auth-secret). */
  secret: string;
  /** CIDRs probed although loopback/link-local (the proxyProbeAllowNetworks setting). */
  allowNetworks: readonly string[];
  /** Username suffix of the TURN REST credential; 'parley-probe' by default. */
  uid?: string;
  /** Total time for DNS and all exchanges; 3000 ms by default. */
  timeoutMs?: number;
  /** Lifetime of the probe's credential; 60 s by default. */
  ttlSeconds?: number;
  /** Clock for the credential's expiry (epoch ms); Date.now by default. Timeouts use real time. */
  now?: () => number;
  /** Host name resolution; dns.promises.lookup by default. Not called for IP literals. */
  lookup?: ProbeLookup;
}

/** Retransmission times of one request, relative to its first sending (RFC 5389 §7.2.1). */
const RETRANSMIT_AT_MS = [0, 500, 1500, 3500, 7500, 15500, 31500];
/** How long to wait for the answer to the releasing Refresh before closing the socket. */
const RELEASE_WAIT_MS = 250;

class ProbeFailure extends Error {
  constructor(
    readonly stage: Exclude<ProxyProbeStage, 'ok'>,
    message: string,
  ) {
    super(message);
  }
}

const defaultLookup: ProbeLookup = (hostname) => dnsPromises.lookup(hostname);

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown };
  return typeof e?.code === 'string' ? e.code : err instanceof Error ? err.message : String(err);
}

/** Waits for a promise until a deadline (performance.now() ms); resolves to 'timeout' after it. */
async function beforeDeadline<T>(promise: Promise<T>, deadline: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - performance.now()));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type SocketEvent =
  { kind: 'message'; data: Buffer } | { kind: 'error'; error: unknown } | { kind: 'timeout' };

/** A connected UDP socket read as a queue of events, so the exchange can be written as a loop. */
class UdpChannel {
  private readonly queue: SocketEvent[] = [];
  private waiter: ((event: SocketEvent) => void) | null = null;

  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (data) => this.push({ kind: 'message', data }));
    socket.on('error', (error) => this.push({ kind: 'error', error }));
  }

  static async open(ip: string, family: 4 | 6, port: number): Promise<UdpChannel> {
    const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    const channel = new UdpChannel(socket);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.connect(port, ip, (err?: Error) => (err ? reject(err) : resolve()));
      });
    } catch (err) {
      channel.close();
      throw err;
    }
    return channel;
  }

  private push(event: SocketEvent): void {
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = null;
      waiter(event);
    } else this.queue.push(event);
  }

  send(data: Buffer): void {
    this.socket.send(data, (err) => {
      if (err) this.push({ kind: 'error', error: err });
    });
  }

  /** The next event, or 'timeout' at the deadline (performance.now() ms). */
  next(deadline: number): Promise<SocketEvent> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          this.waiter = null;
          resolve({ kind: 'timeout' });
        },
        Math.max(0, deadline - performance.now()),
      );
      this.waiter = (event) => {
        clearTimeout(timer);
        resolve(event);
      };
    });
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

export async function probeTurnProxy(opts: ProbeTurnProxyOptions): Promise<ProxyProbeResult> {
  const started = performance.now();
  const timeoutMs = opts.timeoutMs ?? 3000;
  const deadline = started + timeoutMs;
  const address = opts.address;
  const { host, port } = proxyHostPort(address);
  let resolvedAddress: string | null = null;
  let relayedAddress: string | null = null;

  const result = (stage: ProxyProbeStage, message: string): ProxyProbeResult => ({
    ok: stage === 'ok',
    stage,
    address,
    host,
    port,
    resolvedAddress,
    relayedAddress,
    message,
    durationMs: Math.round(performance.now() - started),
  });

  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
    return result('dns', `"${address}" is not a valid proxy address (expected host or host:port)`);
  }

  // 1. Resolve.
  let family: 4 | 6;
  const literal = net.isIP(host);
  if (literal) {
    resolvedAddress = host;
    family = literal as 4 | 6;
  } else {
    try {
      const answer = await beforeDeadline((opts.lookup ?? defaultLookup)(host), deadline);
      if (answer === 'timeout')
        return result('dns', `${host} could not be resolved within ${seconds(timeoutMs)}`);
      resolvedAddress = answer.address;
      family = answer.family === 6 ? 6 : 4;
    } catch (err) {
      return result('dns', `${host} could not be resolved (${errorCode(err)})`);
    }
  }

  const refusal = probeRefusal(host, resolvedAddress, opts.allowNetworks);
  if (refusal) throw new ProbeAddressRefused(refusal);

  const ipPort = family === 6 ? `[${resolvedAddress}]:${port}` : `${resolvedAddress}:${port}`;
  const where = literal ? ipPort : `${host} (${ipPort})`;

  // 2. Socket and exchanges.
  let channel: UdpChannel;
  try {
    channel = await UdpChannel.open(resolvedAddress, family, port);
  } catch (err) {
    return result('refused', `could not open a UDP socket to ${where} (${errorCode(err)})`);
  }

  const socketFailure = (err: unknown): ProbeFailure => {
    const code = errorCode(err);
    if (code === 'ECONNREFUSED') {
      return new ProbeFailure(
        'refused',
        `${where} refused the connection (nothing listens on UDP port ${port}?)`,
      );
    }
    return new ProbeFailure('refused', `${where} could not be reached (${code})`);
  };

  let answered = 0;
  /** Sends a request and returns the matching response, retransmitting until the deadline. */
  const exchange = async (
    request: Buffer,
    transactionId: Buffer,
    until = deadline,
    schedule = RETRANSMIT_AT_MS,
  ): Promise<DecodedStunMessage> => {
    const firstSent = performance.now();
    let sent = 0;
    for (;;) {
      const now = performance.now();
      if (sent < schedule.length && firstSent + schedule[sent]! <= now) {
        channel.send(request);
        sent++;
        continue;
      }
      const nextSend = sent < schedule.length ? firstSent + schedule[sent]! : Infinity;
      if (now >= until) {
        throw new ProbeFailure(
          'timeout',
          answered === 0
            ? `no answer from ${where} within ${seconds(timeoutMs)}`
            : `${where} answered the first request but not the authenticated one within ${seconds(timeoutMs)}`,
        );
      }
      const event = await channel.next(Math.min(nextSend, until));
      if (event.kind === 'timeout') continue;
      if (event.kind === 'error') throw socketFailure(event.error);
      const message = decodeStun(event.data);
      if (!message) {
        throw new ProbeFailure(
          'protocol',
          `${where} answered with something that is not STUN (${event.data.length} bytes): is it a TURN server?`,
        );
      }
      // A late answer to an earlier transaction (or anything else): not ours, keep waiting.
      if (!message.transactionId.equals(transactionId)) continue;
      if (message.cls !== 'success' && message.cls !== 'error') continue;
      if (checkFingerprint(message) === 'invalid') {
        throw new ProbeFailure(
          'protocol',
          `${where} answered with a STUN message whose FINGERPRINT is wrong`,
        );
      }
      answered++;
      return message;
    }
  };

  const describeError = (message: DecodedStunMessage): string => {
    const e = decodeErrorCode(getAttribute(message, StunAttr.ErrorCode));
    return e ? `${e.code} ${e.reason || 'without reason phrase'}`.trim() : 'an error without ERROR-CODE';
  };

  const credentialsFailure = (message: DecodedStunMessage) =>
    new ProbeFailure(
      'credentials',
      `the proxy refused the credentials (${describeError(message)}): check that its static-auth-secret is the shared secret shown on the config page`,
    );

  const requestedTransport: StunAttribute = {
    type: StunAttr.RequestedTransport,
    value: Buffer.from([TRANSPORT_UDP, 0, 0, 0]),
  };

  try {
    // 3. Allocate without credentials: a TURN server with long-term credentials answers 401 with
    // the REALM and a NONCE to use.
    const firstId = newTransactionId();
    const first = await exchange(
      encodeStun(
        {
          method: StunMethod.Allocate,
          cls: 'request',
          transactionId: firstId,
          attributes: [requestedTransport],
        },
        { fingerprint: true },
      ),
      firstId,
    );

    let auth: { username: string; realm: string; key: Buffer; nonce: Buffer } | null = null;
    let allocation: DecodedStunMessage;

    if (first.cls === 'success') {
      // No authentication at all on the proxy: it works, but anyone can relay through it.
      allocation = first;
    } else {
      const firstError = decodeErrorCode(getAttribute(first, StunAttr.ErrorCode));
      if (firstError?.code !== 401) {
        throw new ProbeFailure(
          'protocol',
          `the proxy answered the Allocate request with ${describeError(first)}`,
        );
      }
      const realm = getAttribute(first, StunAttr.Realm);
      let nonce = getAttribute(first, StunAttr.Nonce);
      if (!realm || !nonce) {
        throw new ProbeFailure(
          'protocol',
          `the proxy answered 401 without the REALM and NONCE needed to authenticate`,
        );
      }

      // 4. Allocate with the TURN REST credential; one more try on a stale nonce (438).
      const creds = turnCredentials(
        opts.secret,
        opts.uid ?? 'parley-probe',
        opts.ttlSeconds ?? 60,
        (opts.now ?? Date.now)(),
      );
      const realmText = realm.toString('utf8');
      const key = longTermKey(creds.username, realmText, creds.credential);
      for (let attempt = 1; ; attempt++) {
        const id = newTransactionId();
        const request = encodeStun(
          {
            method: StunMethod.Allocate,
            cls: 'request',
            transactionId: id,
            attributes: [
              requestedTransport,
              { type: StunAttr.Username, value: Buffer.from(creds.username, 'utf8') },
              { type: StunAttr.Realm, value: realm },
              { type: StunAttr.Nonce, value: nonce },
            ],
          },
          { integrityKey: key, fingerprint: true },
        );
        const answer = await exchange(request, id);
        if (answer.cls === 'success') {
          allocation = answer;
          auth = { username: creds.username, realm: realmText, key, nonce };
          break;
        }
        const code = decodeErrorCode(getAttribute(answer, StunAttr.ErrorCode))?.code;
        if (code === 438 && attempt === 1) {
          nonce = getAttribute(answer, StunAttr.Nonce) ?? nonce;
          continue;
        }
        if (code === 401 || code === 438 || code === 441) throw credentialsFailure(answer);
        if (code === 437) {
          throw new ProbeFailure(
            'protocol',
            `the proxy answered the authenticated Allocate request with ${describeError(answer)}, which a new socket should never get`,
          );
        }
        throw new ProbeFailure(
          'protocol',
          `the proxy answered the authenticated Allocate request with ${describeError(answer)}`,
        );
      }

      if (checkMessageIntegrity(allocation, key) === 'invalid') {
        throw new ProbeFailure(
          'protocol',
          `the proxy's Allocate success response has a wrong MESSAGE-INTEGRITY (a different secret or realm on the way back?)`,
        );
      }
    }

    // 5. The relayed address.
    const relayedValue = getAttribute(allocation, StunAttr.XorRelayedAddress);
    const relayed = relayedValue ? decodeXorAddress(relayedValue, allocation.transactionId) : null;
    if (!relayed) {
      throw new ProbeFailure(
        'protocol',
        `the proxy accepted the Allocate request but its answer has no valid XOR-RELAYED-ADDRESS`,
      );
    }
    relayedAddress = formatTransportAddress(relayed);

    // 6. Release the allocation (Refresh with LIFETIME 0); a short wait, the answer does not matter.
    const releaseId = newTransactionId();
    const attributes: StunAttribute[] = [{ type: StunAttr.Lifetime, value: u32(0) }];
    if (auth) {
      attributes.push(
        { type: StunAttr.Username, value: Buffer.from(auth.username, 'utf8') },
        { type: StunAttr.Realm, value: Buffer.from(auth.realm, 'utf8') },
        { type: StunAttr.Nonce, value: auth.nonce },
      );
    }
    const release = encodeStun(
      { method: StunMethod.Refresh, cls: 'request', transactionId: releaseId, attributes },
      { integrityKey: auth?.key, fingerprint: true },
    );
    await exchange(release, releaseId, Math.min(deadline, performance.now() + RELEASE_WAIT_MS), [0]).catch(
      () => undefined,
    );

    return result(
      'ok',
      auth
        ? `TURN allocation succeeded: relayed address ${relayedAddress}`
        : `TURN allocation succeeded without credentials (the proxy does not check them): relayed address ${relayedAddress}`,
    );
  } catch (err) {
    if (err instanceof ProbeFailure) return result(err.stage, err.message);
    return result(
      'protocol',
      `the probe failed unexpectedly: ${err instanceof Error ? err.message : String(err)}`,
    );
  } finally {
    channel.close();
  }
}
