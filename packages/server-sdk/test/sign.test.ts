import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sign, stringToSign } from '../src/index.js';

/** Pulls the test vector out of docs/signing.md so the published docs stay true. */
function vectorFromDocs() {
  const doc = readFileSync(new URL('../../../docs/signing.md', import.meta.url), 'utf8');
  const cell = (name: string) => new RegExp(`\\| ${name} +\\| \`([^\`]+)\` +\\|`).exec(doc)?.[1] as string;
  const blocks = [...doc.matchAll(/```[a-z]*\n([\s\S]*?)\n```/g)].map((m) => (m[1] as string).trim());
  return {
    bizName: cell('bizName'),
    appId: cell('appId'),
    workspaceId: cell('workspaceId'),
    uid: cell('uid'),
    expireTime: Number(cell('expireTime')),
    text: cell('string to sign'),
    privateKeyPem: blocks.find((b) => b.startsWith('-----BEGIN PRIVATE KEY-----')) as string,
    signature: blocks[blocks.length - 1] as string,
  };
}

describe('credential signing', () => {
  it('reproduces the test vector published in docs/signing.md', () => {
    const v = vectorFromDocs();
    assert.equal(stringToSign(v), v.text);
    const credential = sign(v);
    assert.equal(credential.signature, v.signature);
    assert.equal(credential.uid, 'user_42');
    assert.ok(!('privateKeyPem' in credential));
  });

  it('refuses a uid outside letters, digits and underscore, or longer than 128', () => {
    const v = vectorFromDocs();
    for (const uid of ['', 'a-b', 'a b', 'é', 'x'.repeat(129)]) {
      assert.throws(() => sign({ ...v, uid }), /uid/);
    }
    assert.doesNotThrow(() => sign({ ...v, uid: 'x'.repeat(128) }));
    assert.throws(() => sign({ ...v, expireTime: 1.5 }), /expireTime/);
  });
});
