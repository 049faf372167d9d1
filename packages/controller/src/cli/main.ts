import { Command, CommanderError } from 'commander';
import { devCommand } from './dev-command.js';
import { addConnectionOptions } from './connection.js';
import { experimentCommands } from './experiment-commands.js';
import { exportCommand } from './export-command.js';
import { demoCommand } from './demo-command.js';
import { scoreCommand } from './score-command.js';
import { reportCommand } from './report-command.js';
import { simulateCommand } from './simulate-command.js';
import { natsConfigCommand } from './nats-config-command.js';
import type { CliIo } from './io.js';
import { isUsageError } from './usage-error.js';

const VERSION = '0.1.0';

/** Builds the `faultline` program. Commands write through `io`; nothing here exits the process. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('faultline')
    .description(
      'Faultline: inject real anomalies across a fleet, detect them, grade the detector against the truth',
    )
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride();
  addConnectionOptions(program);
  program.addCommand(devCommand(io));
  for (const cmd of experimentCommands(io)) program.addCommand(cmd);
  program.addCommand(exportCommand(io));
  program.addCommand(reportCommand(io));
  program.addCommand(scoreCommand(io));
  program.addCommand(simulateCommand(io));
  program.addCommand(demoCommand(io));
  program.addCommand(natsConfigCommand(io));
  for (const cmd of program.commands) applyExitOverride(cmd);
  return program;
}

function applyExitOverride(cmd: Command): void {
  cmd.exitOverride();
  cmd.configureOutput(cmd.parent?.configureOutput() ?? {});
  for (const sub of cmd.commands) applyExitOverride(sub);
}

/**
 * Runs the CLI and returns the exit code: 0 ok, 1 failure, 2 usage error. The one place
 * where errors become exit codes and one-line messages (a stack trace only with
 * FAULTLINE_DEBUG=1).
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  const scoped: CliIo = { ...io, setExitCode: (c) => (exitCode = Math.max(exitCode, c)) };
  const program = buildProgram(scoped);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      ) {
        return 0;
      }
      return 2; // commander already printed the message
    }
    if (isUsageError(err)) {
      io.err(`error: ${err.message}\n`);
      return 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.err(`error: ${message}\n`);
    if (process.env.FAULTLINE_DEBUG === '1' && err instanceof Error) io.err(`${err.stack}\n`);
    return 1;
  }
}
