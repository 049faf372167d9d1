import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AgentInfo } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import { compilePlans } from '../plan-compiler.js';
import type { ExperimentSpec } from '../spec/experiment-spec.js';
import { parseExperimentSpec } from '../spec/parse-spec.js';

const EXAMPLES = fileURLToPath(new URL('../../../../examples/', import.meta.url));
const files = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const T0 = 1_767_225_600_000_000_000n;

function fakeAgent(agentId: string, zone: string): AgentInfo {
  return {
    agentId,
    hostname: agentId,
    labels: { zone, role: 'worker' },
    caps: undefined,
    version: '0.1.0',
    cpuCount: 4,
    memoryTotalBytes: 8n * 2n ** 30n,
    hostIds: [agentId],
  };
}
const AGENTS = [fakeAgent('laptop-a', 'z1'), fakeAgent('laptop-b', 'z2'), fakeAgent('laptop-c', 'z1')];

function load(file: string): ExperimentSpec {
  return parseExperimentSpec(readFileSync(EXAMPLES + file, 'utf8'), { source: file });
}

const SEED_BASELINE = {
  workload: { kind: 'matmul', sizes: [300, 350, 450, 500], matrices: 3, dots: 5 },
  sleepMs: 4000,
  estimatedWorkMs: 1000,
};

describe('examples/', () => {
  it('holds every seed scenario, each with a quick variant', () => {
    const names = ['ram-spike', 'sleep-anomaly', 'medium-ram-spike', 'mixed', 'phased'];
    expect(files).toEqual(
      expect.arrayContaining([...names.flatMap((n) => [`${n}.yaml`, `${n}-quick.yaml`]), 'demo.yaml']),
    );
    for (const n of names) expect(load(`${n}-quick.yaml`).spec.durationMs).toBeLessThanOrEqual(5 * 60_000);
  });

  it.each(files)('%s parses and compiles for 3 agents', (file) => {
    const spec = load(file);
    const { plans, summary } = compilePlans(spec, AGENTS, { startUnixNano: T0, experimentId: 'example' });
    expect(plans.length).toBe(summary.selectedAgents);
    expect(plans.length).toBeGreaterThan(0);
    expect(summary.peakConcurrentHosts).toBeLessThanOrEqual(summary.blastRadiusLimit);
    for (const plan of plans) {
      expect(plan.endUnixNano - plan.startUnixNano).toBe(BigInt(spec.spec.durationMs) * 1_000_000n);
      for (const inj of plan.injections) {
        expect(inj.startUnixNano - T0).toBeGreaterThanOrEqual(BigInt(spec.spec.warmupMs) * 1_000_000n);
      }
    }
  });

  it('ram-spike.yaml is seed dataset 1, scaled for JavaScript', () => {
    const s = load('ram-spike.yaml').spec;
    expect([s.durationMs, s.warmupMs, s.baseline]).toEqual([900_000, 180_000, SEED_BASELINE]);
    expect(s.anomalies).toMatchObject({
      mode: 'random',
      chance: 1 / 50,
      catalog: [{ name: 'ram_spike', workload: { kind: 'matmul', sizes: [600], matrices: 4, dots: 5 } }],
    });
  });

  it('sleep-anomaly.yaml stalls 2 s more (6 s of sleep instead of 4 s)', () => {
    const s = load('sleep-anomaly.yaml').spec;
    expect(s.anomalies).toMatchObject({
      mode: 'random',
      chance: 1 / 50,
      catalog: [
        {
          name: 'sleep',
          workload: { kind: 'stall', extraMs: 2000 },
          durationMs: 6000,
          replacesBaseline: true,
        },
      ],
    });
  });

  it('medium-ram-spike.yaml runs 3 matrices of 400', () => {
    expect(load('medium-ram-spike.yaml').spec.anomalies).toMatchObject({
      catalog: [{ name: 'medium_ram_spike', workload: { kind: 'matmul', sizes: [400], matrices: 3 } }],
    });
  });

  it('mixed.yaml is 25 minutes, 6 of warm-up, 1 in 150, one of the three anomalies', () => {
    const s = load('mixed.yaml').spec;
    expect([s.durationMs, s.warmupMs, s.baseline]).toEqual([1_500_000, 360_000, SEED_BASELINE]);
    if (s.anomalies.mode !== 'random') throw new Error('not random');
    expect(s.anomalies.chance).toBe(1 / 150);
    expect(s.anomalies.catalog.map((c) => c.name)).toEqual(['ram_spike', 'sleep', 'medium_ram_spike']);
  });

  it.each(['phased.yaml', 'phased-quick.yaml'])('%s has the six prmon phases at 50 ms sampling', (file) => {
    const s = load(file).spec;
    expect(s.samplingIntervalMs).toBe(50);
    if (s.anomalies.mode !== 'phased') throw new Error('not phased');
    expect(s.anomalies.phases.map((p) => p.name)).toEqual([
      'baseline1',
      'memory_spike',
      'recovery1',
      'cpu_surge',
      'recovery2',
      'io_burst',
    ]);
    expect(s.anomalies.phases.filter((p) => p.injection).map((p) => p.injection!.workload.kind)).toEqual([
      'memory',
      'cpu',
      'io',
    ]);
    if (file === 'phased-quick.yaml') {
      expect(s.durationMs).toBe(60_000);
      expect(s.anomalies.phases.every((p) => p.durationMs === 10_000)).toBe(true);
    }
  });

  it('demo.yaml rolls its memory, CPU and I/O injections across 3 hosts 5 s apart, within the blast radius', () => {
    const spec = load('demo.yaml');
    expect(spec.spec.durationMs).toBe(120_000);
    const { plans, summary } = compilePlans(spec, AGENTS, { startUnixNano: T0, experimentId: 'demo' });
    expect(summary.blastRadiusLimit).toBe(2);
    const startOf = (type: string) =>
      plans.map((p) =>
        Number((p.injections.find((i) => i.anomalyType === type)!.startUnixNano - T0) / 1_000_000n),
      );
    expect(startOf('memory_spike')).toEqual([20_000, 25_000, 30_000]);
    expect(startOf('cpu_surge')).toEqual([60_000, 65_000, 70_000]);
    expect(startOf('io_burst')).toEqual([100_000, 105_000, 110_000]);
    const stalls = plans.flatMap((p) => p.injections.filter((i) => i.anomalyType === 'sleep'));
    expect(stalls.length).toBeGreaterThan(0);
    expect(new Set(stalls.map((i) => i.phase))).toEqual(new Set(['recovery1', 'recovery2']));
  });
});
