import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isInputFileError, isUnknownInputFormatError } from '../errors.js';
import { readLabelWindows } from './label-windows.js';
import { detectOfflineFormat, parseOfflineData } from './offline-formats.js';

const fixture = (name: string): { file: string; text: string } => {
  const file = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
  return { file, text: readFileSync(file, 'utf8') };
};

function inputError(run: () => unknown): Error {
  try {
    run();
  } catch (err) {
    expect(isInputFileError(err)).toBe(true);
    return err as Error;
  }
  throw new Error('expected an InputFileError');
}

describe('offline formats', () => {
  it('detects each layout from its header', () => {
    expect(detectOfflineFormat(['timestamp', 'state', 'event_type', 'event_details', 'ram_usage_mb'])).toBe(
      'ramlog',
    );
    expect(detectOfflineFormat(['Time', 'pss', 'rss', 'swap', 'vmem'])).toBe('prmon');
    expect(detectOfflineFormat(['timestamp', 'value'])).toBe('series');
    expect(detectOfflineFormat(['ts', 'cpu', 'mem'])).toBe('wide');
    expect(detectOfflineFormat(['when', 'cpu'])).toBeUndefined();
  });

  it('reads the RAM log: SAMPLED_STATE rows are the series, anomaly states are truth windows', () => {
    const { file, text } = fixture('ramlog-ram-spike.csv');
    const d = parseOfflineData(text, { file: 'ramlog-ram-spike.csv' });
    expect(d.format).toBe('ramlog');
    expect(d.series).toHaveLength(1);
    const s = d.series[0]!;
    expect(s.hostId).toBe('ramlog-ram-spike.csv');
    expect(s.timesMs.length).toBe(text.split('\n').filter((l) => l.includes(',SAMPLED_STATE,')).length);
    expect(s.metrics.map((m) => [m.name, m.unit, m.counter])).toEqual([['ram_usage_mb', 'MB', false]]);
    expect(s.timesMs[0]).toBe(Date.UTC(2025, 4, 20, 10, 0, 1));
    expect(s.lines[0]).toBe(3);
    expect(s.metrics[0]!.values[0]).toBe(308.98);
    expect(d.truthSource).toBe('states');
    expect(d.truth).toEqual([
      {
        hostId: 'ramlog-ram-spike.csv',
        injectionId: 'ram_spike-1',
        anomalyType: 'ram_spike',
        startMs: Date.UTC(2025, 4, 20, 10, 0, 53),
        endMs: Date.UTC(2025, 4, 20, 10, 0, 57),
      },
    ]);
    // Every record inside the window is a ram spike state, none outside.
    const states = s.context['state']!;
    expect(states.filter((st) => st === 'working_anomaly_ram_spike')).toHaveLength(5);
    expect(file).toMatch(/ramlog-ram-spike\.csv$/);
  });

  it('reads prmon output with its JSON summary: counters flagged, wtime left out', () => {
    const { text } = fixture('prmon-small.txt');
    const summary = fixture('prmon-small.json');
    const d = parseOfflineData(text, {
      file: 'prmon-small.txt',
      prmonSummary: { file: 'prmon-small.json', text: summary.text },
    });
    expect(d.format).toBe('prmon');
    const s = d.series[0]!;
    expect(s.timesMs.length).toBe(12);
    expect(s.timesMs[1]).toBe(1748736001000);
    const byName = Object.fromEntries(s.metrics.map((m) => [m.name, m]));
    expect(Object.keys(byName)).not.toContain('wtime');
    expect(byName['pss']).toMatchObject({ unit: 'kB', counter: false });
    expect(byName['utime']).toMatchObject({ unit: 's', counter: true });
    expect(byName['write_bytes']).toMatchObject({ unit: 'bytes', counter: true });
    expect(byName['nthreads']!.values[3]).toBe(2);
    expect(d.prmonSummary).toMatchObject({ file: 'prmon-small.json', version: '3.1.1' });
    expect(d.prmonSummary!.max['pss']).toBe(121100);
    expect(d.prmonSummary!.avg['write_bytes']).toBe(369000);
    expect(d.truthSource).toBe('none');
  });

  it('reads a phase column of prmon data as labels: anomalous phases are windows', () => {
    const text = [
      'Time,phase,pss,rss,vmem,utime',
      '100,baseline1,1,1,1,0',
      '101,baseline1,1,1,1,1',
      '102,memory_spike,9,9,9,2',
      '103,memory_spike,9,9,9,3',
      '104,recovery1,1,1,1,4',
      '105,cpu_surge,1,1,1,9',
    ].join('\n');
    const d = parseOfflineData(text, { file: 'phases.csv' });
    expect(d.format).toBe('prmon');
    expect(d.series[0]!.context['phase']).toHaveLength(6);
    expect(d.truthSource).toBe('phases');
    expect(d.truth.map((w) => [w.anomalyType, w.startMs, w.endMs])).toEqual([
      ['memory_spike', 102_000, 103_000],
      ['cpu_surge', 105_000, 105_000],
    ]);
  });

  it('reads a timestamp,value series and finds its windows in a NAB labels file by base name', () => {
    const { file, text } = fixture('nab-series.csv');
    const d = parseOfflineData(text, { file });
    expect(d.format).toBe('series');
    const s = d.series[0]!;
    expect(s.timesMs.length).toBe(400);
    expect(s.timesMs[1]! - s.timesMs[0]!).toBe(300_000);
    expect(s.metrics[0]!.name).toBe('value');
    const labels = fixture('nab-labels.json');
    expect(readLabelWindows(labels.file, labels.text, file)).toEqual([
      { startMs: Date.UTC(2014, 3, 10, 20, 25), endMs: Date.UTC(2014, 3, 10, 21, 35) },
    ]);
    expect(readLabelWindows('l.json', '[[1397161500, 1397165700000]]', 'x.csv')).toEqual([
      { startMs: 1397161500000, endMs: 1397165700000 },
    ]);
  });

  it('reads a wide CSV: numeric columns are metrics, _total columns counters, text columns context', () => {
    const { text } = fixture('wide-phases.csv');
    const d = parseOfflineData(text, { file: 'wide-phases.csv' });
    expect(d.format).toBe('wide');
    const s = d.series[0]!;
    expect(s.metrics.map((m) => [m.name, m.unit, m.counter])).toEqual([
      ['cpu_percent', '%', false],
      ['mem_used_bytes', 'bytes', false],
      ['disk_read_bytes_total', 'bytes', true],
    ]);
    expect(Object.keys(s.context)).toEqual(['phase', 'note']);
    expect(s.context['note']![0]).toBe('entered baseline, step 0');
    expect(Number.isNaN(s.metrics[0]!.values[30]!)).toBe(true);
    expect(s.timesMs[0]).toBe(Date.UTC(2025, 5, 1));
    expect(d.truth.map((w) => [w.anomalyType, w.startMs, w.endMs])).toEqual([
      ['memory_spike', Date.UTC(2025, 5, 1, 0, 0, 20), Date.UTC(2025, 5, 1, 0, 0, 25)],
    ]);
  });

  it('splits a wide file by host_id and labels it from is_anomaly', () => {
    const text = [
      'time,host_id,seq,host_load1,is_anomaly,anomaly_type',
      '2025-06-01T00:00:00Z,a,1,0.5,false,',
      '2025-06-01T00:00:00Z,b,1,0.7,false,',
      '2025-06-01T00:00:01Z,a,2,4.5,true,cpu_hog',
      '2025-06-01T00:00:01Z,b,2,0.6,false,',
      '2025-06-01T00:00:02Z,a,3,0.4,false,',
    ].join('\n');
    const d = parseOfflineData(text, { file: 'export.csv' });
    expect(d.series.map((s) => [s.hostId, s.timesMs.length])).toEqual([
      ['a', 3],
      ['b', 2],
    ]);
    expect(d.series[0]!.metrics.map((m) => m.name)).toEqual(['host_load1']);
    expect(d.truthSource).toBe('label-column');
    expect(d.truth).toEqual([
      {
        hostId: 'a',
        injectionId: 'cpu_hog-1',
        anomalyType: 'cpu_hog',
        startMs: 1748736001000,
        endMs: 1748736001000,
      },
    ]);
  });

  it('names file, line and column for a non-numeric value, a bad timestamp, a missing time column, time going back', () => {
    expect(
      inputError(() =>
        parseOfflineData('timestamp,value\n2025-06-01 00:00:00,1\n2025-06-01 00:05:00,abc\n', {
          file: 'cpu.csv',
        }),
      ).message,
    ).toBe('cpu.csv:3: column "value": expected a number, got "abc"');
    expect(
      inputError(() =>
        parseOfflineData('Time\tpss\trss\tvmem\n1748736000\t1\t2\t3\nnoon\t1\t2\t3\n', { file: 'prmon.txt' }),
      ).message,
    ).toBe(
      'prmon.txt:3: column "Time": cannot read "noon" as a timestamp (expected an ISO 8601 date-time or epoch seconds/ms)',
    );
    expect(
      inputError(() =>
        parseOfflineData(
          'timestamp,state,event_type,event_details,ram_usage_mb\n2025-05-20 10:00:01,idle,SAMPLED_STATE,,12 MB\n',
          {
            file: 'ram.csv',
          },
        ),
      ).message,
    ).toBe('ram.csv:2: column "ram_usage_mb": expected a number, got "12 MB"');
    expect(
      inputError(() => parseOfflineData('value,x\n1,2\n', { file: 'w.csv', format: 'wide' })).message,
    ).toBe('w.csv:1: no time column: name one of timestamp, time, ts, datetime, date (any case)');
    expect(
      inputError(() =>
        parseOfflineData('ts,v\n2025-06-01T00:00:02Z,1\n2025-06-01T00:00:01Z,2\n', { file: 's.csv' }),
      ).message,
    ).toBe(
      's.csv:3: column "ts": time 2025-06-01T00:00:01.000Z is before the previous record\'s 2025-06-01T00:00:02.000Z (line 2): records must be in time order',
    );
  });

  it('names the labels file and the line of a bad window', () => {
    const labels = '{\n  "a.csv": [\n    ["2014-04-10 20:25:00", "later"]\n  ]\n}\n';
    expect(inputError(() => readLabelWindows('l.json', labels, 'data/a.csv')).message).toBe(
      'l.json:3: cannot read the end of window 1 "later" as a timestamp (expected an ISO 8601 date-time or epoch seconds/ms)',
    );
    expect(inputError(() => readLabelWindows('l.json', '{"b.csv": []}', 'a.csv')).message).toBe(
      'l.json: has no windows for a.csv (keys: b.csv)',
    );
    expect(inputError(() => readLabelWindows('l.json', '{"a.csv": [[1, 2]],}', 'a.csv')).message).toMatch(
      /^l\.json:1: invalid JSON/,
    );
  });

  it('refuses a file without a recognisable layout', () => {
    let caught: unknown;
    try {
      parseOfflineData('when,cpu\n1,2\n', { file: 'x.csv' });
    } catch (err) {
      caught = err;
    }
    expect(isUnknownInputFormatError(caught)).toBe(true);
    expect((caught as Error).message).toMatch(
      /^x\.csv: unknown format: the header \(when, cpu\) has no time column/,
    );
  });
});
