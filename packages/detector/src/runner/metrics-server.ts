/**
 * The detector's HTTP endpoints: `GET /metrics` (Prometheus text format from a prom-client
 * registry) and `GET /healthz` (200 with a JSON health report while healthy, 503 otherwise).
 *
 * @example
 * ```ts
 * const http = await startMetricsServer(runner.metrics.registry, () => runner.health(), { port: 9466 });
 * // curl localhost:9466/metrics
 * await http.close();
 * ```
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Where to listen. */
export interface MetricsServerOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Interface address; default 0.0.0.0 (Prometheus scrapes from elsewhere). */
  host?: string;
}

/** A running metrics server. */
export interface MetricsServer {
  /** The port it listens on (the chosen one when 0 was asked). */
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the server; rejects when the port cannot be bound. */
export async function startMetricsServer(
  registry: Registry,
  health: () => { ok: boolean },
  options: MetricsServerOptions,
): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    } else if (path === '/healthz') {
      const report = health();
      res
        .writeHead(report.ok ? 200 : 503, { 'content-type': 'application/json' })
        .end(`${JSON.stringify(report)}\n`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
