import { describe, expect, it } from 'vitest';

import { DETECTOR_USAGE, parseDetectorConfig, type DetectorConfig } from './config.js';
import { InvalidOptionsError, UsageError } from './errors.js';

function parse(argv: string[], env: Record<string, string> = {}): DetectorConfig {
  const config = parseDetectorConfig(argv, env);
  if (config === 'help') throw new Error('unexpected help');
  return config;
}

describe('parseDetectorConfig', () => {
  it('applies the defaults with no flags and no environment', () => {
    const c = parse([]);
    expect(c.natsUrl).toBe('nats://127.0.0.1:4222');
    expect(c.metricsPort).toBe(15053);
    expect(c.metricsHost).toBe('0.0.0.0');
    expect(c.logLevel).toBe('info');
    expect(c.runner.partitions).toBe(16);
    expect(c.runner.group).toBe('faultline-detector');
    expect(c.runner.leaseTtlMs).toBe(10_000);
    expect(c.runner.replicaId).toMatch(/^[^\s.*>]+-\d+$/);
    expect(c.runner.detector.forest.nEstimators).toBe(100);
    expect(c.runner.detector.forest.contamination).toBe('auto');
  });

  it('reads the event hysteresis and the fusion weights', () => {
    const c = parse(['--min-consecutive', '3', '--close-after', '8', '--iforest-weight', '0.5'], {
      FAULTLINE_DETECTOR_BAND_WEIGHT: '0.75',
    });
    const events = c.runner.detector.events;
    expect([events.minConsecutive, events.closeAfter]).toEqual([3, 8]);
    expect([events.fusion.iforestWeight, events.fusion.bandWeight]).toEqual([0.5, 0.75]);
    expect(parse([]).runner.detector.events.minConsecutive).toBe(1);
    expect(() => parse(['--min-consecutive', '0'])).toThrow(
      /minConsecutive must be an integer in \[1, 10000\], got 0/,
    );
    expect(() => parse(['--iforest-weight', '2'])).toThrow(InvalidOptionsError);
    expect(DETECTOR_USAGE).toContain('--min-consecutive N');
  });

  it('reads the environment, and lets flags win over it', () => {
    const env = {
      FAULTLINE_NATS_URL: 'nats://nats:4222',
      FAULTLINE_PARTITIONS: '32',
      FAULTLINE_REPLICA_ID: 'env-id',
    };
    const fromEnv = parse([], env);
    expect([fromEnv.natsUrl, fromEnv.runner.partitions, fromEnv.runner.replicaId]).toEqual([
      'nats://nats:4222',
      32,
      'env-id',
    ]);
    const both = parse(['--nats', 'nats://other:4222', '--partitions', '8', '--replica-id', 'flag-id'], env);
    expect([both.natsUrl, both.runner.partitions, both.runner.replicaId]).toEqual([
      'nats://other:4222',
      8,
      'flag-id',
    ]);
  });

  it('passes the model options to the per-host pipeline', () => {
    const c = parse([
      '--trees=50',
      '--max-samples',
      '128',
      '--contamination',
      '0.05',
      '--seed',
      '7',
      '--features',
      'host.load1, process.rss_bytes',
      '--training-samples',
      '200',
      '--retrain-every',
      '0',
      '--retrain-window',
      '300',
      '--open-threshold',
      '0.4',
      '--close-threshold',
      '0.2',
      '--interval-width',
      '0.9',
      '--threshold-multiplier',
      '3',
      '--lease-ttl-ms',
      '2000',
      '--checkpoint-interval-ms',
      '5000',
      '--max-ack-pending',
      '64',
      '--batch-linger-ms',
      '5',
      '--stream-replicas',
      '3',
      '--log-level',
      'debug',
    ]);
    const d = c.runner.detector;
    expect(d.forest).toMatchObject({ nEstimators: 50, maxSamples: 128, contamination: 0.05, seed: 7 });
    expect(d.features.metrics).toEqual(['host.load1', 'process.rss_bytes']);
    expect(d.training).toMatchObject({ samples: 200, retrainEverySamples: 0, retrainWindow: 300 });
    expect(d.events).toMatchObject({ openThreshold: 0.4, closeThreshold: 0.2 });
    expect(d.bands).toMatchObject({ intervalWidth: 0.9, thresholdMultiplier: 3 });
    expect(c.runner).toMatchObject({
      leaseTtlMs: 2000,
      checkpointIntervalMs: 5000,
      maxAckPending: 64,
      batchLingerMs: 5,
    });
    expect(c.runner.streams.replicas).toBe(3);
    expect(c.logLevel).toBe('debug');
  });

  it('adds rolling statistics and deltas to the features, from flags or the environment', () => {
    const off = parse([]).runner.detector.features;
    expect([off.rollingWindow, off.deltas]).toEqual([0, false]);
    const c = parse(['--features', 'process.cpu_percent', '--rolling-window', '8', '--deltas']);
    expect(c.runner.detector.features).toMatchObject({
      metrics: ['process.cpu_percent'],
      rollingWindow: 8,
      deltas: true,
    });
    const fromEnv = parse([], { FAULTLINE_DETECTOR_ROLLING_WINDOW: '6', FAULTLINE_DETECTOR_DELTAS: 'TRUE' });
    expect(fromEnv.runner.detector.features).toMatchObject({ rollingWindow: 6, deltas: true });
    // the default metrics stay when only the rolling window is given
    expect(fromEnv.runner.detector.features.metrics).toContain('host.load1');
    const flagWins = parse(['--rolling-window', '0', '--deltas'], {
      FAULTLINE_DETECTOR_ROLLING_WINDOW: '6',
      FAULTLINE_DETECTOR_DELTAS: '0',
    });
    expect(flagWins.runner.detector.features).toMatchObject({ rollingWindow: 0, deltas: true });
    expect(parse([], { FAULTLINE_DETECTOR_DELTAS: 'false' }).runner.detector.features.deltas).toBe(false);
    expect(DETECTOR_USAGE).toContain('--rolling-window N');
    expect(DETECTOR_USAGE).toContain('--deltas ');
  });

  it('refuses a rolling window of 1, a fraction or a negative, and a deltas variable that is not a boolean', () => {
    expect(() => parse(['--rolling-window', '1'])).toThrow(
      '--rolling-window must be 0 (off) or an integer in [2, 10000], got 1',
    );
    expect(() => parse(['--rolling-window', '-2'])).toThrow(
      '--rolling-window must be 0 (off) or an integer in [2, 10000], got -2',
    );
    expect(() => parse([], { FAULTLINE_DETECTOR_ROLLING_WINDOW: '2.5' })).toThrow(
      'FAULTLINE_DETECTOR_ROLLING_WINDOW must be 0 (off) or an integer in [2, 10000], got 2.5',
    );
    expect(() => parse(['--rolling-window', '10001'])).toThrow(InvalidOptionsError);
    expect(() => parse([], { FAULTLINE_DETECTOR_DELTAS: 'yes' })).toThrow(
      'FAULTLINE_DETECTOR_DELTAS must be true, false, 1 or 0, got "yes"',
    );
    expect(() => parse(['--deltas=true'])).toThrow(UsageError);
  });

  it('takes a negative number as a value: --metrics-port -1 turns the endpoints off', () => {
    expect(parse(['--metrics-port', '-1']).metricsPort).toBe(-1);
    expect(parse(['--metrics-port=0']).metricsPort).toBe(0);
  });

  it('answers --help with the usage text', () => {
    expect(parseDetectorConfig(['--help'], {})).toBe('help');
    expect(parseDetectorConfig(['-h'], {})).toBe('help');
    expect(DETECTOR_USAGE).toContain('--replica-id ID');
  });

  it('refuses unknown flags and flags without their value as usage errors', () => {
    expect(() => parse(['--bogus'])).toThrow(UsageError);
    expect(() => parse(['--bogus'])).toThrow(/Unknown option '--bogus'; see faultline-detector --help/);
    expect(() => parse(['--partitions'])).toThrow(UsageError);
    expect(() => parse(['extra'])).toThrow(UsageError);
  });

  it('refuses bad values, naming the flag or variable, the range and the value', () => {
    expect(() => parse(['--partitions', 'abc'])).toThrow('--partitions must be a number, got "abc"');
    expect(() => parse([], { FAULTLINE_PARTITIONS: 'x' })).toThrow(
      'FAULTLINE_PARTITIONS must be a number, got "x"',
    );
    expect(() => parse(['--partitions', '0'])).toThrow('partitions must be an integer in [1, 1024], got 0');
    expect(() => parse(['--metrics-port', '70000'])).toThrow(
      '--metrics-port must be -1 (off) or an integer in [0, 65535], got 70000',
    );
    expect(() => parse(['--log-level', 'loud'])).toThrow(
      /--log-level must be one of fatal, error, warn, info, debug, trace, silent, got "loud"/,
    );
    expect(() => parse(['--replica-id', 'a.b'])).toThrow(/replicaId must be a non-empty NATS subject token/);
    expect(() => parse(['--contamination', '0.7'])).toThrow(
      "forest.contamination must be 'auto' or a fraction in (0, 0.5], got 0.7",
    );
    expect(() => parse(['--nats', 'http://x'])).toThrow(/--nats must be a nats:\/\/host:port URL/);
    expect(() => parse(['--features', 'host.nope'])).toThrow(InvalidOptionsError);
  });
});
