/**
 * The `recproxy` command: `serve`, `calls add`, `calls get` (here), `keys …` and `audit`
 * (src/cli-admin.ts). Arguments are parsed and checked (src/cli-args.ts) before the config is
 * loaded or anything is opened. Relative paths in the config resolve against the working
 * directory, so a daemon and a CLI started in one directory share one index and one store.
 * Exit codes: 0 done, 1 failed, 2 usage.
 */
import { readFileSync } from 'node:fs';
import { loadConfig, unknownVariables } from '../config/load.js';
import { AUDIT, KEYS_CREATE, KEYS_LIST, KEYS_REVOKE, auditCommand, keysCreate, keysList, keysRevoke } from './cli-admin.js';
import { SERVING_BUSY_TIMEOUT_MS } from './stores/sqlite/index.js';
import { UsageError, checkSid, formatUsage, option, parseCommand, requireOptions, type Command } from './cli-args.js';
import { InvalidFields, fieldProblems, type FieldProblem, type RegisterField, type RegisterFields } from './calls/register.js';
import { createContext, type AppContext } from './context.js';
import { InvalidRequest, ListenFailed } from './core/errors.js';
import { registerFile } from './register-file.js';
import { CALLS_DELETE, CALLS_HOLD, CALLS_LIST, RETENTION, callsDelete, callsHold, callsList, retentionCommand } from './cli-calls.js';
import { buildServer } from './server.js';
import { newIndexNotice, startupAdvice } from './startup-advice.js';
import type { FastifyInstance } from 'fastify';

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    const [first, second] = argv;
    if (first === undefined) throw new UsageError('no command given', usageOf());
    if (first === '--help' || first === '-h' || first === 'help') return print(`${usageOf()}\n\n${CONFIG_NOTE}`);
    if (first === '--version') return print(version());
    const words = COMMANDS[first] ? 1 : 2;
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

/** This recproxy's version, from its package.json (beside src/ in the source, beside dist/ once built). */
function version(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'recproxy') return `recproxy ${pkg.version}`;
    } catch {
      // not this one
    }
  }
  return 'recproxy (version unknown)';
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
};

/** The calls service's field problems, worded for the command line: `--sid must be …; --org …`. */
function optionProblems(problems: FieldProblem[]): string {
  return problems.map((p) => `${FIELD_OPTIONS[p.field]} ${p.message}`).join('; ');
}

const CALLS_ADD: Command<CallsAddInput> = {
  usage:
    'calls add --org ORG --sid SID --to NUMBER [--from NUMBER] --file PATH\n                   [--content-type TYPE] [--started-at ISO8601] [--follow-symlinks]',
  options: {
    org: { type: 'string' },
    sid: { type: 'string' },
    to: { type: 'string' },
    from: { type: 'string' },
    file: { type: 'string' },
    'content-type': { type: 'string' },
    'started-at': { type: 'string' },
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

async function serve(env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(env);
  const ctx = await createContext(config, { backgroundAudit: true, indexBusyTimeoutMs: SERVING_BUSY_TIMEOUT_MS });
  let app: FastifyInstance | undefined;
  try {
    app = await buildServer(ctx);
    for (const warning of unknownVariables(env)) app.log.warn(warning);
    await startupAdvice(ctx, app.log);
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    // Close what started (the audit writer thread would keep the process alive), then fail.
    await app?.close();
    await ctx.close();
    if (!(err as { syscall?: string }).syscall) throw err;
    throw new ListenFailed(`${config.host}:${config.port}`, (err as Error).message, { cause: err });
  }
  // The one late part of the context: with PORT=0 the public URL's port is the one just bound.
  const address = app.server.address();
  if (address && typeof address === 'object') ctx.origin.listening(address.port);
  const publicUrl = ctx.origin.url;
  app.log.info(
    { storage: ctx.storage.name, index: config.dbPath, audit: ctx.audit.file, publicUrl },
    `recproxy serving on ${publicUrl}`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      app.log.info(`${signal}: closing`);
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await app.close();
  await ctx.close();
  return 0;
}

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
