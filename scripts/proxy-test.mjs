#!/usr/bin/env node
// npm run test:proxy — the media-stream proxy across real network boundaries (needs root).
//
// Builds three network namespaces joined by veth links, with no route from the isolated zone to
// the server zone (the DMZ does not forward):
//
//   isolated zone            DMZ                                  server zone
//   10.199.1.2  ──veth──  10.199.1.1 | 10.199.2.1  ──veth──  10.199.2.2
//   Chromium              coturn (TURN, relays from .2.1)        Parley, Chromium peer
//                         TCP forwarder :8080 → Parley :7880
//
// then runs packages/server/test/proxy-netns/proxy.netns.ts inside the server zone (it starts
// Parley in-process and Chromium in both zones). The namespaces, links and processes are removed
// when it ends, pass or fail (also on Ctrl-C). Last line: "N passed, N failed".
// PROXY_TEST_SUMMARY=<file>: also write {"passed":N,"failed":N} there (run-tests.mjs adds it up).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const id = (process.pid % 10000).toString().padStart(4, '0');
const ns = { iso: `pziso${id}`, dmz: `pzdmz${id}`, srv: `pzsrv${id}` };
const veth = { isoIn: `pzi${id}a`, isoDmz: `pzi${id}b`, srvDmz: `pzs${id}a`, srvIn: `pzs${id}b` };
const net = {
  iso: '10.199.1.2',
  dmzIso: '10.199.1.1',
  dmzSrv: '10.199.2.1',
  srv: '10.199.2.2',
};
const work = mkdtempSync(path.join(os.tmpdir(), 'parley-proxy-'));
const summaryFile = path.join(work, 'summary.json');
const children = [];

function finish(passed, failed) {
  console.log(`\n${passed} passed, ${failed} failed`);
  if (process.env['PROXY_TEST_SUMMARY']) {
    writeFileSync(process.env['PROXY_TEST_SUMMARY'], JSON.stringify({ passed, failed }));
  }
  process.exitCode = failed > 0 ? 1 : 0;
}

function ip(...args) {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
function inNs(name, ...args) {
  execFileSync('ip', ['netns', 'exec', name, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

function setUp() {
  for (const name of Object.values(ns)) ip('netns', 'add', name);
  for (const name of Object.values(ns)) inNs(name, 'ip', 'link', 'set', 'lo', 'up');
  ip('link', 'add', veth.isoIn, 'type', 'veth', 'peer', 'name', veth.isoDmz);
  ip('link', 'add', veth.srvIn, 'type', 'veth', 'peer', 'name', veth.srvDmz);
  ip('link', 'set', veth.isoIn, 'netns', ns.iso);
  ip('link', 'set', veth.isoDmz, 'netns', ns.dmz);
  ip('link', 'set', veth.srvIn, 'netns', ns.srv);
  ip('link', 'set', veth.srvDmz, 'netns', ns.dmz);
  inNs(ns.iso, 'ip', 'addr', 'add', `${net.iso}/24`, 'dev', veth.isoIn);
  inNs(ns.dmz, 'ip', 'addr', 'add', `${net.dmzIso}/24`, 'dev', veth.isoDmz);
  inNs(ns.dmz, 'ip', 'addr', 'add', `${net.dmzSrv}/24`, 'dev', veth.srvDmz);
  inNs(ns.srv, 'ip', 'addr', 'add', `${net.srv}/24`, 'dev', veth.srvIn);
  inNs(ns.iso, 'ip', 'link', 'set', veth.isoIn, 'up');
  inNs(ns.dmz, 'ip', 'link', 'set', veth.isoDmz, 'up');
  inNs(ns.dmz, 'ip', 'link', 'set', veth.srvDmz, 'up');
  inNs(ns.srv, 'ip', 'link', 'set', veth.srvIn, 'up');
  // The DMZ never forwards: the isolated zone cannot reach the server zone, by any route.
  inNs(ns.dmz, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=0');
  // "Port unreachable" answers are what tell a refused proxy from a silent one; the kernel's ICMP
  // rate limit would sometimes swallow them after the relayed traffic of earlier tests.
  inNs(ns.dmz, 'sysctl', '-q', '-w', 'net.ipv4.icmp_ratelimit=0');
  // The server zone reaches the DMZ's isolated-side address (the proxy address terminals use),
  // which the DMZ answers itself (local delivery, no forwarding).
  inNs(ns.srv, 'ip', 'route', 'add', '10.199.1.0/24', 'via', net.dmzSrv);
}

function tearDown() {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      try {
        child.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  }
  for (const name of Object.values(ns)) {
    // Whatever still runs in the namespace goes with it.
    try {
      const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' })
        .split(/\s+/)
        .filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
    } catch {
      // no such namespace
    }
    try {
      ip('netns', 'del', name);
    } catch {
      // not created
    }
  }
  rmSync(work, { recursive: true, force: true });
}

function startForwarder() {
  const script = path.join(root, 'scripts', 'tcp-forwarder.mjs');
  const child = spawn(
    'ip',
    ['netns', 'exec', ns.dmz, process.execPath, script, `${net.dmzIso}:8080`, `${net.srv}:7880`],
    { stdio: ['ignore', 'inherit', 'inherit'], detached: true },
  );
  children.push(child);
}

function runTests() {
  // Chromium in the isolated zone: playwright launches this wrapper and talks to it over pipes,
  // which cross the namespace boundary.
  const wrapper = path.join(work, 'chromium-isolated.sh');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns.iso} /usr/bin/chromium "$@"\n`);
  chmodSync(wrapper, 0o755);
  const testFile = path.join(root, 'packages', 'server', 'test', 'proxy-netns', 'proxy.netns.ts');
  return new Promise((resolve) => {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns.srv,
        process.execPath,
        '--import',
        'tsx',
        '--test',
        '--test-concurrency=1',
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        `--test-reporter=${path.join(root, 'scripts', 'summary-reporter.mjs')}`,
        `--test-reporter-destination=${summaryFile}`,
        testFile,
      ],
      {
        cwd: root,
        stdio: 'inherit',
        detached: true,
        env: {
          ...process.env,
          PARLEY_TEST: '1',
          PROXY_NS_DMZ: ns.dmz,
          PROXY_CHROMIUM_ISOLATED: wrapper,
          PROXY_NET: JSON.stringify(net),
          PROXY_WORK: work,
        },
      },
    );
    children.push(child);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

async function main() {
  if (process.getuid?.() !== 0) {
    console.error(
      'test:proxy needs root: it creates network namespaces and veth links (CI runs it as root).',
    );
    finish(0, 1);
    return;
  }
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      tearDown();
      process.exit(130);
    });
  }
  try {
    setUp();
    startForwarder();
    const code = await runTests();
    let summary = { passed: 0, failed: 1 };
    try {
      summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
    } catch {
      // the runner died before reporting
    }
    tearDown();
    finish(summary.passed, summary.failed + (code !== 0 && summary.failed === 0 ? 1 : 0));
  } catch (err) {
    console.error(`test:proxy could not set up the namespaces: ${err?.stderr?.toString() || err}`);
    tearDown();
    finish(0, 1);
  }
}

await main();
