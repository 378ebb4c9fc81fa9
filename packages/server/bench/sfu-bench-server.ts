/**
 * The SFU side of bench:sfu, in a process of its own so that its CPU time and memory are its
 * own: one MediaRouter driven over IPC by sfu.bench.ts.
 *
 * Requests { id, op, args } get replies { id, result } or { id, error }:
 *   reset                     closes the router (if any) and opens a new one
 *   publish / subscribe / setAnswer / openSubscriber / setSubscriberAnswer / addRemoteCandidate
 *                             the MediaRouter methods
 *   sample                    { atMs, cpuUs, rssBytes, heapBytes, stats } (after a GC when exposed;
 *                             atMs: performance.now() of this process, for CPU windows)
 *   transports                [{ participantId, role, state, tracks }] (router.stats().perTransport)
 *   exit                      closes the router and disconnects (the process then ends)
 * The router's 'subscriberOffer' and 'localCandidate' events are sent unasked, as
 * { event: 'subscriberOffer' | 'localCandidate', data } (the event's one argument).
 */
import { MediaRouter } from '../src/sfu/index.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
let router: MediaRouter | null = null;

interface Request {
  id: number;
  op: string;
  args: unknown[];
}

function ensure(): MediaRouter {
  if (!router) throw new Error('no router: send reset first');
  return router;
}

async function handle(op: string, args: unknown[]): Promise<unknown> {
  switch (op) {
    case 'reset':
      router?.close();
      router = new MediaRouter({ bindAddress: '127.0.0.1', ...(args[0] as object) }, silent);
      router.on('subscriberOffer', (data) => process.send?.({ event: 'subscriberOffer', data }));
      router.on('localCandidate', (data) => process.send?.({ event: 'localCandidate', data }));
      return null;
    case 'publish':
      return ensure().publish(args[0] as string, args[1] as string);
    case 'subscribe':
      return ensure().subscribe(args[0] as string, args[1] as string);
    case 'setAnswer':
      return ensure().setAnswer(args[0] as string, args[1] as string);
    case 'openSubscriber':
      return ensure().openSubscriber(args[0] as string, (args[1] ?? {}) as object);
    case 'setSubscriberAnswer':
      return ensure().setSubscriberAnswer(args[0] as string, args[1] as number, args[2] as string);
    case 'addRemoteCandidate':
      ensure().addRemoteCandidate(args[0] as string, args[1] as string, args[2] as string);
      return null;
    case 'transports':
      return ensure()
        .stats()
        .perTransport.map((t) => ({
          participantId: t.participantId,
          role: t.role,
          state: t.state,
          tracks: t.trackIds.length,
        }));
    case 'sample': {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (args[0] === true && gc) {
        gc();
        await new Promise((r) => setTimeout(r, 50));
        gc();
      }
      const cpu = process.cpuUsage();
      const mem = process.memoryUsage();
      const stats = router?.stats();
      return {
        atMs: performance.now(),
        cpuUs: cpu.user + cpu.system,
        rssBytes: mem.rss,
        heapBytes: mem.heapUsed,
        stats: stats ? { ...stats, perTransport: undefined } : null,
      };
    }
    case 'exit':
      router?.close();
      router = null;
      setTimeout(() => process.disconnect(), 100);
      return null;
    default:
      throw new Error(`unknown op ${op}`);
  }
}

process.on('message', (raw) => {
  const { id, op, args } = raw as Request;
  handle(op, args).then(
    (result) => process.send?.({ id, result }),
    (err: unknown) => process.send?.({ id, error: String(err) }),
  );
});
process.send?.({ id: 0, result: 'ready' });
