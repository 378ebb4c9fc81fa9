/**
 * Run as a child process by sfu-bundle.test.ts: uses a subscriber connection for real (tracks
 * added by renegotiation, one ended, its m-line reused by a later track), closes the router and
 * the peers, and must then exit on its own. Prints one JSON line with what it saw.
 */
import { MediaRouter, sfuNativeStats, type SubscriberOfferEvent } from '../../src/sfu/index.js';
import { BundleTestSubscriber } from './bundle.js';
import { TestPublisher, waitFor } from './peers.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const router = new MediaRouter({ bindAddress: '127.0.0.1' }, silent);
const offers: SubscriberOfferEvent[] = [];
router.on('subscriberOffer', (e) => offers.push(e));
const sub = new BundleTestSubscriber('S');
router.openSubscriber('S');
await waitFor('first offer', () => offers.length === 1);
await sub.answer(router, offers[0]!);
const a = new TestPublisher('A');
await a.publish(router);
await waitFor('second offer', () => offers.length === 2);
await sub.answer(router, offers[1]!);
router.unpublish('A', 'video');
await waitFor('third offer', () => offers.length === 3);
await sub.answer(router, offers[2]!);
const b = new TestPublisher('B');
await b.publish(router);
await waitFor('fourth offer', () => offers.length === 4);
await sub.answer(router, offers[3]!);
await waitFor('tracks open', () => [...sub.tracks.values()].every((t) => t.isOpen()), 5000);
for (let i = 0; i < 20; i++) b.send('video');
await waitFor('forwarded packets', () => sub.received(b.ssrc.video).length >= 20, 5000);
const reused = offers[3]!.tracks.find((t) => t.publisherId === 'B' && t.kind === 'video')!.mid;
const first = offers[1]!.tracks.find((t) => t.publisherId === 'A' && t.kind === 'video')!.mid;
const before = router.stats();
router.close();
a.close();
b.close();
sub.close();
await waitFor('native objects closed', () => sfuNativeStats().peerConnections === 0, 5000);
console.log(
  JSON.stringify({
    forwardedPackets: before.forwardedPackets,
    midReused: reused === first,
    transportsAfterClose: router.stats().transports,
    native: sfuNativeStats(),
  }),
);
// No process.exit(): the point is that nothing keeps the event loop alive any more.
