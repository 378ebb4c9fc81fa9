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
import {
  cidrBlockList,
  ipFamily,
  isMetadataHostName,
  ranges,
  subnetList,
  type Subnet,
} from '../net/address-class.js';

/** What each refused range is, for the message. */
const refusedRanges: [range: Subnet, what: string][] = [
  [ranges.thisNetworkV4, 'an unspecified ("this network") address'],
  [ranges.loopbackV4, 'a loopback address'],
  [ranges.linkLocalV4, 'a link-local address (where cloud metadata services answer)'],
  [ranges.alibabaMetadataV4, 'the Alibaba Cloud metadata address'],
  [ranges.unspecifiedV6, 'the unspecified address'],
  [ranges.loopbackV6, 'a loopback address'],
  [ranges.linkLocalV6, 'a link-local address'],
  [ranges.awsMetadataV6, 'the AWS metadata address'],
];

const refused = refusedRanges.map(([range, what]) => ({ what, list: subnetList([range]) }));

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
  const family = ipFamily(address);
  const allowed = cidrBlockList(allowNetworks);
  if (allowed.check(address, family)) return null;
  const where = host === address ? address : `${host} (${address})`;
  const hint = `"Test proxy" does not send to it unless the server setting ${probeAllowSetting} lists it`;
  if (isMetadataHostName(host)) return `${where} is a cloud metadata service: ${hint}`;
  const range = refused.find((r) => r.list.check(address, family));
  return range ? `${where} is ${range.what}: ${hint}` : null;
}
