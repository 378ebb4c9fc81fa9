/**
 * Test fixture: a real coturn (Debian's /usr/bin/turnserver) with TURN REST credentials
 * (`use-auth-secret` + `static-auth-secret`), everything it writes in its own temp dir.
 *
 *   const turn = await startCoturn({ secret: 's3cret' });
 *   ... turn.address ("127.0.0.1:<port>"), turn.minPort..turn.maxPort (relay range) ...
 *   await turn.stop();
 *
 * As root, turnserver keeps running as root: it only drops privileges when given proc-user /
 * proc-group (Debian's systemd unit runs it as the turnserver user instead), and nothing here
 * needs a port below 1024 or a file outside the temp dir, so it works the same unprivileged.
 * The config turns off what a test does not need and that would take more ports (TLS/DTLS
 * listeners, the telnet CLI, RFC 5780's alternate port) and makes the log verbose, so a failing
 * test can read in logFile what coturn saw.
 *
 * Ready means: it answers a STUN Binding request on its listening address; inside a network
 * namespace (netns), which this process cannot reach, it means the log says its UDP listener is
 * open. stop() is idempotent; anything still running is killed when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { decodeStun, encodeStun, newTransactionId, StunMethod } from '../src/proxy/stun.js';

export const TURNSERVER = '/usr/bin/turnserver';

export interface CoturnOptions {
  /** static-auth-secret. */
  secret: string;
  /** listening-ip; 127.0.0.1 by default. */
  listenIp?: string;
  /** listening-port (UDP and TCP); a free one by default. */
  port?: number;
  /** relay-ip; listenIp by default. */
  relayIp?: string;
  /** realm; 'parley.test' by default. */
  realm?: string;
  /** Relay port range (min-port/max-port); a free-looking block of 32 ports by default. */
  minPort?: number;
  maxPort?: number;
  /** More turnserver.conf lines, appended last. */
  extraLines?: string[];
  /** Run it inside this network namespace (`ip netns exec <netns>`). */
  netns?: string;
  /** How long to wait for it to be ready; 10 s by default. */
  startTimeoutMs?: number;
}

export interface Coturn {
  port: number;
  /** "ip:port" (IPv6 in brackets). */
  address: string;
  listenIp: string;
  relayIp: string;
  realm: string;
  minPort: number;
  maxPort: number;
  /** The temp dir holding config, log, userdb and pidfile (removed by stop()). */
  dir: string;
  configFile: string;
  logFile: string;
  pid: number;
  /** The last lines of coturn's log and of its stdout/stderr, for assertion messages. */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

const running = new Set<{ child: ChildProcess; dir: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const r of running) {
      try {
        r.child.kill('SIGKILL');
      } catch {
        // already gone
      }
      rmSync(r.dir, { recursive: true, force: true });
    }
  });
}

function bracketed(ip: string): string {
  return net.isIPv6(ip) ? `[${ip}]` : ip;
}

/** Whether ip:port can be bound right now, for UDP and (if tcp) for TCP. */
async function portIsFree(ip: string, port: number, tcp: boolean): Promise<boolean> {
  const udp = dgram.createSocket(net.isIPv6(ip) ? 'udp6' : 'udp4');
  const udpOk = await new Promise<boolean>((resolve) => {
    udp.once('error', () => resolve(false));
    udp.bind(port, ip, () => resolve(true));
  });
  udp.close();
  if (!udpOk || !tcp) return udpOk;
  const server = net.createServer();
  const tcpOk = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, ip, () => resolve(true));
  });
  if (tcpOk) await new Promise((resolve) => server.close(resolve));
  return tcpOk;
}

/** A port free for both UDP and TCP on ip: let the kernel pick a TCP port, then check UDP. */
async function freeUdpTcpPort(ip: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const server = net.createServer();
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, ip, () => resolve((server.address() as net.AddressInfo).port));
    });
    await new Promise((resolve) => server.close(resolve));
    if (await portIsFree(ip, port, true)) return port;
  }
  throw new Error(`no free UDP+TCP port found on ${ip}`);
}

/** A block of `size` ports in 50000-59999 that are all free for UDP and TCP now (coturn relays both). */
async function freeRelayRange(ip: string, size: number): Promise<{ minPort: number; maxPort: number }> {
  for (let i = 0; i < 50; i++) {
    const minPort = 50000 + Math.floor(Math.random() * (10000 - size));
    let ok = true;
    for (let p = minPort; p < minPort + size && ok; p++) ok = await portIsFree(ip, p, true);
    if (ok) return { minPort, maxPort: minPort + size - 1 };
  }
  throw new Error(`no free relay port range found on ${ip}`);
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** One STUN Binding request; true when a matching STUN response came back within waitMs. */
async function answersStunBinding(ip: string, port: number, waitMs: number): Promise<boolean> {
  const socket = dgram.createSocket(net.isIPv6(ip) ? 'udp6' : 'udp4');
  const transactionId = newTransactionId();
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), waitMs);
      socket.on('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
      socket.on('message', (data) => {
        const message = decodeStun(data);
        if (message?.transactionId.equals(transactionId)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      socket.connect(port, ip, () => {
        socket.send(
          encodeStun({ method: StunMethod.Binding, cls: 'request', transactionId, attributes: [] }),
        );
      });
    });
  } finally {
    socket.close();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startCoturn(opts: CoturnOptions): Promise<Coturn> {
  if (!existsSync(TURNSERVER)) throw new Error(`${TURNSERVER} is missing (apt-get install coturn)`);
  const listenIp = opts.listenIp ?? '127.0.0.1';
  const relayIp = opts.relayIp ?? listenIp;
  const realm = opts.realm ?? 'parley.test';
  // Inside a netns our port checks see the wrong namespace; they still give a sensible choice,
  // and a fresh namespace has nothing listening anyway.
  let port: number;
  let range: { minPort: number; maxPort: number };
  try {
    port = opts.port ?? (await freeUdpTcpPort(opts.netns ? '127.0.0.1' : listenIp));
    range =
      opts.minPort !== undefined && opts.maxPort !== undefined
        ? { minPort: opts.minPort, maxPort: opts.maxPort }
        : await freeRelayRange(opts.netns ? '127.0.0.1' : relayIp, 32);
  } catch (err) {
    throw new Error(
      `startCoturn: cannot find free ports on ${listenIp} / ${relayIp} (${(err as Error).message}): ` +
        'are they addresses of this machine?',
    );
  }
  const loopback = listenIp === '::1' || listenIp.startsWith('127.');

  const dir = mkdtempSync(path.join(os.tmpdir(), 'parley-coturn-'));
  const configFile = path.join(dir, 'turnserver.conf');
  const logFile = path.join(dir, 'turnserver.log');
  const outFile = path.join(dir, 'turnserver.out');
  const lines = [
    `listening-ip=${listenIp}`,
    `listening-port=${port}`,
    `relay-ip=${relayIp}`,
    `min-port=${range.minPort}`,
    `max-port=${range.maxPort}`,
    'use-auth-secret',
    `static-auth-secret=${opts.secret}`,
    `realm=${realm}`,
    'fingerprint',
    'no-tls',
    'no-dtls',
    'no-cli',
    'no-rfc5780', // else it also listens on port + 1
    'no-multicast-peers',
    ...(loopback ? ['allow-loopback-peers'] : []),
    'no-software-attribute',
    `userdb=${path.join(dir, 'turndb')}`,
    `pidfile=${path.join(dir, 'turnserver.pid')}`,
    `log-file=${logFile}`,
    'simple-log', // exactly that file name, no date suffix or rollover
    'no-stdout-log',
    'verbose',
    ...(opts.extraLines ?? []),
  ];
  writeFileSync(configFile, lines.join('\n') + '\n');

  // stdout/stderr to a file (it prints "socket: Protocol not supported" for SCTP there): no pipes,
  // so an unref()ed child never keeps the test process alive.
  const out = openSync(outFile, 'a');
  const [command, args] = opts.netns
    ? ['ip', ['netns', 'exec', opts.netns, TURNSERVER, '-c', configFile]]
    : [TURNSERVER, ['-c', configFile]];
  const child = spawn(command, args, { stdio: ['ignore', out, out] });
  closeSync(out);
  child.unref();
  installExitHook();
  const entry = { child, dir };
  running.add(entry);

  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let spawnError: Error | null = null;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    child.once('error', (err) => {
      spawnError = err;
      exited ??= { code: null, signal: null };
      resolve();
    });
  });

  const logTail = (n = 30) =>
    [tail(logFile, n), tail(outFile, 10)].filter((s) => s).join('\n--- stdout/stderr:\n') || '(no output)';

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      child.kill('SIGTERM');
      const done = await Promise.race([exitedPromise.then(() => true), sleep(3000).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exitedPromise;
      }
    }
    running.delete(entry);
    rmSync(dir, { recursive: true, force: true });
  };

  const address = `${bracketed(listenIp)}:${port}`;
  const listening = new RegExp(
    `UDP listener opened on\\s*:\\s*${bracketed(listenIp).replace(/[.[\]]/g, '\\$&')}:${port}\\b`,
  );
  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  for (;;) {
    if (exited || spawnError) {
      const why = spawnError
        ? `could not be started (${(spawnError as Error).message})`
        : `exited (code ${exited!.code}, signal ${exited!.signal})`;
      const log = logTail();
      await stop();
      throw new Error(`turnserver ${why} before it was ready; its log ends:\n${log}`);
    }
    // The UDP listener answers before coturn has finished starting (its per-thread sockets and
    // its database come last); a TURN request in that window was seen refused. Ready means the
    // startup log is complete too.
    const started = /DB connection success/.test(tail(logFile, 200));
    const ready =
      started &&
      (opts.netns ? listening.test(tail(logFile, 200)) : await answersStunBinding(listenIp, port, 100));
    if (ready) break;
    if (Date.now() > deadline) {
      const log = logTail();
      await stop();
      throw new Error(
        `turnserver did not answer on ${address} within ${opts.startTimeoutMs ?? 10_000} ms; its log ends:\n${log}`,
      );
    }
    await sleep(20);
  }

  return {
    port,
    address,
    listenIp,
    relayIp,
    realm,
    minPort: range.minPort,
    maxPort: range.maxPort,
    dir,
    configFile,
    logFile,
    pid: child.pid!,
    logTail,
    stop,
  };
}
