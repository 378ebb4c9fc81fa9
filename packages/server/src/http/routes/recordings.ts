import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { RecordingListQuerySchema, RecordingListSchema, RecordingSchema } from '@parley/protocol';
import { ParleyError } from '../../errors.js';
import {
  deleteRecording,
  getRecording,
  listRecordings,
  recordingFile,
  startRoomRecording,
  stopRoomRecording,
  type RecordingServiceDeps,
} from '../../recordings/service.js';
import type { ObjectStorage } from '../../recordings/object-storage.js';
import { accessTo, type RouteDeps } from '../deps.js';

const CallAppParams = Type.Object({
  workspaceId: Type.String(),
  appId: Type.String(),
  bizName: Type.String(),
});
const RecordingParams = Type.Object({
  workspaceId: Type.String(),
  appId: Type.String(),
  bizName: Type.String(),
  recordId: Type.String(),
});
const RoomParams = Type.Object({
  workspaceId: Type.String(),
  appId: Type.String(),
  bizName: Type.String(),
  roomId: Type.String(),
});
const FileQuery = Type.Object({
  download: Type.Optional(Type.Boolean({ description: 'true: served as an attachment (Save as)' })),
});
const base = '/workspaces/:workspaceId/apps/:appId/call-apps/:bizName';
const tags = ['recordings'];

/** `bytes=a-b` / `bytes=a-` / `bytes=-n` of one range; null when absent or not satisfiable as one. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) return null;
  return { start, end };
}

/**
 * Sends a file of `size` bytes, honouring one byte range (browsers' video element seeks with
 * them), so a recording plays and seeks in the console wherever it is stored.
 */
async function sendRanged(
  req: FastifyRequest,
  reply: FastifyReply,
  size: number,
  contentType: string,
  open: (range: { start: number; end: number }) => Promise<NodeJS.ReadableStream>,
): Promise<FastifyReply> {
  const range = parseRange(req.headers.range, size);
  if (req.headers.range && !range && size > 0) {
    reply.header('content-range', `bytes */${size}`);
    return reply.status(416).send();
  }
  const span = range ?? { start: 0, end: size - 1 };
  reply.header('accept-ranges', 'bytes');
  reply.header('content-type', contentType);
  reply.header('content-length', String(Math.max(0, span.end - span.start + 1)));
  if (range) {
    reply.status(206);
    reply.header('content-range', `bytes ${range.start}-${range.end}/${size}`);
  }
  if (size === 0) return reply.send('');
  return reply.send(await open(span));
}

async function sendLocal(file: string, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    throw new ParleyError('RECORDING_FILE_GONE');
  }
  return sendRanged(req, reply, size, 'video/mp4', async (span) => createReadStream(file, span));
}

async function sendObject(
  storage: ObjectStorage,
  key: string,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const head = await storage.download(key, { start: 0, end: 0 });
  (head.body as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  return sendRanged(req, reply, head.totalLength, head.contentType ?? 'video/mp4', async (span) => {
    return (await storage.download(key, span)).body;
  });
}

export function recordingRoutes(app: FastifyInstance, deps: RouteDeps, rec: RecordingServiceDeps): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { svc } = deps;

  r.get(
    `${base}/recordings`,
    {
      schema: {
        tags,
        summary: 'Recordings of a call application, newest first',
        params: CallAppParams,
        querystring: RecordingListQuerySchema,
        response: { 200: RecordingListSchema },
      },
    },
    async (req) =>
      listRecordings(
        svc,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.query,
      ),
  );

  r.get(
    `${base}/recordings/:recordId`,
    {
      schema: { tags, summary: 'One recording', params: RecordingParams, response: { 200: RecordingSchema } },
    },
    async (req) =>
      getRecording(
        svc,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.params.recordId,
      ),
  );

  r.get(
    `${base}/recordings/:recordId/file`,
    {
      schema: {
        tags,
        summary: 'The recording file (MP4; Range requests for playing, ?download=true for an attachment)',
        params: RecordingParams,
        querystring: FileQuery,
      },
    },
    async (req, reply) => {
      const where = await recordingFile(
        svc,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.params.recordId,
      );
      if (req.query.download) {
        reply.header('content-disposition', `attachment; filename="${req.params.recordId}.mp4"`);
      }
      reply.header('cache-control', 'private, no-store');
      if ('local' in where) {
        return sendLocal(where.local, req, reply);
      }
      if (!rec.storage) throw new ParleyError('RECORDING_FILE_GONE');
      return sendObject(rec.storage, where.objectKey, req, reply);
    },
  );

  r.delete(
    `${base}/recordings/:recordId`,
    { schema: { tags, summary: 'Delete a recording and its file (developer)', params: RecordingParams } },
    async (req, reply) => {
      await deleteRecording(
        rec,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.params.recordId,
      );
      return reply.status(204).send();
    },
  );

  r.post(
    `${base}/rooms/:roomId/recording`,
    {
      schema: {
        tags,
        summary:
          "Start recording a live room with the call application's recording options (developer); callbacks follow",
        params: RoomParams,
        response: { 201: RecordingSchema },
      },
    },
    async (req, reply) =>
      reply
        .status(201)
        .send(
          await startRoomRecording(
            rec,
            await accessTo(deps, req, req.params.workspaceId),
            req.params.appId,
            req.params.bizName,
            req.params.roomId,
          ),
        ),
  );

  r.delete(
    `${base}/rooms/:roomId/recording`,
    {
      schema: {
        tags,
        summary: "Stop a room's recording (developer); the file and the 99 callback follow",
        params: RoomParams,
        response: { 200: RecordingSchema },
      },
    },
    async (req) =>
      stopRoomRecording(
        rec,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.params.roomId,
      ),
  );
}
