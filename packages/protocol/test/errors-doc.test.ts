import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { errorCatalogue } from '../src/index.js';

it('documents every error code with its HTTP status in docs/errors.md', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  for (const [code, entry] of Object.entries(errorCatalogue)) {
    assert.match(doc, new RegExp(`\\| \`${code}\` +\\| ${entry.status} +\\|`), code);
  }
});
