import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configReference } from '../src/config/config.js';
import { configDocFile, renderConfigDoc } from '../../../scripts/config-doc.mjs';

describe('configuration reference (docs/configuration.md)', () => {
  it('says for every setting what it accepts and what it does', () => {
    for (const s of configReference()) {
      assert.ok(s.doc.trim().length >= 20, `${s.key}: its doc is missing or too short`);
      assert.notEqual(s.accepts, 'see the description', `${s.key}: its parser accepts a JSON object`);
    }
  });

  it('is what `npm run docs:config` writes from the settings of config.ts', async () => {
    const doc = readFileSync(configDocFile, 'utf8');
    const expected = await renderConfigDoc(doc, configReference());
    assert.ok(
      doc === expected,
      'docs/configuration.md is out of date with packages/server/src/config/settings.ts: run `npm run docs:config`' +
        ` (settings missing from it: ${
          configReference()
            .filter((s) => !doc.includes(`### \`${s.key}\``))
            .map((s) => s.key)
            .join(', ') || 'none'
        })`,
    );
  });
});
