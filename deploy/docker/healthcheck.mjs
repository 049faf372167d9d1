#!/usr/bin/env node
/**
 * Probe for containers whose /healthz listens on 127.0.0.1 only (the agent and the
 * controller), where the kubelet's httpGet probe, which dials the pod IP, cannot reach it.
 * Runs inside the container, so loopback is the container's own.
 *
 *   node /opt/faultline/healthcheck.mjs PORT [--live]
 *
 * Exit 0 when GET http://127.0.0.1:PORT/healthz answers 2xx; with `--live`, when it answers
 * at all (a liveness probe must not restart a controller because Redis is away: its
 * /healthz answers 503 then, and a restart would not bring Redis back). Exit 1 otherwise,
 * with the reason on stderr. Gives up after 2 s.
 */
import { request } from 'node:http';

const [portArg, ...rest] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write(`usage: healthcheck.mjs PORT [--live]; PORT must be in [1, 65535], got ${portArg}\n`);
  process.exit(2);
}
const live = rest.includes('--live');

const req = request({ host: '127.0.0.1', port, path: '/healthz', method: 'GET', timeout: 2000 }, (res) => {
  const status = res.statusCode ?? 0;
  res.resume();
  const ok = live || (status >= 200 && status < 300);
  if (!ok) process.stderr.write(`/healthz on port ${port} answered ${status}\n`);
  process.exitCode = ok ? 0 : 1;
});
req.on('timeout', () => req.destroy(new Error('no answer within 2000 ms')));
req.on('error', (err) => {
  process.stderr.write(`/healthz on port ${port}: ${err.message}\n`);
  process.exitCode = 1;
});
req.end();
