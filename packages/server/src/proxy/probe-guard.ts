/**
 * "Test proxy" sends UDP from the server to an address a developer types in, and reports what
 * answered. Left open, that lets a developer make the server probe its own loopback services
 * and the cloud metadata endpoint (169.254.169.254, metadata.google.internal …), which no
 * media proxy ever lives on. So the probe refuses loopback, unspecified, link-local and
 * metadata addresses and metadata host names unless the operator allow-lists them
 * (proxyProbeAllowNetworks). Private addresses (10/8, 172.16/12, 192.168/16, fc00::/7) stay
 * allowed: customers' proxies live there.
 *
 * The address judged is the one the probe's socket connects to (the probe resolves the name
 * once and connects to that address), so a name cannot resolve one way here and another there.
 * IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) are judged as the IPv4 address they carry
 * (node's BlockList does so).
 */
import { BlockList, isIP } from 'node:net';

/** What each refused range is, for the message. */
const refusedRanges: [network: string, prefix: number, what: string][] = [
  ['0.0.0.0', 8, 'an unspecified ("this network") address'],
  ['127.0.0.0', 8, 'a loopback address'],
  ['169.254.0.0', 16, 'a link-local address (where cloud metadata services answer)'],
  ['100.100.100.200', 32, 'the Alibaba Cloud metadata address'],
  ['::', 128, 'the unspecified address'],
  ['::1', 128, 'a loopback address'],
  ['fe80::', 10, 'a link-local address'],
  ['fd00:ec2::254', 128, 'the AWS metadata address'],
];

/** Host names of cloud metadata services (they resolve to link-local addresses, or are meant to). */
const metadataNames: ReadonlySet<string> = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.tencentyun.com',
]);

function subnets(entries: readonly [network: string, prefix: number][]): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of entries) {
    list.addSubnet(network, prefix, isIP(network) === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

const refused = refusedRanges.map(([network, prefix, what]) => ({
  what,
  list: subnets([[network, prefix]]),
}));

/** The setting that allows a refused address, named in every refusal. */
export const probeAllowSetting = 'proxyProbeAllowNetworks';

/** "Test proxy" would reach an address it does not probe; the message says why and what allows it. */
export class ProbeAddressRefused extends Error {
  override name = 'ProbeAddressRefused';
}

/**
 * Why the probe must not send to `address` (what `host` resolved to), or null when it may.
 * `allowNetworks` are the operator's CIDRs (or single addresses) that are probed all the same.
 */
export function probeRefusal(host: string, address: string, allowNetworks: readonly string[]): string | null {
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  const allowed = subnets(
    allowNetworks.map((cidr) => {
      const [network, prefix] = cidr.split('/') as [string, string | undefined];
      return [network, Number(prefix ?? (isIP(network) === 6 ? 128 : 32))];
    }),
  );
  if (allowed.check(address, family)) return null;
  const where = host === address ? address : `${host} (${address})`;
  const hint = `"Test proxy" does not send to it unless the server setting ${probeAllowSetting} lists it`;
  const name = host.toLowerCase().replace(/\.$/, '');
  if (metadataNames.has(name)) return `${where} is a cloud metadata service: ${hint}`;
  const range = refused.find((r) => r.list.check(address, family));
  return range ? `${where} is ${range.what}: ${hint}` : null;
}
