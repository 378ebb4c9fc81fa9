// Rewrites the settings reference of docs/configuration.md from the `doc` of each setting in
// packages/server/src/config/settings.ts (npm run docs:config, which loads it through tsx).
import { readFileSync, writeFileSync } from 'node:fs';
import { configReference } from '../packages/server/src/config/config.ts';
import { configDocFile, renderConfigDoc } from './config-doc.mjs';

const reference = configReference();
const doc = await renderConfigDoc(readFileSync(configDocFile, 'utf8'), reference);
writeFileSync(configDocFile, doc);
console.log(`wrote docs/configuration.md (${reference.length} settings)`);
