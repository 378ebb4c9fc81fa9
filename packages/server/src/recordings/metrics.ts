import client from 'prom-client';

export function createRecordingMetrics(registry: client.Registry, active: () => number) {
  const registers = [registry];
  return {
    started: new client.Counter({
      name: 'parley_recordings_started_total',
      help: 'Recordings initialised (callback 10 sent)',
      labelNames: ['trigger'] as const,
      registers,
    }),
    finished: new client.Counter({
      name: 'parley_recordings_finished_total',
      help: 'Recordings ended by result: done (file saved) or failed',
      labelNames: ['result'] as const,
      registers,
    }),
    failures: new client.Counter({
      name: 'parley_recording_failures_total',
      help: 'Recording failure and warning callbacks sent, by contract code',
      labelNames: ['code'] as const,
      registers,
    }),
    active: new client.Gauge({
      name: 'parley_recordings_active',
      help: 'Recordings running or being finished',
      registers,
      collect() {
        this.set(active());
      },
    }),
    finalize: new client.Histogram({
      name: 'parley_recording_finalize_seconds',
      help: 'From the end of a recording to its stored file',
      buckets: [0.5, 1, 2, 3, 5, 10, 30, 60, 300],
      registers,
    }),
  };
}

export type RecordingMetrics = ReturnType<typeof createRecordingMetrics>;
