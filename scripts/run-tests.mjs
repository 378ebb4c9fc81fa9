#!/usr/bin/env node
// Runs every test file (packages/*/test/**/*.test.ts) with node's test runner, prints the
// spec report, and ends with one line "N passed, N failed". Exits non-zero on any failure.
// Usage: node scripts/run-tests.mjs [substring-filter ...]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, rmSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const filters = process.argv.slice(2);

function findTests(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist') continue;
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...findTests(full));
    else if (entry.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

const files = readdirSync(path.join(root, 'packages'))
  .map((p) => path.join(root, 'packages', p, 'test'))
  .filter((d) => {
    try {
      return statSync(d).isDirectory();
    } catch {
      return false;
    }
  })
  .flatMap(findTests)
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();

// One summary file per run, so runs side by side don't clobber each other's counts.
const outDir = path.join(root, '.test-output');
mkdirSync(outDir, { recursive: true });
const summaryFile = path.join(outDir, `summary-${process.pid}.json`);
rmSync(summaryFile, { force: true });

const args = [
  '--import',
  'tsx',
  '--test',
  '--test-concurrency=1',
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  `--test-reporter=${path.join(root, 'scripts', 'summary-reporter.mjs')}`,
  `--test-reporter-destination=${summaryFile}`,
  ...files,
];
const child = spawn(process.execPath, args, {
  stdio: 'inherit',
  cwd: root,
  env: { ...process.env, PARLEY_TEST: '1' },
});
child.on('exit', (code, signal) => {
  let summary = { passed: 0, failed: 0 };
  try {
    summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
  } catch {
    summary.failed += 1; // the runner died before reporting
  }
  rmSync(summaryFile, { force: true });
  let failed = summary.failed + (code !== 0 && summary.failed === 0 ? 1 : 0);
  let passed = summary.passed;
  if (signal) failed += 1;
  // The whole suite (no filter) includes the media-proxy test across network namespaces.
  if (filters.length === 0 && !signal) {
    const proxySummary = path.join(outDir, `proxy-summary-${process.pid}.json`);
    rmSync(proxySummary, { force: true });
    const proxy = spawnSync(process.execPath, [path.join(root, 'scripts', 'proxy-test.mjs')], {
      stdio: 'inherit',
      cwd: root,
      env: { ...process.env, PROXY_TEST_SUMMARY: proxySummary },
    });
    try {
      const p = JSON.parse(readFileSync(proxySummary, 'utf8'));
      passed += p.passed;
      failed += p.failed;
    } catch {
      failed += 1;
    }
    rmSync(proxySummary, { force: true });
    if (proxy.status !== 0 && failed === 0) failed += 1;
  }
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exit(failed > 0 || code !== 0 || signal ? 1 : 0);
});
