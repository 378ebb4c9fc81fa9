/**
 * Keeps callback requests away from loopback, private, link-local, metadata and other
 * special addresses unless the operator allow-lists them. The address checked is the one
 * connected to: names are resolved here and the socket connects to the checked address,
 * so a DNS answer that changes between check and connect (rebinding) cannot slip through.
 */
import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';

const blocked = new BlockList();
const v4: [string, number][] = [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, including cloud metadata 169.254.169.254
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
];
for (const [net, prefix] of v4) blocked.addSubnet(net, prefix, 'ipv4');
const v6: [string, number][] = [
  ['::', 96], // IPv4-compatible (deprecated), including :: (unspecified) and ::1 (loopback)
  ['64:ff9b::', 96], // NAT64 (embeds IPv4)
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local, including fd00:ec2::254 metadata
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
];
for (const [net, prefix] of v6) blocked.addSubnet(net, prefix, 'ipv6');

export interface OutboundPolicy {
  /** CIDRs the operator allows even though they are special (e.g. 10.1.0.0/16 for an internal receiver). */
  allow: readonly string[];
  /** Development mode: allow loopback (127.0.0.0/8, ::1). */
  allowLoopback: boolean;
}

export class OutboundBlockedError extends Error {
  override name = 'OutboundBlockedError';
}

/** What the operator changes to allow a blocked address, for refusal messages. */
export const allowHint =
  'allow it with the callbackAllowNetworks setting (or callbackAllowLoopback for a receiver on this machine)';

/** The 8 groups of an IPv6 address, or null when it is not one. */
function ipv6Groups(address: string): number[] | null {
  let text = address.toLowerCase();
  // A trailing dotted quad (::ffff:1.2.3.4, ::1.2.3.4) is two groups.
  const quad = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(2).map(Number) as [number, number, number, number];
    text = `${quad[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const head = parse(halves[0]);
  const tail = parse(halves[1]);
  const groups =
    halves.length === 2 ? [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail] : head;
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff)
    ? groups
    : null;
}

/**
 * The IPv4 address an IPv6 address stands for, when it embeds one that the network would
 * reach: IPv4-mapped ::ffff:a.b.c.d, and 6to4 2002:aabb:ccdd::/48 (relayed to a.b.c.d).
 */
function embeddedIpv4(address: string): string | null {
  const g = ipv6Groups(address);
  if (!g) return null;
  const quad = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return quad(g[6] as number, g[7] as number);
  if (g[0] === 0x2002) return quad(g[1] as number, g[2] as number);
  return null;
}

export function compilePolicy(policy: OutboundPolicy): (address: string) => boolean {
  const allowed = new BlockList();
  for (const cidr of policy.allow) {
    const [net, prefix] = cidr.split('/') as [string, string | undefined];
    const family = isIP(net) === 6 ? 'ipv6' : 'ipv4';
    allowed.addSubnet(net, Number(prefix ?? (family === 'ipv6' ? 128 : 32)), family);
  }
  if (policy.allowLoopback) {
    allowed.addSubnet('127.0.0.0', 8, 'ipv4');
    allowed.addAddress('::1', 'ipv6');
  }
  /** True when a connection to `address` is permitted. */
  return (address: string): boolean => {
    const family: 'ipv4' | 'ipv6' = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (allowed.check(address, family)) return true;
    if (blocked.check(address, family)) return false;
    // An IPv4-mapped or 6to4 address is judged also as the IPv4 address it carries.
    const v4inside = family === 'ipv6' ? embeddedIpv4(address) : null;
    if (v4inside !== null) return allowed.check(v4inside, 'ipv4') || !blocked.check(v4inside, 'ipv4');
    return true;
  };
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** A `lookup` for net/tls.connect that only ever yields permitted addresses. */
export function guardedLookup(permitted: (address: string) => boolean) {
  return (hostname: string, options: { all?: boolean; family?: number }, callback: LookupCallback): void => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses) => {
      if (err) return callback(err, []);
      const ok = addresses.filter((a) => permitted(a.address));
      if (ok.length === 0) {
        const shown = addresses.map((a) => a.address).join(', ');
        return callback(
          Object.assign(
            new OutboundBlockedError(
              `${hostname} resolves only to blocked addresses (${shown}); ${allowHint}`,
            ),
            { code: 'EBLOCKED' },
          ),
          [],
        );
      }
      if (options.all) return callback(null, ok);
      const first = ok[0] as LookupAddress;
      return callback(null, first.address, first.family);
    });
  };
}
