import {
  msToUnixNano,
  type Injection,
  type Plan,
  type PlanProgress,
  type Sample,
  type TruthWindow,
  type Workload,
} from '@faultline/protocol';
import { compilePlans, parseExperimentSpec } from '@faultline/spec';
import { describe, expect, it } from 'vitest';
import { isUnknownVirtualHostError } from '../errors.js';
import type { PlanOutcome } from '../executor.js';
import { Simulator, type SimulatorOptions } from './simulator.js';

const T0 = Date.UTC(2026, 10, 2, 12);
const GiB = 2 ** 30;
const OPTIONS: SimulatorOptions = { seed: 'sim-test', hosts: 20, intervalMs: 1000 };

/** Samples every host once per second for `seconds`, calling `before` at each tick first. */
function runFor(sim: Simulator, seconds: number, before?: (t: number) => void): Sample[][] {
  const ticks: Sample[][] = [];
  for (let s = 0; s < seconds; s++) {
    const t = T0 + s * 1000;
    before?.(t);
    const row: Sample[] = [];
    sim.sampleAll(t, (sample) => row.push(sample));
    ticks.push(row);
  }
  return ticks;
}

function injection(
  id: string,
  type: string,
  fromS: number,
  toS: number,
  workload: Workload,
  extra: Partial<Injection> = {},
): Injection {
  return {
    injectionId: id,
    anomalyType: type,
    startUnixNano: msToUnixNano(T0 + fromS * 1000),
    endUnixNano: msToUnixNano(T0 + toS * 1000),
    workload,
    replacesBaseline: false,
    phase: '',
    ...extra,
  };
}

function plan(hostId: string, seconds: number, injections: Injection[], extra: Partial<Plan> = {}): Plan {
  return {
    planId: `exp-1-${hostId}`,
    experimentId: 'exp-1',
    agentId: hostId,
    startUnixNano: msToUnixNano(T0),
    endUnixNano: msToUnixNano(T0 + seconds * 1000),
    samplingIntervalMs: 1000,
    baseline: { workload: undefined, sleepMs: 1000 },
    phases: [],
    injections,
    deadManTimeoutMs: 0,
    ...extra,
  };
}

const memory = (bytes: number, rampMs = 0, holdMs = 0): Workload => ({
  kind: { $case: 'memory', value: { bytes: BigInt(bytes), fractionOfRam: 0, rampMs, holdMs } },
});
const cpu = (cores: number, loadPercent: number): Workload => ({
  kind: { $case: 'cpu', value: { cores, loadPercent } },
});

interface Recorded {
  truth: TruthWindow[];
  progress: PlanProgress[];
  outcomes: PlanOutcome[];
}

function recorder(): Recorded & { callbacks: Parameters<Simulator['addPlan']>[1] } {
  const r: Recorded = { truth: [], progress: [], outcomes: [] };
  return {
    ...r,
    callbacks: {
      onTruth: (t) => r.truth.push(t),
      onProgress: (p) => r.progress.push(p),
      onDone: (o) => r.outcomes.push(o),
    },
  };
}

describe('Simulator', () => {
  it('is deterministic: the same seed gives identical samples, another seed other ones', () => {
    const a = runFor(new Simulator(OPTIONS), 3);
    const b = runFor(new Simulator(OPTIONS), 3);
    expect(b).toEqual(a);
    const c = runFor(new Simulator({ ...OPTIONS, seed: 'other' }), 1);
    expect(c[0]!.map((s) => s.metrics.cpu_user_percent)).not.toEqual(
      a[0]!.map((s) => s.metrics.cpu_user_percent),
    );
  });

  it('numbers each host’s samples from 1 and stamps them with the tick time', () => {
    const sim = new Simulator(OPTIONS);
    const ticks = runFor(sim, 5);
    for (let h = 0; h < sim.size; h++) {
      expect(ticks.map((row) => row[h]!.seq)).toEqual([1n, 2n, 3n, 4n, 5n]);
      expect(ticks.every((row) => row[h]!.hostId === sim.hosts[h]!.hostId)).toBe(true);
    }
    expect(ticks[2]![0]!.timeUnixNano).toBe(msToUnixNano(T0 + 2000));
    expect(ticks[0]![0]!.labels).toEqual({
      experimentId: '',
      phase: '',
      state: 'idle',
      injectionId: '',
      anomalyType: '',
    });
  });

  it('raises memory_used by the requested bytes on the targeted virtual host only, and labels its samples', () => {
    const sim = new Simulator(OPTIONS);
    const twin = new Simulator(OPTIONS);
    const target = sim.hosts[7]!.hostId;
    const rec = recorder();
    sim.addPlan(
      plan(
        target,
        30,
        [injection('inj-1', 'ram_spike', 10, 20, memory(2 * GiB), { phase: 'memory_spike' })],
        {
          phases: [
            { name: 'baseline1', startUnixNano: msToUnixNano(T0), endUnixNano: msToUnixNano(T0 + 10_000) },
            {
              name: 'memory_spike',
              startUnixNano: msToUnixNano(T0 + 10_000),
              endUnixNano: msToUnixNano(T0 + 20_000),
            },
            {
              name: 'recovery1',
              startUnixNano: msToUnixNano(T0 + 20_000),
              endUnixNano: msToUnixNano(T0 + 30_000),
            },
          ],
        },
      ),
      rec.callbacks,
    );
    const spiked = runFor(sim, 35);
    const plain = runFor(twin, 35);
    for (let s = 0; s < 35; s++) {
      for (let h = 0; h < sim.size; h++) {
        const diff = spiked[s]![h]!.host!.memoryUsedBytes - plain[s]![h]!.host!.memoryUsedBytes;
        const expected = h === 7 && s >= 10 && s < 20 ? 2 * GiB : 0;
        expect(diff, `second ${s}, host ${h}`).toBeCloseTo(expected, 0);
        if (h !== 7) expect(spiked[s]![h]!.labels!.state).toBe('idle');
      }
      const labels = spiked[s]![7]!.labels!;
      if (s >= 10 && s < 20) {
        expect(labels).toEqual({
          experimentId: 'exp-1',
          phase: 'memory_spike',
          state: 'working_anomaly_ram_spike',
          injectionId: 'inj-1',
          anomalyType: 'ram_spike',
        });
      } else {
        expect(labels.injectionId).toBe('');
        expect(labels.experimentId).toBe(s < 30 ? 'exp-1' : '');
        expect(labels.state).toBe('idle');
      }
    }
    expect(spiked[25]![7]!.labels!.phase).toBe('recovery1');
    // The metrics map says the same as HostMetrics.
    expect(
      spiked[12]![7]!.metrics.memory_used_megabytes! - plain[12]![7]!.metrics.memory_used_megabytes!,
    ).toBeCloseTo((2 * GiB) / 1e6, 6);

    expect(rec.truth).toHaveLength(2);
    const [start, end] = rec.truth as [TruthWindow, TruthWindow];
    expect(start).toMatchObject({
      injectionId: 'inj-1',
      hostId: target,
      agentId: 'simulator',
      actualEndUnixNano: 0n,
    });
    expect(end).toMatchObject({
      injectionId: 'inj-1',
      experimentId: 'exp-1',
      hostId: target,
      anomalyType: 'ram_spike',
      phase: 'memory_spike',
      actualStartUnixNano: msToUnixNano(T0 + 10_000),
      actualEndUnixNano: msToUnixNano(T0 + 20_000),
      reachedTarget: true,
      shortfall: '',
    });
    expect(end.achieved!.peakRssDeltaBytes).toBeCloseTo(2 * GiB, 0);
    expect(end.achieved!.meanRssDeltaBytes).toBeCloseTo(2 * GiB, 0);
    expect(rec.outcomes).toEqual([
      { planId: `exp-1-${target}`, halted: false, injectionsStarted: 1, injectionsFinished: 1, truth: [end] },
    ]);
    expect(rec.progress.at(-1)).toMatchObject({ done: true, state: 'ending_script', injectionsFinished: 1 });
    expect(rec.progress.map((p) => p.state)).toContain('working_anomaly_ram_spike');
    expect(sim.runningPlans()).toBe(0);
  });

  it('ramps memory and times the ramp to 90 % of the target', () => {
    const sim = new Simulator(OPTIONS);
    const twin = new Simulator(OPTIONS);
    const target = sim.hosts[3]!.hostId;
    const rec = recorder();
    sim.addPlan(
      plan(target, 20, [injection('inj-r', 'ram_ramp', 2, 15, memory(1 * GiB, 4000))]),
      rec.callbacks,
    );
    const a = runFor(sim, 20);
    const b = runFor(twin, 20);
    const diff = (s: number): number => a[s]![3]!.host!.memoryUsedBytes - b[s]![3]!.host!.memoryUsedBytes;
    expect(diff(2)).toBeCloseTo(0, 0);
    expect(diff(3)).toBeCloseTo(GiB / 4, 0);
    expect(diff(4)).toBeCloseTo(GiB / 2, 0);
    expect(diff(6)).toBeCloseTo(GiB, 0);
    const end = rec.truth.at(-1)!;
    expect(end.achieved!.rampMs).toBe(4000);
    expect(end.achieved!.holdMs).toBe(8000);
    expect(end.reachedTarget).toBe(true);
  });

  it('raises cpu_user by cores × load over the host’s vcpus, and reports it as achieved', () => {
    const sim = new Simulator({ ...OPTIONS, highCpuFraction: 0 });
    const twin = new Simulator({ ...OPTIONS, highCpuFraction: 0 });
    const host = sim.hosts[5]!;
    const rec = recorder();
    sim.addPlan(plan(host.hostId, 10, [injection('inj-c', 'cpu_surge', 0, 10, cpu(2, 50))]), rec.callbacks);
    const a = runFor(sim, 11);
    const b = runFor(twin, 11);
    const points = (2 * 50) / host.vcpus;
    for (let s = 0; s < 10; s++) {
      const d = a[s]![5]!.metrics.cpu_user_percent! - b[s]![5]!.metrics.cpu_user_percent!;
      expect(d).toBeCloseTo(Math.min(points, b[s]![5]!.metrics.cpu_idle_percent!), 9);
    }
    const end = rec.truth.at(-1)!;
    expect(end.achieved!.meanCpuPercent).toBeCloseTo(100, 6);
    expect(end.reachedTarget).toBe(true);
  });

  it('lets a stall end by itself, raising latency and cutting completed tasks while it runs', () => {
    const sim = new Simulator(OPTIONS);
    const twin = new Simulator(OPTIONS);
    const host = sim.hosts[0]!.hostId;
    const rec = recorder();
    const stall: Workload = { kind: { $case: 'stall', value: { extraMs: 3000 } } };
    sim.addPlan(plan(host, 20, [injection('inj-s', 'sleep', 5, 15, stall)]), rec.callbacks);
    const a = runFor(sim, 12);
    const b = runFor(twin, 12);
    const states = a.map((row) => row[0]!.labels!.state);
    expect(states.slice(4, 9)).toEqual([
      'idle',
      'working_anomaly_sleep',
      'working_anomaly_sleep',
      'working_anomaly_sleep',
      'idle',
    ]);
    for (const s of [5, 6, 7]) {
      expect(
        a[s]![0]!.metrics.latency_per_read_milliseconds! - b[s]![0]!.metrics.latency_per_read_milliseconds!,
      ).toBeCloseTo(3000, 6);
      // 1 s / (1 s + 3 s): a quarter of the tasks complete.
      expect(a[s]![0]!.metrics.task_completed!).toBe(Math.round(b[s]![0]!.metrics.task_completed! / 4));
    }
    const end = rec.truth.at(-1)!;
    expect(end.actualEndUnixNano).toBe(msToUnixNano(T0 + 8000));
    expect(end.achieved!.holdMs).toBe(3000);
    expect(end.reachedTarget).toBe(true);
  });

  it('adds io and network rates to the interval’s bytes', () => {
    const sim = new Simulator(OPTIONS);
    const twin = new Simulator(OPTIONS);
    const host = sim.hosts[1]!.hostId;
    const io: Workload = {
      kind: {
        $case: 'io',
        value: {
          writeBytesPerSecond: 8_000_000n,
          readBytesPerSecond: 0n,
          fileSizeBytes: 0n,
          fsync: false,
          directory: '',
        },
      },
    };
    const net: Workload = { kind: { $case: 'network', value: { bytesPerSecond: 1_000_000n, peer: '' } } };
    const rec = recorder();
    sim.addPlan(
      plan(host, 10, [injection('inj-io', 'io_burst', 2, 6, io), injection('inj-n', 'net', 4, 8, net)]),
      rec.callbacks,
    );
    const a = runFor(sim, 10);
    const b = runFor(twin, 10);
    const d = (s: number, m: string): number => a[s]![1]!.metrics[m]! - b[s]![1]!.metrics[m]!;
    expect(d(3, 'disk_io_write_bytes')).toBeCloseTo(8_000_000, 3);
    expect(d(7, 'disk_io_write_bytes')).toBeCloseTo(0, 6);
    expect(d(5, 'network_out_bytes')).toBeCloseTo(1_000_000, 3);
    // The newest running injection names the state.
    expect(a[5]![1]!.labels!.injectionId).toBe('inj-n');
    expect(a[3]![1]!.labels!.injectionId).toBe('inj-io');
    const ends = rec.truth.filter((t) => t.actualEndUnixNano !== 0n);
    expect(ends.map((t) => [t.injectionId, t.reachedTarget])).toEqual([
      ['inj-io', true],
      ['inj-n', true],
    ]);
    expect(ends[0]!.achieved!.writeBytesPerSecond).toBe(8_000_000);
  });

  it('reports a shortfall when the host cannot take the memory asked for', () => {
    const sim = new Simulator(OPTIONS);
    const host = sim.hosts[2]!;
    const rec = recorder();
    sim.addPlan(
      plan(host.hostId, 5, [injection('inj-big', 'huge', 0, 5, memory(2 * host.memoryTotalBytes))]),
      rec.callbacks,
    );
    const ticks = runFor(sim, 6);
    expect(ticks[2]![2]!.metrics.memory_free_megabytes).toBe(0);
    const end = rec.truth.at(-1)!;
    expect(end.achieved!.peakRssDeltaBytes).toBeLessThan(host.memoryTotalBytes);
    expect(end.reachedTarget).toBe(false);
    expect(end.shortfall).toMatch(/peak RSS delta .* below the requested/);
  });

  it('runs the baseline loop as the executor does: work, sleep, paused by a replacing injection', () => {
    const sim = new Simulator({ ...OPTIONS, baselineRunMs: 2000 });
    const host = sim.hosts[4]!.hostId;
    sim.addPlan(
      plan(host, 20, [injection('inj-x', 'cpu_hog', 8, 11, cpu(1, 100), { replacesBaseline: true })], {
        baseline: { workload: cpu(1, 50), sleepMs: 3000 },
      }),
    );
    const states = runFor(sim, 20).map((row) => row[4]!.labels!.state.replace('working_', ''));
    expect(states).toEqual([
      'normal',
      'normal',
      'idle',
      'idle',
      'idle',
      'normal',
      'normal',
      'idle',
      'anomaly_cpu_hog',
      'anomaly_cpu_hog',
      'anomaly_cpu_hog',
      // a new cycle starts when the replacing injection ends
      'normal',
      'normal',
      'idle',
      'idle',
      'idle',
      'normal',
      'normal',
      'idle',
      'idle',
    ]);
  });

  it('halts: running injections end at the halt with their truth, pending ones never start', () => {
    const sim = new Simulator(OPTIONS);
    const host = sim.hosts[6]!.hostId;
    const rec = recorder();
    sim.addPlan(
      plan(host, 30, [
        injection('inj-a', 'a', 2, 20, cpu(1, 100)),
        injection('inj-b', 'b', 25, 28, cpu(1, 100)),
      ]),
      rec.callbacks,
    );
    const ticks = runFor(sim, 10, (t) => {
      if (t === T0 + 5000) expect(sim.halt(t - 500, 'exp-1')).toBe(1);
    });
    expect(ticks[4]![6]!.labels!.state).toBe('working_anomaly_a');
    expect(ticks[5]![6]!.labels).toMatchObject({ experimentId: '', state: 'idle' });
    expect(rec.truth.map((t) => t.injectionId)).toEqual(['inj-a', 'inj-a']);
    expect(rec.truth[1]!.actualEndUnixNano).toBe(msToUnixNano(T0 + 4500));
    expect(rec.outcomes[0]).toMatchObject({ halted: true, injectionsStarted: 1, injectionsFinished: 1 });
    expect(sim.runningPlans()).toBe(0);
  });

  it('refuses a plan for a host it does not simulate', () => {
    const sim = new Simulator(OPTIONS);
    expect(() => sim.addPlan(plan('i-nosuchhost', 10, []))).toThrow(
      /no such virtual host among the 20 simulated/,
    );
    try {
      sim.addPlan(plan('i-nosuchhost', 10, []));
    } catch (err) {
      expect(isUnknownVirtualHostError(err)).toBe(true);
    }
  });

  it('runs plans compiled from a spec for its virtual hosts, with labelled anomalies and truth', () => {
    // Low-cpu hosts: a high-cpu host near 100 % has no room for the surge (its truth says so).
    const sim = new Simulator({ seed: 11, hosts: 40, intervalMs: 1000, highCpuFraction: 0 });
    const spec = parseExperimentSpec(`
apiVersion: faultline/v1
kind: Experiment
metadata: { name: sim-phased }
spec:
  seed: 3
  targets: { selector: { microservice_name: apollo } }
  duration: 40s
  sampling: { interval: 1s }
  baseline: { sleep: 1s }
  anomalies:
    mode: phased
    phases:
      - { name: baseline1, duration: 10s }
      - name: memory_spike
        duration: 10s
        injection: { workload: { kind: memory, bytes: 512Mi } }
      - { name: recovery1, duration: 10s }
      - name: cpu_surge
        duration: 10s
        injection: { workload: { kind: cpu, cores: 1, load: 80 } }
`);
    const { plans } = compilePlans(spec, sim.agentInfos(), {
      startUnixNano: msToUnixNano(T0),
      experimentId: 'exp-sim',
    });
    const apollo = sim.hosts.filter((h) => h.microservice === 'apollo');
    expect(plans.map((p) => p.agentId).sort()).toEqual(apollo.map((h) => h.hostId).sort());
    const truth: TruthWindow[] = [];
    for (const p of plans) sim.addPlan(p, { onTruth: (t) => truth.push(t) });
    const ticks = runFor(sim, 42);
    const i = apollo[0]!.index;
    expect(ticks[12]![i]!.labels).toMatchObject({
      experimentId: 'exp-sim',
      phase: 'memory_spike',
      state: 'working_anomaly_memory_spike',
    });
    expect(ticks[35]![i]!.labels).toMatchObject({ phase: 'cpu_surge', state: 'working_anomaly_cpu_surge' });
    expect(ticks[25]![i]!.labels).toMatchObject({ phase: 'recovery1', state: 'idle', injectionId: '' });
    const ends = truth.filter((t) => t.actualEndUnixNano !== 0n);
    expect(ends).toHaveLength(2 * apollo.length);
    expect(ends.filter((t) => !t.reachedTarget).map((t) => t.shortfall)).toEqual([]);
  });
});
