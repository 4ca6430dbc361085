/**
 * The `recproxy` command: `serve`, `calls add`, `calls get` (here), `keys …` and `audit`
 * (src/cli-admin.ts). Arguments are parsed and checked (src/cli-args.ts) before the config is
 * loaded or anything is opened. Relative paths in the config resolve against the working
 * directory, so a daemon and a CLI started in one directory share one index and one store.
 * Exit codes: 0 done, 1 failed, 2 usage.
 */
import { loadConfig, unknownVariables } from '../config/load.js';
import { IMPORT, importCommand } from './cli-import.js';
import { AUDIT_EXPORT, AUDIT_PRUNE, auditExport, auditPrune } from './cli-audit.js';
import { AUDIT, BACKUP, DOCTOR, KEYS_CREATE, KEYS_LIST, KEYS_REVOKE, auditCommand, backupCommand, doctorCommand, keysCreate, keysList, keysRevoke } from './cli-admin.js';
import { SERVING_BUSY_TIMEOUT_MS } from './stores/sqlite/index.js';
import { UsageError, checkSid, formatUsage, option, parseCommand, requireOptions, type Command } from './cli-args.js';
import { InvalidFields, fieldProblems, wholeNumberField, type FieldProblem, type RegisterField, type RegisterFields } from './calls/register.js';
import { createContext, type AppContext } from './context.js';
import { InvalidRequest, ListenFailed } from './core/errors.js';
import { registerFile } from './register-file.js';
import closeWithGrace from 'close-with-grace';
import { buildMetricsServer, buildServer } from './server.js';
import { packageVersion } from './version.js';
import { INGEST, SCAN, ingestCommand, scanCommand } from './cli-ingest.js';
import { CALLS_DELETE, CALLS_HOLD, CALLS_LIST, RETENTION, callsDelete, callsHold, callsList, retentionCommand } from './cli-calls.js';
import { newIndexNotice, startupAdvice } from './startup-advice.js';
import type { FastifyInstance } from 'fastify';

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    const [first, second] = argv;
    if (first === undefined) throw new UsageError('no command given', usageOf());
    if (first === '--help' || first === '-h' || first === 'help') return print(`${usageOf()}\n\n${CONFIG_NOTE}`);
    if (first === '--version') return print(version());
    const words = second !== undefined && COMMANDS[`${first} ${second}`] ? 2 : COMMANDS[first] ? 1 : 2;
    const name = argv.slice(0, words).join(' ');
    const entry = COMMANDS[name];
    if (!entry) {
      const group = Object.keys(COMMANDS).some((n) => n.startsWith(`${first} `));
      if (!group) throw new UsageError(`unknown command "${name}"`, usageOf());
      if (second === '--help' || second === '-h') return print(usageOf(first));
      throw new UsageError(second === undefined ? `${first} needs a subcommand` : `unknown command "${name}"`, usageOf(first));
    }
    const parsed = parseCommand(entry.command, argv.slice(words));
    if (parsed === 'help') return print(name === 'serve' ? `${usageOf(name)}\n\n${CONFIG_NOTE}` : usageOf(name));
    if (!entry.run) return await serve(env);
    const run = entry.run as (ctx: AppContext, input: unknown) => Promise<number>;
    return await withContext(env, (ctx) => run(ctx, parsed.input));
  } catch (err) {
    return fail(err);
  }
}

function print(text: string): number {
  process.stdout.write(text + '\n');
  return 0;
}

/** `recproxy 0.1.0`. */
function version(): string {
  return `recproxy ${packageVersion()}`;
}

function fail(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`recproxy: ${err.message}\n${err.usage ?? usageOf()}\n`);
    return 2;
  }
  const code = (err as { code?: string }).code;
  process.stderr.write(`recproxy: ${code && /^[A-Z_]+$/.test(code) ? `${code}: ` : ''}${(err as Error).message}\n`);
  return 1;
}

interface CallsAddInput {
  fields: RegisterFields;
  file: string;
  /** Read `file` through a symbolic link (refused by default). */
  followSymlinks: boolean;
}

/** The option that gives each of a call's fields. */
const FIELD_OPTIONS: Record<RegisterField, string> = {
  org: '--org',
  sid: '--sid',
  to: '--to',
  from: '--from',
  contentType: '--content-type',
  startedAt: '--started-at',
  durationMs: '--duration-ms',
};

/** The calls service's field problems, worded for the command line: `--sid must be …; --org …`. */
function optionProblems(problems: FieldProblem[]): string {
  return problems.map((p) => `${FIELD_OPTIONS[p.field]} ${p.message}`).join('; ');
}

const CALLS_ADD: Command<CallsAddInput> = {
  usage:
    'calls add --org ORG --sid SID --to NUMBER [--from NUMBER] --file PATH\n                   [--content-type TYPE] [--started-at ISO8601] [--duration-ms MS] [--follow-symlinks]',
  options: {
    org: { type: 'string' },
    sid: { type: 'string' },
    to: { type: 'string' },
    from: { type: 'string' },
    file: { type: 'string' },
    'content-type': { type: 'string' },
    'started-at': { type: 'string' },
    'duration-ms': { type: 'string' },
    'follow-symlinks': { type: 'boolean' },
  },
  check(args) {
    requireOptions(args, 'calls add', ['org', 'sid', 'to', 'file']);
    const fields: RegisterFields = {
      org: option(args, 'org')!,
      sid: option(args, 'sid')!,
      to: option(args, 'to')!,
      from: option(args, 'from'),
      contentType: option(args, 'content-type'),
      startedAt: option(args, 'started-at'),
      durationMs: wholeNumberField(option(args, 'duration-ms')),
    };
    const problems = fieldProblems(fields);
    if (problems.length) throw new UsageError(optionProblems(problems));
    return { fields, file: option(args, 'file')!, followSymlinks: args.values['follow-symlinks'] === true };
  },
};

const CALLS_GET: Command<string> = {
  usage: 'calls get --sid SID',
  options: { sid: { type: 'string' } },
  check(args) {
    requireOptions(args, 'calls get', ['sid']);
    return checkSid(option(args, 'sid')!);
  },
};

/** Every command, by its words on the command line. */
const COMMANDS: Record<string, { command: Command<unknown>; run?: (ctx: AppContext, input: never) => Promise<number> }> = {
  serve: { command: { usage: 'serve', check: () => undefined } },
  'calls add': { command: CALLS_ADD, run: callsAdd },
  'calls get': { command: CALLS_GET, run: callsGet },
  'calls list': { command: CALLS_LIST, run: callsList },
  'calls delete': { command: CALLS_DELETE, run: callsDelete },
  'calls hold': { command: CALLS_HOLD, run: callsHold },
  retention: { command: RETENTION, run: retentionCommand },
  'keys create': { command: KEYS_CREATE, run: keysCreate },
  'keys list': { command: KEYS_LIST, run: keysList },
  'keys revoke': { command: KEYS_REVOKE, run: keysRevoke },
  audit: { command: AUDIT, run: auditCommand },
  'audit export': { command: AUDIT_EXPORT, run: auditExport },
  'audit prune': { command: AUDIT_PRUNE, run: auditPrune },
  backup: { command: BACKUP, run: backupCommand },
  doctor: { command: DOCTOR, run: doctorCommand },
  import: { command: IMPORT, run: importCommand },
  ingest: { command: INGEST, run: ingestCommand },
  scan: { command: SCAN, run: scanCommand },
};

const CONFIG_NOTE = `Configuration comes from the environment (HOST, PORT, RECPROXY_*) and the JSON file named
by RECPROXY_CONFIG; see the README.`;

/** The usage of every command whose words start with `prefix`. */
function usageOf(prefix = ''): string {
  const names = Object.keys(COMMANDS).filter((name) => name === prefix || name.startsWith(prefix ? `${prefix} ` : ''));
  return formatUsage(...names.map((name) => COMMANDS[name]!.command.usage));
}

async function withContext(env: NodeJS.ProcessEnv, run: (ctx: AppContext) => Promise<number>): Promise<number> {
  const config = loadConfig(env);
  for (const warning of unknownVariables(env)) process.stderr.write(`recproxy: warning: ${warning}\n`);
  const ctx = await createContext(config);
  if (ctx.index.created) process.stderr.write(`recproxy: ${newIndexNotice(ctx)}\n`);
  try {
    return await run(ctx);
  } finally {
    await ctx.close();
  }
}

/** Serves until a signal; never returns (close-with-grace ends the process). */
async function serve(env: NodeJS.ProcessEnv): Promise<never> {
  const config = loadConfig(env);
  const ctx = await createContext(config, { backgroundAudit: true, indexBusyTimeoutMs: SERVING_BUSY_TIMEOUT_MS });
  let app: FastifyInstance | undefined;
  let metricsApp: FastifyInstance | undefined;
  let listening = `${config.host}:${config.port}`;
  try {
    app = await buildServer(ctx);
    for (const warning of unknownVariables(env)) app.log.warn(warning);
    await startupAdvice(ctx, app.log);
    await app.listen({ host: config.host, port: config.port });
    if (config.metricsPort !== undefined) {
      listening = `${config.host}:${config.metricsPort}`;
      metricsApp = await buildMetricsServer(ctx);
      await metricsApp.listen({ host: config.host, port: config.metricsPort });
      const bound = metricsApp.server.address();
      app.log.info(`metrics on http://${config.host}:${bound && typeof bound === 'object' ? bound.port : config.metricsPort}/metrics`);
    }
  } catch (err) {
    // Close what started (the audit writer thread would keep the process alive), then fail.
    await metricsApp?.close();
    await app?.close();
    await ctx.close();
    if (!(err as { syscall?: string }).syscall) throw err;
    throw new ListenFailed(listening, (err as Error).message, { cause: err });
  }
  // The one late part of the context: with PORT=0 the public URL's port is the one just bound.
  const address = app.server.address();
  if (address && typeof address === 'object') ctx.origin.listening(address.port);
  const publicUrl = ctx.origin.url;
  app.log.info(
    { storage: ctx.storage.name, index: config.dbPath, audit: ctx.audit.file, publicUrl },
    `recproxy serving on ${publicUrl}`,
  );
  // SIGTERM, SIGINT (and a crash): stop accepting, let running requests finish for up to
  // RECPROXY_SHUTDOWN_GRACE_MS, then cut what is left; flush the audit and close the index. A
  // second signal exits at once. close-with-grace exits the process when this is done.
  const running = app;
  return new Promise<never>(() => {
    closeWithGrace(
      {
        delay: config.shutdownGraceMs + SHUTDOWN_BACKSTOP_MS,
        logger: false,
        onSecondSignal: (signal) => running.log.warn(`${signal} again: exiting now`),
        onTimeout: () => running.log.error('shutdown did not finish in time: exiting now'),
      },
      async ({ signal, err }) => {
        if (err) running.log.error({ err }, 'closing after an unexpected error');
        else running.log.info(`${signal}: closing; requests in flight have ${config.shutdownGraceMs} ms to finish`);
        const cut = setTimeout(() => {
          running.log.warn(`grace period over: cutting the connections still open`);
          running.server.closeAllConnections();
          metricsApp?.server.closeAllConnections();
        }, config.shutdownGraceMs);
        try {
          await Promise.all([running.close(), metricsApp?.close()]);
          // Cut connections close their responses a moment after the listener: their audit
          // rows are recorded before the audit is closed.
          await running.responsesClosed();
        } finally {
          clearTimeout(cut);
          await ctx.close();
        }
        running.log.info('closed');
        if (err) throw err;
      },
    );
  });
}

/** How long past the grace period closing the index and the audit may take before the process exits anyway. */
const SHUTDOWN_BACKSTOP_MS = 10_000;

async function callsAdd({ calls }: Pick<AppContext, 'calls'>, input: CallsAddInput): Promise<number> {
  let registered;
  try {
    registered = await registerFile(calls, input.fields, input.file, input.followSymlinks);
  } catch (err) {
    // Checked before anything opened (CALLS_ADD); worded for the command line all the same.
    if (err instanceof InvalidFields) throw new InvalidRequest(optionProblems(err.problems), { cause: err });
    throw err;
  }
  if (!registered.created) process.stderr.write(`recproxy: ${input.fields.sid} is already indexed with these bytes; nothing changed\n`);
  process.stdout.write(JSON.stringify(registered.call, null, 2) + '\n');
  return 0;
}

async function callsGet({ index }: Pick<AppContext, 'index'>, sid: string): Promise<number> {
  const row = await index.get(sid);
  if (!row) {
    process.stderr.write(`recproxy: CALL_NOT_FOUND: no call ${sid}\n`);
    return 1;
  }
  process.stdout.write(JSON.stringify(row, null, 2) + '\n');
  return 0;
}
