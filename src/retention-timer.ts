/**
 * The daemon's retention (src/calls/retention.ts): when RECPROXY_RETENTION_DAYS or
 * RECPROXY_RETENTION_DAYS_BY_ORG can delete anything, a RetentionSweeper runs a pass every
 * RECPROXY_RETENTION_INTERVAL_SEC, in batches of RECPROXY_RETENTION_BATCH_SIZE with
 * RECPROXY_RETENTION_PAUSE_MS between them, from the moment the server is ready until it closes.
 */
import type { FastifyInstance } from 'fastify';
import { RetentionSweeper, retentionActive } from './calls/retention.js';
import { retentionPolicyOf } from '../config/schema.js';
import type { AppContext } from './context.js';

/** Starts retention with the server (onReady) and stops it, waiting for its pass, on close. @returns the sweeper, if any */
export function daemonRetention(app: FastifyInstance, ctx: Pick<AppContext, 'config' | 'calls' | 'audit'>): RetentionSweeper | undefined {
  const policy = retentionPolicyOf(ctx.config);
  if (!retentionActive(policy)) return undefined;
  const sweeper = new RetentionSweeper((options) => ctx.calls.retentionPass(policy, ctx.audit, options), {
    intervalMs: ctx.config.retentionIntervalSec * 1000,
    batchSize: ctx.config.retentionBatchSize,
    pauseMs: ctx.config.retentionPauseMs,
    log: { info: (msg) => app.log.info(msg), warn: (msg) => app.log.warn(msg) },
  });
  app.addHook('onReady', async () => sweeper.start());
  app.addHook('onClose', async () => sweeper.stop());
  return sweeper;
}
