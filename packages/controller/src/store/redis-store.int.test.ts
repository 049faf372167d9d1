import { startRedis } from '@faultline/testkit';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisStore } from './redis-store.js';

const ack = (experimentId: string, accepted = true) => ({
  planId: `${experimentId}-plan`,
  experimentId,
  accepted,
  reason: accepted ? '' : 'caps.maxCores 1 < 2',
});

describe('RedisStore (real redis-server)', () => {
  it('writes acks made together in one round trip, each settled once stored', async () => {
    await using redis = await startRedis();
    const conn = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    conn.on('error', () => {});
    try {
      const store = new RedisStore(conn, 'test');
      await conn.config('RESETSTAT');

      // 2,500 agents acking one experiment and one agent acking another, in the same turn;
      // agent-7 acks twice (a re-sent plan): the later ack wins.
      const writes = Array.from({ length: 2500 }, (_, i) => store.recordAck(ack('exp-a'), `agent-${i}`));
      writes.push(store.recordAck(ack('exp-a', false), 'agent-7'));
      writes.push(store.recordAck(ack('exp-b'), 'agent-0'));
      await Promise.all(writes);

      // 3 HSETs of up to 1,000 fields for exp-a, one for exp-b (Redis counts the commands).
      const stats = await conn.info('commandstats');
      expect(/cmdstat_hset:calls=(\d+)/.exec(stats)?.[1]).toBe('4');
      const a = await store.getAcks('exp-a');
      expect(a.size).toBe(2500);
      expect(a.get('agent-7')).toMatchObject({ accepted: false, reason: 'caps.maxCores 1 < 2' });
      expect(a.get('agent-2499')).toMatchObject({ accepted: true, experimentId: 'exp-a' });
      expect([...(await store.getAcks('exp-b')).keys()]).toEqual(['agent-0']);
    } finally {
      conn.disconnect();
    }
  });

  it('rejects every write of a batch Redis did not take', async () => {
    await using redis = await startRedis();
    const conn = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 20 });
    conn.on('error', () => {});
    try {
      const store = new RedisStore(conn, 'test');
      await store.recordAck(ack('exp-a'), 'agent-0');
      await redis.dispose();
      const results = await Promise.allSettled([
        store.recordAck(ack('exp-a'), 'agent-1'),
        store.recordProgress(
          {
            planId: 'p',
            experimentId: 'exp-a',
            phase: '',
            state: 'running',
            injectionsStarted: 0,
            injectionsFinished: 0,
            done: false,
          },
          'agent-1',
        ),
      ]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    } finally {
      conn.disconnect();
    }
  });

  it('lists agents with their lease, last contact and experiment', async () => {
    await using redis = await startRedis();
    const conn = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    conn.on('error', () => {});
    try {
      const store = new RedisStore(conn, 'test');
      const info = (agentId: string) => ({
        agentId,
        hostname: agentId,
        labels: { zone: 'a' },
        caps: undefined,
        version: 'test',
        cpuCount: 2,
        memoryTotalBytes: 1n << 30n,
        hostIds: [agentId],
      });
      const now = Date.now();
      const ns = (ms: number) => BigInt(ms) * 1_000_000n;
      // agent-b registered long ago with a lease that has run out.
      await store.upsertAgent(info('agent-b'), 1000, ns(now - 60_000));
      await store.upsertAgent(info('agent-a'), 1000, ns(now - 500));
      await store.renewLeases(['agent-a'], 15_000, ns(now));
      await store.setAgentsExperiment(['agent-a', 'agent-b'], 'exp-1');
      await store.setAgentsExperiment(['agent-b'], undefined);

      const list = await store.listAgents();
      expect(list.map((a) => [a.info?.agentId, a.connected, a.experimentId])).toEqual([
        ['agent-a', true, 'exp-1'],
        ['agent-b', false, ''],
      ]);
      expect(list[0]!.lastSeenUnixNano).toBe(ns(now));
      expect(list[0]!.leaseExpiresUnixNano).toBe(ns(now + 15_000));
      expect(list[1]!.lastSeenUnixNano).toBe(ns(now - 60_000));
      expect(list[1]!.leaseExpiresUnixNano).toBe(0n);
    } finally {
      conn.disconnect();
    }
  });
});
