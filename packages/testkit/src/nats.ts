import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerAvailable } from './docker.js';
import { eventually } from './eventually.js';
import { isListening } from './ports.js';
import { requireBinary, spawnTracked, stopTracked, type TrackedProcess } from './process-registry.js';

export const NATS_INSTALL_HINT = 'apt-get update && apt-get install -y nats-server';

export interface StartNatsOptions {
  /** Enable JetStream (-js) with a temp store dir. Default true. */
  jetstream?: boolean;
  /** Extra nats-server arguments (local binary only). */
  args?: string[];
  /**
   * nats-server configuration text (accounts, `authorization { users = [...] }`, TLS),
   * written to a file and passed with `-c`; listen address, port and JetStream store still
   * come from the kit. A server with a config always runs the local binary: an external
   * server or a container would not have its users.
   */
  config?: string;
}

/** A running nats-server. `await using nats = await startNats()` stops it and removes its store. */
export interface NatsServer extends AsyncDisposable {
  /** nats://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** JetStream store directory (local binary only). */
  readonly storeDir: string | undefined;
  /** How it runs: a local binary, a container, or an external server from FAULTLINE_NATS_URL. */
  readonly kind: 'local' | 'container' | 'external';
  /** Stops the server, keeping its store, so that {@link start} brings it back with its data. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same store. */
  start(): Promise<void>;
  /** Stops it and removes its store. Idempotent. */
  dispose(): Promise<void>;
}

/**
 * Starts a real nats-server on a free loopback port. Uses FAULTLINE_NATS_URL when set, a
 * container when a Docker engine is reachable, else the local `nats-server` binary.
 */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsServer> {
  const external = process.env.FAULTLINE_NATS_URL;
  if (options.config !== undefined) return localNats(options);
  if (external) return externalNats(external);
  if (dockerAvailable()) {
    const container = await tryContainerNats(options);
    if (container) return container;
  }
  return localNats(options);
}

function externalNats(url: string): NatsServer {
  const port = Number(new URL(url).port || 4222);
  const unsupported = async (): Promise<void> => {
    throw new Error(`cannot stop or start the external nats-server at ${url} (FAULTLINE_NATS_URL)`);
  };
  return {
    url,
    port,
    storeDir: undefined,
    kind: 'external',
    stop: unsupported,
    start: unsupported,
    dispose: async () => {},
    [Symbol.asyncDispose]: async () => {},
  };
}

async function localNats(options: StartNatsOptions): Promise<NatsServer> {
  const bin = requireBinary('nats-server', NATS_INSTALL_HINT);
  const dir = mkdtempSync(join(tmpdir(), 'faultline-nats-'));
  const storeDir = join(dir, 'store');
  const portsDir = join(dir, 'ports');
  const jetstream = options.jetstream ?? true;
  const configFile = join(dir, 'nats-server.conf');
  if (options.config !== undefined) writeFileSync(configFile, options.config);
  let port = -1;
  let proc: TrackedProcess | undefined;
  let disposed = false;

  const launch = async (): Promise<void> => {
    rmSync(portsDir, { recursive: true, force: true });
    mkdirSync(portsDir, { recursive: true });
    const args = [
      ...(options.config !== undefined ? ['-c', configFile] : []),
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '--ports_file_dir',
      portsDir,
      ...(options.args ?? []),
    ];
    if (jetstream) args.push('-js', '-sd', storeDir);
    const p = spawnTracked(bin, args, dir);
    proc = p;
    try {
      await waitReady(p);
    } catch (err) {
      await stopTracked(p);
      proc = undefined;
      throw err;
    }
  };

  const waitReady = async (p: TrackedProcess): Promise<void> => {
    const discovered = await eventually(
      () => {
        if (p.child.exitCode !== null) {
          throw new Error(`nats-server exited with code ${p.child.exitCode}: ${p.output().slice(-2000)}`);
        }
        const file = readdirSync(portsDir).find((f) => f.endsWith('.ports'));
        if (!file) return false;
        const ports = JSON.parse(readFileSync(join(portsDir, file), 'utf8')) as { nats?: string[] };
        const u = ports.nats?.[0];
        return u ? Number(new URL(u).port) : false;
      },
      { timeoutMs: 10_000, name: 'nats-server ports file' },
    );
    port = discovered;
    await eventually(() => isListening(port), { timeoutMs: 10_000, name: `nats-server on port ${port}` });
  };

  await launch();
  const server: NatsServer = {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    storeDir: jetstream ? storeDir : undefined,
    kind: 'local',
    async stop() {
      if (proc) await stopTracked(proc);
      proc = undefined;
    },
    async start() {
      if (disposed) throw new Error('nats-server was disposed');
      if (proc) return;
      await launch();
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      if (proc) await stopTracked(proc);
      proc = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
    [Symbol.asyncDispose]() {
      return server.dispose();
    },
  };
  return server;
}

async function tryContainerNats(options: StartNatsOptions): Promise<NatsServer | undefined> {
  let tc: typeof import('testcontainers');
  try {
    tc = await import('testcontainers');
    await tc.getContainerRuntimeClient();
  } catch {
    return undefined; // no engine reachable: fall back to the local binary
  }
  const cmd = options.jetstream === false ? [] : ['-js', '-sd', '/data'];
  const container = await new tc.GenericContainer('nats:2.10-alpine')
    .withCommand(cmd)
    .withExposedPorts(4222)
    .withWaitStrategy(tc.Wait.forLogMessage(/Server is ready/))
    .start();
  let running = true;
  const port = container.getMappedPort(4222);
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir: undefined,
    kind: 'container',
    async stop() {
      // Restarting a container maps a new host port; tests that restart need the local binary.
      throw new Error(
        'stop/start is supported with the local nats-server only (set FAULTLINE_TESTKIT_DOCKER=0)',
      );
    },
    async start() {
      throw new Error(
        'stop/start is supported with the local nats-server only (set FAULTLINE_TESTKIT_DOCKER=0)',
      );
    },
    async dispose() {
      if (!running) return;
      running = false;
      await container.stop();
    },
    [Symbol.asyncDispose]() {
      return server.dispose();
    },
  };
  return server;
}
