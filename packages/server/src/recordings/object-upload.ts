// Uploading a local file: one PutObject for a small file, a multipart upload we drive ourselves
// for a big one. Each part is streamed from disk, so a transient failure retries one part
// rather than the whole recording and memory use does not grow with the part size. Every body
// carries a Content-MD5 header: integrity every S3-compatible store verifies, where the SDK's
// newer checksums are rejected by several of them.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  LocalFileError,
  ObjectStorageError,
  describe,
  type StorageOperation,
} from './object-storage-errors.js';

const MAX_PARTS = 10_000;
const PART_CONCURRENCY = 4;

/** Runs one request of the storage with its retries; see withRetry in ./object-storage.ts. */
export type RetriedRequest = <T>(
  op: StorageOperation,
  what: string,
  key: string | null,
  fn: (signal: AbortSignal, attempt: number) => Promise<T>,
  opts?: { attempts?: number; group?: AbortSignal; diagnose?: boolean },
) => Promise<{ value: T; attempts: number }>;

/** What an upload needs of the storage it runs in. */
export interface UploadContext {
  client: S3Client;
  bucket: string;
  /** The endpoint as safe to print, for messages. */
  endpointText: string;
  /** Files larger than this go up in parts; see ObjectStorageOptions.partSizeBytes. */
  partSize: number;
  withRetry: RetriedRequest;
  /** True once close() was called: an unfinished multipart upload is then left to the lifecycle rules. */
  isClosed(): boolean;
  hideSecret(text: string): string;
  log?: { warn(obj: object, msg?: string): void } | undefined;
}

/** A local file and where it goes. */
export interface FileToUpload {
  file: string;
  /** The object key, prefix included. */
  fullKey: string;
  size: number;
  contentType: string | undefined;
}

/** An upload's ETag (without quotes) and the most tries any of its requests needed. */
export interface StoredFile {
  etag: string | null;
  attempts: number;
}

function stripQuotes(etag: string | undefined): string | null {
  if (!etag) return null;
  return etag.replace(/^"(.*)"$/, '$1');
}

async function md5OfRange(file: string, start: number, length: number, signal: AbortSignal): Promise<string> {
  const hash = createHash('md5');
  if (length > 0) {
    try {
      const stream = createReadStream(file, { start, end: start + length - 1, signal });
      for await (const chunk of stream) hash.update(chunk as Buffer);
    } catch (err) {
      if (signal.aborted) throw err;
      throw new LocalFileError(file, err);
    }
  }
  return hash.digest('base64');
}

/** Sends `length` bytes of `file` from `start` as the body of one request, with its MD5. */
async function sendFileRange<T>(
  file: string,
  start: number,
  length: number,
  signal: AbortSignal,
  md5: string,
  send: (body: Readable | Uint8Array, md5: string, abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  if (length === 0) return send(new Uint8Array(0), md5, signal);
  const request = new AbortController();
  const onAbort = () => request.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  let readError: unknown = null;
  const body = createReadStream(file, { start, end: start + length - 1 });
  // The HTTP handler pipes the body without watching it; a read error must end the request.
  body.on('error', (err) => {
    readError = err;
    request.abort(err);
  });
  try {
    return await send(body, md5, request.signal);
  } catch (err) {
    if (readError !== null && !signal.aborted) throw new LocalFileError(file, readError);
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    body.destroy();
  }
}

/** Uploads a file of at most partSize bytes with one PutObject. */
export async function putSingle(ctx: UploadContext, upload: FileToUpload): Promise<StoredFile> {
  const { file, fullKey, size, contentType } = upload;
  const { client, bucket, withRetry } = ctx;
  let md5: string | null = null;
  const r = await withRetry(
    'PutObject',
    'upload',
    fullKey,
    async (signal) => {
      md5 ??= await md5OfRange(file, 0, size, signal);
      return sendFileRange(file, 0, size, signal, md5, (Body, ContentMD5, abortSignal) =>
        client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: fullKey,
            Body,
            ContentLength: size,
            ContentMD5,
            ContentType: contentType,
          }),
          { abortSignal },
        ),
      );
    },
    { diagnose: true },
  );
  return { etag: stripQuotes(r.value.ETag), attempts: r.attempts };
}

/** Uploads a file larger than partSize as a multipart upload, a few parts at a time; aborts the upload when it fails. */
export async function putMultipart(ctx: UploadContext, upload: FileToUpload): Promise<StoredFile> {
  const { file, fullKey, size, contentType } = upload;
  const { client, bucket, endpointText, partSize, withRetry, hideSecret, log } = ctx;
  const part = Math.max(partSize, Math.ceil(size / MAX_PARTS));
  const count = Math.ceil(size / part);
  const created = await withRetry('CreateMultipartUpload', 'upload', fullKey, (signal) =>
    client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: fullKey, ContentType: contentType }),
      {
        abortSignal: signal,
      },
    ),
  );
  const uploadId = created.value.UploadId;
  if (!uploadId) {
    throw new ObjectStorageError(
      'http',
      `object storage upload failed: the server started a multipart upload without an upload ID (endpoint ${endpointText}, bucket ${bucket}, key ${fullKey})`,
      created.attempts,
    );
  }
  let attempts = created.attempts;
  const etags: string[] = new Array<string>(count);
  const group = new AbortController();
  let failure: unknown = null;
  let next = 0;
  const worker = async () => {
    while (failure === null && next < count) {
      const index = next++;
      const start = index * part;
      const length = Math.min(part, size - start);
      let md5: string | null = null;
      try {
        const r = await withRetry(
          'UploadPart',
          `upload (part ${index + 1} of ${count})`,
          fullKey,
          async (signal) => {
            md5 ??= await md5OfRange(file, start, length, signal);
            return sendFileRange(file, start, length, signal, md5, (Body, ContentMD5, abortSignal) =>
              client.send(
                new UploadPartCommand({
                  Bucket: bucket,
                  Key: fullKey,
                  UploadId: uploadId,
                  PartNumber: index + 1,
                  Body,
                  ContentLength: length,
                  ContentMD5,
                }),
                { abortSignal },
              ),
            );
          },
          { group: group.signal, diagnose: true },
        );
        if (!r.value.ETag) {
          throw new ObjectStorageError(
            'http',
            `object storage upload failed: part ${index + 1} was stored without an ETag (endpoint ${endpointText}, bucket ${bucket}, key ${fullKey})`,
            r.attempts,
          );
        }
        etags[index] = r.value.ETag;
        attempts = Math.max(attempts, r.attempts);
      } catch (err) {
        if (failure === null) {
          failure = err;
          group.abort(err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PART_CONCURRENCY, count) }, worker));
  if (failure === null) {
    try {
      const done = await withRetry('CompleteMultipartUpload', 'upload', fullKey, async (signal, attempt) => {
        try {
          return await client.send(
            new CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key: fullKey,
              UploadId: uploadId,
              MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
            }),
            { abortSignal: signal },
          );
        } catch (err) {
          // An earlier try may have completed the upload with its answer lost on the way.
          if (attempt > 1 && err instanceof Error && err.name === 'NoSuchUpload') {
            const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: fullKey }), {
              abortSignal: signal,
            });
            if (head.ContentLength === size) return { ETag: head.ETag };
          }
          throw err;
        }
      });
      return { etag: stripQuotes(done.value.ETag), attempts: Math.max(attempts, done.attempts) };
    } catch (err) {
      failure = err;
    }
  }
  // Parts of an unfinished upload are billed until aborted: try once, never mask the failure.
  if (!ctx.isClosed()) {
    try {
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: fullKey, UploadId: uploadId }),
      );
    } catch (err) {
      log?.warn(
        { endpoint: endpointText, bucket, key: fullKey, uploadId, err: hideSecret(describe(err)) },
        'object storage: could not abort an unfinished multipart upload; a lifecycle rule will have to remove its parts',
      );
    }
  }
  throw failure;
}
