/**
 * Workload process of the `network` kind: sends `bytesPerSecond` over one TCP connection to
 * the peer, or to a sink on 127.0.0.1 that it starts itself (the sink reads and discards).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { NetworkChildConfig } from './child-protocol.js';
import { runWorkloadChild, sleep } from './child-runtime.js';
import { RatePacer } from './pacing.js';

const MIN_CHUNK_BYTES = 16 * 1024;
const MAX_CHUNK_BYTES = 1024 * 1024;

function startSink(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => {
      socket.on('error', () => socket.destroy());
      socket.resume();
    });
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') reject(new Error('sink has no TCP address'));
      else resolve({ server, port: address.port });
    });
  });
}

function connect(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

runWorkloadChild<NetworkChildConfig>(async (config, channel) => {
  const target = config.peer ?? { host: '127.0.0.1', port: (await startSink()).port };
  const socket = await connect(target.host, target.port).catch((err: unknown) => {
    throw new Error(`cannot connect to ${target.host}:${target.port}: ${(err as Error).message}`);
  });
  socket.setNoDelay(true);
  socket.on('error', (err) =>
    channel.fail(`connection to ${target.host}:${target.port} failed: ${err.message}`),
  );
  socket.on('close', () => channel.fail(`connection to ${target.host}:${target.port} closed by the peer`));
  const chunkBytes = Math.min(
    MAX_CHUNK_BYTES,
    Math.max(MIN_CHUNK_BYTES, (config.bytesPerSecond * config.tickMs) / 1000),
  );
  const data = Buffer.alloc(Math.ceil(chunkBytes), 0x5a);

  return () => {
    const start = performance.now();
    const pacer = new RatePacer(config.bytesPerSecond, start);
    let behindNoted = false;
    const run = async (): Promise<void> => {
      for (let tick = 1; ; tick++) {
        // Only hand the socket more when it has drained, so the bytes counted are bytes sent.
        for (let due = pacer.due(performance.now()); due > 0 && !socket.writableNeedDrain;) {
          const length = Math.min(due, data.length);
          socket.write(data.subarray(0, length));
          pacer.done(length);
          due -= length;
        }
        if (!behindNoted && pacer.forgivenBytes > 0) {
          behindNoted = true;
          channel.note(
            `fell more than 1 s behind ${config.bytesPerSecond} B/s: the peer or the network did not keep up`,
          );
        }
        await sleep(Math.max(0, start + tick * config.tickMs - performance.now()));
      }
    };
    void run();
  };
});
