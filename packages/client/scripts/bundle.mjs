#!/usr/bin/env node
// Bundles the browser files (run after `tsc -b`):
//   dist/parley-client.js  the SDK as one ESM file (served by the server at /sdk/parley-client.js)
//   dist/call/             the call page: index.html, call.js, call.css (served at /call/)
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox115', 'safari16'],
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: [path.join(root, 'src/index.ts')],
  outfile: path.join(root, 'dist/parley-client.js'),
});

const callOut = path.join(root, 'dist/call');
rmSync(callOut, { recursive: true, force: true });
mkdirSync(callOut, { recursive: true });
await build({
  ...common,
  minify: true,
  entryPoints: [path.join(root, 'call/call.ts')],
  outfile: path.join(callOut, 'call.js'),
});
for (const file of ['index.html', 'call.css']) {
  copyFileSync(path.join(root, 'call', file), path.join(callOut, file));
}
console.log('bundled dist/parley-client.js and dist/call/');
