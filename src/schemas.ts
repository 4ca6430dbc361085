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

/** Every status an API route may answer with an error body. */
export const errorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  412: ErrorBody,
  416: ErrorBody,
  429: ErrorBody,
  500: ErrorBody,
  503: ErrorBody,
};
