// The `carclass` command: dispatches to one module per command.
import { Command, UsageError, parseCommandArgs, helpText } from './command';
import { doctorCommand } from './doctor';
import { buildCommand } from './build';
import { trainCommand } from './train';
import { predictCommand, evaluateCommand } from './predict';
import { demoCommand } from './demo';
import { prefilterCommand } from './prefilter';
import { exportCommand } from './export';
import { serveCliCommand, explainCliCommand } from './serve';
import { versions } from '../runtime';
import { takeLaunchFlags, launchWorkers, LaunchFlagError, LAUNCH_HELP } from '../distributed/launcher';
import { DIST_TIMEOUT_ENV } from '../distributed/env';
import * as path from 'path';

/** Commands that run data parallel (under --nproc-per-node, torchrun or a PyTorchJob). */
export const DISTRIBUTED_COMMANDS = ['train', 'predict', 'evaluate', 'prefilter'];

export const commands: Command[] = [demoCommand, trainCommand, evaluateCommand, predictCommand, prefilterCommand, exportCommand, serveCliCommand, explainCliCommand, doctorCommand, buildCommand];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return ['Usage: carclass <command> [options]', '', 'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '', '  --version   print versions (carclass, LibTorch, libjpeg-turbo, Node-API, CUDA, threads)',
    '', 'Run `carclass <command> --help` for a command\'s options.'].join('\n');
}

/** Runs the CLI; resolves to the exit code (0 ok, 1 failure, 2 usage error). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    console.log(JSON.stringify(versions(), null, 2));
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    console.error(`carclass: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  let args = rest;
  if (DISTRIBUTED_COMMANDS.includes(name)) {
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(`${helpText(cmd)}\n${LAUNCH_HELP.join('\n')}`);
      return 0;
    }
    let launch: ReturnType<typeof takeLaunchFlags>;
    try {
      launch = takeLaunchFlags(rest);
    } catch (e) {
      if (!(e instanceof LaunchFlagError)) throw e;
      console.error(`carclass ${name}: ${e.message}\nUsage: ${cmd.usage}`);
      return 2;
    }
    if (launch.flags.nprocPerNode !== undefined) {
      return launchWorkers({ flags: launch.flags, args: [path.resolve(__dirname, '..', '..', 'bin', 'carclass.js'), name, ...launch.rest] });
    }
    if (launch.flags.timeoutSeconds !== undefined) process.env[DIST_TIMEOUT_ENV] = String(launch.flags.timeoutSeconds);
    args = launch.rest;
  }
  try {
    if (cmd.rawArgs) {
      if (args.includes('--help') || args.includes('-h')) {
        console.log(helpText(cmd));
        return 0;
      }
      return await cmd.run({}, args);
    }
    const { values, positionals } = parseCommandArgs(cmd, args);
    if (values.help) {
      console.log(helpText(cmd));
      return 0;
    }
    return await cmd.run(values, positionals);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(e.message);
      return 2;
    }
    console.error(`carclass ${name}: ${(e as Error).message}`);
    return 1;
  }
}
