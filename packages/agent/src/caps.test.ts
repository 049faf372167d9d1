import type { Plan } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import { checkPlan, resolveCaps } from './caps.js';
import { PlanRefusedError } from './errors.js';

const host = { memTotalBytes: 8 * 2 ** 30, cpuCount: 4 };
const s = (n: number): bigint => BigInt(n) * 1_000_000_000n;

function plan(injections: Plan['injections']): Plan {
  return {
    planId: 'p',
    experimentId: 'e',
    agentId: 'a',
    startUnixNano: s(0),
    endUnixNano: s(600),
    samplingIntervalMs: 1000,
    baseline: undefined,
    phases: [],
    injections,
    deadManTimeoutMs: 0,
  };
}

const memory = (id: string, gib: number, from = 10, to = 20): Plan['injections'][number] => ({
  injectionId: id,
  anomalyType: 'ram_spike',
  startUnixNano: s(from),
  endUnixNano: s(to),
  workload: {
    kind: {
      $case: 'memory',
      value: { bytes: BigInt(gib * 2 ** 30), fractionOfRam: 0, rampMs: 0, holdMs: 0 },
    },
  },
  replacesBaseline: false,
  phase: '',
});

const cpu = (id: string, cores: number, from = 10, to = 20): Plan['injections'][number] => ({
  ...memory(id, 0, from, to),
  anomalyType: 'cpu',
  workload: { kind: { $case: 'cpu', value: { cores, loadPercent: 100 } } },
});

function refusal(p: Plan, caps = resolveCaps({}, host)): PlanRefusedError {
  try {
    checkPlan(p, caps, host);
  } catch (err) {
    if (err instanceof PlanRefusedError) return err;
    throw err;
  }
  throw new Error('plan was accepted');
}

describe('caps', () => {
  it('accepts a plan within every cap', () => {
    expect(() =>
      checkPlan(plan([memory('m', 2), cpu('c', 2, 30, 40)]), resolveCaps({}, host), host),
    ).not.toThrow();
  });

  it('refuses a memory injection over maxMemoryFraction, naming the cap, the limit and the request', () => {
    const err = refusal(plan([memory('m1', 6)]));
    expect(err.cap).toBe('caps.maxMemoryFraction');
    expect(err.message).toBe(
      'caps.maxMemoryFraction 0.5 allows 4.00 GiB of 8.00 GiB, injection m1 requests 6.00 GiB',
    );
  });

  it('refuses overlapping cpu injections over maxCores, and too many at once', () => {
    const caps = resolveCaps({ maxCores: 2, maxConcurrentInjections: 2 }, host);
    expect(refusal(plan([cpu('c1', 1.5), cpu('c2', 1, 15, 25)]), caps).message).toBe(
      'caps.maxCores 2 < 2.5 cores requested at once (at c2)',
    );
    expect(() => checkPlan(plan([cpu('c1', 1.5), cpu('c2', 1, 20, 25)]), caps, host)).not.toThrow(); // back to back
    const many = plan([memory('a', 1), memory('b', 1, 12, 22), memory('c', 1, 14, 24)]);
    expect(refusal(many, caps).cap).toBe('caps.maxConcurrentInjections');
  });

  it('refuses disallowed kinds and injections longer than maxDurationMs', () => {
    expect(refusal(plan([cpu('c', 1)]), resolveCaps({ allowedKinds: ['memory'] }, host)).message).toBe(
      'caps.allowedKinds does not allow cpu (injection c)',
    );
    expect(
      refusal(plan([memory('m', 1, 0, 120)]), resolveCaps({ maxDurationMs: 60_000 }, host)).message,
    ).toBe('caps.maxDurationMs 60000 < 120000 ms requested by injection m');
  });

  it('rejects a bad safety setting at startup, naming the field, the range and the value', () => {
    expect(() => resolveCaps({ maxMemoryFraction: 1.5 }, host)).toThrow(
      'caps.maxMemoryFraction must be in (0, 1], got 1.5',
    );
    expect(() => resolveCaps({ maxCores: 8 }, host)).toThrow(
      'caps.maxCores must be in (0, 4] (the cpu count), got 8',
    );
    expect(() => resolveCaps({ allowedKinds: ['fork-bomb'] }, host)).toThrow(
      /caps.allowedKinds entries must be one of .* got "fork-bomb"/,
    );
    expect(() => resolveCaps({ maxConcurrentInjections: 0 }, host)).toThrow(
      /caps.maxConcurrentInjections must be an integer in \[1, 1000\], got 0/,
    );
  });
});
