import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { probeTurnProxy, type ProxyProbeResult } from '../src/proxy/turn-probe.js';
import { ProbeAddressRefused, probeRefusal } from '../src/proxy/probe-guard.js';
import { proxyHostPort } from '../src/proxy/turn-credentials.js';
import {
  StunAttr,
  StunMethod,
  checkFingerprint,
  checkMessageIntegrity,
  crc32,
  decodeErrorCode,
  decodeStun,
  decodeXorAddress,
  encodeErrorCode,
  encodeStun,
  encodeXorAddress,
  getAttribute,
  longTermKey,
  messageType,
  newTransactionId,
  type DecodedStunMessage,
} from '../src/proxy/stun.js';
import { startCoturn, type Coturn } from './coturn.js';

const SECRET = 'probe-test-secret';
/** The probe refuses loopback unless allow-listed (proxyProbeAllowNetworks); these tests probe it. */
const loopback = ['127.0.0.0/8'];

/** The result plus coturn's log, for assertion messages. */
function explain(result: ProxyProbeResult, turn?: Coturn): string {
  return `${JSON.stringify(result, null, 2)}${turn ? `\n--- coturn log:\n${turn.logTail(20)}` : ''}`;
}

/** A UDP socket on 127.0.0.1 that hands each datagram to `answer` (which may reply or not). */
async function fakeServer(
  answer: (data: Buffer, reply: (b: Buffer) => void) => void,
): Promise<{ port: number; received: Buffer[]; close(): void }> {
  const socket = dgram.createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (data, rinfo) => {
    received.push(data);
    answer(data, (b) => socket.send(b, rinfo.port, rinfo.address));
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, received, close: () => socket.close() };
}

/** A UDP port on 127.0.0.1 with nothing bound to it (bound, then released). */
async function unusedUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

function stunError(request: DecodedStunMessage, code: number, reason: string, extra: Buffer[] = []): Buffer {
  return encodeStun({
    method: request.method,
    cls: 'error',
    transactionId: request.transactionId,
    attributes: [
      { type: StunAttr.ErrorCode, value: encodeErrorCode(code, reason) },
      ...extra.map((value, i) => ({ type: i === 0 ? StunAttr.Realm : StunAttr.Nonce, value })),
    ],
  });
}

describe('STUN encoding', () => {
  it('puts the class bits between the method bits', () => {
    assert.equal(messageType(StunMethod.Binding, 'request'), 0x0001);
    assert.equal(messageType(StunMethod.Binding, 'success'), 0x0101);
    assert.equal(messageType(StunMethod.Allocate, 'request'), 0x0003);
    assert.equal(messageType(StunMethod.Allocate, 'success'), 0x0103);
    assert.equal(messageType(StunMethod.Allocate, 'error'), 0x0113);
    assert.equal(messageType(StunMethod.Refresh, 'request'), 0x0004);
    assert.equal(messageType(0x0fff, 'indication'), 0x3eff);
    const decoded = decodeStun(
      encodeStun({ method: 0x0abc, cls: 'error', transactionId: newTransactionId(), attributes: [] }),
    );
    assert.equal(decoded?.method, 0x0abc);
    assert.equal(decoded?.cls, 'error');
  });

  it('computes the standard CRC-32', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  });

  it('writes a FINGERPRINT and MESSAGE-INTEGRITY that verify, and a flipped byte fails both', () => {
    const key = longTermKey('1700000000:alice', 'parley.test', 'c2VjcmV0');
    const transactionId = newTransactionId();
    const raw = encodeStun(
      {
        method: StunMethod.Allocate,
        cls: 'request',
        transactionId,
        attributes: [
          { type: StunAttr.RequestedTransport, value: Buffer.from([17, 0, 0, 0]) },
          { type: StunAttr.Username, value: Buffer.from('1700000000:alice') }, // 16 bytes
          { type: StunAttr.Realm, value: Buffer.from('parley.test') }, // 11 bytes: padded
          { type: StunAttr.Nonce, value: Buffer.from('abcdef') },
        ],
      },
      { integrityKey: key, fingerprint: true },
    );
    assert.equal(raw.length % 4, 0);
    assert.equal(raw.readUInt16BE(2), raw.length - 20);
    const message = decodeStun(raw);
    assert.ok(message);
    assert.deepEqual(
      message.attributes.map((a) => a.type),
      [
        StunAttr.RequestedTransport,
        StunAttr.Username,
        StunAttr.Realm,
        StunAttr.Nonce,
        StunAttr.MessageIntegrity,
        StunAttr.Fingerprint,
      ],
    );
    assert.equal(getAttribute(message, StunAttr.Realm)?.toString(), 'parley.test');
    assert.ok(message.transactionId.equals(transactionId));
    // FINGERPRINT by its definition, computed independently here.
    const fp = getAttribute(message, StunAttr.Fingerprint)!.readUInt32BE(0);
    assert.equal(fp, (crc32(raw.subarray(0, raw.length - 8)) ^ 0x5354554e) >>> 0);
    assert.equal(checkFingerprint(message), 'valid');
    assert.equal(checkMessageIntegrity(message, key), 'valid');
    assert.equal(
      checkMessageIntegrity(message, longTermKey('1700000000:alice', 'parley.test', 'wrong')),
      'invalid',
    );

    const flipped = Buffer.from(raw);
    flipped[34] = flipped[34]! ^ 0x01; // inside the USERNAME value (its header is at 28)
    const tampered = decodeStun(flipped);
    assert.ok(tampered);
    assert.equal(checkFingerprint(tampered), 'invalid');
    assert.equal(checkMessageIntegrity(tampered, key), 'invalid');

    const noExtras = decodeStun(
      encodeStun({ method: StunMethod.Binding, cls: 'request', transactionId, attributes: [] }),
    );
    assert.ok(noExtras);
    assert.equal(checkFingerprint(noExtras), 'absent');
    assert.equal(checkMessageIntegrity(noExtras, key), 'absent');
  });

  it('rejects what is not STUN', () => {
    const good = encodeStun({
      method: StunMethod.Binding,
      cls: 'request',
      transactionId: newTransactionId(),
      attributes: [],
    });
    assert.ok(decodeStun(good));
    assert.equal(decodeStun(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')), null);
    assert.equal(decodeStun(good.subarray(0, 19)), null);
    const badCookie = Buffer.from(good);
    badCookie[4] = 0;
    assert.equal(decodeStun(badCookie), null);
    const longer = Buffer.concat([good, Buffer.alloc(4)]); // length field says 0
    assert.equal(decodeStun(longer), null);
    const overrun = Buffer.concat([good, Buffer.from([0x80, 0x22, 0x00, 0x10])]);
    overrun.writeUInt16BE(4, 2); // attribute claims 16 bytes, has 0
    assert.equal(decodeStun(overrun), null);
  });

  it('decodes XOR addresses (IPv4 round trip, IPv6 by hand) and ERROR-CODE', () => {
    const transactionId = newTransactionId();
    const v4 = { family: 4 as const, address: '203.0.113.5', port: 49152 };
    assert.deepEqual(decodeXorAddress(encodeXorAddress(v4, transactionId), transactionId), v4);

    const ip = Buffer.from('20010db8000000000000000000000001', 'hex');
    const mask = Buffer.concat([Buffer.from('2112a442', 'hex'), transactionId]);
    const value = Buffer.alloc(20);
    value[1] = 0x02;
    value.writeUInt16BE(3478 ^ 0x2112, 2);
    for (let i = 0; i < 16; i++) value[4 + i] = ip[i]! ^ mask[i]!;
    assert.deepEqual(decodeXorAddress(value, transactionId), {
      family: 6,
      address: '2001:db8::1',
      port: 3478,
    });
    for (const address of ['2001:db8::1', '::1', 'fe80::1:2:3', '2001:db8:1:2:3:4:5:6', '::']) {
      const a = { family: 6 as const, address, port: 50000 };
      assert.deepEqual(decodeXorAddress(encodeXorAddress(a, transactionId), transactionId), a);
    }
    assert.equal(decodeXorAddress(Buffer.alloc(3), transactionId), null);

    assert.deepEqual(decodeErrorCode(encodeErrorCode(438, 'Stale Nonce')), {
      code: 438,
      reason: 'Stale Nonce',
    });
  });
});

describe('proxy addresses', () => {
  it('takes an explicit port, or 3478', () => {
    assert.deepEqual(proxyHostPort('turn.example.com:5349'), { host: 'turn.example.com', port: 5349 });
    assert.deepEqual(proxyHostPort('turn.example.com'), { host: 'turn.example.com', port: 3478 });
    assert.deepEqual(proxyHostPort('10.0.0.5'), { host: '10.0.0.5', port: 3478 });
    assert.deepEqual(proxyHostPort('[2001:db8::1]:3479'), { host: '2001:db8::1', port: 3479 });
  });
});

describe('probeTurnProxy against coturn', () => {
  let turn: Coturn;

  before(async () => {
    turn = await startCoturn({ secret: SECRET });
  });
  after(async () => {
    await turn?.stop();
  });

  it('allocates and releases with the right secret', async () => {
    const result = await probeTurnProxy({
      allowNetworks: loopback,
      address: turn.address,
      secret: SECRET,
    });
    assert.equal(result.stage, 'ok', explain(result, turn));
    assert.equal(result.ok, true);
    assert.equal(result.host, '127.0.0.1');
    assert.equal(result.port, turn.port);
    assert.equal(result.resolvedAddress, '127.0.0.1');
    const m = /^127\.0\.0\.1:(\d+)$/.exec(result.relayedAddress ?? '');
    assert.ok(m, explain(result, turn));
    const relayPort = Number(m[1]);
    assert.ok(relayPort >= turn.minPort && relayPort <= turn.maxPort, explain(result, turn));
    assert.equal(result.message, `TURN allocation succeeded: relayed address ${result.relayedAddress}`);
    assert.ok(result.durationMs < 1000, explain(result, turn));
    // The Refresh with LIFETIME 0 reached coturn and it let the allocation go.
    await waitFor(() =>
      /refreshed, [^\n]*username=<\d+:parley-probe>, lifetime=0\n/.test(readFileSync(turn.logFile, 'utf8')),
    );
  });

  it('reports refused credentials with a wrong secret', async () => {
    const result = await probeTurnProxy({
      allowNetworks: loopback,
      address: turn.address,
      secret: 'not-the-secret',
    });
    assert.equal(result.stage, 'credentials', explain(result, turn));
    assert.equal(result.ok, false);
    assert.match(result.message, /refused the credentials \(401 Unauthorized\)/);
    assert.match(result.message, /static-auth-secret/);
    assert.equal(result.relayedAddress, null);
  });

  it('a TURN credential past its lifetime is refused by coturn', async () => {
    const hourAgo = Date.now() - 3600_000;
    const result = await probeTurnProxy({
      allowNetworks: loopback,
      address: turn.address,
      secret: SECRET,
      ttlSeconds: 1,
      now: () => hourAgo,
    });
    assert.equal(result.stage, 'credentials', explain(result, turn));
    // The same credential, computed now, is accepted: it is the expiry that was refused.
    const fresh = await probeTurnProxy({
      allowNetworks: loopback,
      address: turn.address,
      secret: SECRET,
      ttlSeconds: 1,
    });
    assert.equal(fresh.stage, 'ok', explain(fresh, turn));
  });

  it('takes 3478 when the address has no port, and resolves host names', async () => {
    // The whole of 127/8 is loopback on Linux: a second coturn on 127.0.0.2:3478.
    let second: Coturn;
    try {
      second = await startCoturn({ secret: SECRET, listenIp: '127.0.0.2', port: 3478 });
    } catch (err) {
      assert.fail(`could not start coturn on 127.0.0.2:3478: ${(err as Error).message}`);
    }
    try {
      const lookups: string[] = [];
      const result = await probeTurnProxy({
        allowNetworks: loopback,
        address: 'turn.parley.test',
        secret: SECRET,
        lookup: async (hostname) => {
          lookups.push(hostname);
          return { address: '127.0.0.2', family: 4 };
        },
      });
      assert.equal(result.stage, 'ok', explain(result, second));
      assert.deepEqual(lookups, ['turn.parley.test']);
      assert.equal(result.host, 'turn.parley.test');
      assert.equal(result.port, 3478);
      assert.equal(result.resolvedAddress, '127.0.0.2');
      assert.match(result.relayedAddress ?? '', /^127\.0\.0\.2:\d+$/);
    } finally {
      await second.stop();
    }
  });
});

async function waitFor(predicate: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > until) assert.fail('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('probeTurnProxy failures', () => {
  it('reports a refused connection fast when nothing listens', async () => {
    const port = await unusedUdpPort();
    const result = await probeTurnProxy({
      allowNetworks: loopback,
      address: `127.0.0.1:${port}`,
      secret: SECRET,
      timeoutMs: 3000,
    });
    assert.equal(result.stage, 'refused', explain(result));
    assert.equal(
      result.message,
      `127.0.0.1:${port} refused the connection (nothing listens on UDP port ${port}?)`,
    );
    assert.ok(result.durationMs < 500, explain(result));
  });

  it('reports a name that does not resolve', async () => {
    const result = await probeTurnProxy({
      allowNetworks: loopback,
      address: 'nonexistent.invalid',
      secret: SECRET,
    });
    assert.equal(result.stage, 'dns', explain(result));
    assert.equal(result.resolvedAddress, null);
    assert.match(result.message, /^nonexistent\.invalid could not be resolved \((ENOTFOUND|EAI_AGAIN)\)$/);
  });

  it('gives DNS no more than the total timeout', async () => {
    const result = await probeTurnProxy({
      allowNetworks: loopback,
      address: 'slow.example',
      secret: SECRET,
      timeoutMs: 300,
      lookup: () => new Promise(() => {}),
    });
    assert.equal(result.stage, 'dns', explain(result));
    assert.ok(result.durationMs >= 290 && result.durationMs < 600, explain(result));
  });

  it('times out, retransmitting, when the other end never answers', async () => {
    const silent = await fakeServer(() => {});
    try {
      const result = await probeTurnProxy({
        allowNetworks: loopback,
        address: `127.0.0.1:${silent.port}`,
        secret: SECRET,
        timeoutMs: 1000,
      });
      assert.equal(result.stage, 'timeout', explain(result));
      assert.equal(result.message, `no answer from 127.0.0.1:${silent.port} within 1 s`);
      assert.ok(result.durationMs >= 990 && result.durationMs < 1300, explain(result));
      // Sent at 0 and 500 ms (next would be 1500): the same Allocate request twice.
      assert.equal(silent.received.length, 2);
      assert.ok(silent.received[0]!.equals(silent.received[1]!));
      assert.equal(decodeStun(silent.received[0]!)?.method, StunMethod.Allocate);
    } finally {
      silent.close();
    }
  });

  it('reports an answer that is not STUN', async () => {
    const garbage = await fakeServer((_data, reply) =>
      reply(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')),
    );
    try {
      const result = await probeTurnProxy({
        allowNetworks: loopback,
        address: `127.0.0.1:${garbage.port}`,
        secret: SECRET,
      });
      assert.equal(result.stage, 'protocol', explain(result));
      assert.match(result.message, /not STUN/);
    } finally {
      garbage.close();
    }
  });

  it('ignores answers with another transaction ID', async () => {
    const confused = await fakeServer((data, reply) => {
      const request = decodeStun(data)!;
      reply(stunError({ ...request, transactionId: newTransactionId() }, 401, 'Unauthorized'));
    });
    try {
      const result = await probeTurnProxy({
        allowNetworks: loopback,
        address: `127.0.0.1:${confused.port}`,
        secret: SECRET,
        timeoutMs: 700,
      });
      assert.equal(result.stage, 'timeout', explain(result));
    } finally {
      confused.close();
    }
  });

  it('reports other STUN errors with their code and reason', async () => {
    const server = await fakeServer((data, reply) =>
      reply(stunError(decodeStun(data)!, 508, 'Insufficient Capacity')),
    );
    try {
      const result = await probeTurnProxy({
        allowNetworks: loopback,
        address: `127.0.0.1:${server.port}`,
        secret: SECRET,
      });
      assert.equal(result.stage, 'protocol', explain(result));
      assert.match(result.message, /508 Insufficient Capacity/);
    } finally {
      server.close();
    }
  });

  /** A fake TURN server: 401 with realm and nonce to the first Allocate, then `second` (null: no answer) for the rest. */
  async function twoStepServer(second: (request: DecodedStunMessage) => Buffer | null) {
    let calls = 0;
    return fakeServer((data, reply) => {
      const request = decodeStun(data)!;
      calls++;
      if (calls === 1)
        reply(stunError(request, 401, 'Unauthorized', [Buffer.from('fake.test'), Buffer.from('n1')]));
      else {
        const answer = second(request);
        if (answer) reply(answer);
      }
    });
  }

  it('says which request went unanswered', async () => {
    const halfDeaf = await twoStepServer(() => null);
    try {
      const result = await probeTurnProxy({
        allowNetworks: loopback,
        address: `127.0.0.1:${halfDeaf.port}`,
        secret: SECRET,
        timeoutMs: 700,
      });
      assert.equal(result.stage, 'timeout', explain(result));
      assert.match(result.message, /answered the first request but not the authenticated one within 0\.7 s/);
    } finally {
      halfDeaf.close();
    }
  });

  it('treats 437 Allocation Mismatch as a protocol error and 441 as credentials', async () => {
    const mismatch = await twoStepServer((r) => stunError(r, 437, 'Allocation Mismatch'));
    const wrong = await twoStepServer((r) => stunError(r, 441, 'Wrong Credentials'));
    try {
      const a = await probeTurnProxy({
        allowNetworks: loopback,
        address: `127.0.0.1:${mismatch.port}`,
        secret: SECRET,
      });
      assert.equal(a.stage, 'protocol', explain(a));
      assert.match(a.message, /437 Allocation Mismatch/);
      const b = await probeTurnProxy({
        allowNetworks: loopback,
        address: `127.0.0.1:${wrong.port}`,
        secret: SECRET,
      });
      assert.equal(b.stage, 'credentials', explain(b));
      assert.match(b.message, /441 Wrong Credentials/);
    } finally {
      mismatch.close();
      wrong.close();
    }
  });

  it('retries once on a stale nonce, with the new nonce', async () => {
    const nonces: string[] = [];
    const stale = await twoStepServer((r) => {
      nonces.push(getAttribute(r, StunAttr.Nonce)!.toString());
      return stunError(r, 438, 'Stale Nonce', [
        Buffer.from('fake.test'),
        Buffer.from(`n${nonces.length + 1}`),
      ]);
    });
    try {
      const result = await probeTurnProxy({
        allowNetworks: loopback,
        address: `127.0.0.1:${stale.port}`,
        secret: SECRET,
      });
      assert.equal(result.stage, 'credentials', explain(result));
      assert.deepEqual(nonces, ['n1', 'n2']);
    } finally {
      stale.close();
    }
  });

  it('rejects a success response with a wrong MESSAGE-INTEGRITY', async () => {
    const forger = await twoStepServer((r) =>
      encodeStun(
        {
          method: r.method,
          cls: 'success',
          transactionId: r.transactionId,
          attributes: [
            {
              type: StunAttr.XorRelayedAddress,
              value: encodeXorAddress({ family: 4, address: '127.0.0.1', port: 50000 }, r.transactionId),
            },
          ],
        },
        { integrityKey: longTermKey('x', 'fake.test', 'not-the-key'), fingerprint: true },
      ),
    );
    try {
      const result = await probeTurnProxy({
        allowNetworks: loopback,
        address: `127.0.0.1:${forger.port}`,
        secret: SECRET,
      });
      assert.equal(result.stage, 'protocol', explain(result));
      assert.match(result.message, /MESSAGE-INTEGRITY/);
    } finally {
      forger.close();
    }
  });
});

describe('probe guard: what "Test proxy" sends to', () => {
  it('refuses loopback, unspecified, link-local and metadata addresses, naming the setting', () => {
    for (const address of [
      '127.0.0.1',
      '127.8.9.10',
      '0.0.0.0',
      '169.254.169.254',
      '169.254.0.23',
      '100.100.100.200',
      '::1',
      '::',
      'fe80::1',
      'febf::1',
      'fd00:ec2::254',
      '::ffff:127.0.0.1',
      '::ffff:a9fe:a9fe',
    ]) {
      const refusal = probeRefusal(address, address, []);
      assert.match(refusal ?? '', /proxyProbeAllowNetworks/, address);
      assert.ok(refusal?.startsWith(`${address} is `), refusal ?? address);
    }
    assert.match(probeRefusal('127.0.0.1', '127.0.0.1', []) ?? '', /is a loopback address/);
    assert.match(probeRefusal('169.254.169.254', '169.254.169.254', []) ?? '', /link-local/);
  });

  it('refuses metadata host names whatever they resolve to', () => {
    for (const host of [
      'metadata.google.internal',
      'METADATA.GOOGLE.INTERNAL.',
      'instance-data.ec2.internal',
    ]) {
      assert.match(probeRefusal(host, '203.0.113.9', []) ?? '', /cloud metadata service/, host);
    }
    assert.match(
      probeRefusal('turn.example.com', '169.254.169.254', []) ?? '',
      /^turn\.example\.com \(169\.254\.169\.254\) is a link-local address/,
    );
  });

  it('lets private and public addresses through: proxies live there', () => {
    for (const address of [
      '10.0.0.5',
      '172.16.0.1',
      '172.31.255.254',
      '192.168.1.10',
      'fc00::1',
      'fd12:3456::1',
      '203.0.113.9',
      '2001:db8::1',
      '100.64.0.1',
    ]) {
      assert.equal(probeRefusal(address, address, []), null, address);
    }
  });

  it('probes a refused address when proxyProbeAllowNetworks lists it', () => {
    assert.equal(probeRefusal('127.0.0.1', '127.0.0.1', ['127.0.0.0/8']), null);
    assert.equal(probeRefusal('::1', '::1', ['::1']), null);
    assert.equal(probeRefusal('169.254.10.1', '169.254.10.1', ['169.254.10.0/24']), null);
    assert.notEqual(probeRefusal('169.254.169.254', '169.254.169.254', ['169.254.10.0/24']), null);
  });

  it('sends nothing to a refused address, literal or resolved', async () => {
    const listener = await fakeServer(() => {});
    try {
      await assert.rejects(
        probeTurnProxy({ address: `127.0.0.1:${listener.port}`, secret: SECRET, allowNetworks: [] }),
        (err: unknown) => err instanceof ProbeAddressRefused && /loopback address/.test(err.message),
      );
      const lookups: string[] = [];
      await assert.rejects(
        probeTurnProxy({
          address: `metadata.google.internal:${listener.port}`,
          secret: SECRET,
          allowNetworks: [],
          lookup: async (hostname) => {
            lookups.push(hostname);
            return { address: '127.0.0.1', family: 4 };
          },
        }),
        ProbeAddressRefused,
      );
      assert.deepEqual(lookups, ['metadata.google.internal']);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(listener.received.length, 0, 'not one datagram');
    } finally {
      listener.close();
    }
  });
});
