import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';

import { startMetricsServer } from './metrics-server.js';

describe('startMetricsServer', () => {
  it('serves /metrics in the Prometheus text format and /healthz as 200 or 503 with the report', async () => {
    const registry = new Registry();
    new Counter({ name: 'test_things_total', help: 'things', registers: [registry] }).inc(3);
    let ok = true;
    const server = await startMetricsServer(registry, () => ({ ok, partitions: [1, 2] }), {
      port: 0,
      host: '127.0.0.1',
    });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toContain('text/plain');
      expect(await metrics.text()).toContain('test_things_total 3');

      const healthy = await fetch(`${base}/healthz`);
      expect(healthy.status).toBe(200);
      expect(await healthy.json()).toEqual({ ok: true, partitions: [1, 2] });
      ok = false;
      expect((await fetch(`${base}/healthz`)).status).toBe(503);
      expect((await fetch(`${base}/nope`)).status).toBe(404);
      expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
    } finally {
      await server.close();
    }
  });

  it('rejects when the port is taken', async () => {
    const first = await startMetricsServer(new Registry(), () => ({ ok: true }), {
      port: 0,
      host: '127.0.0.1',
    });
    try {
      await expect(
        startMetricsServer(new Registry(), () => ({ ok: true }), { port: first.port, host: '127.0.0.1' }),
      ).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await first.close();
    }
  });
});
