import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import {
  backfill,
  buildFleet,
  DATASET_FORMATS,
  isInvalidOptionsError,
  LiveSimulator,
  SIGNAL_FREQUENCIES,
  Simulator,
  type BackfillManifest,
  type DatasetFormat,
  type Fleet,
  type SignalFrequency,
  type SimulatorOptions,
} from '@faultline/agent';
import {
  msToUnixNano,
  natsRefusalOf,
  type NatsAuthFlagValues,
  type NatsRefusedError,
  type Plan,
} from '@faultline/protocol';
import { compilePlans, parseDuration, parseExperimentSpec } from '@faultline/spec';
import type { CliIo } from './io.js';
import { addNatsAuthOptions, resolveCliNatsAuth } from './nats-flags.js';
import { renderTable } from './output.js';
import { UsageError } from './usage-error.js';

interface SimulateFlags extends NatsAuthFlagValues {
  hosts?: number;
  hostScale: number;
  seed?: string;
  interval: number;
  agentId: string;
  includeRegion?: string[];
  includeMs?: string[];
  missing: number;
  sinSignal: number;
  sinFrq: SignalFrequency;
  sawSignal: number;
  sawFrq: SignalFrequency;
  highCpu: number;
  spec?: string;
  experiment?: string;
  nats?: string;
  duration?: number;
  dataDir?: string;
  backfill?: boolean;
  from?: number;
  to?: number;
  fuzz: number;
  out?: string;
  format: DatasetFormat;
  dryRun?: boolean;
}

/** Live mode prints a status line this often, ms. */
const STATUS_EVERY_MS = 10_000;

function parseNumber(flag: string, min: number, max: number, integer = false): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (
      value.trim() === '' ||
      !Number.isFinite(n) ||
      n < min ||
      n > max ||
      (integer && !Number.isInteger(n))
    ) {
      throw new UsageError(
        `${flag} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(value)}`,
      );
    }
    return n;
  };
}

function parseDurationFlag(flag: string): (value: string) => number {
  return (value: string) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      throw new UsageError(
        `${flag} must be a duration such as 500ms, 1s, 5m or 1h30m, got ${JSON.stringify(value)}`,
      );
    }
    return ms;
  };
}

function parseTime(flag: string): (value: string) => number {
  return (value: string) => {
    const ms = Date.parse(value);
    if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) {
      throw new UsageError(
        `${flag} must be an ISO 8601 date or time such as 2026-11-01 or 2026-11-01T06:00:00Z, got ${JSON.stringify(value)}`,
      );
    }
    return ms;
  };
}

function parseChoice<T extends string>(flag: string, choices: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new UsageError(`${flag} must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
    }
    return value as T;
  };
}

const parseList = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

/** A seed of digits is a number (as the spec's `seed:`), anything else a string seed. */
function seedOf(flag: string | undefined): number | string {
  if (flag === undefined) return Math.floor(Date.now() / 1000) % 2 ** 31;
  return /^\d{1,9}$/.test(flag) ? Number(flag) : flag;
}

/** The flag each option is set by, so that an option error reads as a flag error. */
const FLAG_OF: ReadonlyArray<readonly [string, string]> = [
  ['includeRegions', '--include-region'],
  ['includeMicroservices', '--include-ms'],
  ['hostScale', '--host-scale'],
  ['hosts', '--hosts'],
  ['missingPercent', '--missing'],
  ['sinSignal.snr', '--sin-signal'],
  ['sawSignal.snr', '--saw-signal'],
  ['highCpuFraction', '--high-cpu'],
  ['agentId', '--agent-id'],
  ['intervalMs', '--interval'],
  ['fuzzMs', '--fuzz'],
  ['toMs', '--to'],
  ['fromMs', '--from'],
];

/** Runs `fn`; an invalid option from the simulator becomes a usage error that names the flag. */
async function asUsage<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!isInvalidOptionsError(err)) throw err;
    const entry = FLAG_OF.find(([field]) => err.field === field || err.field.startsWith(`${field}[`));
    throw new UsageError(entry ? err.message.replace(entry[0], entry[1]) : err.message);
  }
}

function simulatorOptions(flags: SimulateFlags, seed: number | string): SimulatorOptions {
  return {
    seed,
    hosts: flags.hosts,
    hostScale: flags.hostScale,
    includeRegions: flags.includeRegion,
    includeMicroservices: flags.includeMs,
    highCpuFraction: flags.highCpu,
    intervalMs: flags.interval,
    missingPercent: flags.missing,
    sinSignal: { snr: flags.sinSignal, frequency: flags.sinFrq },
    sawSignal: { snr: flags.sawSignal, frequency: flags.sawFrq },
    agentId: flags.agentId,
  };
}

/** What `--dry-run` prints: the fleet's dimension counts, then one line per virtual host. */
export function renderFleet(fleet: Fleet): string {
  const d = fleet.dimensions;
  const summary =
    `${fleet.hosts.length} virtual hosts (host scale ${fleet.hostScale}, seed ${String(fleet.options.seed)}): ` +
    `${d.regions} regions, ${d.cells} cells, ${d.silos} silos, ${d.availabilityZones} availability zones, ` +
    `${d.microservices} microservices, ${d.instanceTypes} instance types, ${d.serverModels} server models, ` +
    `${d.locations} locations\n`;
  return (
    summary +
    renderTable(
      [...fleet.hosts],
      [
        { header: 'host_id', value: (h) => h.hostId },
        { header: 'region', value: (h) => h.region },
        { header: 'cell', value: (h) => h.cell },
        { header: 'silo', value: (h) => h.silo },
        { header: 'availability_zone', value: (h) => h.availabilityZone },
        { header: 'microservice_name', value: (h) => h.microservice },
        { header: 'instance_name', value: (h) => h.instanceName },
        { header: 'instance_type', value: (h) => h.instanceType },
        { header: 'os_version', value: (h) => h.osVersion },
        { header: 'process', value: (h) => h.process },
        { header: 'jdk_version', value: (h) => h.jdkVersion },
        { header: 'serial_number', value: (h) => h.serialNumber },
        { header: 'server_model', value: (h) => h.serverModel },
        { header: 'location', value: (h) => h.location },
        { header: 'watts', value: (h) => `${h.idleWatts}-${h.maxWatts}` },
        { header: 'cpu', value: (h) => h.cpuProfile },
      ],
    )
  );
}

/** The backfill summary: the files with their row counts. */
export function renderBackfillSummary(m: BackfillManifest, outDir: string): string {
  return (
    `simulated ${m.hosts} hosts from ${m.from} to ${m.to} every ${m.intervalMs} ms (fuzz ${m.fuzzMs} ms, seed ${m.seed}) into ${outDir}\n` +
    renderTable(m.files, [
      { header: 'file', value: (f) => f.path },
      { header: 'kind', value: (f) => f.kind },
      { header: 'rows', value: (f) => String(f.rows) },
    ])
  );
}

/** Compiles `--spec` for the virtual hosts of `sim`, starting at `t0Ms`. */
function compileSpec(file: string, sim: Simulator, t0Ms: number, experiment: string | undefined): Plan[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read spec ${file}: ${(err as Error).message}`);
  }
  const spec = parseExperimentSpec(text, { source: file });
  const experimentId = experiment ?? spec.metadata.name;
  if (!/^[^\s.*>]+$/.test(experimentId)) {
    throw new UsageError(
      `--experiment must not contain '.', '*', '>' or whitespace, got ${JSON.stringify(experimentId)}`,
    );
  }
  return compilePlans(spec, sim.agentInfos(), { startUnixNano: msToUnixNano(t0Ms), experimentId }).plans;
}

async function runBackfill(flags: SimulateFlags, seed: number | string, io: CliIo): Promise<void> {
  if (flags.from === undefined || flags.to === undefined || flags.out === undefined) {
    throw new UsageError('--backfill needs --from, --to and --out');
  }
  const options = simulatorOptions(flags, seed);
  let plans: Plan[] = [];
  if (flags.spec !== undefined) {
    const sim = await asUsage(() => new Simulator(options));
    plans = compileSpec(flags.spec, sim, flags.from, flags.experiment);
  }
  const bar =
    process.stderr.isTTY === true
      ? new SingleBar({ format: 'backfill [{bar}] {percentage}% | {value}/{total} slots', hideCursor: true })
      : undefined;
  let started = false;
  try {
    const manifest = await asUsage(() =>
      backfill({
        ...options,
        fromMs: flags.from!,
        toMs: flags.to!,
        fuzzMs: flags.fuzz,
        outDir: flags.out!,
        format: flags.format,
        plans,
        onProgress: (done, total) => {
          if (!bar) return;
          if (!started) bar.start(total, done);
          started = true;
          bar.update(done);
        },
      }),
    );
    if (started) bar?.stop();
    started = false;
    io.out(renderBackfillSummary(manifest, flags.out));
  } finally {
    if (started) bar?.stop();
  }
}

/** Resolves after `durationMs` (never without one) or at SIGINT/SIGTERM, whichever is first. */
function untilStopped(durationMs: number | undefined): { done: Promise<string>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  const done = new Promise<string>((resolve) => {
    if (durationMs !== undefined) timer = setTimeout(() => resolve('duration reached'), durationMs);
    onSignal = (signal) => resolve(`${signal} received`);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  return {
    done,
    cancel() {
      clearTimeout(timer);
      if (onSignal) {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    },
  };
}

async function runLive(flags: SimulateFlags, seed: number | string, io: CliIo): Promise<void> {
  const natsUrl = flags.nats!;
  if (!(flags.interval >= 50 && flags.interval <= 60_000)) {
    throw new UsageError(`--interval must be in [50ms, 60s] when live, got ${flags.interval} ms`);
  }
  // The simulator publishes as one agent: its id names its NATS identity.
  const auth = resolveCliNatsAuth(flags, flags.agentId);
  const errors = new Map<string, number>();
  // A refusal by NATS ends the run: retrying cannot help until the credentials or permissions change.
  let refused: NatsRefusedError | undefined;
  let onRefused: () => void = () => {};
  const refusal = new Promise<string>((resolve) => (onRefused = () => resolve('NATS refused')));
  const live = await asUsage(() =>
    LiveSimulator.start({
      ...simulatorOptions(flags, seed),
      natsUrl,
      connection: auth.connectionOptions,
      dataDir: flags.dataDir,
      onError: (err, where) => {
        const r = natsRefusalOf(err, natsUrl);
        if (r !== undefined) {
          refused ??= r;
          onRefused();
          return;
        }
        const key = where.split(' ')[0] ?? where;
        const n = (errors.get(key) ?? 0) + 1;
        errors.set(key, n);
        // One line for the first failure of each kind, then every hundredth.
        if (n === 1 || n % 100 === 0) {
          io.err(`warning: ${where}: ${err instanceof Error ? err.message : String(err)} (${n} so far)\n`);
        }
      },
    }),
  );
  const stop = untilStopped(flags.duration);
  const status = setInterval(() => {
    const s = live.stats();
    io.out(
      `${s.ticks} ticks, ${s.samplesGenerated} samples, ${s.publisher.samplesPublished} published, ` +
        `${s.publisher.samplesSpooled} spooled, ${s.publisher.samplesLost} lost, last tick ${s.lastTickMs.toFixed(0)} ms` +
        `${s.skippedTicks > 0 ? `, ${s.skippedTicks} ticks skipped` : ''}${s.plansRunning > 0 ? `, ${s.plansRunning} plans running` : ''}\n`,
    );
  }, STATUS_EVERY_MS);
  status.unref();
  try {
    io.out(
      `simulating ${live.simulator.size} hosts every ${flags.interval} ms as agent ${live.simulator.options.agentId} ` +
        `(seed ${String(seed)}) to ${natsUrl}\n`,
    );
    if (flags.spec !== undefined) {
      // A whole second ahead, so that every host starts its plan on a tick.
      const t0 = Math.ceil(Date.now() / 1000) * 1000 + 1000;
      const plans = compileSpec(flags.spec, live.simulator, t0, flags.experiment);
      const outcomes = plans.map((p) => live.runPlan(p));
      io.out(
        `running ${plans.length} plans (${plans.reduce((n, p) => n + p.injections.length, 0)} injections)\n`,
      );
      void Promise.all(outcomes).then(
        (done) =>
          io.out(`plans done: ${done.reduce((n, o) => n + o.injectionsFinished, 0)} injections finished\n`),
        (err: unknown) =>
          io.err(`warning: a plan failed: ${err instanceof Error ? err.message : String(err)}\n`),
      );
    }
    const why = await Promise.race([stop.done, refusal]);
    if (refused === undefined) io.out(`stopping (${why})\n`);
  } finally {
    stop.cancel();
    clearInterval(status);
    await live.stop();
  }
  if (refused !== undefined) throw refused;
  const s = live.stats();
  io.out(
    `${s.ticks} ticks, ${s.samplesGenerated} samples generated, ${s.publisher.samplesPublished} published, ` +
      `${s.publisher.samplesSpooled} left in the spool, ${s.publisher.samplesLost} lost; longest tick ${s.maxTickMs.toFixed(0)} ms\n`,
  );
  if (s.publisher.samplesLost > 0) io.setExitCode(1);
}

/**
 * `faultline simulate`: N virtual hosts with the DevOps metrics, live to NATS or backfilled
 * to files, optionally running an experiment spec on them.
 */
export function simulateCommand(io: CliIo): Command {
  const cmd = new Command('simulate')
    .description(
      'simulate a fleet of virtual hosts (DevOps metrics, power, temperature): live to NATS, or backfill a date range to files',
    )
    .option(
      '--hosts <n>',
      'virtual hosts (default: the whole topology at --host-scale, 1010 at 1)',
      parseNumber('--hosts', 1, 1_000_000, true),
    )
    .option(
      '--host-scale <n>',
      'instances per microservice and silo are multiplied by this',
      parseNumber('--host-scale', 1, 10_000, true),
      1,
    )
    .option('--seed <seed>', 'seed of every draw: digits or text (default: the current time, printed)')
    .option('--interval <duration>', 'time between samples', parseDurationFlag('--interval'), 1000)
    .option('--agent-id <id>', 'agent id of the publisher and of truth windows', 'simulator')
    .option('--include-region <list>', 'comma-separated regions to simulate (default all)', parseList)
    .option('--include-ms <list>', 'comma-separated microservices to simulate (default all)', parseList)
    .option(
      '--missing <pct>',
      'percent of metric values left out of samples',
      parseNumber('--missing', 0, 100),
      0,
    )
    .option(
      '--sin-signal <snr>',
      'sine overlay on cpu_user: signal-to-noise ratio, 0 (off) to 100 (no noise)',
      parseNumber('--sin-signal', 0, 100),
      0,
    )
    .option(
      '--sin-frq <f>',
      `sine period: ${SIGNAL_FREQUENCIES.join(' | ')}`,
      parseChoice('--sin-frq', SIGNAL_FREQUENCIES),
      'm',
    )
    .option(
      '--saw-signal <snr>',
      'sawtooth overlay on cpu_user: signal-to-noise ratio, 0 (off) to 100',
      parseNumber('--saw-signal', 0, 100),
      0,
    )
    .option(
      '--saw-frq <f>',
      `sawtooth period: ${SIGNAL_FREQUENCIES.join(' | ')}`,
      parseChoice('--saw-frq', SIGNAL_FREQUENCIES),
      'm',
    )
    .option(
      '--high-cpu <fraction>',
      'fraction of hosts with cpu_user around 85 % (else 15 %)',
      parseNumber('--high-cpu', 0, 1),
      0.2,
    )
    .option(
      '--spec <file>',
      'run this experiment spec on the virtual hosts (live: from the next second; backfill: from --from)',
    )
    .option('--experiment <id>', 'experiment id for --spec (default the spec name)')
    .option('--nats <url>', 'live: publish to this NATS server')
    .option(
      '--duration <duration>',
      'live: stop after this long (default: at Ctrl-C)',
      parseDurationFlag('--duration'),
    )
    .option(
      '--data-dir <dir>',
      'live: directory of the publisher spool (default .faultline/simulator/<agent>)',
    )
    .option('--backfill', 'write a date range to files instead of publishing')
    .option('--from <time>', 'backfill: first sample time, ISO 8601', parseTime('--from'))
    .option('--to <time>', 'backfill: end of the range (exclusive), ISO 8601', parseTime('--to'))
    .option(
      '--fuzz <duration>',
      'backfill: largest random delay of a sample after its slot',
      parseDurationFlag('--fuzz'),
      0,
    )
    .option('--out <dir>', 'backfill: output directory, created when missing')
    .option(
      '--format <format>',
      `backfill: ${DATASET_FORMATS.join(' | ')}`,
      parseChoice('--format', DATASET_FORMATS),
      'csv',
    )
    .option('--dry-run', 'print the dimensions of the fleet and exit')
    .action(async (flags: SimulateFlags) => {
      const seed = seedOf(flags.seed);
      if (flags.dryRun) {
        const fleet = await asUsage(() => buildFleet(simulatorOptions(flags, seed)));
        io.out(renderFleet(fleet));
        return;
      }
      if (flags.backfill && flags.nats !== undefined) {
        throw new UsageError(
          '--backfill and --nats exclude each other: backfill writes files, live publishes',
        );
      }
      if (flags.backfill) return runBackfill(flags, seed, io);
      if (flags.nats === undefined) {
        throw new UsageError(
          'give --nats URL to publish live, --backfill --from --to --out to write files, or --dry-run',
        );
      }
      return runLive(flags, seed, io);
    });
  return addNatsAuthOptions(cmd);
}
