// Runs real workloads: the child scripts come from packages/agent/dist (npm test builds first;
// by hand: pnpm exec tsc -b packages/agent).
import type { Plan, PlanProgress, TruthWindow } from '@faultline/protocol';
import { eventually } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { PlanExecutor, type ExecutorEvent } from './executor.js';
import { InjectionRunner } from './workloads/index.js';

const ns = (ms: number): bigint => BigInt(Math.round(ms)) * 1_000_000n;
const MiB = 1024n * 1024n;

function plan(t0: number, durationMs: number): Plan {
  return {
    planId: 'p1',
    experimentId: 'exp-test',
    agentId: 'a1',
    startUnixNano: ns(t0),
    endUnixNano: ns(t0 + durationMs),
    samplingIntervalMs: 100,
    baseline: {
      workload: { kind: { $case: 'matmul', value: { sizes: [60], matrices: 2, dots: 2 } } },
      sleepMs: 150,
    },
    phases: [
      { name: 'baseline1', startUnixNano: ns(t0), endUnixNano: ns(t0 + 800) },
      { name: 'memory_spike', startUnixNano: ns(t0 + 800), endUnixNano: ns(t0 + 2000) },
      { name: 'recovery1', startUnixNano: ns(t0 + 2000), endUnixNano: ns(t0 + durationMs) },
    ],
    injections: [
      {
        injectionId: 'inj-mem',
        anomalyType: 'ram_spike',
        startUnixNano: ns(t0 + 800),
        endUnixNano: ns(t0 + 2000),
        workload: {
          kind: { $case: 'memory', value: { bytes: 64n * MiB, fractionOfRam: 0, rampMs: 0, holdMs: 0 } },
        },
        replacesBaseline: true,
        phase: 'memory_spike',
      },
    ],
    deadManTimeoutMs: 0,
  };
}

describe('PlanExecutor (real workloads)', () => {
  it('follows the timeline: baseline loop, a memory injection that replaces it, labels, truth and RAM-log events', async () => {
    await using runner = new InjectionRunner({ monitorIntervalMs: 50 });
    const truths: TruthWindow[] = [];
    const events: ExecutorEvent[] = [];
    const progress: PlanProgress[] = [];
    const t0 = Date.now() + 200;
    const executor = new PlanExecutor(plan(t0, 2600), {
      runner,
      onTruth: (t) => truths.push(t),
      onEvent: (e) => events.push(e),
      onProgress: (p) => progress.push(p),
    });
    const seen = new Set<string>();
    const watcher = setInterval(() => {
      const l = executor.labels();
      seen.add(`${l.phase}|${l.state}|${l.injectionId}`);
    }, 20);
    const outcome = await executor.run();
    clearInterval(watcher);

    expect(outcome.halted).toBe(false);
    expect(outcome.injectionsStarted).toBe(1);
    expect(outcome.injectionsFinished).toBe(1);
    expect(seen).toContain('memory_spike|working_anomaly_ram_spike|inj-mem');
    expect([...seen].some((s) => s.startsWith('baseline1|working_normal|'))).toBe(true);
    expect([...seen].some((s) => s.startsWith('recovery1|'))).toBe(true);

    // a start report (no end yet), then the final window with requested vs achieved
    expect(truths[0]!.actualEndUnixNano).toBe(0n);
    const last = truths[truths.length - 1]!;
    expect(last.injectionId).toBe('inj-mem');
    expect(last.experimentId).toBe('exp-test');
    expect(last.actualEndUnixNano).toBeGreaterThan(last.actualStartUnixNano);
    expect(last.achieved!.peakRssDeltaBytes).toBeGreaterThan(0.9 * 64 * 2 ** 20);
    expect(Number(last.actualStartUnixNano / 1_000_000n)).toBeGreaterThanOrEqual(t0 + 800 - 5);

    const types = events.map((e) => e.type);
    expect(types[0]).toBe('SCRIPT_START');
    expect(types[types.length - 1]).toBe('SCRIPT_END');
    expect(
      events.some((e) => e.type === 'WORKLOAD_START' && e.details.startsWith('type:anomaly_ram_spike')),
    ).toBe(true);
    expect(
      events.some((e) => e.type === 'WORKLOAD_END' && /^type:normal,size:60,duration:/.test(e.details)),
    ).toBe(true);
    expect(progress[progress.length - 1]!.done).toBe(true);
  });

  it('halts within a second: the running injection stops and the plan ends early', async () => {
    await using runner = new InjectionRunner({ monitorIntervalMs: 50 });
    const t0 = Date.now();
    const p = plan(t0, 30_000);
    p.injections[0]!.startUnixNano = ns(t0 + 100);
    p.injections[0]!.endUnixNano = ns(t0 + 30_000);
    const executor = new PlanExecutor(p, { runner });
    const done = executor.run();
    await eventually(
      () => executor.labels().injectionId === 'inj-mem' && executor.workloadPids().length > 0,
      {
        name: 'memory injection running',
        timeoutMs: 10_000,
      },
    );
    const before = Date.now();
    expect(await executor.halt()).toBe(1);
    const outcome = await done;
    expect(Date.now() - before).toBeLessThan(1000); // the bound: halt stops everything within 1 s
    expect(outcome.halted).toBe(true);
    expect(runner.active()).toEqual([]);
  });
});
