/**
 * Options of {@link exportExperiment} and their validation.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { NatsConnectionSecurity } from '@faultline/protocol';
import { InvalidOptionsError } from '../errors.js';
import {
  checkChoice,
  checkInteger,
  checkNonEmptyString,
  checkObject,
  describeValue,
} from '../option-checks.js';
import { resolveExperimentIdOption, resolveNatsSource, type NatsSource } from './nats-source.js';
import { EXPORT_FORMATS, type ExportFormat } from './row-sinks.js';

/** Layouts of an export. */
export const EXPORT_LAYOUTS = ['wide', 'long', 'ramlog'] as const;
export type ExportLayout = (typeof EXPORT_LAYOUTS)[number];

/** The passes of an export: `scan` finds the experiment's samples, `write` writes them. */
export type ExportStage = 'scan' | 'write';

/** What {@link exportExperiment} exports, from where, to where. */
export interface ExportOptions {
  /** NATS server URL, for example `nats://127.0.0.1:14222`. Exactly one of `natsUrl` and `connection`. */
  natsUrl?: string;
  /** An open NATS connection to use instead of `natsUrl`; the export leaves it open. */
  connection?: NatsConnection;
  /**
   * Credentials, TLS and inbox prefix for the connection to `natsUrl`: the
   * `connectionOptions` of `resolveNatsAuthOptions`. Default none (no authentication).
   */
  natsOptions?: NatsConnectionSecurity;
  /** The experiment to export; a NATS subject token (no `.`, `*`, `>` or whitespace). Required. */
  experimentId: string;
  /** File format: `csv` (RFC 4180), `parquet` or `jsonl`. Default `csv`. */
  format?: ExportFormat;
  /**
   * `wide` (one row per host and time, a column per metric), `long` (one row per host, time
   * and measurement, with interval start and end) or `ramlog` (the seed RAM log, one file
   * per host). Default `wide`.
   */
  layout?: ExportLayout;
  /** Directory the files are written to; created when missing; files of the same names are replaced. Required. */
  outDir: string;
  /**
   * Called as messages are replayed: `done` of `total` messages of the current `stage`
   * (`scan`, then `write`). Default none.
   */
  onProgress?: (done: number, total: number, stage: ExportStage) => void;
  /** Rows per Parquet row group. Default 65536; an integer in [1, 10000000]. */
  parquetRowGroupRows?: number;
  /**
   * Bytes (estimated) that the open files may buffer together before they are written out.
   * Default 64 MiB; an integer in [65536, 4294967296].
   */
  maxBufferedBytes?: number;
}

/** {@link ExportOptions} with defaults applied and validated. */
export interface ResolvedExportOptions {
  readonly source: NatsSource;
  readonly experimentId: string;
  readonly format: ExportFormat;
  readonly layout: ExportLayout;
  readonly outDir: string;
  readonly onProgress: (done: number, total: number, stage: ExportStage) => void;
  readonly parquetRowGroupRows: number;
  readonly maxBufferedBytes: number;
}

const KEYS = [
  'natsUrl',
  'connection',
  'natsOptions',
  'experimentId',
  'format',
  'layout',
  'outDir',
  'onProgress',
  'parquetRowGroupRows',
  'maxBufferedBytes',
];

/** Applies defaults and validates; throws {@link InvalidOptionsError} naming the field, the range and the value. */
export function resolveExportOptions(raw: ExportOptions): ResolvedExportOptions {
  const obj = checkObject(raw, 'options');
  for (const key of Object.keys(obj)) {
    if (!KEYS.includes(key)) {
      throw new InvalidOptionsError(
        key,
        `unknown export option ${JSON.stringify(key)} (known: ${KEYS.join(', ')})`,
      );
    }
  }
  const source = resolveNatsSource(obj);
  const experimentId = resolveExperimentIdOption(obj.experimentId);
  const onProgress = obj.onProgress ?? (() => {});
  if (typeof onProgress !== 'function') {
    throw new InvalidOptionsError(
      'onProgress',
      `onProgress must be a function, got ${describeValue(onProgress)}`,
    );
  }
  return {
    source,
    experimentId,
    format: checkChoice(obj.format, 'csv', 'format', EXPORT_FORMATS),
    layout: checkChoice(obj.layout, 'wide', 'layout', EXPORT_LAYOUTS),
    outDir: checkNonEmptyString(obj.outDir, 'outDir'),
    onProgress: onProgress as ResolvedExportOptions['onProgress'],
    parquetRowGroupRows: checkInteger(obj.parquetRowGroupRows, 65_536, 'parquetRowGroupRows', 1, 10_000_000),
    maxBufferedBytes: checkInteger(
      obj.maxBufferedBytes,
      64 * 1024 * 1024,
      'maxBufferedBytes',
      65_536,
      2 ** 32,
    ),
  };
}
