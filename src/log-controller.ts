/**
 * Fastify's LogController, with one change: a response body that fails after its headers were
 * sent (a backend gone silent past the storage timeout, a read error, the download's lifetime
 * over) is logged at warn whether or not per-request lines are on. Fastify skips that line when
 * `disableRequestLogging` is set, and the daemon sets it below "debug" (src/server.ts), so such a
 * cut was in no log at all: the S3 listeners that "ended early" in the bench's listeners scenario
 * left nothing to find them by (BENCHMARKS.md, #13). A client that goes away (premature close)
 * is not an error and stays with the per-request lines.
 */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

export class BodyErrorLogController extends LogController {
  override streamError(error: Error, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    const code = (error as Error & { code?: unknown }).code;
    if (code === 'ERR_STREAM_PREMATURE_CLOSE' || !this.isLogDisabled(request)) return super.streamError(error, request, reply, metadata);
    reply.log.warn({ err: error }, 'response terminated with an error with headers already sent');
  }
}
