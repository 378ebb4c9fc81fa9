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

  it('refuses an expireTime the server would refuse: not 13 digits, or too far ahead', () => {
    const v = vectorFromDocs();
    const now = v.expireTime - 3600_000;
    assert.throws(
      () => sign({ ...v, expireTime: 1767225600 }, { now }),
      /expireTime 1767225600 looks like seconds: it must be epoch milliseconds \(13 digits, such as 1767225600000\)/,
    );
    assert.throws(() => sign({ ...v, expireTime: 21767225600000 }, { now }), /exactly 13 digits/);
    const inAWeek = now + 168 * 3600_000;
    assert.doesNotThrow(() => sign({ ...v, expireTime: inAWeek }, { now }));
    assert.throws(
      () => sign({ ...v, expireTime: inAWeek + 1 }, { now }),
      /expireTime is 168\.0 hours ahead; a credential may be valid for at most 168 hours/,
    );
    assert.doesNotThrow(() => sign({ ...v, expireTime: inAWeek + 1 }, { now, maxLifetimeHours: 200 }));
    assert.throws(() => sign({ ...v, expireTime: now + 2 * 3600_000 }, { now, maxLifetimeHours: 1 }));
  });
});
