import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  isIPv4,
  isIPv6,
  isHostName,
  checkProxyAddress,
  parseEgressIps,
  validateFeatureConfig,
  checkName,
  limits,
  normaliseName,
} from '../src/index.js';

describe('address validation', () => {
  it('accepts IPv4 dotted quads and nothing looser', () => {
    for (const ok of ['0.0.0.0', '203.0.113.7', '255.255.255.255']) assert.ok(isIPv4(ok), ok);
    for (const bad of ['256.1.1.1', '1.2.3', '01.2.3.4', '1.2.3.4.5', ' 1.2.3.4', '1.2.3.-1', '']) {
      assert.ok(!isIPv4(bad), bad);
    }
  });

  it('accepts IPv6 text forms and refuses malformed ones', () => {
    for (const ok of [
      '::',
      '::1',
      '2001:db8::1',
      '1:2:3:4:5:6:7:8',
      'fe80::',
      '::ffff:192.0.2.1',
      '1:2:3:4:5:6:1.2.3.4',
    ]) {
      assert.ok(isIPv6(ok), ok);
    }
    for (const bad of [
      ':::1',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '12345::',
      'g::1',
      '1:2:3:4:5:6:7',
      ':1::',
      '::1.2.3',
      'fe80::1%eth0',
    ]) {
      assert.ok(!isIPv6(bad), bad);
    }
  });

  it('accepts DNS host names like the seed example and refuses the rest', () => {
    for (const ok of ['example.aliyundoc.com', 'a-b.example.com', 'xn--fiqs8s.cn', 'localhost'])
      assert.ok(isHostName(ok), ok);
    for (const bad of [
      'example',
      '-a.example.com',
      'a..b.com',
      'a_b.example.com',
      '1.2.3.4',
      `${'a'.repeat(64)}.com`,
    ]) {
      assert.ok(!isHostName(bad), bad);
    }
  });

  it('accepts a proxy address with an optional port', () => {
    for (const ok of [
      'proxy.example.com',
      'proxy.example.com:3478',
      '203.0.113.9:443',
      '[2001:db8::5]:3478',
      '2001:db8::5',
    ]) {
      assert.equal(checkProxyAddress('proxyAddress', ok), null, ok);
    }
    assert.equal(checkProxyAddress('proxyAddress', 'proxy.example.com:0')?.reason, 'PORT_INVALID');
    assert.equal(checkProxyAddress('proxyAddress', 'turn://proxy.example.com')?.reason, 'HOST_INVALID');
  });

  it('parses egress IPs separated by semicolons, trimming spaces', () => {
    assert.deepEqual(parseEgressIps('f', ' 1.2.3.4 ;2001:db8::1; '), { ips: ['1.2.3.4', '2001:db8::1'] });
    assert.deepEqual(parseEgressIps('f', ''), { ips: [] });
    const dup = parseEgressIps('f', '1.2.3.4;1.2.3.4');
    assert.ok('issue' in dup && dup.issue.reason === 'IP_DUPLICATE');
  });

  it('reports one issue per invalid field of a feature config', () => {
    const { issues } = validateFeatureConfig({
      autoRecord: false,
      recordMediaType: 3 as 0,
      recordMaxMixedStreams: 17,
      recordingCallbackUrl: 'ftp://x.example.com',
      roomCallbackUrl: 'https://ok.example.com/',
      proxyAddress: 'bad host',
      proxyEgressIps: '1.2.3.4;nope',
    });
    assert.deepEqual(
      issues.map((i) => [i.field, i.reason]),
      [
        ['recordingCallbackUrl', 'URL_SCHEME'],
        ['proxyAddress', 'HOST_INVALID'],
        ['recordMediaType', 'INVALID'],
        ['recordMaxMixedStreams', 'OUT_OF_RANGE'],
        ['proxyEgressIps', 'IP_INVALID'],
      ],
    );
  });
});

describe('names', () => {
  const reasonOf = (name: string) => checkName('name', name)?.reason ?? null;

  it('stores names in NFC, trimmed, so one name has one spelling', () => {
    assert.equal(normaliseName('  Cafe\u0301 '), 'Caf\u00e9');
    assert.equal(reasonOf('Cafe\u0301'), null);
  });

  it('refuses control characters, C0 and C1', () => {
    for (const name of [
      'bad\u0007name',
      'two\nlines',
      'tab\there',
      'del\u007f',
      'c1\u0085',
      'c1\u009b[31m',
    ]) {
      assert.equal(reasonOf(name), 'BAD_CHARACTERS', JSON.stringify(name));
    }
  });

  it('refuses bidirectional overrides, embeddings and isolates', () => {
    for (const c of [
      '\u202a',
      '\u202b',
      '\u202c',
      '\u202d',
      '\u202e',
      '\u2066',
      '\u2067',
      '\u2068',
      '\u2069',
    ]) {
      assert.equal(reasonOf(`invoice${c}fdp.exe`), 'BIDI_CONTROL', c.codePointAt(0)?.toString(16));
    }
    assert.match(checkName('name', 'a\u202eb')?.message ?? '', /bidirectional control characters/);
    // Right-to-left text itself, and the plain direction marks, are names like any other.
    assert.equal(reasonOf('שיחות \u200fלקוחות'), null);
    assert.equal(reasonOf('مكالمات'), null);
  });

  it('refuses names with nothing visible, but keeps joiners inside visible text', () => {
    for (const name of [
      '\u200b',
      '\u200b\u200c\u200d',
      '\ufeff\u200b',
      '\u2060 \u00a0',
      '\u3164',
      '\u3000\u200b',
    ]) {
      assert.equal(reasonOf(name), 'INVISIBLE', JSON.stringify(name));
    }
    assert.equal(reasonOf('   '), 'REQUIRED');
    assert.equal(reasonOf('Family 👨\u200d👩\u200d👧'), null);
    assert.equal(reasonOf('a\u200bb'), null);
  });

  it('refuses unpaired surrogates and keeps paired ones', () => {
    for (const name of ['bad\ud800', '\udc00bad', 'x\ud83dy']) {
      assert.equal(reasonOf(name), 'LONE_SURROGATE', JSON.stringify(name));
    }
    assert.equal(reasonOf('emoji 😀'), null);
  });

  it('counts characters, not UTF-16 units, and names the real limit', () => {
    assert.equal(limits.nameMaxLength, 64);
    assert.equal(reasonOf('😀'.repeat(64)), null);
    assert.deepEqual(checkName('name', 'x'.repeat(10_000)), {
      field: 'name',
      reason: 'TOO_LONG',
      message: 'must be at most 64 characters',
    });
  });
});
