import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_NODE_FLAGS } from '@faultline/agent';
import { withoutNatsSecurityEnv } from '@faultline/protocol';
import { withoutControlPlaneSecurityEnv } from '../config.js';
import { ControllerError, ControllerErrorCode, DevStackError } from '../errors.js';
import { probeHttp, probeRedis, probeTcp, type Health } from './health.js';
import { commandLine, isAlive, spawnDetached, terminate, which } from './process-control.js';

/** Options of the local stack (`faultline dev up`). */
export interface DevStackOptions {
  /** State directory: logs, pid and state files, the NATS store. Default `.faultline` in the cwd. */
  dir?: string;
  /** nats-server client port. Default 14222 (not 4222, so a system NATS is left alone). */
  natsPort?: number;
  /** nats-server monitoring port (serves /healthz). Default 18222. */
  natsMonitorPort?: number;
  /** redis-server port. Default 16379 (not 6379, so a system Redis is left alone). */
  redisPort?: number;
  /** Controller gRPC port. Default 15051. */
  controllerPort?: number;
  /** Controller /metrics and /healthz port. Default 15052. */
  controllerMetricsPort?: number;
  /** Detector /metrics and /healthz port. Default 15053. */
  detectorMetricsPort?: number;
  /** Number of local agents, [0, 64]. Default 0. */
  agents?: number;
  /** First agent /metrics port; agent i uses agentMetricsPort + i. Default 15100. */
  agentMetricsPort?: number;
  /** Max time to wait for each service to become healthy, ms. Default 15000. */
  startTimeoutMs?: number;
}

export type ResolvedDevStackOptions = Required<DevStackOptions>;

function port(field: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > 65535) {
    throw new ControllerError(
      ControllerErrorCode.InvalidOptions,
      `${field} must be an integer in [1, 65535], got ${v}`,
    );
  }
  return v;
}

function agentCount(value: number | undefined): number {
  const n = value ?? 0;
  if (!Number.isInteger(n) || n < 0 || n > 64) {
    throw new ControllerError(
      ControllerErrorCode.InvalidOptions,
      `agents must be an integer in [0, 64], got ${n}`,
    );
  }
  return n;
}

export function resolveDevStackOptions(raw: DevStackOptions = {}): ResolvedDevStackOptions {
  const startTimeoutMs = raw.startTimeoutMs ?? 15_000;
  if (!(startTimeoutMs > 0)) {
    throw new ControllerError(
      ControllerErrorCode.InvalidOptions,
      `startTimeoutMs must be > 0, got ${startTimeoutMs}`,
    );
  }
  return {
    dir: resolve(raw.dir ?? process.env.FAULTLINE_HOME ?? '.faultline'),
    natsPort: port('natsPort', raw.natsPort, 14222),
    natsMonitorPort: port('natsMonitorPort', raw.natsMonitorPort, 18222),
    redisPort: port('redisPort', raw.redisPort, 16379),
    controllerPort: port('controllerPort', raw.controllerPort, 15051),
    controllerMetricsPort: port('controllerMetricsPort', raw.controllerMetricsPort, 15052),
    detectorMetricsPort: port('detectorMetricsPort', raw.detectorMetricsPort, 15053),
    agents: agentCount(raw.agents),
    agentMetricsPort: port('agentMetricsPort', raw.agentMetricsPort, 15100),
    startTimeoutMs,
  };
}

/** One background process of the stack. */
export interface ServiceSpec {
  name: string;
  command: string;
  args: string[];
  /** Ports the service listens on (checked free before start, and after stop). */
  ports: number[];
  /** Environment added to the stack's own. */
  env?: Record<string, string>;
  /** Install hint shown when the command is missing. */
  installHint?: string;
  health(): Promise<Health>;
}

/** What `up` records per service, so that `down` stops exactly what `up` started. */
export interface ServiceRecord {
  name: string;
  pid: number;
  command: string;
  args: string[];
  ports: number[];
  log: string;
  startedAt: string;
}

export interface DevStackState {
  version: 1;
  options: ResolvedDevStackOptions;
  services: ServiceRecord[];
}

export interface ServiceStatus {
  name: string;
  pid: number;
  running: boolean;
  healthy: boolean;
  ports: number[];
  detail: string;
  log: string;
}

/** The URLs of the running stack, for clients. */
export function stackUrls(options: ResolvedDevStackOptions): {
  nats: string;
  redis: string;
  controller: string;
} {
  return {
    nats: `nats://127.0.0.1:${options.natsPort}`,
    redis: `redis://127.0.0.1:${options.redisPort}`,
    controller: `127.0.0.1:${options.controllerPort}`,
  };
}

/** A built binary of ours (dist/bin/NAME.js of the package that holds `moduleUrl`'s sibling). */
function ourBin(relative: string): string {
  return fileURLToPath(new URL(relative, import.meta.url));
}

/** A binary of one of our packages: its dist/bin next to its public index. */
function packageBin(pkg: string, bin: string): string {
  const index = createRequire(import.meta.url).resolve(pkg);
  return join(dirname(index), 'bin', `${bin}.js`);
}

/** One detector replica owning every partition, trained on each host's first samples or its experiment's warm-up. */
export function detectorService(o: ResolvedDevStackOptions): ServiceSpec {
  const urls = stackUrls(o);
  return {
    name: 'detector',
    command: process.execPath,
    args: [
      packageBin('@faultline/detector', 'faultline-detector'),
      '--nats',
      urls.nats,
      '--replica-id',
      'local',
      '--metrics-port',
      String(o.detectorMetricsPort),
      '--metrics-host',
      '127.0.0.1',
      // The local agents share this machine, so its host metrics carry every agent's
      // injections: score each agent on its own process tree (the agent and the workloads
      // it spawns) instead.
      '--features',
      [
        'process.rss_bytes',
        'process.cpu_percent',
        'process.write_bytes_total',
        'process.wchar_bytes_total',
        'process.nprocs',
        'process.nthreads',
      ].join(','),
      // A lone outlying sample (a clock tick, a log flush) is not an incident.
      '--min-consecutive',
      '3',
      // The agent's heap may settle below its warm-up level after a collection, which the
      // forest isolates as readily as a spike: at half weight the forest alone opens an event
      // only for points far out (s(x) >= 0.8).
      '--iforest-weight',
      '0.5',
      // Between injections the fused score of a process tree rests around 0.15-0.25 (its level
      // shifts a little after each workload): an event must close there, or the first incident
      // swallows every later one.
      '--close-threshold',
      '0.25',
    ],
    ports: [o.detectorMetricsPort],
    health: () => probeHttp(`http://127.0.0.1:${o.detectorMetricsPort}/healthz`),
  };
}

/** Local agent i: `local-<i>`, labelled role=worker and index=<i>. */
export function agentService(o: ResolvedDevStackOptions, i: number): ServiceSpec {
  const urls = stackUrls(o);
  const id = `local-${i}`;
  const metricsPort = o.agentMetricsPort + i;
  return {
    name: `agent-${i}`,
    command: process.execPath,
    args: [
      ...AGENT_NODE_FLAGS,
      packageBin('@faultline/agent', 'faultline-agent'),
      'serve',
      '--agent-id',
      id,
      '--labels',
      `role=worker,index=${i}`,
      '--controller',
      urls.controller,
      '--nats',
      urls.nats,
      '--data-dir',
      join(o.dir, 'agents', id),
      '--metrics-port',
      String(metricsPort),
    ],
    ports: [metricsPort],
    health: () => probeHttp(`http://127.0.0.1:${metricsPort}/healthz`),
  };
}

/** The whole local stack: infrastructure, the controller, the detector, then the agents. */
export function devServices(o: ResolvedDevStackOptions): ServiceSpec[] {
  const urls = stackUrls(o);
  return [
    ...infrastructureServices(o),
    {
      name: 'controller',
      command: process.execPath,
      args: [
        ourBin('../bin/faultline-controller.js'),
        '--listen',
        urls.controller,
        '--redis',
        urls.redis,
        '--metrics-port',
        String(o.controllerMetricsPort),
        '--nats',
        urls.nats,
      ],
      ports: [o.controllerPort, o.controllerMetricsPort],
      health: () => probeHttp(`http://127.0.0.1:${o.controllerMetricsPort}/healthz`),
    },
    detectorService(o),
    ...Array.from({ length: o.agents }, (_, i) => agentService(o, i)),
  ];
}

/** The infrastructure services: nats-server with JetStream and redis-server. */
export function infrastructureServices(o: ResolvedDevStackOptions): ServiceSpec[] {
  const natsStore = join(o.dir, 'nats');
  const redisDir = join(o.dir, 'redis');
  mkdirSync(natsStore, { recursive: true });
  mkdirSync(redisDir, { recursive: true });
  return [
    {
      name: 'nats',
      command: 'nats-server',
      args: [
        '-a',
        '127.0.0.1',
        '-p',
        String(o.natsPort),
        '-m',
        String(o.natsMonitorPort),
        '-js',
        '-sd',
        natsStore,
      ],
      ports: [o.natsPort, o.natsMonitorPort],
      installHint: 'apt-get install -y nats-server',
      health: () => probeHttp(`http://127.0.0.1:${o.natsMonitorPort}/healthz?js-enabled-only=true`),
    },
    {
      name: 'redis',
      command: 'redis-server',
      args: [
        '--bind',
        '127.0.0.1',
        '--port',
        String(o.redisPort),
        '--dir',
        redisDir,
        '--appendonly',
        'yes',
        '--save',
        '',
      ],
      ports: [o.redisPort],
      installHint: 'apt-get install -y redis-server',
      health: () => probeRedis(o.redisPort),
    },
  ];
}

/**
 * The local stack as background processes, recorded under `<dir>/dev/`. `up` starts what is
 * not running (idempotent), `status` probes each service's health, `down` stops exactly
 * the processes `up` recorded (never a recycled pid) and waits for their ports to be free.
 */
export class DevStack {
  readonly options: ResolvedDevStackOptions;
  private readonly stateFile: string;
  private readonly logDir: string;

  constructor(options: DevStackOptions = {}) {
    this.options = resolveDevStackOptions(options);
    this.stateFile = join(this.options.dir, 'dev', 'state.json');
    this.logDir = join(this.options.dir, 'logs');
  }

  readState(): DevStackState | undefined {
    if (!existsSync(this.stateFile)) return undefined;
    try {
      return JSON.parse(readFileSync(this.stateFile, 'utf8')) as DevStackState;
    } catch (err) {
      throw new DevStackError(
        `the dev stack state file ${this.stateFile} is unreadable (${(err as Error).message}); stop the processes by hand and delete it`,
        { cause: err },
      );
    }
  }

  private writeState(services: ServiceRecord[]): void {
    mkdirSync(join(this.options.dir, 'dev'), { recursive: true });
    const state: DevStackState = { version: 1, options: this.options, services };
    const tmp = `${this.stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(state, null, 2));
    renameSync(tmp, this.stateFile);
  }

  /** True when the recorded process is alive and still runs the recorded command. */
  private owns(record: ServiceRecord): boolean {
    return isAlive(record.pid) && commandLine(record.pid).includes(basename(record.command));
  }

  /**
   * Starts every service that is not already running. On failure, stops what this call
   * started and throws with the failing service's log tail.
   */
  async up(services: ServiceSpec[], onProgress?: (message: string) => void): Promise<ServiceRecord[]> {
    mkdirSync(this.logDir, { recursive: true });
    const records = (this.readState()?.services ?? []).filter((r) => this.owns(r));
    const startedNow: ServiceRecord[] = [];
    try {
      for (const spec of services) {
        const existing = records.find((r) => r.name === spec.name);
        if (existing) {
          onProgress?.(`${spec.name} already running (pid ${existing.pid})`);
          continue;
        }
        const command = spec.command.includes('/') ? spec.command : which(spec.command);
        if (command === undefined) {
          throw new DevStackError(
            `${spec.command} was not found on PATH${spec.installHint ? `; install it with: ${spec.installHint}` : ''}`,
          );
        }
        for (const p of spec.ports) {
          if ((await probeTcp(p, '127.0.0.1', 300)).healthy) {
            throw new DevStackError(
              `port ${p} needed by ${spec.name} is already in use by another process; choose another port (see faultline dev up --help)`,
            );
          }
        }
        const log = join(this.logDir, `${spec.name}.log`);
        const pid = spawnDetached(command, spec.args, {
          logFile: log,
          cwd: this.options.dir,
          // The local NATS has no users and the local controller serves plaintext without
          // tokens: credentials meant for other servers stay out.
          env: { ...withoutControlPlaneSecurityEnv(withoutNatsSecurityEnv(process.env)), ...spec.env },
        });
        const record: ServiceRecord = {
          name: spec.name,
          pid,
          command,
          args: spec.args,
          ports: spec.ports,
          log,
          startedAt: new Date().toISOString(),
        };
        records.push(record);
        startedNow.push(record);
        this.writeState(records);
        await this.waitHealthy(spec, record);
        onProgress?.(`${spec.name} started (pid ${pid})`);
      }
    } catch (err) {
      for (const r of startedNow.reverse()) await terminate(r.pid);
      this.writeState(records.filter((r) => !startedNow.includes(r)));
      throw err;
    }
    return records;
  }

  private async waitHealthy(spec: ServiceSpec, record: ServiceRecord): Promise<void> {
    const deadline = Date.now() + this.options.startTimeoutMs;
    let last: Health = { healthy: false, detail: 'not probed yet' };
    while (Date.now() < deadline) {
      if (!isAlive(record.pid)) {
        throw new DevStackError(
          `${spec.name} exited during start-up; last lines of ${record.log}:\n${tail(record.log)}`,
        );
      }
      last = await spec.health();
      if (last.healthy) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new DevStackError(
      `${spec.name} did not become healthy within ${this.options.startTimeoutMs} ms (${last.detail}); last lines of ${record.log}:\n${tail(record.log)}`,
    );
  }

  /** Health of every recorded service, probed as `up` configured it (ports, agent count). */
  async status(servicesFor: (options: ResolvedDevStackOptions) => ServiceSpec[]): Promise<ServiceStatus[]> {
    const state = this.readState();
    if (!state) return [];
    const services = servicesFor(state.options);
    const out: ServiceStatus[] = [];
    for (const record of state.services) {
      const running = this.owns(record);
      const spec = services.find((s) => s.name === record.name);
      const health =
        running && spec
          ? await spec.health()
          : { healthy: false, detail: running ? 'no probe' : 'not running' };
      out.push({
        name: record.name,
        pid: record.pid,
        running,
        healthy: running && health.healthy,
        ports: record.ports,
        detail: health.detail,
        log: record.log,
      });
    }
    return out;
  }

  /** Stops every recorded service (last started first) and waits for its ports to be free. */
  async down(onProgress?: (message: string) => void): Promise<ServiceRecord[]> {
    const state = this.readState();
    if (!state) return [];
    const stopped: ServiceRecord[] = [];
    for (const record of [...state.services].reverse()) {
      if (this.owns(record)) {
        const how = await terminate(record.pid);
        onProgress?.(`${record.name} stopped (pid ${record.pid}, ${how})`);
        stopped.push(record);
      } else {
        onProgress?.(`${record.name} was not running`);
      }
      for (const p of record.ports) {
        const deadline = Date.now() + 5000;
        while ((await probeTcp(p, '127.0.0.1', 200)).healthy && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
    rmSync(this.stateFile, { force: true });
    return stopped;
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
