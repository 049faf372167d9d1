import { describe, expect, it } from 'vitest';

import {
  detectorStreamConfigs,
  detectorSubjects,
  hostIdFromSubjectToken,
  hostSubjectToken,
} from './detector-streams.js';

describe('detector streams', () => {
  it('turn any host id into one subject token and back', () => {
    for (const id of ['host-1', 'a.b.c', 'with space', 'wild*card>', 'ünïcode', '']) {
      const token = hostSubjectToken(id);
      expect(token).toMatch(/^[A-Za-z0-9_-]*$/);
      expect(hostIdFromSubjectToken(token)).toBe(id);
    }
    expect(detectorSubjects.hostCheckpoint('g', 2, 'a.b')).toBe('fl.detector.checkpoints.g.2.YS5i');
  });

  it('name leases, heartbeats and checkpoints per group, and refuse tokens that would break the subject', () => {
    expect(detectorSubjects.lease('g', 5)).toBe('fl.detector.leases.g.p.5');
    expect(detectorSubjects.leases('g')).toBe('fl.detector.leases.g.p.*');
    expect(detectorSubjects.member('g', 'r-1')).toBe('fl.detector.leases.g.m.r-1');
    expect(detectorSubjects.marker('g', 5)).toBe('fl.detector.checkpoints.g.5');
    expect(detectorSubjects.hostCheckpoints('g', 5)).toBe('fl.detector.checkpoints.g.5.*');
    expect(() => detectorSubjects.member('g', 'a.b')).toThrow(
      /replicaId must be a non-empty NATS subject token/,
    );
    expect(() => detectorSubjects.lease('g*', 1)).toThrow(/group/);
  });

  it('keep one message per subject, with the lease TTL as the lease stream max_age', () => {
    const [leases, checkpoints] = detectorStreamConfigs({ leaseTtlMs: 1500, storage: 'memory' });
    expect(leases).toMatchObject({
      name: 'FL_DETECTOR_LEASES',
      max_msgs_per_subject: 1,
      max_age: 1500 * 1e6,
    });
    expect(leases!.duplicate_window).toBeLessThanOrEqual(leases!.max_age!);
    expect(checkpoints).toMatchObject({
      name: 'FL_DETECTOR_CHECKPOINTS',
      max_msgs_per_subject: 1,
      max_age: 7 * 24 * 3600 * 1e9,
    });
  });
});
