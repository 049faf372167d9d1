import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { freePort, isListening, tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { faultline } from './cli.js';

function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

describe('faultline dev', () => {
  it('brings up nats, redis, the controller and the detector as healthy background processes, and down leaves nothing running with the ports free', async () => {
    await using dir = tempDir('faultline-dev-');
    const ports = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const flags = [
      '--dir',
      dir.path,
      '--nats-port',
      String(ports[0]),
      '--nats-monitor-port',
      String(ports[1]),
      '--redis-port',
      String(ports[2]),
      '--controller-port',
      String(ports[3]),
      '--controller-metrics-port',
      String(ports[4]),
      '--detector-metrics-port',
      String(ports[5]),
    ];
    let pids: number[] = [];
    try {
      const up = await faultline(['dev', 'up', ...flags]);
      expect(up.stderr).toBe('');
      expect(up.code).toBe(0);
      expect(up.stdout).toContain('local stack is up');

      const status = await faultline(['dev', 'status', ...flags, '--output', 'json']);
      expect(status.code).toBe(0);
      const services = (
        JSON.parse(status.stdout) as { services: Array<{ name: string; healthy: boolean; pid: number }> }
      ).services;
      expect(services.map((s) => [s.name, s.healthy])).toEqual([
        ['nats', true],
        ['redis', true],
        ['controller', true],
        ['detector', true],
      ]);
      pids = services.map((s) => s.pid);
      for (const p of ports) expect(await isListening(p)).toBe(true);
      expect(existsSync(`${dir.path}/logs/nats.log`)).toBe(true);
      expect(readdirSync(`${dir.path}/nats`).length).toBeGreaterThan(0); // the JetStream store lives under the state dir

      // up again is idempotent: nothing new is started
      const again = await faultline(['dev', 'up', ...flags]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('nats already running');

      // the CLI reaches the stack's controller
      const controller = `127.0.0.1:${ports[3]}`;
      const agents = await faultline(['agents', '--controller', controller, '--output', 'json']);
      expect(agents.stderr).toBe('');
      expect(JSON.parse(agents.stdout)).toEqual({ agents: [] });
      const experiments = await faultline(['experiments'], { FAULTLINE_CONTROLLER: controller });
      expect(experiments.code).toBe(0);
      expect(experiments.stdout).toMatch(/^EXPERIMENT\s+NAME\s+STATE/);

      const table = await faultline(['dev', 'status', ...flags]);
      expect(table.stdout).toMatch(/^SERVICE\s+PID\s+STATE\s+HEALTH/);
    } finally {
      const down = await faultline(['dev', 'down', ...flags]);
      expect(down.code).toBe(0);
    }
    for (const pid of pids) expect(processAlive(pid)).toBe(false);
    for (const p of ports) expect(await isListening(p)).toBe(false);
    const after = await faultline(['dev', 'status', ...flags]);
    expect(after.code).toBe(1);
    expect(after.stdout).toContain('not running');
  });

  it('refuses a port that is in use, naming it, and starts nothing', async () => {
    await using dir = tempDir('faultline-dev-');
    const busy = await freePort();
    const { createServer } = await import('node:net');
    const srv = createServer().listen(busy, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    try {
      const up = await faultline([
        'dev',
        'up',
        '--dir',
        dir.path,
        '--nats-port',
        String(busy),
        '--nats-monitor-port',
        String(await freePort()),
        '--redis-port',
        String(await freePort()),
      ]);
      expect(up.code).toBe(1);
      expect(up.stderr).toContain(`port ${busy} needed by nats is already in use`);
      const status = await faultline(['dev', 'status', '--dir', dir.path]);
      expect(status.stdout).toContain('not running');
    } finally {
      srv.close();
    }
  });

  it('says in one line, exit 1, that the controller is unreachable', async () => {
    const r = await faultline(['agents', '--controller', `127.0.0.1:${await freePort()}`]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('cannot reach the controller at 127.0.0.1:');
  });

  it('exits 2 with a one-line message on a usage error', async () => {
    const r = await faultline(['dev', 'up', '--nats-port', 'abc']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--nats-port must be an integer in [1, 65535], got "abc"');
    const unknown = await faultline(['frobnicate']);
    expect(unknown.code).toBe(2);
  });
});
