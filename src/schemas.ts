/** Route schemas (TypeBox): params, headers and responses are validated and serialised by them. */
import Type from 'typebox';
import { CALL_SID_PATTERN, ORG_ID_PATTERN } from './core/ids.js';

export const CallParams = Type.Object({
  call_sid: Type.String({ pattern: CALL_SID_PATTERN, description: 'call_ followed by 1-64 ASCII letters or digits' }),
});

export const OrgHeaders = Type.Object({
  'x-organization-id': Type.String({ pattern: ORG_ID_PATTERN, description: 'the tenant that owns the call' }),
});

export const MediaParams = Type.Object({
  token: Type.String({ maxLength: 4096 }),
});

export const ErrorBody = Type.Object({
  success: Type.Literal(false),
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});

export const StreamBody = Type.Object({
  success: Type.Literal(true),
  data: Type.Object({
    url: Type.String(),
    expires_in: Type.Integer(),
    content_type: Type.String(),
    filename: Type.String(),
  }),
});

/** A call's metadata as the API answers it (never its storage key). */
export const CallData = Type.Object({
  call_sid: Type.String(),
  to: Type.String(),
  from: Type.Union([Type.String(), Type.Null()]),
  started_at: Type.Union([Type.String(), Type.Null()]),
  duration_ms: Type.Union([Type.Integer(), Type.Null()]),
  content_type: Type.String(),
  size_bytes: Type.Integer(),
  sha256: Type.String(),
  created_at: Type.String(),
  /** On legal hold (not deleted, by hand or by retention, while true), and since when. */
  legal_hold: Type.Boolean(),
  legal_hold_at: Type.Union([Type.String(), Type.Null()]),
});

export const CallBody = Type.Object({ success: Type.Literal(true), data: CallData });

/** GET /api/calls: filters, page size and cursor (README: Endpoints). */
export const CallListQuery = Type.Object(
  {
    to: Type.Optional(Type.String({ minLength: 1, maxLength: 65, description: 'exact, or a prefix when it ends in *' })),
    from: Type.Optional(Type.String({ minLength: 1, maxLength: 65, description: 'exact, or a prefix when it ends in *' })),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'started_at at or after it' })),
    until: Type.Optional(Type.String({ format: 'date-time', description: 'started_at before it' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  { additionalProperties: false },
);

export const CallListBody = Type.Object({
  success: Type.Literal(true),
  data: Type.Array(CallData),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
});

/**
 * The error codes an API route may answer, by status (the README's error table words each one);
 * the OpenAPI document (src/routes/openapi.ts) lists them under each route's responses.
 */
export const ERROR_CODES: Record<number, string[]> = {
  400: ['INVALID_CALL_SID', 'MISSING_ORGANIZATION', 'INVALID_ORGANIZATION', 'INVALID_REQUEST', 'INVALID_CURSOR'],
  401: ['UNAUTHORIZED'],
  403: ['ORG_FORBIDDEN', 'INSUFFICIENT_SCOPE', 'TOKEN_INVALID', 'TOKEN_EXPIRED', 'TOKEN_REVOKED'],
  404: ['CALL_NOT_FOUND', 'RECORDING_NOT_FOUND', 'ROUTE_NOT_FOUND'],
  409: ['CALL_EXISTS', 'LEGAL_HOLD'],
  412: ['PRECONDITION_FAILED'],
  413: ['PAYLOAD_TOO_LARGE'],
  415: ['UNSUPPORTED_MEDIA_TYPE'],
  416: ['RANGE_NOT_SATISFIABLE'],
  422: ['WAVEFORM_UNAVAILABLE'],
  429: ['RATE_LIMITED'],
  500: ['INTERNAL_ERROR'],
  503: ['STORAGE_UNAVAILABLE', 'INDEX_BUSY', 'AUTH_UNAVAILABLE', 'SERVER_BUSY'],
};

/** The error body of `status`, described by the codes it may carry. */
export const errorResponse = (status: number) => ({ ...ErrorBody, description: `Error codes: ${(ERROR_CODES[status] ?? []).join(', ')}` });

/**
 * An upload's metadata besides its call_sid: PUT /api/calls/{call_sid}/recording's query
 * parameters. Plain strings here: the calls service checks them and its problems name these
 * fields (src/routes/upload.ts); any other parameter is refused by name.
 */
export const UploadQuery = Type.Object({
  to: Type.Optional(Type.String({ maxLength: 1024, description: 'the number or address called (required)' })),
  from: Type.Optional(Type.String({ maxLength: 1024, description: 'the caller' })),
  started_at: Type.Optional(Type.String({ maxLength: 1024, description: 'ISO 8601; stored in UTC' })),
  duration_ms: Type.Optional(Type.String({ maxLength: 1024, description: 'used only when the bytes do not tell the duration' })),
});

/** POST /api/calls: the multipart form's text fields, before its one `file` part. */
export const UploadFields = Type.Object({
  call_sid: Type.String({ maxLength: 1024, description: 'call_ followed by 1-64 ASCII letters or digits' }),
  ...UploadQuery.properties,
});

/** Every status an API route may answer with an error body. */
export const errorResponses = {
  400: errorResponse(400),
  401: errorResponse(401),
  403: errorResponse(403),
  404: errorResponse(404),
  412: errorResponse(412),
  416: errorResponse(416),
  429: errorResponse(429),
  500: errorResponse(500),
  503: errorResponse(503),
};

/** GET /api/calls/{call_sid}/recording/peaks: how many min/max pairs (src/calls/peaks.ts). */
export const PeaksQuery = Type.Object({
  points: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 1000, description: 'the most min/max pairs to answer' })),
});

/** The waveform in audiowaveform's JSON v2 shape, channels merged into one (src/calls/peaks.ts). */
export const PeaksBody = Type.Object({
  version: Type.Literal(2),
  channels: Type.Literal(1),
  sample_rate: Type.Integer({ description: 'Hz' }),
  samples_per_pixel: Type.Integer({ description: 'sample frames per pair, on average' }),
  bits: Type.Literal(16),
  length: Type.Integer({ description: 'pairs in data: points, or fewer when the recording has fewer samples' }),
  duration: Type.Number({ description: 'seconds' }),
  data: Type.Array(Type.Integer({ minimum: -32768, maximum: 32767 }), { description: 'min0, max0, min1, max1, …: each bin’s minimum and maximum over all channels' }),
});
