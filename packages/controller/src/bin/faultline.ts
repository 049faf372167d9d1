#!/usr/bin/env node
import { runCli } from '../cli/main.js';

const code = await runCli(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  setExitCode: () => {},
});
process.exitCode = code;
