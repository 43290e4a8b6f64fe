// The `connlab` command line: one file per command under lib/cli/, wired here. Usage errors print one
// line naming the flag and exit 2; runs that do not complete exit 1.
import { Command, CommanderError } from 'commander';
import { OptionError } from '../net/options.ts';
import { EXIT_FAILED, EXIT_USAGE } from './run.ts';
import { register as ackServer } from './ack-server.ts';
import { register as helloServer } from './hello-server.ts';
import { register as primeServer } from './prime-server.ts';
import { register as load } from './load.ts';
import { register as capacity } from './capacity.ts';
import { register as merge } from './merge.ts';
import { register as balancer } from './balancer.ts';
import { register as slowServer } from './slow-server.ts';
import { register as httpClient } from './http-client.ts';
import { register as specs } from './specs.ts';
import { register as demo } from './demo.ts';
import { register as report } from './report.ts';
import { register as check } from './check.ts';

/** Each command module adds its subcommand to the program. */
const COMMANDS: Array<(program: Command) => void> = [ackServer, helloServer, primeServer, balancer, load, capacity, merge, slowServer, httpClient, check, demo, report, specs];

export function buildProgram(): Command {
  const program = new Command('connlab')
    .description(
      'See, measure and gate how software handles TCP connections under load.\n' +
        'Each command runs one part of the lab on its own; `connlab demo` runs them all on loopback.',
    )
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false })
    .exitOverride();
  for (const add of COMMANDS) add(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed the message (or the help); map its codes onto ours.
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    // A bad option found past commander's parsers (by a part's own checks) is a usage error too.
    process.stderr.write(`connlab: ${(error as Error).message}\n`);
    process.exitCode = error instanceof OptionError ? EXIT_USAGE : EXIT_FAILED;
  }
}
