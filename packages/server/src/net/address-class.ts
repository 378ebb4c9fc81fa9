/**
 * What kind of IP address an address is: the special-purpose ranges (RFC 6890 and the cloud
 * metadata services) and CIDR matching, shared by the guards that keep outbound traffic away
 * from places it must not reach ("Test proxy" in proxy/probe-guard.ts, callbacks in
 * callbacks/outbound-guard.ts). Which ranges a guard refuses, and what it says, is its own.
 *
 * Matching uses node's BlockList, which also matches an IPv4-mapped IPv6 address
 * (::ffff:127.0.0.1) against the IPv4 ranges.
 */
import { BlockList, isIP } from 'node:net';

export type IpFamily = 'ipv4' | 'ipv6';

/** A network and its prefix length, e.g. ['10.0.0.0', 8]. */
export type Subnet = readonly [network: string, prefix: number];

/** The special-purpose ranges the guards know by name. */
export const ranges = {
  thisNetworkV4: ['0.0.0.0', 8],
  private10V4: ['10.0.0.0', 8],
  carrierGradeNatV4: ['100.64.0.0', 10],
  alibabaMetadataV4: ['100.100.100.200', 32],
  loopbackV4: ['127.0.0.0', 8],
  /** Where cloud metadata services answer (169.254.169.254). */
  linkLocalV4: ['169.254.0.0', 16],
  private172V4: ['172.16.0.0', 12],
  protocolAssignmentsV4: ['192.0.0.0', 24],
  /** Documentation (TEST-NET-1, -2 and -3). */
  testNet1V4: ['192.0.2.0', 24],
  private192V4: ['192.168.0.0', 16],
  benchmarkingV4: ['198.18.0.0', 15],
  testNet2V4: ['198.51.100.0', 24],
  testNet3V4: ['203.0.113.0', 24],
  multicastV4: ['224.0.0.0', 4],
  /** Reserved, and the broadcast address. */
  reservedV4: ['240.0.0.0', 4],
  unspecifiedV6: ['::', 128],
  loopbackV6: ['::1', 128],
  /** IPv4-compatible (deprecated), including :: (unspecified) and ::1 (loopback). */
  ipv4CompatibleV6: ['::', 96],
  /** NAT64, which embeds an IPv4 address. */
  nat64V6: ['64:ff9b::', 96],
  discardV6: ['100::', 64],
  documentationV6: ['2001:db8::', 32],
  /** Unique local, including the AWS metadata address fd00:ec2::254. */
  uniqueLocalV6: ['fc00::', 7],
  awsMetadataV6: ['fd00:ec2::254', 128],
  linkLocalV6: ['fe80::', 10],
  multicastV6: ['ff00::', 8],
} as const satisfies Record<string, Subnet>;

/** Host names of cloud metadata services (they resolve to link-local addresses, or are meant to). */
const metadataHostNames: ReadonlySet<string> = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.tencentyun.com',
]);

/** True when `host` names a cloud metadata service, in any case and with or without the root dot. */
export function isMetadataHostName(host: string): boolean {
  return metadataHostNames.has(host.toLowerCase().replace(/\.$/, ''));
}

/** The family BlockList wants for `address`; anything that is not IPv6 is treated as IPv4. */
export function ipFamily(address: string): IpFamily {
  return isIP(address) === 6 ? 'ipv6' : 'ipv4';
}

/** Adds subnets to `list`, each in the family of its network address. */
export function addSubnets(list: BlockList, subnets: readonly Subnet[]): BlockList {
  for (const [network, prefix] of subnets) list.addSubnet(network, prefix, ipFamily(network));
  return list;
}

/** A BlockList matching the given subnets. */
export function subnetList(subnets: readonly Subnet[]): BlockList {
  return addSubnets(new BlockList(), subnets);
}

/**
 * A BlockList matching an operator's allow-list: CIDRs such as 10.1.0.0/16, or single addresses
 * (a whole /32 or /128). The entries are validated when the configuration is loaded.
 */
export function cidrBlockList(cidrs: readonly string[]): BlockList {
  return subnetList(
    cidrs.map((cidr) => {
      const [network, prefix] = cidr.split('/') as [string, string | undefined];
      return [network, Number(prefix ?? (ipFamily(network) === 'ipv6' ? 128 : 32))];
    }),
  );
}

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
export function embeddedIpv4(address: string): string | null {
  const g = ipv6Groups(address);
  if (!g) return null;
  const quad = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return quad(g[6] as number, g[7] as number);
  if (g[0] === 0x2002) return quad(g[1] as number, g[2] as number);
  return null;
}
