#!/usr/bin/env node
import { runCli } from '../cli/main.js';

// grpc-js sends the controller's IP as the TLS server name when connecting by address, which
// Node deprecates (DEP0123) with a warning on stderr: a CLI user can do nothing about it.
process.noDeprecation = true;

const code = await runCli(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  setExitCode: () => {},
});
process.exitCode = code;
