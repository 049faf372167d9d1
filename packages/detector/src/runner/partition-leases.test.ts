import { describe, expect, it } from 'vitest';

import { planAssignment } from './partition-leases.js';

/** Runs rounds of every replica planning on the shared table until nobody moves; returns the table. */
function converge(members: string[], holders: Array<string | undefined>): Array<string | undefined> {
  const table = [...holders];
  for (let round = 0; round < 20; round++) {
    let moved = false;
    for (const self of members) {
      const plan = planAssignment({ self, members, holders: table });
      for (const p of plan.release) {
        table[p] = undefined;
        moved = true;
      }
      for (const p of plan.claim) {
        table[p] = self;
        moved = true;
      }
    }
    if (!moved) return table;
  }
  throw new Error('no convergence in 20 rounds');
}

const count = (table: Array<string | undefined>, who: string): number =>
  table.filter((h) => h === who).length;

describe('planAssignment', () => {
  it('gives a lone replica every partition', () => {
    const plan = planAssignment({ self: 'a', members: ['a'], holders: Array(16).fill(undefined) });
    expect(plan.quota).toBe(16);
    expect(plan.claim).toHaveLength(16);
    expect(plan.release).toEqual([]);
  });

  it('splits P partitions over N replicas as evenly as possible, the first P mod N taking one more', () => {
    expect(
      planAssignment({ self: 'a', members: ['a', 'b', 'c'], holders: Array(16).fill(undefined) }).quota,
    ).toBe(6);
    expect(
      planAssignment({ self: 'b', members: ['a', 'b', 'c'], holders: Array(16).fill(undefined) }).quota,
    ).toBe(5);
    expect(
      planAssignment({ self: 'c', members: ['c', 'a', 'b'], holders: Array(16).fill(undefined) }).quota,
    ).toBe(5);
    const table = converge(['a', 'b', 'c'], Array(16).fill(undefined));
    expect([count(table, 'a'), count(table, 'b'), count(table, 'c')]).toEqual([6, 5, 5]);
  });

  it('prefers the partitions whose index modulo N is its rank, so replicas starting together contend little', () => {
    const plan = planAssignment({ self: 'b', members: ['a', 'b'], holders: Array(8).fill(undefined) });
    expect(plan.claim).toEqual([1, 3, 5, 7]);
  });

  it('makes a replica that holds too many give back the excess, and the newcomer take it', () => {
    const holders = Array<string | undefined>(8).fill('a');
    const plan = planAssignment({ self: 'a', members: ['a', 'b'], holders });
    expect(plan.quota).toBe(4);
    // a's preferred partitions are the even ones: it gives back the odd ones.
    expect(plan.release).toEqual([1, 3, 5, 7]);
    const table = converge(['a', 'b'], holders);
    expect(table).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
  });

  it('does not treat partitions of a replica that is no longer live as free: they wait for their lease to expire', () => {
    const holders = ['a', 'dead', 'dead', 'a'];
    const plan = planAssignment({ self: 'a', members: ['a'], holders });
    expect(plan.claim).toEqual([]);
    expect(plan.release).toEqual([]);
    expect(
      planAssignment({ self: 'a', members: ['a'], holders: ['a', undefined, undefined, 'a'] }).claim,
    ).toEqual([1, 2]);
  });

  it('counts itself among the members even before its first heartbeat is visible', () => {
    expect(planAssignment({ self: 'b', members: ['a'], holders: Array(4).fill(undefined) }).quota).toBe(2);
  });
});
