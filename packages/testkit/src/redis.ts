import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerAvailable } from './docker.js';
import { eventually } from './eventually.js';
import { freePort } from './ports.js';
import { requireBinary, spawnTracked, stopTracked, type TrackedProcess } from './process-registry.js';

export const REDIS_INSTALL_HINT = 'apt-get update && apt-get install -y redis-server';

/** A running redis-server. `await using redis = await startRedis()` stops it and removes its dir. */
export interface RedisServer extends AsyncDisposable {
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  readonly kind: 'local' | 'container' | 'external';
  /** Stops the server (its data is kept in memory only, so it comes back empty). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  dispose(): Promise<void>;
}

/** Sends PING over a raw socket; resolves true on +PONG. */
export function pingRedis(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
    sock.once('error', () => done(false));
  });
}

/**
 * Starts a real redis-server on a free loopback port, with no persistence. Uses
 * FAULTLINE_REDIS_URL when set, a container when a Docker engine is reachable, else the
 * local `redis-server` binary.
 */
export async function startRedis(): Promise<RedisServer> {
  const external = process.env.FAULTLINE_REDIS_URL;
  if (external) {
    const unsupported = async (): Promise<void> => {
      throw new Error(`cannot stop or start the external redis-server at ${external} (FAULTLINE_REDIS_URL)`);
    };
    return {
      url: external,
      port: Number(new URL(external).port || 6379),
      kind: 'external',
      stop: unsupported,
      start: unsupported,
      dispose: async () => {},
      [Symbol.asyncDispose]: async () => {},
    };
  }
  if (dockerAvailable()) {
    const container = await tryContainerRedis();
    if (container) return container;
  }
  return localRedis();
}

async function localRedis(): Promise<RedisServer> {
  const bin = requireBinary('redis-server', REDIS_INSTALL_HINT);
  const dir = mkdtempSync(join(tmpdir(), 'faultline-redis-'));
  let port = 0;
  let proc: TrackedProcess | undefined;
  let disposed = false;

  const launchOn = async (p: number): Promise<void> => {
    const args = [
      '--port',
      String(p),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ];
    const tracked = spawnTracked(bin, args, dir);
    proc = tracked;
    await eventually(
      async () => {
        if (tracked.child.exitCode !== null) {
          throw new Error(
            `redis-server exited with code ${tracked.child.exitCode}: ${tracked.output().slice(-2000)}`,
          );
        }
        return pingRedis(p);
      },
      { timeoutMs: 10_000, name: `redis-server on port ${p}` },
    );
  };

  // The port is free when chosen but another process may take it first: retry on a new one.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launchOn(port);
      break;
    } catch (err) {
      if (proc) await stopTracked(proc);
      if (attempt >= 4) throw err;
    }
  }

  const server: RedisServer = {
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    kind: 'local',
    async stop() {
      if (proc) await stopTracked(proc);
      proc = undefined;
    },
    async start() {
      if (disposed) throw new Error('redis-server was disposed');
      if (!proc) await launchOn(port);
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

async function tryContainerRedis(): Promise<RedisServer | undefined> {
  let tc: typeof import('testcontainers');
  try {
    tc = await import('testcontainers');
    await tc.getContainerRuntimeClient();
  } catch {
    return undefined;
  }
  const container = await new tc.GenericContainer('redis:7-alpine')
    .withExposedPorts(6379)
    .withWaitStrategy(tc.Wait.forLogMessage(/Ready to accept connections/))
    .start();
  let running = true;
  const port = container.getMappedPort(6379);
  const unsupported = async (): Promise<void> => {
    throw new Error(
      'stop/start is supported with the local redis-server only (set FAULTLINE_TESTKIT_DOCKER=0)',
    );
  };
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    kind: 'container',
    stop: unsupported,
    start: unsupported,
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
