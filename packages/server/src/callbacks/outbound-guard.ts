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
  ['::', 128], // unspecified
  ['::1', 128], // loopback
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
    let ip = address;
    let family: 'ipv4' | 'ipv6' = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    // An IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
    if (mapped) {
      ip = mapped[1] as string;
      family = 'ipv4';
    }
    if (allowed.check(ip, family)) return true;
    return !blocked.check(ip, family);
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
            new OutboundBlockedError(`${hostname} resolves only to blocked addresses (${shown})`),
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
