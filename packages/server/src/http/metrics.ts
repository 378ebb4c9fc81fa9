import client from 'prom-client';

/** One registry per server instance, so several servers in one test process don't collide. */
export function createMetrics() {
  const registry = new client.Registry();
  // prom-client samples event-loop delay with a libuv timer (10 ms by default): a profile of an
  // idle server showed it as the only thing waking the main thread (~70 wake-ups/s, 0.5 % of a
  // core). 100 ms still catches stalls worth alerting on, at a tenth of the wake-ups.
  client.collectDefaultMetrics({ register: registry, prefix: 'parley_', eventLoopMonitoringPrecision: 100 });
  const httpRequests = new client.Counter({
    name: 'parley_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new client.Histogram({
    name: 'parley_http_request_duration_seconds',
    help: 'HTTP request duration by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const loginFailures = new client.Counter({
    name: 'parley_login_failures_total',
    help: 'Failed console sign-ins',
    registers: [registry],
  });
  return { registry, httpRequests, httpDuration, loginFailures };
}

export type Metrics = ReturnType<typeof createMetrics>;
