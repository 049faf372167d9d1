import * as z from 'zod';
import type {
  AnomaliesSpec,
  AnomalySpec,
  CoordinationSpec,
  ExperimentSpec,
  PhaseSpec,
  ScheduledInjectionSpec,
  WorkloadSpec,
} from './experiment-spec.js';
import { receivedParams, type IssueParams } from './spec-issues.js';
import { formatDuration, formatSize, parseChance, parseDuration, parseSize } from './units.js';

/*
 * The one schema of an experiment spec. Leaves are small checkers that either return the
 * normalised value or say what form was expected; the issue formatter adds the path and
 * the value received. Cross-field rules (warm-up, phases tiling the duration, catalog
 * references, defaults that depend on other fields) live in `resolveSpec` at the root, so
 * their paths are absolute.
 */

/** Longest experiment, ms (one week). */
export const MAX_DURATION_MS = 168 * 3_600_000;
/** Shortest nominal baseline cycle random mode accepts, ms. */
export const MIN_NOMINAL_CYCLE_MS = 100;

const HOUR = 3_600_000;
const DURATION_FORM_TEXT = 'a duration like 90s, 15m or 1h30m';
const SIZE_FORM_TEXT = 'a size like 256Mi, 1Gi, 512MB or a number of bytes';

interface Failed {
  ok: false;
  expected: string;
}
type Checked<T> = { ok: true; value: T } | Failed;
const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
const expected = (text: string): Failed => ({ ok: false, expected: text });

function leaf<T>(check: (input: unknown) => Checked<T>) {
  return z.unknown().transform((input, ctx): T => {
    const result = check(input);
    if (result.ok) return result.value;
    ctx.addIssue({ code: 'custom', message: `expected ${result.expected}`, params: receivedParams(input) });
    return z.NEVER;
  });
}

/** A strict object whose unknown-field message lists the known fields. */
function obj<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `unknown field, expected one of ${known}` : undefined,
  });
}

interface Range {
  min: number;
  max: number;
  /** The minimum itself is not allowed. */
  minOpen?: boolean;
}

function inRange(value: number, range: Range): boolean {
  return (range.minOpen ? value > range.min : value >= range.min) && value <= range.max;
}

function durationRangeText(range: Range): string {
  const max = range.max === MAX_DURATION_MS ? '168h' : formatDuration(range.max);
  return range.minOpen
    ? `a duration above ${formatDuration(range.min)} and at most ${max}`
    : `a duration from ${formatDuration(range.min)} to ${max}`;
}

function duration(range: Range) {
  return leaf((input) => {
    const ms = parseDuration(input);
    if (ms === undefined) return expected(DURATION_FORM_TEXT);
    return inRange(ms, range) ? ok(ms) : expected(durationRangeText(range));
  });
}

function int(min: number, max = Number.MAX_SAFE_INTEGER) {
  const text = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
  return leaf((input) =>
    typeof input === 'number' && Number.isSafeInteger(input) && input >= min && input <= max
      ? ok(input)
      : expected(text),
  );
}

/** A number in (min, max] (or [min, max] when `minOpen` is false). */
function num(range: Range) {
  const low = range.minOpen ? '(' : '[';
  const text =
    range.max === Infinity
      ? `a number ${range.minOpen ? '>' : '>='} ${range.min}`
      : `a number in ${low}${range.min}, ${range.max}]`;
  return leaf((input) =>
    typeof input === 'number' && Number.isFinite(input) && inRange(input, range) ? ok(input) : expected(text),
  );
}

function size(min: number) {
  return leaf((input) => {
    const bytes = parseSize(input);
    if (bytes === undefined) return expected(SIZE_FORM_TEXT);
    return bytes >= min ? ok(bytes) : expected(`a size of at least ${formatSize(min)}`);
  });
}

const chance = leaf((input) => {
  const p = parseChance(input);
  if (p === undefined) return expected('a chance like 1/50, 0.02 or 2%');
  return p > 0 && p <= 1 ? ok(p) : expected('a chance in (0, 1]');
});

const percent = leaf((input) => {
  const text = 'a percentage in (0, 100] like 80 or 80%';
  const value =
    typeof input === 'number'
      ? input
      : typeof input === 'string' && /^\d+(\.\d+)?%$/.test(input.trim())
        ? parseFloat(input)
        : NaN;
  return Number.isFinite(value) && value > 0 && value <= 100 ? ok(value) : expected(text);
});

const EXPERIMENT_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const experimentName = leaf((input) =>
  typeof input === 'string' && EXPERIMENT_NAME.test(input)
    ? ok(input)
    : expected('a name like ram-spike (lowercase letters, digits and -, at most 63 characters)'),
);

const ANOMALY_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const anomalyName = leaf((input) =>
  typeof input === 'string' && ANOMALY_NAME.test(input)
    ? ok(input)
    : expected('a name like ram_spike (lowercase letters, digits, _ and -, starting with a letter)'),
);

const labelValue = leaf((input) =>
  typeof input === 'string' || typeof input === 'number' || typeof input === 'boolean'
    ? ok(String(input))
    : expected('a label value (a string)'),
);
const labelKey = leaf((input) =>
  typeof input === 'string' && input.length > 0 && input.length <= 253 ? ok(input) : expected('a label name'),
);
const labels = z.record(z.string(), labelValue);

const seed = leaf((input): Checked<number | string> =>
  (typeof input === 'number' && Number.isSafeInteger(input) && input >= 0 && input <= 0xffffffff) ||
  (typeof input === 'string' && input.length > 0 && input.length <= 256)
    ? ok(input)
    : expected('an integer from 0 to 4294967295 or a non-empty string'),
);

const PEER = /^(?:[^\s:[\]]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/;
const peer = leaf((input) =>
  typeof input === 'string' && PEER.test(input) ? ok(input) : expected('a host:port like 10.0.0.5:9000'),
);
const text = leaf((input) => (typeof input === 'string' ? ok(input) : expected('a string')));

// ---------------------------------------------------------------------------------------
// Workloads (fields as in proto/faultline/v1/plan.proto, with human units)

const stallFields = { extra: duration({ min: 0, minOpen: true, max: HOUR }) };

const workload = z.discriminatedUnion('kind', [
  obj({
    kind: z.literal('cpu'),
    cores: num({ min: 0, minOpen: true, max: 1024 }),
    load: percent.default(100),
  }).transform((w): WorkloadSpec => ({ kind: 'cpu', cores: w.cores, loadPercent: w.load })),
  obj({
    kind: z.literal('memory'),
    bytes: size(1).optional(),
    fraction: num({ min: 0, minOpen: true, max: 1 }).optional(),
    ramp: duration({ min: 0, max: 24 * HOUR }).default(0),
    hold: duration({ min: 0, max: 24 * HOUR }).default(0),
  }).transform((w, ctx): WorkloadSpec => {
    if ((w.bytes === undefined) === (w.fraction === undefined)) {
      const got = w.bytes === undefined ? 'neither' : 'both';
      ctx.addIssue({ code: 'custom', message: 'expected exactly one of bytes or fraction', params: { got } });
      return z.NEVER;
    }
    return { kind: 'memory', bytes: w.bytes, fraction: w.fraction, rampMs: w.ramp, holdMs: w.hold };
  }),
  obj({
    kind: z.literal('matmul'),
    sizes: z.array(int(1, 8192)).min(1),
    matrices: int(1, 64).default(3),
    dots: int(1, 10_000).default(5),
  }).transform((w): WorkloadSpec => ({ kind: 'matmul', sizes: w.sizes, matrices: w.matrices, dots: w.dots })),
  obj({
    kind: z.literal('io'),
    writeBytesPerSecond: size(0).default(0),
    readBytesPerSecond: size(0).default(0),
    fileSize: size(4096).default(64 * 2 ** 20),
    fsync: z.boolean().default(false),
    directory: text.default(''),
  }).transform((w, ctx): WorkloadSpec => {
    if (w.writeBytesPerSecond === 0 && w.readBytesPerSecond === 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected writeBytesPerSecond or readBytesPerSecond above 0',
        params: { got: 'neither' },
      });
      return z.NEVER;
    }
    return {
      kind: 'io',
      writeBytesPerSecond: w.writeBytesPerSecond,
      readBytesPerSecond: w.readBytesPerSecond,
      fileSizeBytes: w.fileSize,
      fsync: w.fsync,
      directory: w.directory,
    };
  }),
  obj({ kind: z.literal('network'), bytesPerSecond: size(1), peer: peer.default('') }).transform(
    (w): WorkloadSpec => ({ kind: 'network', bytesPerSecond: w.bytesPerSecond, peer: w.peer }),
  ),
  obj({ kind: z.literal('stall'), ...stallFields }).transform((w): WorkloadSpec => ({
    kind: 'stall',
    extraMs: w.extra,
  })),
  obj({
    kind: z.literal('procs'),
    count: int(1, 10_000),
    lifetime: duration({ min: 1, max: HOUR }).default(1000),
  }).transform((w): WorkloadSpec => ({ kind: 'procs', count: w.count, lifetimeMs: w.lifetime })),
  obj({
    kind: z.literal('threads'),
    count: int(1, 10_000),
    lifetime: duration({ min: 1, max: HOUR }).default(1000),
  }).transform((w): WorkloadSpec => ({ kind: 'threads', count: w.count, lifetimeMs: w.lifetime })),
]);

/** `workload:` or `stall:`, exactly one; a stall becomes a stall workload. */
function workloadOrStall(
  w: { workload?: WorkloadSpec | undefined; stall?: { extra: number } | undefined },
  ctx: z.RefinementCtx,
): WorkloadSpec | undefined {
  if ((w.workload === undefined) === (w.stall === undefined)) {
    const got = w.workload === undefined ? 'neither' : 'both';
    ctx.addIssue({ code: 'custom', message: 'expected exactly one of workload or stall', params: { got } });
    return undefined;
  }
  return w.workload ?? { kind: 'stall', extraMs: w.stall!.extra };
}

// ---------------------------------------------------------------------------------------
// Anomalies

const positiveDuration = duration({ min: 0, minOpen: true, max: MAX_DURATION_MS });

interface RawAnomaly {
  name: string;
  workload: WorkloadSpec;
  durationMs: number | undefined;
  weight: number;
  replacesBaseline: boolean | undefined;
}

const catalogEntry = obj({
  name: anomalyName,
  workload: workload.optional(),
  stall: obj(stallFields).optional(),
  duration: positiveDuration.optional(),
  weight: num({ min: 0, minOpen: true, max: Infinity }).default(1),
  replacesBaseline: z.boolean().optional(),
}).transform((entry, ctx): RawAnomaly => {
  const chosen = workloadOrStall(entry, ctx);
  if (chosen === undefined) return z.NEVER;
  return {
    name: entry.name,
    workload: chosen,
    durationMs: entry.duration,
    weight: entry.weight,
    replacesBaseline: entry.replacesBaseline,
  };
});
const catalog = z.array(catalogEntry).min(1);

const phaseInjection = obj({
  name: anomalyName.optional(),
  workload: workload.optional(),
  stall: obj(stallFields).optional(),
  offset: duration({ min: 0, max: MAX_DURATION_MS }).default(0),
  duration: positiveDuration.optional(),
  replacesBaseline: z.boolean().optional(),
}).transform((injection, ctx) => {
  const chosen = workloadOrStall(injection, ctx);
  if (chosen === undefined) return z.NEVER;
  return { ...injection, workload: chosen };
});

const phase = obj({ name: anomalyName, duration: positiveDuration, injection: phaseInjection.optional() });

const randomFields = { chance, catalog };

const anomalies = z.discriminatedUnion('mode', [
  obj({ mode: z.literal('random'), ...randomFields }),
  obj({ mode: z.literal('phased'), phases: z.array(phase).min(1), random: obj(randomFields).optional() }),
  obj({
    mode: z.literal('scheduled'),
    catalog,
    schedule: z
      .array(
        obj({
          at: duration({ min: 0, max: MAX_DURATION_MS }),
          anomaly: anomalyName,
          duration: positiveDuration.optional(),
        }),
      )
      .min(1),
  }),
]);

// ---------------------------------------------------------------------------------------
// Coordination, targets, the body

const coordination = z
  .discriminatedUnion('mode', [
    obj({ mode: z.literal('independent') }),
    obj({ mode: z.literal('simultaneous') }),
    obj({ mode: z.literal('rolling'), waveSize: int(1).default(1), interval: positiveDuration }),
    obj({ mode: z.literal('cascade'), label: labelKey, delay: positiveDuration }),
  ])
  .transform((c): CoordinationSpec => {
    switch (c.mode) {
      case 'rolling':
        return { mode: 'rolling', waveSize: c.waveSize, intervalMs: c.interval };
      case 'cascade':
        return { mode: 'cascade', label: c.label, delayMs: c.delay };
      default:
        return { mode: c.mode };
    }
  });

const targets = obj({
  selector: labels.default({}),
  count: int(1).optional(),
  fraction: num({ min: 0, minOpen: true, max: 1 }).optional(),
}).transform((t, ctx) => {
  if (t.count !== undefined && t.fraction !== undefined) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected count or fraction, not both',
      params: { got: `count ${t.count} and fraction ${t.fraction}` },
    });
    return z.NEVER;
  }
  return t;
});

const body = obj({
  seed: seed.optional(),
  targets: targets.default({ selector: {} }),
  duration: duration({ min: 1000, max: MAX_DURATION_MS }).optional(),
  sampling: obj({ interval: duration({ min: 50, max: 60_000 }).default(1000) }).default({ interval: 1000 }),
  baseline: obj({
    workload: workload.optional(),
    sleep: duration({ min: 0, max: HOUR }).default(1000),
    estimatedWork: duration({ min: 0, max: HOUR }).optional(),
  }).default({ sleep: 1000 }),
  warmup: duration({ min: 0, max: MAX_DURATION_MS }).default(0),
  anomalies: anomalies.optional(),
  coordination: coordination.default({ mode: 'independent' }),
  blastRadius: obj({
    maxConcurrentFraction: num({ min: 0, minOpen: true, max: 1 }).default(1),
    policy: z.enum(['shift', 'drop']).default('shift'),
  }).default({ maxConcurrentFraction: 1, policy: 'shift' }),
  onMissingAck: z.enum(['abort', 'continue']).default('abort'),
  deadManTimeout: duration({ min: 1000, max: HOUR }).optional(),
});

const root = obj({
  apiVersion: z.literal('faultline/v1'),
  kind: z.literal('Experiment'),
  metadata: obj({ name: experimentName, description: text.optional(), labels: labels.default({}) }),
  spec: body,
});

type RawSpec = z.output<typeof root>;
type RawAnomalies = NonNullable<RawSpec['spec']['anomalies']>;
type Path = (string | number)[];

// ---------------------------------------------------------------------------------------
// Cross-field rules and defaults

class Problems {
  count = 0;
  constructor(private readonly ctx: z.RefinementCtx) {}
  add(path: Path, message: string, params: IssueParams): void {
    this.count++;
    this.ctx.addIssue({ code: 'custom', path, message, params });
  }
}

interface Context {
  durationMs: number;
  warmupMs: number;
  sleepMs: number;
  nominalCycleMs: number;
  problems: Problems;
}

/**
 * Applies the catalog defaults and checks names. `use` says where the catalog is used:
 * random entries replace the baseline by default; only pure random mode bounds the
 * duration by the time after the warm-up (elsewhere windows and items bound it).
 */
function resolveCatalog(
  entries: RawAnomaly[],
  path: Path,
  use: 'random' | 'phased-random' | 'scheduled',
  c: Context,
): AnomalySpec[] {
  const seen = new Set<string>();
  const activeMs = c.durationMs - c.warmupMs;
  return entries.map((entry, i) => {
    if (seen.has(entry.name)) {
      c.problems.add([...path, i, 'name'], 'expected a name not used by another catalog entry', {
        got: JSON.stringify(entry.name),
      });
    }
    seen.add(entry.name);
    const stall = entry.workload.kind === 'stall';
    const defaultMs = stall ? c.sleepMs + (entry.workload as { extraMs: number }).extraMs : c.nominalCycleMs;
    const durationMs = entry.durationMs ?? defaultMs;
    if (durationMs <= 0) {
      c.problems.add(
        [...path, i, 'duration'],
        `expected ${DURATION_FORM_TEXT} (the default, one nominal baseline cycle, is 0s here)`,
        {
          missing: true,
        },
      );
    } else if (use === 'random' && durationMs > activeMs) {
      c.problems.add(
        [...path, i, 'duration'],
        `expected at most the time after the warm-up (${formatDuration(activeMs)})`,
        {
          got: formatDuration(durationMs),
        },
      );
    }
    return {
      name: entry.name,
      workload: entry.workload,
      durationMs,
      weight: entry.weight,
      replacesBaseline: entry.replacesBaseline ?? (stall || use !== 'scheduled'),
    };
  });
}

/** Random draws need a nominal cycle; false (and a problem) when it is too short. */
function checkCycle(c: Context, mode: string): boolean {
  if (c.nominalCycleMs < MIN_NOMINAL_CYCLE_MS) {
    c.problems.add(
      ['spec', 'baseline'],
      `expected a nominal cycle (estimatedWork + sleep) of at least ${MIN_NOMINAL_CYCLE_MS}ms in ${mode}`,
      { got: formatDuration(c.nominalCycleMs) },
    );
    return false;
  }
  return true;
}

function resolvePhases(raw: Extract<RawAnomalies, { mode: 'phased' }>, c: Context): PhaseSpec[] {
  const path: Path = ['spec', 'anomalies', 'phases'];
  const seen = new Set<string>();
  let startMs = 0;
  return raw.phases.map((p, i) => {
    if (seen.has(p.name)) {
      c.problems.add([...path, i, 'name'], 'expected a name not used by another phase', {
        got: JSON.stringify(p.name),
      });
    }
    seen.add(p.name);
    const resolved: PhaseSpec = { name: p.name, startMs, durationMs: p.duration };
    const inj = p.injection;
    if (inj !== undefined) {
      const injPath: Path = [...path, i, 'injection'];
      if (inj.offset >= p.duration) {
        c.problems.add(
          [...injPath, 'offset'],
          `expected an offset shorter than the phase (${formatDuration(p.duration)})`,
          {
            got: formatDuration(inj.offset),
          },
        );
      } else if (inj.duration !== undefined && inj.offset + inj.duration > p.duration) {
        c.problems.add(
          [...injPath, 'duration'],
          `expected at most the rest of the phase after the offset (${formatDuration(p.duration - inj.offset)})`,
          { got: formatDuration(inj.duration) },
        );
      }
      if (startMs + inj.offset < c.warmupMs) {
        c.problems.add(injPath, `expected a start at or after spec.warmup (${formatDuration(c.warmupMs)})`, {
          got: formatDuration(startMs + inj.offset),
        });
      }
      const stall = inj.workload.kind === 'stall';
      resolved.injection = {
        name: inj.name ?? p.name,
        workload: inj.workload,
        offsetMs: inj.offset,
        durationMs: inj.duration ?? p.duration - inj.offset,
        replacesBaseline: inj.replacesBaseline ?? stall,
      };
    }
    startMs += p.duration;
    return resolved;
  });
}

function resolveAnomalies(raw: RawAnomalies | undefined, c: Context): AnomaliesSpec {
  if (raw === undefined) return { mode: 'none' };
  const path: Path = ['spec', 'anomalies'];
  switch (raw.mode) {
    case 'random':
      if (!checkCycle(c, 'random mode')) return { mode: 'none' };
      return {
        mode: 'random',
        chance: raw.chance,
        catalog: resolveCatalog(raw.catalog, [...path, 'catalog'], 'random', c),
      };
    case 'phased': {
      const phases = resolvePhases(raw, c);
      if (raw.random === undefined) return { mode: 'phased', phases };
      if (!checkCycle(c, 'phased mode with random anomalies')) return { mode: 'phased', phases };
      const catalogPath = [...path, 'random', 'catalog'];
      return {
        mode: 'phased',
        phases,
        random: {
          chance: raw.random.chance,
          catalog: resolveCatalog(raw.random.catalog, catalogPath, 'phased-random', c),
        },
      };
    }
    case 'scheduled': {
      const entries = resolveCatalog(raw.catalog, [...path, 'catalog'], 'scheduled', c);
      const byName = new Map(entries.map((e) => [e.name, e]));
      const schedule: ScheduledInjectionSpec[] = [];
      raw.schedule.forEach((item, i) => {
        const itemPath: Path = [...path, 'schedule', i];
        const entry = byName.get(item.anomaly);
        if (entry === undefined) {
          c.problems.add([...itemPath, 'anomaly'], `expected one of ${[...byName.keys()].join(', ')}`, {
            got: JSON.stringify(item.anomaly),
          });
          return;
        }
        const durationMs = item.duration ?? entry.durationMs;
        if (item.at < c.warmupMs) {
          c.problems.add(
            [...itemPath, 'at'],
            `expected an offset at or after spec.warmup (${formatDuration(c.warmupMs)})`,
            {
              got: formatDuration(item.at),
            },
          );
        } else if (item.at + durationMs > c.durationMs) {
          c.problems.add(
            itemPath,
            `expected an injection that ends by spec.duration (${formatDuration(c.durationMs)})`,
            {
              got: `one that ends at ${formatDuration(item.at + durationMs)}`,
            },
          );
        }
        schedule.push({ atMs: item.at, anomaly: item.anomaly, durationMs });
      });
      schedule.sort((a, b) => a.atMs - b.atMs);
      return { mode: 'scheduled', catalog: entries, schedule };
    }
  }
}

function resolveDuration(raw: RawSpec, problems: Problems): number | undefined {
  const given = raw.spec.duration;
  const anomaliesRaw = raw.spec.anomalies;
  if (anomaliesRaw?.mode !== 'phased') {
    if (given === undefined)
      problems.add(['spec', 'duration'], `expected ${DURATION_FORM_TEXT}`, { missing: true });
    return given;
  }
  const sum = anomaliesRaw.phases.reduce((total, p) => total + p.duration, 0);
  const path = ['spec', 'anomalies', 'phases'];
  if (given !== undefined && sum !== given) {
    problems.add(path, `expected phase durations adding up to spec.duration (${formatDuration(given)})`, {
      got: formatDuration(sum),
    });
    return undefined;
  }
  if (sum < 1000 || sum > MAX_DURATION_MS) {
    problems.add(path, 'expected phase durations adding up to 1s..168h', { got: formatDuration(sum) });
    return undefined;
  }
  return sum;
}

function resolveSpec(raw: RawSpec, ctx: z.RefinementCtx): ExperimentSpec {
  const problems = new Problems(ctx);
  const s = raw.spec;
  const durationMs = resolveDuration(raw, problems);
  if (durationMs === undefined) return z.NEVER;
  if (s.warmup >= durationMs) {
    problems.add(
      ['spec', 'warmup'],
      `expected a warm-up shorter than spec.duration (${formatDuration(durationMs)})`,
      {
        got: formatDuration(s.warmup),
      },
    );
    return z.NEVER;
  }
  const estimatedWorkMs = s.baseline.estimatedWork ?? (s.baseline.workload === undefined ? 0 : 1000);
  const c: Context = {
    durationMs,
    warmupMs: s.warmup,
    sleepMs: s.baseline.sleep,
    nominalCycleMs: estimatedWorkMs + s.baseline.sleep,
    problems,
  };
  const resolvedAnomalies = resolveAnomalies(s.anomalies, c);
  if (problems.count > 0) return z.NEVER;
  return {
    apiVersion: raw.apiVersion,
    kind: raw.kind,
    metadata: { name: raw.metadata.name, description: raw.metadata.description, labels: raw.metadata.labels },
    spec: {
      seed: s.seed ?? raw.metadata.name,
      targets: s.targets,
      durationMs,
      samplingIntervalMs: s.sampling.interval,
      baseline: { workload: s.baseline.workload, sleepMs: s.baseline.sleep, estimatedWorkMs },
      warmupMs: s.warmup,
      anomalies: resolvedAnomalies,
      coordination: s.coordination,
      blastRadius: s.blastRadius,
      onMissingAck: s.onMissingAck,
      deadManTimeoutMs: s.deadManTimeout,
    },
  };
}

/**
 * The experiment spec schema: parses a plain object (the YAML document as data) into a
 * normalised {@link ExperimentSpec}. Use {@link validateExperimentSpec} or
 * {@link parseExperimentSpec} for errors with readable messages.
 */
export const experimentSpecSchema: z.ZodType<ExperimentSpec, unknown> = root.transform(resolveSpec);
