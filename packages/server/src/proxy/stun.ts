/**
 * The small part of the STUN wire format (RFC 5389 / RFC 8489) and its TURN extension (RFC 5766)
 * that the proxy probe needs: a 20-byte header, TLV attributes padded to 4 bytes, long-term
 * credential MESSAGE-INTEGRITY (HMAC-SHA1 keyed with MD5(username:realm:password)) and
 * FINGERPRINT (CRC-32 XOR 0x5354554e), and the XOR-obfuscated transport addresses.
 *
 * Our own rather than a library's: the probe needs under 200 lines of encoding (the rest is
 * comments and helpers for tests), all checked by the unit tests and against a real coturn. A
 * dependency would cost more than that gives: the STUN/TURN packages on npm are mostly
 * unmaintained, or bring a whole client (sockets, retransmission, ICE) that the probe would have
 * to work around to report *which* step failed, and each is one more supply-chain risk in a
 * server that holds call apps' secrets.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const MAGIC_COOKIE = 0x2112a442;
const HEADER_LENGTH = 20;
const FINGERPRINT_XOR = 0x5354554e;

export const StunMethod = {
  Binding: 0x001,
  Allocate: 0x003,
  Refresh: 0x004,
} as const;

export type StunClass = 'request' | 'indication' | 'success' | 'error';

export const StunAttr = {
  MappedAddress: 0x0001,
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  Lifetime: 0x000d,
  XorPeerAddress: 0x0012,
  Realm: 0x0014,
  Nonce: 0x0015,
  XorRelayedAddress: 0x0016,
  RequestedTransport: 0x0019,
  XorMappedAddress: 0x0020,
  Software: 0x8022,
  Fingerprint: 0x8028,
} as const;

/** Protocol number for REQUESTED-TRANSPORT: UDP (RFC 5766 §14.7). */
export const TRANSPORT_UDP = 17;

export interface StunAttribute {
  type: number;
  value: Buffer;
}

export interface StunMessage {
  method: number;
  cls: StunClass;
  /** 12 bytes. */
  transactionId: Buffer;
  attributes: StunAttribute[];
}

/** A parsed message plus where each attribute starts in the raw bytes (for integrity checks). */
export interface DecodedStunMessage extends StunMessage {
  raw: Buffer;
  /** Byte offset (in raw) of each attribute's 4-byte header, same order as attributes. */
  offsets: number[];
}

const CLASS_BITS: Record<StunClass, number> = {
  request: 0x0000,
  indication: 0x0010,
  success: 0x0100,
  error: 0x0110,
};

/** The 14-bit message type: the method's bits M0-M11 with the class bits C0 (bit 4) and C1 (bit 8) interleaved. */
export function messageType(method: number, cls: StunClass): number {
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | CLASS_BITS[cls];
}

function splitMessageType(type: number): { method: number; cls: StunClass } {
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const c = type & 0x0110;
  const cls: StunClass =
    c === 0x0000 ? 'request' : c === 0x0010 ? 'indication' : c === 0x0100 ? 'success' : 'error';
  return { method, cls };
}

export function newTransactionId(): Buffer {
  return randomBytes(12);
}

// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as FINGERPRINT requires.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The long-term credential key (RFC 5389 §15.4): MD5(username ":" realm ":" password). */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest();
}

function padded(length: number): number {
  return (length + 3) & ~3;
}

function attributeBytes(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(4 + padded(value.length));
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(value.length, 2);
  value.copy(out, 4);
  return out;
}

/**
 * Encodes a message. With integrityKey, appends MESSAGE-INTEGRITY (HMAC-SHA1 over everything
 * before it, the header length already counting the MESSAGE-INTEGRITY attribute); with
 * fingerprint, appends FINGERPRINT last. Attributes given must not include either.
 */
export function encodeStun(
  message: StunMessage,
  options: { integrityKey?: Buffer; fingerprint?: boolean } = {},
): Buffer {
  if (message.transactionId.length !== 12) throw new Error('a STUN transaction ID has 12 bytes');
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt16BE(messageType(message.method, message.cls), 0);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  message.transactionId.copy(header, 8);
  let body = Buffer.concat(message.attributes.map((a) => attributeBytes(a.type, a.value)));

  if (options.integrityKey) {
    header.writeUInt16BE(body.length + 24, 2); // length as if MESSAGE-INTEGRITY were the last attribute
    const hmac = createHmac('sha1', options.integrityKey).update(header).update(body).digest();
    body = Buffer.concat([body, attributeBytes(StunAttr.MessageIntegrity, hmac)]);
  }
  if (options.fingerprint) {
    header.writeUInt16BE(body.length + 8, 2);
    const crc = (crc32(Buffer.concat([header, body])) ^ FINGERPRINT_XOR) >>> 0;
    const value = Buffer.alloc(4);
    value.writeUInt32BE(crc, 0);
    body = Buffer.concat([body, attributeBytes(StunAttr.Fingerprint, value)]);
  }
  header.writeUInt16BE(body.length, 2);
  return Buffer.concat([header, body]);
}

/**
 * Parses a datagram as STUN, or returns null when it is not one: too short, the top two bits set,
 * wrong magic cookie, a length that is not a multiple of 4 or does not match the datagram, or an
 * attribute running past the end.
 */
export function decodeStun(raw: Buffer): DecodedStunMessage | null {
  if (raw.length < HEADER_LENGTH) return null;
  const type = raw.readUInt16BE(0);
  const length = raw.readUInt16BE(2);
  if (type & 0xc000) return null;
  if (raw.readUInt32BE(4) !== MAGIC_COOKIE) return null;
  if (length % 4 !== 0 || HEADER_LENGTH + length !== raw.length) return null;
  const attributes: StunAttribute[] = [];
  const offsets: number[] = [];
  let at = HEADER_LENGTH;
  while (at < raw.length) {
    if (at + 4 > raw.length) return null;
    const attrType = raw.readUInt16BE(at);
    const attrLength = raw.readUInt16BE(at + 2);
    if (at + 4 + attrLength > raw.length) return null;
    offsets.push(at);
    attributes.push({ type: attrType, value: raw.subarray(at + 4, at + 4 + attrLength) });
    at += 4 + padded(attrLength);
  }
  if (at !== raw.length) return null;
  return {
    ...splitMessageType(type),
    transactionId: Buffer.from(raw.subarray(8, 20)),
    attributes,
    raw,
    offsets,
  };
}

export function getAttribute(message: StunMessage, type: number): Buffer | undefined {
  return message.attributes.find((a) => a.type === type)?.value;
}

/**
 * Checks MESSAGE-INTEGRITY: 'absent', 'valid' or 'invalid'. The HMAC covers the bytes before the
 * attribute with the header length rewritten to end just after it (RFC 5389 §15.4), so
 * attributes following it (FINGERPRINT) are not covered.
 */
export function checkMessageIntegrity(
  message: DecodedStunMessage,
  key: Buffer,
): 'absent' | 'valid' | 'invalid' {
  const index = message.attributes.findIndex((a) => a.type === StunAttr.MessageIntegrity);
  if (index < 0) return 'absent';
  const offset = message.offsets[index]!;
  const received = message.attributes[index]!.value;
  if (received.length !== 20) return 'invalid';
  const header = Buffer.from(message.raw.subarray(0, HEADER_LENGTH));
  header.writeUInt16BE(offset + 24 - HEADER_LENGTH, 2);
  const expected = createHmac('sha1', key)
    .update(header)
    .update(message.raw.subarray(HEADER_LENGTH, offset))
    .digest();
  return timingSafeEqual(expected, received) ? 'valid' : 'invalid';
}

/** Checks FINGERPRINT, which must be the last attribute: 'absent', 'valid' or 'invalid'. */
export function checkFingerprint(message: DecodedStunMessage): 'absent' | 'valid' | 'invalid' {
  const index = message.attributes.findIndex((a) => a.type === StunAttr.Fingerprint);
  if (index < 0) return 'absent';
  const value = message.attributes[index]!.value;
  if (index !== message.attributes.length - 1 || value.length !== 4) return 'invalid';
  const offset = message.offsets[index]!;
  const expected = (crc32(message.raw.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0;
  return value.readUInt32BE(0) === expected ? 'valid' : 'invalid';
}

export interface TransportAddress {
  family: 4 | 6;
  address: string;
  port: number;
}

/** "ip:port", with brackets around an IPv6 address. */
export function formatTransportAddress(a: TransportAddress): string {
  return a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function ipv6String(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // Compress the longest run of two or more zero groups (RFC 5952).
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  const head = groups.slice(0, bestStart).join(':');
  const tail = groups.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}

/** Decodes an XOR-MAPPED-ADDRESS style value (XOR-RELAYED-ADDRESS, XOR-PEER-ADDRESS); null when malformed. */
export function decodeXorAddress(value: Buffer, transactionId: Buffer): TransportAddress | null {
  if (value.length < 4) return null;
  const family = value[1];
  const port = value.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16);
  if (family === 0x01 && value.length === 8) {
    const ip = (value.readUInt32BE(4) ^ MAGIC_COOKIE) >>> 0;
    return {
      family: 4,
      address: [ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff].join('.'),
      port,
    };
  }
  if (family === 0x02 && value.length === 20) {
    const mask = Buffer.concat([u32(MAGIC_COOKIE), transactionId]);
    const bytes = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) bytes[i] = value[4 + i]! ^ mask[i]!;
    return { family: 6, address: ipv6String(bytes), port };
  }
  return null;
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  const part = (s: string) => (s ? s.split(':') : []);
  const groups =
    tail === undefined
      ? part(head)
      : [...part(head), ...Array<string>(8 - part(head).length - part(tail).length).fill('0'), ...part(tail)];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) {
    throw new Error(`not an IPv6 address: ${address}`);
  }
  const bytes = Buffer.alloc(16);
  groups.forEach((g, i) => bytes.writeUInt16BE(parseInt(g, 16), i * 2));
  return bytes;
}

/** Encodes an XOR address value (the inverse of decodeXorAddress); used by tests and fake servers. */
export function encodeXorAddress(a: TransportAddress, transactionId: Buffer): Buffer {
  const value = Buffer.alloc(a.family === 4 ? 8 : 20);
  value[1] = a.family === 4 ? 0x01 : 0x02;
  value.writeUInt16BE(a.port ^ (MAGIC_COOKIE >>> 16), 2);
  if (a.family === 4) {
    const ip = a.address.split('.').reduce((acc, part) => ((acc << 8) | Number(part)) >>> 0, 0);
    value.writeUInt32BE((ip ^ MAGIC_COOKIE) >>> 0, 4);
    return value;
  }
  const mask = Buffer.concat([u32(MAGIC_COOKIE), transactionId]);
  const bytes = ipv6Bytes(a.address);
  for (let i = 0; i < 16; i++) value[4 + i] = bytes[i]! ^ mask[i]!;
  return value;
}

/** ERROR-CODE (RFC 5389 §15.6): class * 100 + number, and the reason phrase. */
export function decodeErrorCode(value: Buffer | undefined): { code: number; reason: string } | null {
  if (!value || value.length < 4) return null;
  const code = (value[2]! & 0x07) * 100 + value[3]!;
  return { code, reason: value.subarray(4).toString('utf8').trim() };
}

export function encodeErrorCode(code: number, reason: string): Buffer {
  const phrase = Buffer.from(reason, 'utf8');
  const value = Buffer.alloc(4 + phrase.length);
  value[2] = Math.floor(code / 100);
  value[3] = code % 100;
  phrase.copy(value, 4);
  return value;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}
