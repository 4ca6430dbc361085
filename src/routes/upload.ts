/**
 * The calls API, write side: a recording uploaded as a multipart form (`POST /api/calls`, what
 * `curl -F` sends) or as the raw body (`PUT /api/calls/{call_sid}/recording`, what `curl -T`
 * sends). Behind the API guard (guardApi, src/routes/guard.ts, around it in src/server.ts);
 * needs an `admin` credential holding the organization. The bytes stream through the calls
 * service's registration (src/calls/register.ts: stored, hashed and probed on the way, the row
 * written only once they are stored), never buffered whole here, and never past
 * RECPROXY_MAX_UPLOAD_BYTES. A request that fails before its body was read is answered with
 * `Connection: close`, so the rest of a large body is not read for nothing.
 */
import { Transform, type Readable } from 'node:stream';
import type { Multipart, MultipartFile } from '@fastify/multipart';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { assertOrg, assertScope } from '../auth/authenticate.js';
import { InvalidRequest, PayloadTooLarge, UnsupportedMediaType } from '../core/errors.js';
import {
  InvalidFields, wholeNumberField, type FieldProblem, type RecordingSource, type RegisterField, type RegisterFields,
} from '../calls/register.js';
import { CallBody, CallParams, OrgHeaders, UploadFields, UploadQuery, errorResponse, errorResponses } from '../schemas.js';
import { callData } from './calls.js';
import type { AppContext } from '../context.js';

/** What these routes use of the context. */
export type UploadRoutesDeps = Pick<AppContext, 'calls' | 'config'>;

/** The API's name for each of the service's fields: its problems are worded with these. */
const API_FIELDS: Record<RegisterField, string> = {
  org: 'X-Organization-Id',
  sid: 'call_sid',
  to: 'to',
  from: 'from',
  contentType: 'Content-Type',
  startedAt: 'started_at',
  durationMs: 'duration_ms',
};

const FORM_FIELDS = Object.keys(UploadFields.properties);
const QUERY_FIELDS = Object.keys(UploadQuery.properties);

/** A form's parts besides the recording: its text fields and their headers, generously. */
const FORM_OVERHEAD = 64 * 1024;

/** Body types a PUT takes: audio, or bytes of no declared type (the bytes decide which audio). */
const PUT_TYPES = /^(audio\/[a-z0-9!#$&^_.+-]+|application\/octet-stream)\s*(;.*)?$/i;

const uploadResponses = { 200: CallBody, 201: CallBody, ...errorResponses, 409: errorResponse(409), 413: errorResponse(413), 415: errorResponse(415) };

/** The service's field problems in the API's words: `call_sid must be …; started_at must be …`. */
function apiProblems(problems: FieldProblem[]): string {
  return problems.map((p) => `${API_FIELDS[p.field]} ${p.message}`).join('; ');
}

/** The metadata as the calls service takes it. */
function fieldsOf(org: string, sid: string, values: Record<string, string | undefined>): RegisterFields {
  return {
    org,
    sid,
    to: values.to ?? '',
    from: values.from,
    startedAt: values.started_at,
    durationMs: wholeNumberField(values.duration_ms),
  };
}

const tooLarge = (max: number) => new PayloadTooLarge(`the recording is larger than ${max} bytes (RECPROXY_MAX_UPLOAD_BYTES)`);
const cutOff = () => new InvalidRequest('the upload ended before its body was complete');

/**
 * `source`'s bytes, refused past `max` (PAYLOAD_TOO_LARGE) and failing with one plain error when
 * `source` is cut off. Piped, not pipelined: when registration stops reading (not audio, too
 * large), `source` is left as it is, and the response can still be sent on its socket.
 */
function limited(source: Readable, max: number): Readable {
  let seen = 0;
  const out = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max) done(tooLarge(max));
      else done(null, chunk);
    },
  });
  source.once('error', () => out.destroy(cutOff()));
  source.once('close', () => {
    if (!source.readableEnded) out.destroy(cutOff());
  });
  source.pipe(out);
  return out;
}

/** The declared Content-Length, when there is one. */
function declaredLength(request: FastifyRequest): number | undefined {
  const value = request.headers['content-length'];
  return value === undefined ? undefined : Number(value);
}

/** Only an admin credential holding the organization may write; checked before any byte is read. */
function authorize(request: FastifyRequest): string {
  const org = request.headers['x-organization-id'] as string;
  assertScope(request.principal!, 'admin');
  assertOrg(request.principal!, org);
  return org;
}

/** 201 with a new call's metadata, 200 with the call already indexed with these bytes. */
function answer(reply: FastifyReply, registered: { call: Parameters<typeof callData>[0]; created: boolean }) {
  reply.code(registered.created ? 201 : 200);
  reply.header('cache-control', 'private, no-store');
  reply.header('location', `/api/calls/${registered.call.call_sid}`);
  return { success: true as const, data: callData(registered.call) };
}

/** A multipart parser failure in the API's terms; our own errors pass as they are. */
function formError(err: unknown, max: number): unknown {
  const code = (err as { code?: string }).code;
  if (code === 'FST_REQ_FILE_TOO_LARGE') return tooLarge(max);
  if (code && !code.startsWith('FST_') && (err as { statusCode?: number }).statusCode) return err;
  return new InvalidRequest(`the multipart body is malformed: ${(err as Error).message}`);
}

export const uploadRoutes =
  (deps: UploadRoutesDeps): FastifyPluginAsync =>
  async (fastify) => {
    const { calls, config } = deps;
    const max = config.maxUploadBytes;

    /** Registers through the calls service, its field problems worded with the API's names. */
    const register = async (fields: RegisterFields, source: RecordingSource) => {
      try {
        return await calls.register(fields, source);
      } catch (err) {
        if (err instanceof InvalidFields) throw new InvalidRequest(apiProblems(err.problems));
        throw err;
      }
    };

    fastify.addHook('onSend', async (request, reply) => {
      if (!request.raw.complete) reply.header('connection', 'close');
    });

    await fastify.register(async (scope) => {
      const app = scope.withTypeProvider<TypeBoxTypeProvider>();
      // The body is the recording: handed to the route as the request stream, unread.
      app.removeAllContentTypeParsers();
      app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

      app.put(
        '/api/calls/:call_sid/recording',
        { schema: { params: CallParams, headers: OrgHeaders, querystring: UploadQuery, response: uploadResponses } },
        async (request, reply) => {
          const org = authorize(request);
          const query = request.query as Record<string, string | undefined>;
          const unknown = Object.keys(query).find((name) => !QUERY_FIELDS.includes(name));
          if (unknown !== undefined) throw new InvalidRequest(`unknown parameter ${unknown}: the metadata are ${QUERY_FIELDS.join(', ')}`);
          const type = request.headers['content-type'];
          if (type !== undefined && !PUT_TYPES.test(type)) {
            throw new UnsupportedMediaType(`Content-Type ${type} is not audio: send the recording as audio/… or application/octet-stream`);
          }
          const length = declaredLength(request);
          if (length !== undefined && length > max) throw tooLarge(max);
          const body = limited((request.body as Readable | undefined) ?? request.raw, max);
          const registered = await register(fieldsOf(org, request.params.call_sid, query), {
            body,
            size: length,
            name: `the body of ${request.params.call_sid}`,
          });
          return answer(reply, registered);
        },
      );
    });

    await fastify.register(async (scope) => {
      const app = scope.withTypeProvider<TypeBoxTypeProvider>();
      // Only multipart/form-data: nothing else is parsed (or buffered) on the way to a 415.
      app.removeAllContentTypeParsers();
      // busboy stops the file one byte past the limit; `limited` has refused it by then.
      // Imported here, not at the top: only the daemon needs it, not every CLI command.
      const { default: multipart } = await import('@fastify/multipart');
      await app.register(multipart, { limits: { fileSize: max + 1, fieldSize: 1024, fields: 16, parts: 24, headerPairs: 64 } });

      app.post('/api/calls', { schema: { headers: OrgHeaders, response: uploadResponses } }, async (request, reply) => {
        const org = authorize(request);
        if (!request.isMultipart()) {
          throw new UnsupportedMediaType('POST /api/calls takes multipart/form-data: the metadata fields, then one part named file (curl -F)');
        }
        const length = declaredLength(request);
        if (length !== undefined && length > max + FORM_OVERHEAD) throw tooLarge(max);
        let parts: AsyncIterator<Multipart>;
        try {
          parts = request.parts()[Symbol.asyncIterator]();
        } catch (err) {
          throw formError(err, max);
        }
        const next = () => parts.next().catch((err: unknown) => Promise.reject(formError(err, max)));

        const values: Record<string, string> = {};
        let file: MultipartFile | undefined;
        for (let step = await next(); !step.done; step = await next()) {
          const part = step.value;
          if (part.type === 'file') {
            if (part.fieldname !== 'file') throw new InvalidRequest(`unexpected file part ${part.fieldname}: the recording goes in the part named file`);
            file = part;
            break;
          }
          const name = part.fieldname;
          if (name === 'file') throw new InvalidRequest('file must be a file part (curl -F file=@PATH), not a text field');
          if (!FORM_FIELDS.includes(name)) throw new InvalidRequest(`unknown field ${name}: the fields are ${FORM_FIELDS.join(', ')}, then file`);
          if (name in values) throw new InvalidRequest(`${name} is given twice`);
          if (part.valueTruncated || typeof part.value !== 'string') throw new InvalidRequest(`${name} is too long`);
          values[name] = part.value;
        }
        if (!file) throw new InvalidRequest('no file part: send the recording as the part named file (curl -F file=@PATH)');
        for (const required of ['call_sid', 'to']) {
          if (values[required] === undefined) throw new InvalidRequest(`${required} is required, before the file part`);
        }

        const registered = await register(fieldsOf(org, values.call_sid!, values), {
          body: limited(file.file, max),
          name: file.filename || 'file',
          // The recording is stored: the rest of the form must hold nothing more.
          async complete() {
            const step = await next();
            if (step.done) return;
            if (step.value.type === 'file') throw new InvalidRequest('exactly one file part is allowed; this form has more');
            throw new InvalidRequest(`field ${step.value.fieldname} comes after the file part: the metadata fields come first`);
          },
        });
        return answer(reply, registered);
      });
    });
  };
