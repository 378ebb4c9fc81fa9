/** Writes the served OpenAPI document to docs/openapi.json (npm run docs:openapi). */
import { writeFileSync } from 'node:fs';
import { startTestServer } from '../test/helpers.js';

const server = await startTestServer();
try {
  const doc = await (await fetch(`${server.url}/api/v1/openapi.json`)).json();
  writeFileSync(new URL('../../../docs/openapi.json', import.meta.url), `${JSON.stringify(doc, null, 2)}\n`);
  console.log('wrote docs/openapi.json');
} finally {
  await server.stop();
}
