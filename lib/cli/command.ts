// The shape every `carclass <command>` module has, and shared argument handling.
import { parseArgs, ParseArgsConfig } from 'util';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: OptionSpec;
  /** Extra help lines (option descriptions). */
  help?: string[];
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
  /** Commands with their own argument parser get argv as given (after --help is handled). */
  rawArgs?: boolean;
}

/** A user error: wrong flags or values. The CLI prints the message and exits with code 2. */
export class UsageError extends Error {}

export function parseCommandArgs(cmd: Command, argv: string[]): { values: Record<string, unknown>; positionals: string[] } {
  // `--lr -1`: a value that starts with a dash is taken as given, so the flag's range check can name it.
  const strings = new Set(Object.entries(cmd.options).filter(([, o]) => o.type === 'string').map(([k]) => `--${k}`));
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (strings.has(argv[i]) && i + 1 < argv.length && /^-\.?\d/.test(argv[i + 1])) { args.push(`${argv[i]}=${argv[i + 1]}`); i++; }
    else args.push(argv[i]);
  }
  try {
    const { values, positionals } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' }, ...cmd.options }, allowPositionals: true, strict: true });
    return { values: values as Record<string, unknown>, positionals };
  } catch (e) {
    throw new UsageError(`carclass ${cmd.name}: ${(e as Error).message}\nUsage: ${cmd.usage}`);
  }
}

export function helpText(cmd: Command): string {
  return [`Usage: ${cmd.usage}`, '', cmd.summary, ...(cmd.help && cmd.help.length ? ['', ...cmd.help] : [])].join('\n');
}

/** Parses a numeric flag value, naming the flag when it is not a number in range. */
export function numberFlag(flag: string, value: unknown, opts: { integer?: boolean; min?: number; max?: number } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const bad = typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n) || (opts.integer && !Number.isInteger(n)) ||
    (opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max);
  if (bad) {
    const kind = opts.integer ? 'an integer' : 'a number';
    const range = opts.min !== undefined || opts.max !== undefined ? ` in [${opts.min ?? '-inf'}, ${opts.max ?? 'inf'}]` : '';
    throw new UsageError(`Expected ${kind}${range} for --${flag} but received ${JSON.stringify(value)}`);
  }
  return n;
}
