/** Where a command writes, and how it sets the exit code without calling process.exit. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  setExitCode(code: number): void;
}
