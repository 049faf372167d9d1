import { readFileSync } from 'node:fs';
import type { ChildMessage, ParentMessage } from './child-protocol.js';

/** What a workload process can tell the runner. */
export interface ChildChannel {
  /** A shortfall or caveat for the truth window. */
  note(text: string): void;
  progress(values: Record<string, number>): void;
  /** The work is over: reports the peak RSS and exits 0. */
  finish(): void;
  /** The work cannot go on: reports why and exits 1. */
  fail(reason: string): void;
}

/**
 * Runs a workload process: reads its configuration from `argv[2]`, calls `prepare`, says
 * `ready`, and calls the returned start function on the runner's `start`. The process exits
 * when the runner goes away (the IPC channel closes), so a killed agent leaves no workload
 * behind.
 */
export function runWorkloadChild<C>(
  prepare: (config: C, channel: ChildChannel) => Promise<() => void> | (() => void),
): void {
  const send = (message: ChildMessage, then?: () => void): void => {
    if (!process.send || !process.connected) {
      then?.();
      return;
    }
    process.send(message, undefined, {}, () => then?.());
  };
  let exiting = false;
  const exit = (code: number): void => {
    exiting = true;
    process.exit(code);
  };
  const channel: ChildChannel = {
    note: (text) => send({ type: 'note', text }),
    progress: (values) => send({ type: 'progress', values }),
    finish: () => {
      if (exiting) return;
      exiting = true;
      send({ type: 'done', peakRssBytes: peakRssBytes() }, () => exit(0));
    },
    fail: (reason) => {
      if (exiting) return;
      exiting = true;
      send({ type: 'failed', reason }, () => exit(1));
    },
  };
  process.on('disconnect', () => exit(0));
  process.on('uncaughtException', (err) => channel.fail(`uncaught: ${err.stack ?? err.message}`));
  process.on('unhandledRejection', (err) =>
    channel.fail(`unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
  );

  let config: C;
  try {
    config = JSON.parse(process.argv[2] ?? '') as C;
  } catch (err) {
    channel.fail(`bad configuration argument: ${(err as Error).message}`);
    return;
  }
  void (async () => {
    let start: () => void;
    try {
      start = await prepare(config, channel);
    } catch (err) {
      channel.fail(err instanceof Error ? err.message : String(err));
      return;
    }
    process.on('message', (message: ParentMessage) => {
      if (message.type === 'start' && !exiting) start();
    });
    send({ type: 'ready' });
  })();
}

/** The process's peak resident set (VmHWM), bytes; 0 when /proc cannot tell. */
function peakRssBytes(): number {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Resolves after `ms` (a workload process's own pacing, not a test wait). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
