import { connect } from 'node:net';
import { get } from 'node:http';

/** Result of one health probe. */
export interface Health {
  healthy: boolean;
  detail: string;
}

/** TCP connect probe. */
export function probeTcp(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<Health> {
  return new Promise((resolve) => {
    const sock = connect({ port, host });
    const done = (h: Health): void => {
      sock.destroy();
      resolve(h);
    };
    sock.setTimeout(timeoutMs, () => done({ healthy: false, detail: `no answer on ${host}:${port}` }));
    sock.once('connect', () => done({ healthy: true, detail: `listening on ${host}:${port}` }));
    sock.once('error', (err) => done({ healthy: false, detail: `${host}:${port}: ${err.message}` }));
  });
}

/** Redis PING over a raw socket. */
export function probeRedis(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<Health> {
  return new Promise((resolve) => {
    const sock = connect({ port, host });
    let buf = '';
    const done = (h: Health): void => {
      sock.destroy();
      resolve(h);
    };
    sock.setTimeout(timeoutMs, () => done({ healthy: false, detail: `PING timed out on ${host}:${port}` }));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (!buf.includes('\r\n')) return;
      done(
        buf.startsWith('+PONG')
          ? { healthy: true, detail: `PONG from ${host}:${port}` }
          : { healthy: false, detail: `unexpected reply ${JSON.stringify(buf.trim())}` },
      );
    });
    sock.once('error', (err) => done({ healthy: false, detail: `${host}:${port}: ${err.message}` }));
  });
}

/** HTTP GET probe: healthy on a 2xx answer (nats-server's /healthz, our services' /healthz). */
export function probeHttp(url: string, timeoutMs = 1000): Promise<Health> {
  return new Promise((resolve) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        if (body.length < 512) body += d.toString();
      });
      res.on('end', () => {
        const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
        resolve({ healthy: ok, detail: `${url} → ${res.statusCode} ${body.trim().slice(0, 120)}` });
      });
    });
    req.on('timeout', () => {
      req.destroy();
      resolve({ healthy: false, detail: `${url} timed out` });
    });
    req.on('error', (err) => resolve({ healthy: false, detail: `${url}: ${err.message}` }));
  });
}
