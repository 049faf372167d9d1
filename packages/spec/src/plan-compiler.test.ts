import { createRng, Plan, type AgentInfo, type Rng } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import { InvalidOptionsError, NoTargetsError } from './errors.js';
import { compileExperiment, compilePlans, type CompileOptions } from './plan-compiler.js';
import type { ExperimentSpec } from './spec/experiment-spec.js';
import { validateExperimentSpec } from './spec/parse-spec.js';

const T0 = 1_767_225_600_000_000_000n; // 2026-01-01T00:00:00Z in ns
const OPTIONS: CompileOptions = { startUnixNano: T0, experimentId: 'exp' };
const ms = (ns: bigint): number => Number((ns - T0) / 1_000_000n);

function agent(agentId: string, labels: Record<string, string> = {}): AgentInfo {
  return {
    agentId,
    hostname: agentId,
    labels,
    caps: undefined,
    version: '0.1.0',
    cpuCount: 4,
    memoryTotalBytes: 8n * 2n ** 30n,
    hostIds: [agentId],
  };
}

/** n agents `host-00`.. in zones z0, z1, z2 (round robin), given in a shuffled order. */
function fleet(n: number, shuffleSeed = 99): AgentInfo[] {
  const agents = Array.from({ length: n }, (_, i) =>
    agent(`host-${String(i).padStart(2, '0')}`, { zone: `z${i % 3}`, role: 'worker' }),
  );
  const rng = createRng(shuffleSeed);
  for (let i = agents.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [agents[i], agents[j]] = [agents[j]!, agents[i]!];
  }
  return agents;
}

function spec(body: Record<string, unknown>, name = 'test'): ExperimentSpec {
  return validateExperimentSpec({
    apiVersion: 'faultline/v1',
    kind: 'Experiment',
    metadata: { name },
    spec: body,
  });
}

const MATMUL = { kind: 'matmul', sizes: [300, 350], matrices: 3, dots: 5 };

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)]!;
}

/** A random valid spec over every mode, coordination and blast radius. */
function arbitrarySpec(rng: Rng, seed: number): ExperimentSpec {
  const coordination = pick(rng, [
    { mode: 'independent' },
    { mode: 'simultaneous' },
    { mode: 'rolling', waveSize: 1 + rng.int(3), interval: `${1 + rng.int(20)}s` },
    { mode: 'cascade', label: 'zone', delay: `${1 + rng.int(20)}s` },
  ]);
  const blastRadius = {
    maxConcurrentFraction: pick(rng, [0.1, 0.25, 0.5, 1]),
    policy: pick(rng, ['shift', 'drop']),
  };
  const catalog = [
    { name: 'ram_spike', workload: { kind: 'matmul', sizes: [600], matrices: 4 } },
    { name: 'sleep', stall: { extra: '2s' }, weight: 2 },
    { name: 'cpu', workload: { kind: 'cpu', cores: 1 }, duration: `${1 + rng.int(30)}s` },
  ].slice(0, 1 + rng.int(3));
  const base = { seed, coordination, blastRadius, baseline: { workload: MATMUL, sleep: '4s' } };
  const mode = pick(rng, ['random', 'phased', 'scheduled']);
  if (mode === 'random') {
    const durationS = 60 + rng.int(600);
    return spec({
      ...base,
      duration: `${durationS}s`,
      warmup: `${rng.int(Math.floor(durationS / 2))}s`,
      anomalies: { mode, chance: 0.01 + rng.next() * 0.4, catalog },
    });
  }
  if (mode === 'scheduled') {
    const durationS = 60 + rng.int(600);
    const warmupS = rng.int(Math.floor(durationS / 2));
    const schedule = Array.from({ length: 1 + rng.int(5) }, () => {
      const length = 1 + rng.int(20);
      return {
        at: `${warmupS + rng.int(durationS - warmupS - length)}s`,
        anomaly: 'ram_spike',
        duration: `${length}s`,
      };
    });
    return spec({
      ...base,
      duration: `${durationS}s`,
      warmup: `${warmupS}s`,
      anomalies: { mode, catalog, schedule },
    });
  }
  const phases = Array.from({ length: 1 + rng.int(6) }, (_, i) => {
    const durationS = 5 + rng.int(60);
    if (i === 0 || rng.next() < 0.4) return { name: `p${i}`, duration: `${durationS}s` };
    const offsetS = rng.int(durationS);
    const injection = {
      workload: { kind: 'memory', bytes: '64Mi' },
      offset: `${offsetS}s`,
      duration: `${1 + rng.int(durationS - offsetS)}s`,
    };
    return { name: `p${i}`, duration: `${durationS}s`, injection };
  });
  const random = rng.next() < 0.5 ? { chance: 0.2, catalog } : undefined;
  // Phase 0 never has an injection, so it can be the warm-up (unless it is the only one).
  const warmup = phases.length > 1 ? phases[0]!.duration : '0s';
  return spec({ ...base, warmup, anomalies: { mode, phases, ...(random && { random }) } });
}

function encode(plans: readonly Plan[]): Buffer {
  return Buffer.concat(plans.map((p) => Plan.encode(p).finish()));
}

describe('compilePlans', () => {
  const agents = fleet(12);

  it('keeps the invariants for any spec: warm-up, bounds, phases tiling the plan, ids, blast radius', () => {
    for (let seed = 1; seed <= 250; seed++) {
      const s = arbitrarySpec(createRng(seed * 7919), seed);
      const { plans, summary } = compilePlans(s, agents, OPTIONS);
      const body = s.spec;
      expect(plans.map((p) => p.agentId)).toEqual(agents.map((a) => a.agentId).sort());
      const intervals: { host: number; start: number; end: number }[] = [];
      // Plain checks in the inner loops: expect() per injection would dominate the run time.
      const check = (ok: boolean, what: string): void => {
        if (!ok) throw new Error(`seed ${seed}: ${what}`);
      };
      plans.forEach((plan, host) => {
        check(plan.startUnixNano === T0, 'plan starts at T0');
        check(ms(plan.endUnixNano) === body.durationMs, 'plan ends at T0 + duration');
        let cursor = T0;
        for (const phase of plan.phases) {
          check(
            phase.startUnixNano === cursor && phase.endUnixNano > phase.startUnixNano,
            'phases tile the plan',
          );
          cursor = phase.endUnixNano;
        }
        check(cursor === plan.endUnixNano, 'the last phase ends with the plan');
        const byPhase = new Map(plan.phases.map((p) => [p.name, p]));
        plan.injections.forEach((inj, n) => {
          check(inj.injectionId === `exp-${plan.agentId}-${n + 1}`, `injection id ${inj.injectionId}`);
          check(ms(inj.startUnixNano) >= body.warmupMs, 'no anomaly before the warm-up ends');
          check(
            inj.endUnixNano > inj.startUnixNano && inj.endUnixNano <= plan.endUnixNano,
            'inside the plan',
          );
          if (n > 0) check(inj.startUnixNano >= plan.injections[n - 1]!.startUnixNano, 'in time order');
          if (body.anomalies.mode === 'phased') {
            const phase = byPhase.get(inj.phase)!;
            check(
              inj.startUnixNano >= phase.startUnixNano && inj.endUnixNano <= phase.endUnixNano,
              'inside its phase',
            );
          }
          // Generated anomalies never overlap on one host (a schedule may ask for overlaps).
          if (n > 0 && body.anomalies.mode !== 'scheduled') {
            check(inj.startUnixNano >= plan.injections[n - 1]!.endUnixNano, 'no overlap on one host');
          }
          intervals.push({ host, start: ms(inj.startUnixNano), end: ms(inj.endUnixNano) });
        });
      });
      const limit = Math.max(1, Math.floor(body.blastRadius.maxConcurrentFraction * agents.length + 1e-9));
      expect(summary.blastRadiusLimit).toBe(limit);
      const peak = peakDistinctHosts(intervals);
      expect(peak, `seed ${seed}: blast radius`).toBeLessThanOrEqual(limit);
      expect(summary.peakConcurrentHosts).toBe(peak);
      expect(summary.injections).toBe(intervals.length);
      expect(summary.candidates - summary.droppedPastEnd - summary.dropped).toBe(summary.injections);
    }
  });

  it('is deterministic to the byte, whatever the order of the agents', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const s = arbitrarySpec(createRng(seed), seed);
      const a = compilePlans(s, fleet(12, 1), OPTIONS);
      const b = compilePlans(s, fleet(12, 2), OPTIONS);
      expect(encode(a.plans).equals(encode(b.plans))).toBe(true);
      expect(a.summary).toEqual(b.summary);
    }
  });

  it('gives different plans for a different seed', () => {
    const body = (seed: number) => ({
      seed,
      duration: '10m',
      baseline: { workload: MATMUL, sleep: '4s' },
      anomalies: { mode: 'random', chance: '1/10', catalog: [{ name: 'sleep', stall: { extra: '2s' } }] },
    });
    const a = encode(compilePlans(spec(body(1)), agents, OPTIONS).plans);
    const b = encode(compilePlans(spec(body(2)), agents, OPTIONS).plans);
    expect(a.equals(b)).toBe(false);
    expect(encode(compilePlans(spec(body(1)), agents, OPTIONS).plans).equals(a)).toBe(true);
  });

  it('draws random anomalies at the stated chance per cycle (binomial, within 4 standard deviations)', () => {
    const chance = 0.05;
    let draws = 0;
    let anomalies = 0;
    let heavy = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const s = spec({
        seed,
        duration: '10m',
        warmup: '1m',
        baseline: { workload: MATMUL, sleep: '4s', estimatedWork: '1s' },
        anomalies: {
          mode: 'random',
          chance,
          catalog: [
            { name: 'light', workload: { kind: 'cpu', cores: 1 } },
            { name: 'heavy', workload: { kind: 'cpu', cores: 2 }, weight: 3 },
          ],
        },
      });
      const { plans, summary } = compilePlans(s, agents, OPTIONS);
      // Every anomaly lasts one nominal cycle (5 s), so each timeline has exactly
      // (10m - 1m) / 5s = 108 cycles.
      expect(summary.cycles).toBe(108 * agents.length);
      draws += summary.cycles;
      for (const plan of plans) {
        anomalies += plan.injections.length;
        heavy += plan.injections.filter((i) => i.anomalyType === 'heavy').length;
        for (const inj of plan.injections) {
          expect(ms(inj.endUnixNano) - ms(inj.startUnixNano)).toBe(5000);
          expect((ms(inj.startUnixNano) - 60_000) % 5000).toBe(0);
          expect(inj.replacesBaseline).toBe(true);
        }
      }
    }
    const mean = draws * chance;
    const sd = Math.sqrt(draws * chance * (1 - chance));
    expect(Math.abs(anomalies - mean)).toBeLessThan(4 * sd);
    // The catalog pick follows the weights: heavy is 3 of 4.
    const pickSd = Math.sqrt(anomalies * 0.75 * 0.25);
    expect(Math.abs(heavy - anomalies * 0.75)).toBeLessThan(4 * pickSd);
  });

  it('starts simultaneous anomalies at the same instants on every host', () => {
    const s = spec({
      seed: 5,
      duration: '10m',
      baseline: { workload: MATMUL, sleep: '4s' },
      anomalies: { mode: 'random', chance: '1/20', catalog: [{ name: 'sleep', stall: { extra: '2s' } }] },
      coordination: { mode: 'simultaneous' },
    });
    const { plans } = compilePlans(s, agents, OPTIONS);
    const times = (p: Plan) => p.injections.map((i) => [i.startUnixNano, i.endUnixNano]);
    expect(times(plans[0]!).length).toBeGreaterThan(0);
    for (const plan of plans) expect(times(plan)).toEqual(times(plans[0]!));
  });

  const phasedRolling = (coordination: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    spec({
      seed: 1,
      anomalies: {
        mode: 'phased',
        phases: [
          { name: 'calm', duration: '10s' },
          {
            name: 'spike',
            duration: '30s',
            injection: { workload: { kind: 'cpu', cores: 1 }, duration: '10s' },
          },
        ],
      },
      coordination,
      ...extra,
    });

  it('rolls waves of waveSize hosts every interval', () => {
    const { plans, summary } = compilePlans(
      phasedRolling({ mode: 'rolling', waveSize: 2, interval: '3s' }),
      fleet(6),
      OPTIONS,
    );
    expect(plans.map((p) => p.injections.map((i) => [ms(i.startUnixNano), ms(i.endUnixNano)]))).toEqual([
      [[10_000, 20_000]],
      [[10_000, 20_000]],
      [[13_000, 23_000]],
      [[13_000, 23_000]],
      [[16_000, 26_000]],
      [[16_000, 26_000]],
    ]);
    expect(summary).toMatchObject({ droppedPastEnd: 0, clippedByCoordination: 0, shifted: 0, dropped: 0 });
  });

  it('drops or clips what a wave pushes past its phase, and says so', () => {
    const { plans, summary } = compilePlans(
      phasedRolling({ mode: 'rolling', waveSize: 1, interval: '8s' }),
      fleet(6),
      OPTIONS,
    );
    expect(plans.map((p) => p.injections.map((i) => [ms(i.startUnixNano), ms(i.endUnixNano)]))).toEqual([
      [[10_000, 20_000]],
      [[18_000, 28_000]],
      [[26_000, 36_000]],
      [[34_000, 40_000]],
      [],
      [],
    ]);
    expect(summary).toMatchObject({ droppedPastEnd: 2, clippedByCoordination: 1, injections: 4 });
  });

  it('cascades along a label: groups in label order, hosts without the label last', () => {
    const hosts = [
      agent('a', { zone: 'west' }),
      agent('b', { zone: 'east' }),
      agent('c'),
      agent('d', { zone: 'east' }),
    ];
    const { plans } = compilePlans(
      phasedRolling({ mode: 'cascade', label: 'zone', delay: '5s' }),
      hosts,
      OPTIONS,
    );
    expect(Object.fromEntries(plans.map((p) => [p.agentId, ms(p.injections[0]!.startUnixNano)]))).toEqual({
      a: 15_000,
      b: 10_000,
      c: 20_000,
      d: 10_000,
    });
  });

  it('shifts or drops simultaneous injections beyond the blast radius and counts them', () => {
    const shift = compilePlans(
      phasedRolling({ mode: 'simultaneous' }, { blastRadius: { maxConcurrentFraction: 0.25 } }),
      fleet(8),
      OPTIONS,
    );
    // 2 hosts at a time: 10-20 s, 20-30 s, 30-40 s; the last 2 hosts find no room in the phase.
    expect(shift.plans.map((p) => p.injections.map((i) => ms(i.startUnixNano)))).toEqual([
      [10_000],
      [10_000],
      [20_000],
      [20_000],
      [30_000],
      [30_000],
      [],
      [],
    ]);
    expect(shift.summary).toMatchObject({
      blastRadiusLimit: 2,
      shifted: 4,
      dropped: 2,
      peakConcurrentHosts: 2,
    });
    const drop = compilePlans(
      phasedRolling(
        { mode: 'simultaneous' },
        { blastRadius: { maxConcurrentFraction: 0.25, policy: 'drop' } },
      ),
      fleet(8),
      OPTIONS,
    );
    expect(drop.summary).toMatchObject({ shifted: 0, dropped: 6, injections: 2 });
  });

  it('fills the plan from the spec: T0, sampling, baseline, dead-man timeout, workloads as messages', () => {
    const s = spec({
      seed: 3,
      duration: '2m',
      sampling: { interval: '250ms' },
      baseline: { workload: MATMUL, sleep: '4s' },
      deadManTimeout: '15s',
      anomalies: {
        mode: 'scheduled',
        catalog: [{ name: 'io_burst', workload: { kind: 'io', writeBytesPerSecond: '20Mi', fsync: true } }],
        schedule: [{ at: '1m', anomaly: 'io_burst', duration: '10s' }],
      },
    });
    const [plan] = compilePlans(s, [agent('solo')], OPTIONS).plans;
    expect(plan).toEqual({
      planId: 'exp-solo',
      experimentId: 'exp',
      agentId: 'solo',
      startUnixNano: T0,
      endUnixNano: T0 + 120_000_000_000n,
      samplingIntervalMs: 250,
      baseline: {
        workload: { kind: { $case: 'matmul', value: { sizes: [300, 350], matrices: 3, dots: 5 } } },
        sleepMs: 4000,
      },
      phases: [{ name: 'main', startUnixNano: T0, endUnixNano: T0 + 120_000_000_000n }],
      injections: [
        {
          injectionId: 'exp-solo-1',
          anomalyType: 'io_burst',
          startUnixNano: T0 + 60_000_000_000n,
          endUnixNano: T0 + 70_000_000_000n,
          workload: {
            kind: {
              $case: 'io',
              value: {
                writeBytesPerSecond: 20n * 2n ** 20n,
                readBytesPerSecond: 0n,
                fileSizeBytes: 64n * 2n ** 20n,
                fsync: true,
                directory: '',
              },
            },
          },
          replacesBaseline: false,
          phase: '',
        },
      ],
      deadManTimeoutMs: 15_000,
    });
  });

  it('selects targets by selector, then count or fraction (rounded up), independently of agent order', () => {
    const base = { seed: 4, duration: '1m' };
    const selected = (targets: Record<string, unknown>, order: number) =>
      compilePlans(spec({ ...base, targets }), fleet(12, order), OPTIONS).plans.map((p) => p.agentId);
    expect(selected({ selector: { zone: 'z1' } }, 1)).toEqual(['host-01', 'host-04', 'host-07', 'host-10']);
    const three = selected({ count: 3 }, 1);
    expect(three).toHaveLength(3);
    expect(selected({ count: 3 }, 2)).toEqual(three);
    expect(selected({ fraction: 0.25 }, 1)).toHaveLength(3);
    expect(selected({ fraction: 0.3 }, 1)).toHaveLength(4);
    expect(selected({ selector: { zone: 'z0' }, fraction: 0.01 }, 1)).toHaveLength(1);
    const summary = compilePlans(
      spec({ ...base, targets: { selector: { role: 'worker' }, count: 5 } }),
      agents,
      OPTIONS,
    ).summary;
    expect(summary).toMatchObject({ matchedAgents: 12, selectedAgents: 5 });
  });

  it('refuses selections it cannot make and bad options', () => {
    const base = { seed: 4, duration: '1m' };
    expect(() =>
      compilePlans(spec({ ...base, targets: { selector: { zone: 'mars' } } }), agents, OPTIONS),
    ).toThrow(new NoTargetsError('spec.targets.selector {zone=mars} matches none of the 12 agents'));
    expect(() => compilePlans(spec({ ...base, targets: { count: 13 } }), agents, OPTIONS)).toThrow(
      'spec.targets.count is 13 but only 12 agents match any agent',
    );
    expect(() => compilePlans(spec(base), agents, { startUnixNano: 0n, experimentId: 'x' })).toThrow(
      InvalidOptionsError,
    );
    expect(() => compilePlans(spec(base), agents, { startUnixNano: T0, experimentId: 'has space' })).toThrow(
      'experimentId must be 1..128 characters without whitespace, got "has space"',
    );
    expect(() => compilePlans(spec(base), [agent('a'), agent('a')], OPTIONS)).toThrow(
      'agents[1].agentId "a" appears twice',
    );
  });

  it('compiles YAML in the shape the scheduler takes', () => {
    const yaml = `apiVersion: faultline/v1
kind: Experiment
metadata: { name: tiny }
spec:
  duration: 30s
  onMissingAck: continue
`;
    const compiled = compileExperiment(yaml, agents, OPTIONS);
    expect(compiled).toMatchObject({ name: 'tiny', onMissingAck: 'continue', injectionsPlanned: 0 });
    expect(compiled.plans).toHaveLength(12);
  });
});

/** Most distinct hosts anomalous at one instant (half-open intervals). */
function peakDistinctHosts(intervals: readonly { host: number; start: number; end: number }[]): number {
  const events = intervals.flatMap((i) => [
    [i.start, 1, i.host],
    [i.end, -1, i.host],
  ]) as [number, number, number][];
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const perHost = new Map<number, number>();
  let hosts = 0;
  let peak = 0;
  for (const [, delta, host] of events) {
    const before = perHost.get(host) ?? 0;
    perHost.set(host, before + delta);
    if (before === 0) hosts++;
    else if (before === 1 && delta === -1) hosts--;
    peak = Math.max(peak, hosts);
  }
  return peak;
}
