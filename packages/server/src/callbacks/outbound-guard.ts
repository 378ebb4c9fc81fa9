/**
 * Keeps callback requests away from loopback, private, link-local, metadata and other
 * special addresses unless the operator allow-lists them. The address checked is the one
 * connected to: names are resolved here and the socket connects to the checked address,
 * so a DNS answer that changes between check and connect (rebinding) cannot slip through.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import {
  addSubnets,
  cidrBlockList,
  embeddedIpv4,
  ipFamily,
  ranges,
  subnetList,
} from '../net/address-class.js';

/** Every special-purpose range: a callback receiver is a public service unless the operator says otherwise. */
const blocked = subnetList([
  ranges.thisNetworkV4,
  ranges.private10V4,
  ranges.carrierGradeNatV4,
  ranges.loopbackV4,
  ranges.linkLocalV4,
  ranges.private172V4,
  ranges.protocolAssignmentsV4,
  ranges.testNet1V4,
  ranges.private192V4,
  ranges.benchmarkingV4,
  ranges.testNet2V4,
  ranges.testNet3V4,
  ranges.multicastV4,
  ranges.reservedV4,
  ranges.ipv4CompatibleV6,
  ranges.nat64V6,
  ranges.discardV6,
  ranges.documentationV6,
  ranges.uniqueLocalV6,
  ranges.linkLocalV6,
  ranges.multicastV6,
]);

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

export function compilePolicy(policy: OutboundPolicy): (address: string) => boolean {
  const allowed = cidrBlockList(policy.allow);
  if (policy.allowLoopback) addSubnets(allowed, [ranges.loopbackV4, ranges.loopbackV6]);
  /** True when a connection to `address` is permitted. */
  return (address: string): boolean => {
    const family = ipFamily(address);
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
