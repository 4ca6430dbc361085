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
