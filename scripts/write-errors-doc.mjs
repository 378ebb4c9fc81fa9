// Rewrites the code table of docs/errors.md from the error catalogue (npm run docs:errors).
import { readFileSync, writeFileSync } from 'node:fs';
import { errorCatalogue } from '../packages/protocol/dist/index.js';

const file = new URL('../docs/errors.md', import.meta.url);
const doc = readFileSync(file, 'utf8');
const head = doc.slice(0, doc.indexOf('| code'));
const rows = Object.entries(errorCatalogue).map(
  ([code, e]) => `| \`${code}\` | ${e.status} | ${e.message} |`,
);
writeFileSync(file, `${head}| code | HTTP | meaning |\n|---|---|---|\n${rows.join('\n')}\n`);
console.log(`wrote docs/errors.md (${rows.length} codes)`);
