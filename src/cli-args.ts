/**
 * The CLI's commands as data: each one's usage, its options (node:util parseArgs) and a check
 * that turns the parsed arguments into the command's input. Arguments are parsed and checked
 * in full before a command opens the index or the store, so a usage error touches nothing.
 */
import { parseArgs } from 'node:util';
import { isCallSid, isOrgId } from './core/ids.js';

/** A usage error (exit 2): printed with `usage`, the usage text of the command it concerns. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
  }
}

export interface ParsedArgs {
  values: Record<string, string | string[] | boolean | undefined>;
  positionals: string[];
}

export interface Command<I> {
  /** Its usage line(s), after `recproxy `. */
  usage: string;
  options?: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
  positionals?: boolean;
  /** The command's input from its arguments. @throws UsageError (a missing or bad value) */
  check(args: ParsedArgs): I;
}

/**
 * The checked input of `command` from `args`, or `help` when they ask for it (`--help`, `-h`).
 * @throws UsageError carrying the command's usage
 */
export function parseCommand<I>(command: Command<I>, args: string[]): { input: I } | 'help' {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: command.positionals ?? false,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    throw new UsageError((err as Error).message, formatUsage(command.usage));
  }
  if (parsed.values.help) return 'help';
  try {
    return { input: command.check(parsed) };
  } catch (err) {
    if (err instanceof UsageError && !err.usage) throw new UsageError(err.message, formatUsage(command.usage));
    throw err;
  }
}

/** `usage:` and each line of `usages`, as printed by --help and after a usage error. */
export function formatUsage(...usages: string[]): string {
  return `usage:\n${usages.map((u) => `  recproxy ${u.replace(/\n/g, '\n  ')}`).join('\n')}`;
}

/** A string option's value, or undefined. */
export function option(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

/** @throws UsageError naming every missing option of `names` */
export function requireOptions(args: ParsedArgs, command: string, names: string[]): void {
  const missing = names.filter((name) => !args.values[name] || (Array.isArray(args.values[name]) && !(args.values[name] as string[]).length));
  if (missing.length) throw new UsageError(`${command} needs ${missing.map((name) => `--${name}`).join(', ')}`);
}

/** @throws UsageError when `sid` is not a call_sid */
export function checkSid(sid: string): string {
  if (!isCallSid(sid)) throw new UsageError('--sid must be call_ followed by 1-64 letters or digits');
  return sid;
}

/** @throws UsageError when `org` is not an organization id */
export function checkOrg(org: string): string {
  if (!isOrgId(org)) throw new UsageError(`--org must be 1-128 letters, digits or _ . : - (got "${org}")`);
  return org;
}
