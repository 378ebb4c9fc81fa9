import client from 'prom-client';

export function createCallbackMetrics(registry: client.Registry, queueDepth: () => Promise<number>) {
  const registers = [registry];
  return {
    enqueued: new client.Counter({
      name: 'parley_callback_events_total',
      help: 'Callback events written to the outbox',
      labelNames: ['kind'] as const,
      registers,
    }),
    attempts: new client.Counter({
      name: 'parley_callback_attempts_total',
      help: 'Callback delivery attempts by result',
      labelNames: ['result'] as const,
      registers,
    }),
    succeeded: new client.Counter({
      name: 'parley_callback_successes_total',
      help: 'Callback events delivered',
      registers,
    }),
    failed: new client.Counter({
      name: 'parley_callback_failures_total',
      help: 'Callback events given up after the last retry',
      registers,
    }),
    retries: new client.Counter({
      name: 'parley_callback_retries_total',
      help: 'Callback attempts that failed and were scheduled again',
      registers,
    }),
    queueDepth: new client.Gauge({
      name: 'parley_callback_queue_depth',
      help: 'Callback events pending or being delivered',
      registers,
      async collect() {
        this.set(await queueDepth());
      },
    }),
    latency: new client.Histogram({
      name: 'parley_callback_delivery_latency_seconds',
      help: 'From the event to its successful delivery',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 300, 3600],
      registers,
    }),
  };
}

export type CallbackMetrics = ReturnType<typeof createCallbackMetrics>;
