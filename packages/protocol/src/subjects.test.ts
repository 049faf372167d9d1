import { describe, expect, it } from 'vitest';
import { InvalidSubjectTokenError, partitionOf, sampleBatchMsgId, subjects } from './index.js';

describe('subjects', () => {
  it('builds the sample subject of an agent in its partition', () => {
    expect(subjects.samples(3, 'agent-1')).toBe('fl.samples.3.agent-1');
    expect(subjects.samplesPartition(3)).toBe('fl.samples.3.*');
    expect(subjects.truth('exp-1', 'agent-1')).toBe('fl.truth.exp-1.agent-1');
    expect(subjects.deadLetter('FL_SAMPLES', 2)).toBe('fl.dlq.FL_SAMPLES.2');
    expect(sampleBatchMsgId('agent-1', 42n)).toBe('agent-1:42');
    expect(sampleBatchMsgId('agent-1', 42n, 1_795_000_000_123)).toBe('agent-1:1795000000123:42');
  });

  it('rejects tokens that would change the subject hierarchy, naming the field and value', () => {
    expect(() => subjects.samples(0, 'a.b')).toThrow(InvalidSubjectTokenError);
    expect(() => subjects.samples(0, 'a.b')).toThrow(/agentId .* got "a.b"/);
    expect(() => subjects.truth('*', 'x')).toThrow(/experimentId/);
    expect(() => subjects.samples(0, '')).toThrow(/agentId/);
    expect(() => subjects.samples(-1, 'x')).toThrow(/partition must be an integer/);
  });

  it('assigns partitions stably and spreads agents over all of them', () => {
    expect(partitionOf('agent-1', 16)).toBe(partitionOf('agent-1', 16));
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[partitionOf(`host-${i}`, 16)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(700);
    expect(() => partitionOf('x', 0)).toThrow(/partitions must be an integer >= 1, got 0/);
  });
});
