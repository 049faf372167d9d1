import { fork, type ChildProcess } from 'node:child_process';
import { isChildMessage, type ChildMessage, type ParentMessage } from './child-protocol.js';

const STDERR_TAIL_CHARS = 4096;
/** Longest wait for the IPC channel to close after the process exited, ms. */
const CHANNEL_DRAIN_MS = 100;
/** Longest wait for the rest of a stopped process group to be reaped, ms. */
const GROUP_REAP_WAIT_MS = 200;

/** How a workload process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * One workload process: a Node child running a compiled entry script, in its own process
 * group (so stopping it also stops what it spawned), talking over IPC (see
 * `child-protocol.ts`). It starts working only on {@link start}.
 */
export class WorkloadProcess {
  readonly pid: number;
  /** Resolves on `ready`; rejects when the process fails or exits first. */
  readonly ready: Promise<void>;
  readonly exited: Promise<ProcessExit>;
  private readonly child: ChildProcess;
  private stderr = '';
  private exit: ProcessExit | undefined;

  constructor(
    script: string,
    config: unknown,
    private readonly onMessage: (message: ChildMessage) => void,
    /** Node flags of the process; never the parent's (a test runner's loaders would come along). */
    execArgv: readonly string[] = [],
  ) {
    this.child = fork(script, [JSON.stringify(config)], {
      execArgv: [...execArgv],
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    if (this.child.pid === undefined) throw new Error(`cannot start ${process.execPath} ${script}`);
    this.pid = this.child.pid;
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      // Node 20 warns that --jitless turns WebAssembly off: not worth reporting.
      const text = chunk.replace(/^Warning: disabling flag --expose_wasm.*\n?/m, '');
      this.stderr = (this.stderr + text).slice(-STDERR_TAIL_CHARS);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        const exit = { code, signal };
        // Messages sent just before the exit (`done`) can still be in the channel: wait for it to close.
        const settle = (): void => {
          this.exit ??= exit;
          resolve(exit);
        };
        if (!this.child.connected) settle();
        else {
          this.child.once('disconnect', settle);
          setTimeout(settle, CHANNEL_DRAIN_MS).unref();
        }
      });
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', (message: unknown) => {
        if (!isChildMessage(message)) return;
        if (message.type === 'ready') resolve();
        else if (message.type === 'failed') reject(new Error(message.reason));
        this.onMessage(message);
      });
      this.child.once('error', reject);
      void this.exited.then((exit) =>
        reject(new Error(`exited before it was ready (${describeExit(exit)})`)),
      );
    });
    // A rejection nobody awaits yet (a crash before start) is read through `ready` later.
    this.ready.catch(() => undefined);
  }

  get hasExited(): boolean {
    return this.exit !== undefined;
  }

  /** The last few KiB the process wrote to stderr. */
  stderrTail(): string {
    return this.stderr.trim();
  }

  start(): void {
    if (this.child.connected) this.child.send({ type: 'start' } satisfies ParentMessage);
  }

  /**
   * Stops the process group: SIGTERM, then SIGKILL after `graceMs`; resolves once the process
   * has exited, and then kills whatever of the group is left (grandchildren).
   */
  async stop(graceMs: number): Promise<ProcessExit> {
    if (this.exit === undefined) {
      signalGroup(this.pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(this.pid, 'SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    signalGroup(this.pid, 'SIGKILL');
    // What the process spawned (procs' short-lived processes) is reaped by init, a moment
    // later: wait for it, briefly, so a recovered workload has really left nothing running.
    const deadline = performance.now() + GROUP_REAP_WAIT_MS;
    while (groupExists(this.pid) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.exited;
  }
}

function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

export function describeExit(exit: ProcessExit): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `exit code ${String(exit.code)}`;
}
