/**
 * The `recproxy` command: `serve`, `calls add`, `calls get`. Relative paths in the config
 * resolve against the working directory, so a daemon and a CLI started in one directory share
 * one index and one store. Exit codes: 0 done, 1 failed, 2 usage.
 */
import { parseArgs } from 'node:util';
import { loadConfig, unknownVariables } from '../config/load.js';
import { UsageError, auditCommand, keysCreate, keysList, keysRevoke, newIndexNotice, startupAdvice } from './cli-admin.js';
import { createContext, defaultPublicUrl, type AppContext } from './context.js';
import { registerRecording } from './register.js';
import { ListenFailed } from './errors.js';
import { buildServer } from './server.js';
import type { FastifyInstance } from 'fastify';

const USAGE = `usage:
  recproxy serve
  recproxy calls add --org ORG --sid SID --to NUMBER [--from NUMBER] --file PATH
                     [--content-type TYPE] [--started-at ISO8601]
  recproxy calls get --sid SID
  recproxy keys create --org ORG [--org ORG2 …] [--scope read|admin] [--label TEXT]
  recproxy keys list
  recproxy keys revoke ID
  recproxy audit (--sid SID | --org ORG) [--since ISO8601] [--limit N]

Configuration comes from the environment (HOST, PORT, RECPROXY_*) and the JSON file named
by RECPROXY_CONFIG; see the README.`;


export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, sub, ...rest] = argv;
  try {
    if (command === 'serve') return await serve(env);
    if (command === 'calls' && sub === 'add') return await withContext(env, (ctx) => callsAdd(ctx, rest));
    if (command === 'calls' && sub === 'get') return await withContext(env, (ctx) => callsGet(ctx, rest));
    if (command === 'keys' && sub === 'create') return await withContext(env, (ctx) => keysCreate(ctx, rest));
    if (command === 'keys' && sub === 'list') return await withContext(env, (ctx) => keysList(ctx, rest));
    if (command === 'keys' && sub === 'revoke') return await withContext(env, (ctx) => keysRevoke(ctx, rest));
    if (command === 'audit') return await withContext(env, (ctx) => auditCommand(ctx, [sub, ...rest].filter((a) => a !== undefined)));
    if (command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    throw new UsageError(command ? `unknown command "${[command, sub].filter(Boolean).join(' ')}"` : 'no command given');
  } catch (err) {
    return fail(err);
  }
}

function fail(err: unknown): number {
  if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`recproxy: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const code = (err as { code?: string }).code;
  process.stderr.write(`recproxy: ${code && /^[A-Z_]+$/.test(code) ? `${code}: ` : ''}${(err as Error).message}\n`);
  return 1;
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
  const ctx = await createContext(config, { backgroundAudit: true });
  let app: FastifyInstance | undefined;
  try {
    app = await buildServer(ctx);
    for (const warning of unknownVariables(env)) app.log.warn(warning);
    startupAdvice(ctx, app.log);
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    // Close what started (the audit writer thread would keep the process alive), then fail.
    await app?.close();
    await ctx.close();
    if (!(err as { syscall?: string }).syscall) throw err;
    throw new ListenFailed(`${config.host}:${config.port}`, (err as Error).message, { cause: err });
  }
  const address = app.server.address();
  if (!config.publicUrl && address && typeof address === 'object') {
    ctx.publicUrl = defaultPublicUrl(config.host, address.port);
  }
  app.log.info(
    { storage: ctx.storage.name, index: config.dbPath, audit: ctx.audit.file, publicUrl: ctx.publicUrl },
    `recproxy serving on ${ctx.publicUrl}`,
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

async function callsAdd(ctx: AppContext, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      org: { type: 'string' },
      sid: { type: 'string' },
      to: { type: 'string' },
      from: { type: 'string' },
      file: { type: 'string' },
      'content-type': { type: 'string' },
      'started-at': { type: 'string' },
    },
  });
  const missing = (['org', 'sid', 'to', 'file'] as const).filter((k) => !values[k]);
  if (missing.length) throw new UsageError(`calls add needs ${missing.map((k) => `--${k}`).join(', ')}`);
  const row = await registerRecording(ctx, {
    org: values.org!,
    sid: values.sid!,
    to: values.to!,
    from: values.from,
    file: values.file!,
    contentType: values['content-type'],
    startedAt: values['started-at'],
  });
  process.stdout.write(JSON.stringify(row, null, 2) + '\n');
  return 0;
}

async function callsGet(ctx: AppContext, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { sid: { type: 'string' } } });
  if (!values.sid) throw new UsageError('calls get needs --sid');
  const row = ctx.index.get(values.sid);
  if (!row) {
    process.stderr.write(`recproxy: CALL_NOT_FOUND: no call ${values.sid}\n`);
    return 1;
  }
  process.stdout.write(JSON.stringify(row, null, 2) + '\n');
  return 0;
}
