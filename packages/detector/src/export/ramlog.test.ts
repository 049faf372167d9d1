import { Sample, TruthWindow } from '@faultline/protocol';
import { describe, expect, it } from 'vitest';
import type { Row } from './dataset-columns.js';
import { RamlogHostLog } from './ramlog.js';

const SEC = 1_000_000_000n;
const MIB = 1024 * 1024;

type SamplePart = Parameters<typeof Sample.fromPartial>[0];

function sample(t: number, state: string, extra: SamplePart = {}, injection = '', type = ''): Sample {
  return Sample.fromPartial({
    hostId: 'h',
    seq: BigInt(t),
    timeUnixNano: BigInt(t) * SEC,
    labels: { experimentId: 'e', state, injectionId: injection, anomalyType: type },
    host: { memoryUsedBytes: 10 * MIB },
    ...extra,
  });
}

function window(id: string, from: number, to: number, host = 'h'): TruthWindow {
  return TruthWindow.fromPartial({
    injectionId: id,
    hostId: host,
    anomalyType: 'ram_spike',
    actualStartUnixNano: BigInt(from) * SEC,
    actualEndUnixNano: BigInt(to) * SEC,
  });
}

/** [seconds, state, event, details, ram] */
const view = (rows: Row[]): unknown[][] =>
  rows.map(([t, state, type, details, ram]) => [Number((t as bigint) / SEC), state, type, details, ram]);

function run(log: RamlogHostLog, samples: Sample[]): unknown[][] {
  return view([...samples.flatMap((s) => log.push(s)), ...log.finish()]);
}

describe('RamlogHostLog', () => {
  it('interleaves truth events, state changes and samples in time order', () => {
    const log = new RamlogHostLog('h', 'e', [window('i1', 3, 5), window('other', 1, 2, 'h2')]);
    const rows = run(log, [
      sample(1, 'idle'),
      sample(2, 'working_normal', { process: { rssBytes: 3 * MIB } }),
      sample(3, 'working_anomaly_ram_spike', {}, 'i1', 'ram_spike'),
      sample(4, 'working_anomaly_ram_spike', {}, 'i1', 'ram_spike'),
      sample(5, 'idle'),
    ]);
    expect(rows).toEqual([
      [1, 'idle', 'SCRIPT_START', 'experiment:e,host:h', null],
      [1, 'idle', 'SAMPLED_STATE', null, 10],
      [2, 'working_normal', 'WORKLOAD_START', 'type:normal', null],
      [2, 'working_normal', 'SAMPLED_STATE', null, 3],
      [3, 'working_anomaly_ram_spike', 'WORKLOAD_START', 'type:ram_spike,injection:i1', null],
      [3, 'working_normal', 'WORKLOAD_END', 'type:normal,duration:1.000s', null],
      [3, 'working_anomaly_ram_spike', 'SAMPLED_STATE', null, 10],
      [4, 'working_anomaly_ram_spike', 'SAMPLED_STATE', null, 10],
      [5, 'working_anomaly_ram_spike', 'WORKLOAD_END', 'type:ram_spike,injection:i1,duration:2.000s', null],
      [5, 'idle', 'SAMPLED_STATE', null, 10],
      [5, 'ending_script', 'SCRIPT_END', 'experiment:e,host:h,samples:5', null],
    ]);
    expect(log.samples).toBe(5);
  });

  it('takes the events of an injection without a truth window from the sample labels', () => {
    const rows = run(new RamlogHostLog('h', 'e', []), [
      sample(1, 'idle'),
      sample(2, 'working_anomaly_sleep', {}, 'lost', 'sleep'),
      sample(3, 'working_anomaly_sleep', {}, 'lost', 'sleep'),
      sample(4, 'idle'),
    ]).filter((r) => String(r[2]).startsWith('WORKLOAD'));
    expect(rows).toEqual([
      [2, 'working_anomaly_sleep', 'WORKLOAD_START', 'type:sleep,injection:lost', null],
      [4, 'working_anomaly_sleep', 'WORKLOAD_END', 'type:sleep,injection:lost,duration:2.000s', null],
    ]);
  });

  it('starts the log early and ends it late for windows outside the samples, and leaves running ones open', () => {
    const running = TruthWindow.fromPartial({
      injectionId: 'r',
      hostId: 'h',
      anomalyType: 'cpu',
      actualStartUnixNano: 2n * SEC,
    });
    const rows = run(new RamlogHostLog('h', 'e', [window('early', 1, 9), running]), [
      sample(2, 'idle', { host: undefined }),
      sample(3, 'idle', { host: undefined }),
    ]);
    expect(rows.map((r) => [r[0], r[2], r[4]])).toEqual([
      [1, 'SCRIPT_START', null],
      [1, 'WORKLOAD_START', null],
      [2, 'WORKLOAD_START', null],
      [2, 'SAMPLED_STATE', null], // neither a process tree nor host memory
      [3, 'SAMPLED_STATE', null],
      [9, 'WORKLOAD_END', null],
      [9, 'SCRIPT_END', null],
    ]);
  });

  it('orders an injection that ends before one that starts at the same time', () => {
    const rows = run(new RamlogHostLog('h', 'e', [window('b', 2, 3), window('a', 1, 2), window('z', 2, 2)]), [
      sample(1, 'idle'),
      sample(4, 'idle'),
    ]).filter((r) => String(r[2]).startsWith('WORKLOAD'));
    expect(rows.map((r) => [r[0], r[2], String(r[3]).split(',')[1]])).toEqual([
      [1, 'WORKLOAD_START', 'injection:a'],
      [2, 'WORKLOAD_END', 'injection:a'],
      [2, 'WORKLOAD_START', 'injection:b'],
      [2, 'WORKLOAD_START', 'injection:z'],
      [2, 'WORKLOAD_END', 'injection:z'],
      [3, 'WORKLOAD_END', 'injection:b'],
    ]);
  });

  it('writes nothing for a host without samples', () => {
    expect(new RamlogHostLog('h', 'e', [window('a', 1, 2)]).finish()).toEqual([]);
  });
});
