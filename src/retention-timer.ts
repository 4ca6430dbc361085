/**
 * The daemon's retention (src/calls/retention.ts): when RECPROXY_RETENTION_DAYS or
 * RECPROXY_RETENTION_DAYS_BY_ORG can delete anything, a RetentionSweeper runs a pass every
 * RECPROXY_RETENTION_INTERVAL_SEC, in batches of RECPROXY_RETENTION_BATCH_SIZE with
 * RECPROXY_RETENTION_PAUSE_MS between them, from the moment the server is ready until it closes.
 * The access audit's rows older than RECPROXY_AUDIT_RETENTION_DAYS (0: kept) go the same way, on
 * a sweeper of their own, pruned by the audit's writer thread.
 */
import type { FastifyInstance } from 'fastify';
import { RetentionSweeper, auditRetentionPass, retentionActive } from './calls/retention.js';
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

/** Starts the audit's retention with the server and stops it on close. @returns the sweeper, if any */
export function daemonAuditRetention(app: FastifyInstance, ctx: Pick<AppContext, 'config' | 'audit'>): RetentionSweeper | undefined {
  const days = ctx.config.auditRetentionDays;
  if (days === 0) return undefined;
  const sweeper = new RetentionSweeper((options) => auditRetentionPass(ctx.audit, days, options), {
    intervalMs: ctx.config.retentionIntervalSec * 1000,
    batchSize: ctx.config.retentionBatchSize,
    pauseMs: ctx.config.retentionPauseMs,
    what: 'audit rows',
    log: { info: (msg) => app.log.info(msg), warn: (msg) => app.log.warn(msg) },
  });
  app.addHook('onReady', async () => sweeper.start());
  app.addHook('onClose', async () => sweeper.stop());
  return sweeper;
}
