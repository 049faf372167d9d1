import { describe, expect, it } from 'vitest';
import { DutyCycle, memoryGoalBytes, RatePacer } from './pacing.js';

describe('memoryGoalBytes', () => {
  it('ramps linearly and holds the target after the ramp', () => {
    expect(memoryGoalBytes(1000, 0, 0)).toBe(1000);
    expect(memoryGoalBytes(1000, 2000, 0)).toBe(0);
    expect(memoryGoalBytes(1000, 2000, 500)).toBe(250);
    expect(memoryGoalBytes(1000, 2000, 2500)).toBe(1000);
  });
});

describe('RatePacer', () => {
  it('allows exactly the rate times the elapsed time', () => {
    const pacer = new RatePacer(1000, 0);
    expect(pacer.due(0)).toBe(0);
    expect(pacer.due(250)).toBe(250);
    pacer.done(250);
    expect(pacer.due(1000)).toBe(750);
    pacer.done(800);
    expect(pacer.due(1000)).toBe(0);
  });

  it('writes off debt beyond maxDebtMs instead of bursting to catch up', () => {
    const pacer = new RatePacer(1000, 0, 500);
    expect(pacer.due(3000)).toBe(500);
    expect(pacer.forgivenBytes).toBe(2500);
    pacer.done(500);
    expect(pacer.due(3100)).toBe(100);
  });
});

describe('DutyCycle', () => {
  it('burns duty × period on an idle machine', () => {
    const cycle = new DutyCycle(0.3, 100);
    expect(cycle.busyBudgetMs()).toBeCloseTo(30, 9);
    cycle.endPeriod(100, 30);
    expect(cycle.busyBudgetMs()).toBeCloseTo(30, 9);
  });

  it('makes up a late timer and preemption in the next period', () => {
    const cycle = new DutyCycle(0.5, 100);
    // The sleep overshot by 10 ms and only 45 ms of cpu were had.
    cycle.endPeriod(110, 45);
    expect(cycle.busyBudgetMs()).toBeCloseTo(60, 9);
  });

  it('reaches the requested share when a period gets only part of the cpu it spins for', () => {
    // A simulated machine where 20 % of the spinning wall time goes to someone else.
    const cycle = new DutyCycle(0.6, 100);
    let cpu = 0;
    for (let i = 0; i < 100; i++) {
      const budget = cycle.busyBudgetMs();
      const wallSpin = Math.min(100, budget / 0.8);
      const burned = wallSpin * 0.8;
      cpu += burned;
      cycle.endPeriod(100, burned);
    }
    expect(cpu / (100 * 100)).toBeCloseTo(0.6, 2);
  });

  it('does not carry more than one period of debt', () => {
    const cycle = new DutyCycle(0.5, 100);
    cycle.endPeriod(5000, 0);
    expect(cycle.busyBudgetMs()).toBe(100);
    // One period of debt (50 ms) is paid back over the next full-core period, then back to 50 %.
    cycle.endPeriod(100, 100);
    expect(cycle.busyBudgetMs()).toBe(100);
    cycle.endPeriod(100, 100);
    expect(cycle.busyBudgetMs()).toBeCloseTo(50, 9);
  });
});
