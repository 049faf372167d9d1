import { describe, expect, it } from 'vitest';
import { eventually, isListening, pingRedis, startNats, startRedis } from './index.js';

describe('test kit servers', () => {
  it('starts nats-server with JetStream on a free port, stops and restarts it with its store, and frees the port', async () => {
    const nats = await startNats({ jetstream: true });
    const port = nats.port;
    expect(nats.url).toBe(`nats://127.0.0.1:${port}`);
    expect(await isListening(port)).toBe(true);
    await nats.stop();
    expect(await isListening(port)).toBe(false);
    await nats.start();
    expect(nats.port).toBe(port);
    expect(await isListening(port)).toBe(true);
    await nats.dispose();
    expect(await isListening(port)).toBe(false);
  });

  it('starts redis-server that answers PING and leaves nothing behind', async () => {
    let port = 0;
    {
      await using redis = await startRedis();
      port = redis.port;
      expect(await pingRedis(port)).toBe(true);
    }
    expect(await isListening(port)).toBe(false);
  });

  it('eventually() polls until the condition holds and names it on timeout', async () => {
    let n = 0;
    await expect(eventually(() => ++n >= 3, { timeoutMs: 1000, intervalMs: 1 })).resolves.toBe(true);
    await expect(eventually(() => false, { timeoutMs: 50, name: 'never' })).rejects.toThrow(
      /eventually\(never\) timed out after 50 ms/,
    );
  });
});
