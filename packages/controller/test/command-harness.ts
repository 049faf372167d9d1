import { Command } from 'commander';
import type { CliIo } from '../src/cli/io.js';

/** One CLI command wired for a test: what it wrote, and `run` resolving to what it threw (or undefined). */
export interface CommandHarness {
  out: string[];
  err: string[];
  run(argv: string[]): Promise<unknown>;
}

/** Runs `make(io)` as a subcommand of a `faultline` program that throws instead of exiting. */
export function commandHarness(make: (io: CliIo) => Command): CommandHarness {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (s) => out.push(s), err: (s) => err.push(s), setExitCode: () => {} };
  const cmd = make(io)
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => err.push(s) });
  const program = new Command('faultline').exitOverride().addCommand(cmd);
  return {
    out,
    err,
    run: (argv) =>
      program.parseAsync([cmd.name(), ...argv], { from: 'user' }).then(
        () => undefined,
        (e: unknown) => e,
      ),
  };
}
