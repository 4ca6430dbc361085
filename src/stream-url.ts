/**
 * The stream endpoint's URL for a call: a presigned storage URL (S3/MinIO, `presigned` mode)
 * or a daemon media URL (local disk, or `proxy` mode). `expires_in` is the URL's remaining
 * lifetime, rounded up to whole seconds.
 */
import { recordingFilename } from './disposition.js';
import type { CallRow } from './call-index.js';
import type { AppContext } from './context.js';

export interface StreamUrl {
  url: string;
  expires_in: number;
  content_type: string;
  filename: string;
}

export async function issueStreamUrl(ctx: AppContext, call: CallRow, principal: string, nowMs = Date.now()): Promise<StreamUrl> {
  const filename = recordingFilename(call.to_number, call.content_type);
  const options = {
    expiresIn: ctx.config.streamTtl,
    disposition: 'inline' as const,
    filename,
    contentType: call.content_type,
  };
  const direct = ctx.config.streamMode === 'presigned' && ctx.storage.name !== 'local';
  const signed = direct ? await ctx.storage.signedUrl(call.storage_key, options) : ctx.mediaUrl(call.storage_key, options, { org: call.org_id, sid: call.call_sid, principal });
  return {
    url: signed.url,
    // Signatures and tokens count whole seconds from a whole-second start, so the real
    // lifetime is within a second below this; a fresh URL reports exactly the TTL.
    expires_in: Math.max(0, Math.ceil((signed.expiresAt.getTime() - nowMs) / 1000)),
    content_type: call.content_type,
    filename,
  };
}
