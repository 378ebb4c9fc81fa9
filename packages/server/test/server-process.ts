/**
 * A Parley server as a separate process (`parley start` from source, so its recorder child runs
 * from source too), for tests that kill it or change its environment. Its JSON log lines are
 * kept; `url` resolves once it listens.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const repoRoot = new URL('../../..', import.meta.url).pathname;
const cliSource = new URL('../src/cli.ts', import.meta.url).pathname;

export interface ServerProcess {
  child: ReturnType<typeof spawn>;
  url: Promise<string>;
  exited: Promise<NodeJS.Signals | number | null>;
  /** Its log, one parsed JSON line each. */
  lines: Record<string, unknown>[];
  /** SIGTERM, then SIGKILL if it has not exited within 20 s. */
  stop(): Promise<void>;
}

export function startServerProcess(dataDir: string, env: NodeJS.ProcessEnv = {}): ServerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', cliSource, 'start'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      PARLEY_DATA_DIR: dataDir,
      PARLEY_HOST: '127.0.0.1',
      PARLEY_PORT: '0',
      PARLEY_RTC_BIND_ADDRESS: '127.0.0.1',
      PARLEY_ADMIN_EMAIL: 'owner@example.com',
      PARLEY_ADMIN_PASSWORD: 'owner-password-1234',
      PARLEY_CALLBACK_ALLOW_LOOPBACK: 'true',
      PARLEY_CALLBACK_RETRY_SCHEDULE: '0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2',
      PARLEY_CALLBACK_RETRY_JITTER: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Record<string, unknown>[] = [];
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), 60_000);
    child.on('exit', () => reject(new Error('server exited before it listened')));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      lines.push(entry);
      if (typeof entry['url'] === 'string' && String(entry['msg']).startsWith('Parley is listening')) {
        clearTimeout(timer);
        resolve(entry['url']);
      }
    });
  });
  url.catch(() => undefined);
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  );
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    url,
    exited,
    lines,
    async stop() {
      if (!running()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => running() && child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
