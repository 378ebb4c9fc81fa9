/**
 * Run as a child process by sfu.test.ts: uses the SFU for real (a publisher, a subscriber,
 * forwarded packets), closes the router and the peers, and must then exit on its own. Prints
 * one JSON line with what it saw.
 */
import { MediaRouter, sfuNativeStats } from '../../src/sfu/index.js';
import { TestPublisher, TestSubscriber, waitFor } from './peers.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const router = new MediaRouter({ bindAddress: '127.0.0.1' }, silent);
const pub = new TestPublisher('A');
const sub = new TestSubscriber('B');
await pub.publish(router);
await sub.subscribe(router, 'A');
for (let i = 0; i < 20; i++) {
  pub.send('video');
  pub.send('audio');
}
await waitFor('forwarded packets', () => sub.received(pub.ssrc.video).length >= 20, 5000);
const before = router.stats();
router.close();
pub.close();
sub.close();
await waitFor('native objects closed', () => sfuNativeStats().peerConnections === 0, 5000);
console.log(
  JSON.stringify({
    forwardedPackets: before.forwardedPackets,
    transportsAfterClose: router.stats().transports,
    native: sfuNativeStats(),
  }),
);
// No process.exit(): the point is that nothing keeps the event loop alive any more.
