// Runs the object-storage module against a real S3 implementation (s3rver on loopback), so
// these tests see the same requests, answers and failures a customer's store would give: bytes
// are compared by hash, failures by kind and attempt count. Faults the store cannot produce on
// demand (a 503, a closed port, a server that never answers) come from small loopback servers
// here, not from mocks of S3.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  checkObjectStorageConfig,
  createObjectStorage,
  ObjectStorageError,
  type ObjectStorage,
  type ObjectStorageConfig,
  type ObjectStorageErrorKind,
} from '../src/recordings/object-storage.js';

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverCtor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;

const BUCKET = 'parley-test';
// s3rver knows one account; it checks the access key ID (not the V4 signature).
const ACCESS_KEY = 'S3RVER';
const SECRET = 'S3RVER';
const MiB = 1024 * 1024;

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** A plain unauthenticated GET (s3rver serves objects to anonymous requests). */
function httpGet(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        readAll(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject);
      })
      .on('error', reject);
  });
}

async function freeClosedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  failed: boolean;
}

type Fault = { status: number; contentType: string; body: string };
const unavailable: Fault = { status: 503, contentType: 'text/plain', body: 'try again later' };

/** An HTTP proxy in front of s3rver that answers the requests `fault` picks itself. */
async function startFaultyProxy(
  upstreamPort: number,
  fault: (req: http.IncomingMessage, index: number) => Fault | null,
): Promise<{ port: number; seen: SeenRequest[]; close(): Promise<void> }> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const answer = fault(req, seen.length);
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      failed: answer !== null,
    });
    if (answer) {
      req.resume();
      req.on('end', () => {
        res.writeHead(answer.status, { 'content-type': answer.contentType });
        res.end(answer.body);
      });
      return;
    }
    const headers = { ...req.headers };
    delete headers.expect;
    const upstream = http.request(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Accepts connections and never answers. */
async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function expectStorageError(
  promise: Promise<unknown>,
  kind: ObjectStorageErrorKind,
  attempts: number,
): Promise<ObjectStorageError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ObjectStorageError, `expected ObjectStorageError, got ${String(err)}`);
    assert.equal(err.kind, kind, `kind of: ${err.message}`);
    assert.equal(err.attempts, attempts, `attempts of: ${err.message}`);
    return err;
  }
  assert.fail(`expected an ObjectStorageError of kind ${kind}`);
}

describe('object storage (s3rver)', () => {
  let dir: string;
  let s3: S3rverInstance;
  let s3Port: number;
  const storages: ObjectStorage[] = [];
  const files: Record<string, { path: string; data: Buffer }> = {};

  const configFor = (port: number, overrides: Partial<ObjectStorageConfig> = {}): ObjectStorageConfig => ({
    endpoint: `http://127.0.0.1:${port}`,
    bucket: BUCKET,
    region: 'us-east-1',
    accessKeyId: ACCESS_KEY,
    secretAccessKey: SECRET,
    prefix: 'recordings/',
    forcePathStyle: true,
    publicBaseUrl: '',
    ...overrides,
  });
  const open = (config: ObjectStorageConfig, options: Parameters<typeof createObjectStorage>[1] = {}) => {
    const storage = createObjectStorage(config, { backoffMs: 10, requestTimeoutMs: 5000, ...options });
    storages.push(storage);
    return storage;
  };
  const makeFile = async (name: string, size: number) => {
    const data = randomBytes(size);
    const file = path.join(dir, 'files', name);
    await writeFile(file, data);
    files[name] = { path: file, data };
    return { path: file, data };
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'parley-object-storage-'));
    await mkdir(path.join(dir, 'files'));
    s3 = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory: path.join(dir, 's3'),
      configureBuckets: [{ name: BUCKET }],
    });
    ({ port: s3Port } = await s3.run());
    await makeFile('small.bin', 3 * MiB + 12345);
    await makeFile('big.bin', 12 * MiB + 777);
  });

  after(async () => {
    for (const s of storages) s.close();
    await s3.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('uploads a 3 MB file in one request; download, SDK-free GET and hash agree', async () => {
    const storage = open(configFor(s3Port));
    const { path: file, data } = files['small.bin']!;
    const result = await storage.upload(file, 'room-1/call.mp4', 'video/mp4');
    assert.equal(result.key, 'recordings/room-1/call.mp4');
    assert.equal(result.url, `http://127.0.0.1:${s3Port}/${BUCKET}/recordings/room-1/call.mp4`);
    assert.equal(result.bytes, data.length);
    assert.equal(result.attempts, 1);
    assert.equal(result.etag, createHash('md5').update(data).digest('hex'));

    const got = await storage.download(result.key);
    assert.equal(got.contentLength, data.length);
    assert.equal(got.totalLength, data.length);
    assert.equal(got.contentType, 'video/mp4');
    assert.equal(sha256(await readAll(got.body)), sha256(data));

    const plain = await httpGet(result.url);
    assert.equal(plain.status, 200);
    assert.equal(sha256(plain.body), sha256(data));
  });

  it('uploads a 12 MB file as a multipart upload of 5 MiB parts', async () => {
    const storage = open(configFor(s3Port), { partSizeBytes: 5 * MiB });
    const { path: file, data } = files['big.bin']!;
    const result = await storage.upload(file, 'room-2/call.mp4');
    assert.equal(result.key, 'recordings/room-2/call.mp4');
    assert.equal(result.bytes, data.length);
    assert.equal(result.attempts, 1);
    assert.ok(result.etag);
    const got = await storage.download(result.key);
    assert.equal(got.contentLength, data.length);
    assert.equal(sha256(await readAll(got.body)), sha256(data));
    const plain = await httpGet(result.url);
    assert.equal(sha256(plain.body), sha256(data));
  });

  it('uses publicBaseUrl for the URL when set, and an empty prefix as is', async () => {
    const storage = open(configFor(s3Port, { prefix: '', publicBaseUrl: 'https://cdn.example.com/media/' }));
    const { path: file } = files['small.bin']!;
    const result = await storage.upload(file, 'flat.mp4');
    assert.equal(result.key, 'flat.mp4');
    assert.equal(result.url, 'https://cdn.example.com/media/flat.mp4');
  });

  it('round-trips an empty file and a key with spaces and non-ASCII characters', async () => {
    const storage = open(configFor(s3Port));
    const empty = await makeFile('empty.bin', 0);
    const r1 = await storage.upload(empty.path, 'empty.mp4');
    assert.equal(r1.bytes, 0);
    assert.equal((await readAll((await storage.download(r1.key)).body)).length, 0);

    const { path: file, data } = files['small.bin']!;
    const r2 = await storage.upload(file, 'room 7/通话 #1.mp4');
    assert.equal(r2.key, 'recordings/room 7/通话 #1.mp4');
    assert.equal(
      r2.url,
      `http://127.0.0.1:${s3Port}/${BUCKET}/recordings/room%207/${encodeURIComponent('通话 #1.mp4')}`,
    );
    assert.equal(sha256(await readAll((await storage.download(r2.key)).body)), sha256(data));
    const plain = await httpGet(r2.url);
    assert.equal(plain.status, 200);
    assert.equal(sha256(plain.body), sha256(data));
  });

  it('downloads exactly the requested byte range', async () => {
    const storage = open(configFor(s3Port));
    const { path: file, data } = files['small.bin']!;
    const { key } = await storage.upload(file, 'range/call.mp4');

    const mid = await storage.download(key, { start: 1000, end: 1999 });
    assert.equal(mid.contentLength, 1000);
    assert.equal(mid.totalLength, data.length);
    assert.deepEqual(await readAll(mid.body), data.subarray(1000, 2000));

    const tail = await storage.download(key, { start: data.length - 10 });
    assert.equal(tail.contentLength, 10);
    assert.equal(tail.totalLength, data.length);
    assert.deepEqual(await readAll(tail.body), data.subarray(data.length - 10));

    await assert.rejects(storage.download(key, { start: 5, end: 4 }), RangeError);
  });

  it('retries a 503 with backoff, sending a Content-MD5 the store can check', async () => {
    const proxy = await startFaultyProxy(s3Port, (_req, index) => (index < 2 ? unavailable : null));
    try {
      const warnings: object[] = [];
      const log = { warn: (obj: object) => warnings.push(obj), info: () => {} };
      const storage = open(configFor(proxy.port), { attempts: 4, log });
      const { path: file, data } = files['small.bin']!;
      const result = await storage.upload(file, 'retry/call.mp4');
      assert.equal(result.attempts, 3);
      assert.equal(proxy.seen.filter((r) => r.method === 'PUT').length, 3);
      assert.equal(warnings.length, 2);
      const md5 = createHash('md5').update(data).digest('base64');
      for (const r of proxy.seen) assert.equal(r.headers['content-md5'], md5);
      // Read back from s3rver itself, not through the proxy.
      const plain = await httpGet(`http://127.0.0.1:${s3Port}/${BUCKET}/recordings/retry/call.mp4`);
      assert.equal(sha256(plain.body), sha256(data));
    } finally {
      await proxy.close();
    }
  });

  it('retries only the failed part of a multipart upload', async () => {
    let part2Failures = 0;
    const proxy = await startFaultyProxy(s3Port, (req) => {
      if (req.method === 'PUT' && /[?&]partNumber=2(&|$)/.test(req.url ?? '') && part2Failures < 2) {
        part2Failures++;
        return unavailable;
      }
      return null;
    });
    try {
      const storage = open(configFor(proxy.port), { attempts: 4, partSizeBytes: 5 * MiB });
      const { path: file, data } = files['big.bin']!;
      const result = await storage.upload(file, 'retry/big.mp4');
      assert.equal(result.attempts, 3);
      const partPuts = (n: number) =>
        proxy.seen.filter((r) => r.method === 'PUT' && new RegExp(`[?&]partNumber=${n}(&|$)`).test(r.url))
          .length;
      assert.deepEqual([partPuts(1), partPuts(2), partPuts(3)], [1, 3, 1]);
      const plain = await httpGet(`http://127.0.0.1:${s3Port}/${BUCKET}/recordings/retry/big.mp4`);
      assert.equal(sha256(plain.body), sha256(data));
    } finally {
      await proxy.close();
    }
  });

  it('gives up on a refused connection after the configured attempts, in bounded time', async () => {
    const port = await freeClosedPort();
    const storage = open(configFor(port, { secretAccessKey: 'very-secret-value' }), {
      attempts: 3,
      backoffMs: 20,
    });
    const started = Date.now();
    const err = await expectStorageError(
      storage.upload(files['small.bin']!.path, 'nowhere.mp4'),
      'refused',
      3,
    );
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.match(err.message, new RegExp(BUCKET));
    assert.match(err.message, /recordings\/nowhere\.mp4/);
    assert.equal(err.message.includes('very-secret-value'), false);
    assert.equal(err.code, 'ECONNREFUSED');
    await expectStorageError(storage.check(), 'refused', 1);
  });

  it('reports a timeout when the server never answers', async () => {
    const silent = await startSilentServer();
    try {
      const storage = open(configFor(silent.port), { attempts: 2, requestTimeoutMs: 300 });
      const started = Date.now();
      await expectStorageError(storage.upload(files['small.bin']!.path, 'slow.mp4'), 'timeout', 2);
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    } finally {
      await silent.close();
    }
  });

  it('reports a host name that does not resolve as dns', async () => {
    const storage = open(configFor(1, { endpoint: 'http://parley-object-storage-test.invalid:4568' }), {
      attempts: 2,
    });
    await expectStorageError(storage.check(), 'dns', 1);
    await expectStorageError(storage.upload(files['small.bin']!.path, 'x.mp4'), 'dns', 2);
  });

  it('fails at once on a missing bucket, wrong keys or a missing local file', async () => {
    const good = open(configFor(s3Port), { attempts: 4 });
    await good.check();

    const noBucket = open(configFor(s3Port, { bucket: 'no-such-bucket' }), { attempts: 4 });
    const err = await expectStorageError(noBucket.upload(files['small.bin']!.path, 'a.mp4'), 'no-bucket', 1);
    assert.match(err.message, /no-such-bucket/);
    await expectStorageError(noBucket.check(), 'no-bucket', 1);
    await expectStorageError(
      open(configFor(s3Port, { bucket: 'no-such-bucket' }), { attempts: 4, partSizeBytes: 5 * MiB }).upload(
        files['big.bin']!.path,
        'b.mp4',
      ),
      'no-bucket',
      1,
    );

    // 3 MB bodies: s3rver answers before reading them and drops the connection, which the
    // module has to see through (EPIPE) to report the real cause.
    const badKey = open(configFor(s3Port, { accessKeyId: 'WRONGKEY' }), { attempts: 4 });
    await expectStorageError(badKey.upload(files['small.bin']!.path, 'a.mp4'), 'auth', 1);
    await expectStorageError(badKey.check(), 'auth', 1);

    await expectStorageError(good.upload(path.join(dir, 'files', 'missing.mp4'), 'a.mp4'), 'io', 1);
    await expectStorageError(good.upload(path.join(dir, 'files'), 'a.mp4'), 'io', 1);
  });

  it('deletes an object; deleting a missing key is not an error', async () => {
    const storage = open(configFor(s3Port));
    const { key, url } = await storage.upload(files['small.bin']!.path, 'delete/call.mp4');
    assert.equal((await httpGet(url)).status, 200);
    await storage.delete(key);
    const err = await expectStorageError(storage.download(key), 'http', 1);
    assert.equal(err.status, 404);
    assert.equal(err.code, 'NoSuchKey');
    assert.equal((await httpGet(url)).status, 404);
    await storage.delete(key);
    await storage.delete('recordings/never-existed.mp4');
  });

  it('treats a 404 NoSuchKey answer to a delete as success, as some S3-compatible stores send it', async () => {
    const noSuchKey: Fault = {
      status: 404,
      contentType: 'application/xml',
      body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>',
    };
    const proxy = await startFaultyProxy(s3Port, (req) => (req.method === 'DELETE' ? noSuchKey : null));
    try {
      const storage = open(configFor(proxy.port));
      await storage.delete('recordings/never-existed.mp4');
      assert.equal(proxy.seen.filter((r) => r.failed).length, 1);
    } finally {
      await proxy.close();
    }
  });

  it('close() is idempotent and stops a retry in progress', async () => {
    const port = await freeClosedPort();
    const storage = createObjectStorage(configFor(port), { attempts: 4, backoffMs: 10_000 });
    const started = Date.now();
    const pending = storage.upload(files['small.bin']!.path, 'closing.mp4');
    await new Promise((resolve) => setTimeout(resolve, 200));
    storage.close();
    storage.close();
    await assert.rejects(
      pending,
      (err: Error) => !(err instanceof ObjectStorageError) && /closed/.test(err.message),
    );
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
    await assert.rejects(storage.check(), /closed/);
    storage.close();

    const fresh = createObjectStorage(configFor(s3Port));
    await fresh.check();
    fresh.close();
    fresh.close();
  });
});

describe('checkObjectStorageConfig', () => {
  const good: ObjectStorageConfig = {
    endpoint: 'https://oss-cn-hangzhou.aliyuncs.com',
    bucket: 'parley-recordings',
    region: 'cn-hangzhou',
    accessKeyId: 'LTAI5tExample',
    secretAccessKey: 'secretExample',
    prefix: 'recordings/',
    forcePathStyle: false,
    publicBaseUrl: '',
  };
  const fields = (overrides: Partial<ObjectStorageConfig>) =>
    checkObjectStorageConfig({ ...good, ...overrides }).map((p) => p.field);

  it('accepts a good config', () => {
    assert.deepEqual(checkObjectStorageConfig(good), []);
    assert.deepEqual(fields({ endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, prefix: '' }), []);
    assert.deepEqual(fields({ publicBaseUrl: 'https://cdn.example.com/rec' }), []);
  });

  it('flags a bad endpoint', () => {
    assert.deepEqual(fields({ endpoint: '' }), ['endpoint']);
    assert.deepEqual(fields({ endpoint: 'oss-cn-hangzhou.aliyuncs.com' }), ['endpoint']);
    assert.deepEqual(fields({ endpoint: 'ftp://oss-cn-hangzhou.aliyuncs.com' }), ['endpoint']);
    assert.deepEqual(fields({ endpoint: 'https://user:pw@oss-cn-hangzhou.aliyuncs.com' }), ['endpoint']);
    assert.deepEqual(fields({ endpoint: 'https://parley-recordings.oss-cn-hangzhou.aliyuncs.com' }), [
      'endpoint',
    ]);
  });

  it('flags a bad bucket name', () => {
    for (const bucket of [
      '',
      'ab',
      'Parley',
      'parley_recordings',
      '-parley',
      'parley-',
      'a..b',
      '192.168.1.1',
      'x'.repeat(64),
    ]) {
      assert.deepEqual(fields({ bucket }), ['bucket'], bucket);
    }
    assert.deepEqual(fields({ bucket: 'parley.recordings' }), ['bucket']);
    assert.deepEqual(fields({ bucket: 'parley.recordings', forcePathStyle: true }), []);
  });

  it('flags empty region and keys, and bad prefix or public URL', () => {
    assert.deepEqual(fields({ region: '' }), ['region']);
    assert.deepEqual(fields({ accessKeyId: '', secretAccessKey: '' }), ['accessKeyId', 'secretAccessKey']);
    assert.deepEqual(fields({ secretAccessKey: 'abc\n' }), ['secretAccessKey']);
    assert.deepEqual(fields({ prefix: '/recordings/' }), ['prefix']);
    assert.deepEqual(fields({ publicBaseUrl: 'cdn.example.com' }), ['publicBaseUrl']);
  });

  it('createObjectStorage refuses an invalid config without echoing the secret', () => {
    assert.throws(
      () => createObjectStorage({ ...good, bucket: 'Bad_Bucket', secretAccessKey: 'top secret' }),
      (err: Error) => /bucket/.test(err.message) && !err.message.includes('top secret'),
    );
  });
});
