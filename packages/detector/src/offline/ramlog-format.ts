/**
 * The seed's RAM log (`timestamp,state,event_type,event_details,ram_usage_mb`): the
 * `SAMPLED_STATE` rows are the series (`ram_usage_mb`, MB), the other rows (script and
 * workload start/end, logger errors) are events and are skipped. The log labels itself: a
 * record whose `state` is `working_anomaly_<type>` is anomalous, and each run of such records
 * is a truth window of type `<type>` (`ram_spike`, `sleep`, `medium_ram_spike`). Pure.
 */
import { InputFileError } from '../errors.js';
import type { DelimitedTable } from './csv-reader.js';
import { buildSeries, windowsFromRuns, type OfflineDataset } from './offline-dataset.js';

/** The columns of a RAM log, in the seed's order. */
export const RAMLOG_HEADER: readonly string[] = [
  'timestamp',
  'state',
  'event_type',
  'event_details',
  'ram_usage_mb',
];

/** The event type of the rows that carry a RAM sample. */
export const SAMPLED_STATE = 'SAMPLED_STATE';

/** State prefix of anomalous workloads. */
export const ANOMALY_STATE_PREFIX = 'working_anomaly_';

/** Whether a header is a RAM log's: it has `timestamp`, `state`, `event_type` and `ram_usage_mb`. */
export function looksLikeRamlog(header: readonly string[]): boolean {
  return ['timestamp', 'state', 'event_type', 'ram_usage_mb'].every((c) => header.includes(c));
}

/** Reads a RAM log. */
export function readRamlog(table: DelimitedTable, hostId: string): OfflineDataset {
  const { header, file } = table;
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0)
      throw new InputFileError(
        file,
        table.headerLine,
        '',
        `no ${JSON.stringify(name)} column: a RAM log has ${RAMLOG_HEADER.join(',')}`,
      );
    return i;
  };
  const timeColumn = col('timestamp');
  const stateColumn = col('state');
  const eventColumn = col('event_type');
  const ramColumn = col('ram_usage_mb');
  const series = buildSeries(table, {
    timeColumn,
    defaultHostId: hostId,
    metrics: [{ column: ramColumn, unit: 'MB', counter: false }],
    contextColumns: [stateColumn],
    keepRow: (row) => row[eventColumn]!.trim() === SAMPLED_STATE,
  });
  if (series.length === 0) {
    throw new InputFileError(
      file,
      0,
      'event_type',
      `no ${SAMPLED_STATE} rows: the RAM log has no samples to score`,
    );
  }
  const truth = series.flatMap((s) => {
    const states = s.context['state']!;
    return windowsFromRuns(
      s,
      (i) => (states[i]!.startsWith(ANOMALY_STATE_PREFIX) ? states[i] : undefined),
      (state) => state.slice(ANOMALY_STATE_PREFIX.length) || 'anomaly',
    );
  });
  return {
    file,
    format: 'ramlog',
    series,
    truth,
    truthSource: 'states',
    prmonSummary: undefined,
    notes: [],
  };
}
