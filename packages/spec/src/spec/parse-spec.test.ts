import { describe, expect, it } from 'vitest';
import { InvalidSpecError, SpecSyntaxError } from '../errors.js';
import { parseExperimentSpec, validateExperimentSpec } from './parse-spec.js';

type Edit = [path: string, value: unknown];

/** A valid random-mode spec, as data. */
function baseSpec(): Record<string, unknown> {
  return {
    apiVersion: 'faultline/v1',
    kind: 'Experiment',
    metadata: { name: 'ram-spike' },
    spec: {
      seed: 1,
      duration: '10m',
      warmup: '1m',
      baseline: { workload: { kind: 'matmul', sizes: [300, 350], matrices: 3, dots: 5 }, sleep: '4s' },
      anomalies: {
        mode: 'random',
        chance: '1/50',
        catalog: [
          { name: 'ram_spike', workload: { kind: 'matmul', sizes: [600], matrices: 4 } },
          { name: 'sleep', stall: { extra: '2s' } },
        ],
      },
    },
  };
}

/** Sets (or, with undefined, deletes) the value at a dotted path; numeric parts index lists. */
function edit(doc: Record<string, unknown>, [path, value]: Edit): void {
  const parts = path.split('.');
  let node = doc as Record<string, unknown>;
  for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
  const last = parts[parts.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
}

function problemsOf(doc: unknown): string[] {
  try {
    validateExperimentSpec(doc);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidSpecError);
    return (err as InvalidSpecError).issues.map((i) => i.message);
  }
  throw new Error('the spec was accepted');
}

const phased = {
  mode: 'phased',
  phases: [
    { name: 'baseline1', duration: '30s' },
    { name: 'memory_spike', duration: '30s', injection: { workload: { kind: 'memory', bytes: '64Mi' } } },
    { name: 'recovery1', duration: '50s' },
  ],
};
const scheduled = {
  mode: 'scheduled',
  catalog: [{ name: 'ram_spike', workload: { kind: 'matmul', sizes: [600] }, duration: '10s' }],
  schedule: [{ at: '2m', anomaly: 'ram_spike' }],
};

const MALFORMED: [string, Edit[], string][] = [
  [
    'a duration without a unit form',
    [['spec.duration', 'fast']],
    'spec.duration: expected a duration like 90s, 15m or 1h30m, got "fast"',
  ],
  [
    'a missing duration',
    [['spec.duration', undefined]],
    'spec.duration: expected a duration like 90s, 15m or 1h30m, but it is missing',
  ],
  [
    'a bare number as duration',
    [['spec.duration', 90]],
    'spec.duration: expected a duration like 90s, 15m or 1h30m, got 90',
  ],
  [
    'another API version',
    [['apiVersion', 'faultline/v2']],
    'apiVersion: expected faultline/v1, got "faultline/v2"',
  ],
  ['another kind', [['kind', 'Job']], 'kind: expected Experiment, got "Job"'],
  [
    'an unusable name',
    [['metadata.name', 'Ram Spike']],
    'metadata.name: expected a name like ram-spike (lowercase letters, digits and -, at most 63 characters), got "Ram Spike"',
  ],
  [
    'an unknown workload kind',
    [['spec.anomalies.catalog.1', { name: 'sleep', workload: { kind: 'gpu' } }]],
    'spec.anomalies.catalog[1].workload.kind: expected one of cpu, memory, matmul, io, network, stall, procs, threads, got "gpu"',
  ],
  [
    'a too fine sampling interval',
    [['spec.sampling', { interval: '10ms' }]],
    'spec.sampling.interval: expected a duration from 50ms to 1m, got "10ms"',
  ],
  [
    'a chance above 1',
    [['spec.anomalies.chance', 1.5]],
    'spec.anomalies.chance: expected a chance in (0, 1], got 1.5',
  ],
  [
    'a chance of 1/0',
    [['spec.anomalies.chance', '1/0']],
    'spec.anomalies.chance: expected a chance like 1/50, 0.02 or 2%, got "1/0"',
  ],
  [
    'both count and fraction',
    [['spec.targets', { count: 2, fraction: 0.5 }]],
    'spec.targets: expected count or fraction, not both, got count 2 and fraction 0.5',
  ],
  [
    'a fraction of 0',
    [['spec.targets', { fraction: 0 }]],
    'spec.targets.fraction: expected a number in (0, 1], got 0',
  ],
  ['a count of 0', [['spec.targets', { count: 0 }]], 'spec.targets.count: expected an integer >= 1, got 0'],
  [
    'a size that is not a size',
    [['spec.anomalies.catalog.0.workload', { kind: 'memory', bytes: 'lots' }]],
    'spec.anomalies.catalog[0].workload.bytes: expected a size like 256Mi, 1Gi, 512MB or a number of bytes, got "lots"',
  ],
  [
    'memory with bytes and fraction',
    [['spec.anomalies.catalog.0.workload', { kind: 'memory', bytes: '1Gi', fraction: 0.5 }]],
    'spec.anomalies.catalog[0].workload: expected exactly one of bytes or fraction, got both',
  ],
  [
    'a warm-up as long as the run',
    [['spec.warmup', '10m']],
    'spec.warmup: expected a warm-up shorter than spec.duration (10m), got 10m',
  ],
  [
    'phases that do not tile the duration',
    [
      ['spec.duration', '2m'],
      ['spec.warmup', undefined],
      ['spec.anomalies', phased],
    ],
    'spec.anomalies.phases: expected phase durations adding up to spec.duration (2m), got 1m50s',
  ],
  [
    'an unknown coordination mode',
    [['spec.coordination', { mode: 'rollin' }]],
    'spec.coordination.mode: expected one of independent, simultaneous, rolling, cascade, got "rollin"',
  ],
  [
    'a rolling wave of 0 hosts',
    [['spec.coordination', { mode: 'rolling', waveSize: 0, interval: '10s' }]],
    'spec.coordination.waveSize: expected an integer >= 1, got 0',
  ],
  [
    'a cascade without a delay',
    [['spec.coordination', { mode: 'cascade', label: 'zone' }]],
    'spec.coordination.delay: expected a duration like 90s, 15m or 1h30m, but it is missing',
  ],
  [
    'an unknown onMissingAck',
    [['spec.onMissingAck', 'retry']],
    'spec.onMissingAck: expected one of abort, continue, got "retry"',
  ],
  [
    'a misspelt field',
    [['spec.baseline.slep', '4s']],
    'spec.baseline.slep: unknown field, expected one of workload, sleep, estimatedWork',
  ],
  [
    'a schedule naming no catalog entry',
    [['spec.anomalies', { ...scheduled, schedule: [{ at: '2m', anomaly: 'ram-spike' }] }]],
    'spec.anomalies.schedule[0].anomaly: expected one of ram_spike, got "ram-spike"',
  ],
  [
    'a scheduled injection inside the warm-up',
    [['spec.anomalies', { ...scheduled, schedule: [{ at: '30s', anomaly: 'ram_spike' }] }]],
    'spec.anomalies.schedule[0].at: expected an offset at or after spec.warmup (1m), got 30s',
  ],
  [
    'a scheduled injection past the end',
    [['spec.anomalies', { ...scheduled, schedule: [{ at: '9m55s', anomaly: 'ram_spike' }] }]],
    'spec.anomalies.schedule[0]: expected an injection that ends by spec.duration (10m), got one that ends at 10m5s',
  ],
  [
    'a blast radius above 1',
    [['spec.blastRadius', { maxConcurrentFraction: 1.5 }]],
    'spec.blastRadius.maxConcurrentFraction: expected a number in (0, 1], got 1.5',
  ],
  [
    'a catalog entry with workload and stall',
    [['spec.anomalies.catalog.1.workload', { kind: 'cpu', cores: 1 }]],
    'spec.anomalies.catalog[1]: expected exactly one of workload or stall, got both',
  ],
  [
    'two catalog entries with one name',
    [['spec.anomalies.catalog.1.name', 'ram_spike']],
    'spec.anomalies.catalog[1].name: expected a name not used by another catalog entry, got "ram_spike"',
  ],
  [
    'a random mode without a cycle',
    [['spec.baseline', { sleep: '0s' }]],
    'spec.baseline: expected a nominal cycle (estimatedWork + sleep) of at least 100ms in random mode, got 0s',
  ],
  [
    'matmul without sizes',
    [['spec.baseline.workload', { kind: 'matmul', sizes: [] }]],
    'spec.baseline.workload.sizes: expected a list of at least 1 item, got []',
  ],
  [
    'a CPU load above 100%',
    [['spec.anomalies.catalog.0.workload', { kind: 'cpu', cores: 2, load: 150 }]],
    'spec.anomalies.catalog[0].workload.load: expected a percentage in (0, 100] like 80 or 80%, got 150',
  ],
  [
    'I/O with no rate',
    [['spec.anomalies.catalog.0.workload', { kind: 'io', fileSize: '1Mi' }]],
    'spec.anomalies.catalog[0].workload: expected writeBytesPerSecond or readBytesPerSecond above 0, got neither',
  ],
  [
    'a negative seed',
    [['spec.seed', -1]],
    'spec.seed: expected an integer from 0 to 4294967295 or a non-empty string, got -1',
  ],
  [
    'a phase injection inside the warm-up',
    [
      ['spec.duration', '1m50s'],
      ['spec.warmup', '40s'],
      ['spec.anomalies', phased],
    ],
    'spec.anomalies.phases[1].injection: expected a start at or after spec.warmup (40s), got 30s',
  ],
  [
    'a too short dead-man timeout',
    [['spec.deadManTimeout', '500ms']],
    'spec.deadManTimeout: expected a duration from 1s to 1h, got "500ms"',
  ],
  ['a spec that is not a mapping', [['spec', 5]], 'spec: expected a mapping, got 5'],
  [
    'a random mode without a catalog',
    [['spec.anomalies.catalog', undefined]],
    'spec.anomalies.catalog: expected a list, but it is missing',
  ],
  [
    'a network peer without a port',
    [['spec.anomalies.catalog.0.workload', { kind: 'network', bytesPerSecond: '1Mi', peer: 'sink' }]],
    'spec.anomalies.catalog[0].workload.peer: expected a host:port like 10.0.0.5:9000, got "sink"',
  ],
];

describe('validateExperimentSpec', () => {
  it('accepts the base spec of the table', () => {
    expect(validateExperimentSpec(baseSpec()).spec.durationMs).toBe(600_000);
  });

  it.each(MALFORMED)('rejects %s, naming the path', (_what, edits, message) => {
    const doc = baseSpec();
    for (const e of edits) edit(doc, e);
    expect(problemsOf(doc)).toEqual([message]);
  });

  it('reports every problem at once', () => {
    const doc = baseSpec();
    edit(doc, ['spec.duration', 'fast']);
    edit(doc, ['spec.onMissingAck', 'retry']);
    expect(problemsOf(doc)).toHaveLength(2);
  });

  it('normalises units and applies the documented defaults', () => {
    const spec = validateExperimentSpec(baseSpec());
    const s = spec.spec;
    expect(s.seed).toBe(1);
    expect(s.targets).toEqual({ selector: {} });
    expect(s.samplingIntervalMs).toBe(1000);
    expect(s.warmupMs).toBe(60_000);
    expect(s.baseline).toEqual({
      workload: { kind: 'matmul', sizes: [300, 350], matrices: 3, dots: 5 },
      sleepMs: 4000,
      estimatedWorkMs: 1000,
    });
    expect(s.coordination).toEqual({ mode: 'independent' });
    expect(s.blastRadius).toEqual({ maxConcurrentFraction: 1, policy: 'shift' });
    expect(s.onMissingAck).toBe('abort');
    expect(s.deadManTimeoutMs).toBeUndefined();
    expect(s.anomalies).toEqual({
      mode: 'random',
      chance: 0.02,
      catalog: [
        {
          name: 'ram_spike',
          workload: { kind: 'matmul', sizes: [600], matrices: 4, dots: 5 },
          durationMs: 5000, // one nominal cycle: estimatedWork 1s + sleep 4s
          weight: 1,
          replacesBaseline: true,
        },
        // The seed's sleep anomaly: sleep 4s + 2s extra.
        {
          name: 'sleep',
          workload: { kind: 'stall', extraMs: 2000 },
          durationMs: 6000,
          weight: 1,
          replacesBaseline: true,
        },
      ],
    });
  });

  it('defaults the seed to the experiment name', () => {
    const doc = baseSpec();
    edit(doc, ['spec.seed', undefined]);
    expect(validateExperimentSpec(doc).spec.seed).toBe('ram-spike');
  });

  it('takes a phased duration from the phases when it is omitted, and lays them end to end', () => {
    const doc = baseSpec();
    edit(doc, ['spec.duration', undefined]);
    edit(doc, ['spec.warmup', undefined]);
    edit(doc, ['spec.anomalies', phased]);
    const s = validateExperimentSpec(doc).spec;
    expect(s.durationMs).toBe(110_000);
    if (s.anomalies.mode !== 'phased') throw new Error('not phased');
    expect(s.anomalies.phases.map((p) => [p.name, p.startMs, p.durationMs])).toEqual([
      ['baseline1', 0, 30_000],
      ['memory_spike', 30_000, 30_000],
      ['recovery1', 60_000, 50_000],
    ]);
    expect(s.anomalies.phases[1]!.injection).toEqual({
      name: 'memory_spike',
      workload: { kind: 'memory', bytes: 64 * 2 ** 20, fraction: undefined, rampMs: 0, holdMs: 0 },
      offsetMs: 0,
      durationMs: 30_000,
      replacesBaseline: false,
    });
  });

  it('reads every workload kind with its human units', () => {
    const doc = baseSpec();
    const kinds = [
      { kind: 'cpu', cores: 1.5, load: '80%' },
      { kind: 'memory', fraction: 0.25, ramp: '2s', hold: '1m' },
      { kind: 'io', writeBytesPerSecond: '20Mi', fileSize: '1Gi', fsync: true },
      { kind: 'network', bytesPerSecond: '512MB', peer: '10.0.0.5:9000' },
      { kind: 'stall', extra: '1500ms' },
      { kind: 'procs', count: 20, lifetime: '200ms' },
      { kind: 'threads', count: 8 },
    ];
    edit(doc, ['spec.anomalies.catalog', kinds.map((workload, i) => ({ name: `a${i}`, workload }))]);
    const s = validateExperimentSpec(doc).spec;
    if (s.anomalies.mode !== 'random') throw new Error('not random');
    expect(s.anomalies.catalog.map((c) => c.workload)).toEqual([
      { kind: 'cpu', cores: 1.5, loadPercent: 80 },
      { kind: 'memory', bytes: undefined, fraction: 0.25, rampMs: 2000, holdMs: 60_000 },
      {
        kind: 'io',
        writeBytesPerSecond: 20 * 2 ** 20,
        readBytesPerSecond: 0,
        fileSizeBytes: 2 ** 30,
        fsync: true,
        directory: '',
      },
      { kind: 'network', bytesPerSecond: 512_000_000, peer: '10.0.0.5:9000' },
      { kind: 'stall', extraMs: 1500 },
      { kind: 'procs', count: 20, lifetimeMs: 200 },
      { kind: 'threads', count: 8, lifetimeMs: 1000 },
    ]);
  });
});

const YAML_WITH_PROBLEMS = `apiVersion: faultline/v1
kind: Experiment
metadata: { name: demo }
spec:
  duration: fast
  baseline:
    sleep: 4s
  anomalies:
    mode: random
    chance: 1/50
    catalog:
      - { name: ram_spike, workload: { kind: gpu } }
`;

describe('parseExperimentSpec', () => {
  it('gives each problem the line and column of its node', () => {
    let error: unknown;
    try {
      parseExperimentSpec(YAML_WITH_PROBLEMS, { source: 'demo.yaml' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidSpecError);
    const issues = (error as InvalidSpecError).issues;
    expect(issues).toEqual([
      {
        path: 'spec.duration',
        message: 'spec.duration: expected a duration like 90s, 15m or 1h30m, got "fast"',
        line: 5,
        column: 13,
      },
      {
        path: 'spec.anomalies.catalog[0].workload.kind',
        message:
          'spec.anomalies.catalog[0].workload.kind: expected one of cpu, memory, matmul, io, network, stall, procs, threads, got "gpu"',
        line: 12,
        column: 46,
      },
    ]);
    expect((error as Error).message).toBe(
      [
        'invalid experiment spec demo.yaml (2 problems):',
        `  line 5: ${issues[0]!.message}`,
        `  line 12: ${issues[1]!.message}`,
      ].join('\n'),
    );
  });

  it('points a missing field at its parent', () => {
    const text = YAML_WITH_PROBLEMS.replace('  duration: fast\n', '').replace(
      'kind: gpu',
      'kind: cpu, cores: 1',
    );
    try {
      parseExperimentSpec(text);
      expect.unreachable();
    } catch (err) {
      expect((err as InvalidSpecError).issues).toEqual([
        {
          path: 'spec.duration',
          message: 'spec.duration: expected a duration like 90s, 15m or 1h30m, but it is missing',
          line: 5,
          column: 3,
        },
      ]);
    }
  });

  it('reports broken YAML with its position', () => {
    try {
      parseExperimentSpec('spec:\n  duration: [1m\n', { source: 'x.yaml' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SpecSyntaxError);
      expect((err as SpecSyntaxError).line).toBeGreaterThanOrEqual(2);
      expect((err as Error).message).toMatch(/^x\.yaml:\d+:\d+: invalid YAML: /);
    }
  });

  it('refuses duplicate keys', () => {
    expect(() => parseExperimentSpec('apiVersion: faultline/v1\napiVersion: faultline/v1\n')).toThrow(
      SpecSyntaxError,
    );
  });
});
