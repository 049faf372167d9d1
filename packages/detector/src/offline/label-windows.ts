/**
 * Label windows for offline scoring, in the NAB layout: a JSON object mapping data file names
 * to lists of `[start, end]` windows,
 *
 * ```json
 * { "realKnownCause/nyc_taxi.csv": [["2014-11-01 19:00:00.000000", "2014-11-02 12:30:00.000000"]] }
 * ```
 *
 * or, for one file, the list alone. Times are ISO 8601 strings (UTC without a zone) or epoch
 * seconds/ms, as in the data files. Pure.
 */
import { InputFileError } from '../errors.js';
import type { TruthSpan } from '../evaluation.js';
import { parseJsonFile } from './prmon-format.js';
import { epochToMs, parseTimestamp } from './timestamps.js';

/** The anomaly type given to windows from a labels file. */
export const LABELLED_ANOMALY_TYPE = 'labelled';

/** A window of a labels file, in ms since the epoch. */
export interface LabelWindow {
  readonly startMs: number;
  readonly endMs: number;
}

const baseName = (p: string): string => p.replace(/\\/g, '/').split('/').pop() ?? p;
const normal = (p: string): string => p.replace(/\\/g, '/').replace(/^\.\//, '');

/**
 * The key of `map` that names `dataFile`: the same path, else the key that `dataFile` ends
 * with (`data/realKnownCause/nyc_taxi.csv` for `realKnownCause/nyc_taxi.csv`), else the one
 * key with the same base name. Undefined when none does; throws when two keys share the base
 * name and neither matches better.
 */
export function matchLabelKey(
  keys: readonly string[],
  dataFile: string,
  labelsFile: string,
): string | undefined {
  const data = normal(dataFile);
  const exact = keys.find((k) => normal(k) === data);
  if (exact !== undefined) return exact;
  const suffix = keys.filter((k) => data.endsWith(`/${normal(k)}`));
  if (suffix.length > 0) return suffix.sort((a, b) => b.length - a.length)[0];
  const byName = keys.filter((k) => baseName(k) === baseName(data));
  if (byName.length > 1) {
    throw new InputFileError(
      labelsFile,
      0,
      '',
      `several keys have the base name of ${dataFile} (${byName.join(', ')}): name the data file by the path of one`,
    );
  }
  return byName[0];
}

/**
 * Reads the windows that a labels file gives for `dataFile`. Throws {@link InputFileError}
 * naming the labels file (and the line of the offending value) for bad JSON, a file it has no
 * windows for, a window that is not a pair, an unparseable time, or an end before its start.
 */
export function readLabelWindows(labelsFile: string, text: string, dataFile: string): LabelWindow[] {
  const json = parseJsonFile(labelsFile, text);
  let list: unknown;
  if (Array.isArray(json)) {
    list = json;
  } else if (typeof json === 'object' && json !== null) {
    const keys = Object.keys(json);
    const key = matchLabelKey(keys, dataFile, labelsFile);
    if (key === undefined) {
      const shown = keys.slice(0, 5).join(', ') + (keys.length > 5 ? `, … (${keys.length} keys)` : '');
      throw new InputFileError(
        labelsFile,
        0,
        '',
        `has no windows for ${dataFile} (keys: ${shown || 'none'})`,
      );
    }
    list = (json as Record<string, unknown>)[key];
  } else {
    throw new InputFileError(
      labelsFile,
      0,
      '',
      'expected a JSON object of file name → [[start, end], …], or a list of windows',
    );
  }
  if (!Array.isArray(list)) {
    throw new InputFileError(
      labelsFile,
      0,
      '',
      `the windows of ${dataFile} must be a list of [start, end] pairs`,
    );
  }
  const lineOf = (value: unknown): number => {
    const needle = typeof value === 'string' ? JSON.stringify(value) : String(value);
    const at = text.indexOf(needle);
    return at < 0 ? 0 : text.slice(0, at).split('\n').length;
  };
  const time = (value: unknown, what: string): number => {
    const ms =
      typeof value === 'number' && Number.isFinite(value)
        ? epochToMs(value)
        : typeof value === 'string'
          ? parseTimestamp(value)
          : undefined;
    if (ms === undefined) {
      throw new InputFileError(
        labelsFile,
        lineOf(value),
        '',
        `cannot read the ${what} ${JSON.stringify(value)} as a timestamp (expected an ISO 8601 date-time or epoch seconds/ms)`,
      );
    }
    return ms;
  };
  return list.map((w: unknown, i): LabelWindow => {
    if (!Array.isArray(w) || w.length !== 2) {
      throw new InputFileError(
        labelsFile,
        lineOf(Array.isArray(w) ? w[0] : w),
        '',
        `window ${i + 1} of ${dataFile} must be a [start, end] pair, got ${JSON.stringify(w)}`,
      );
    }
    const startMs = time(w[0], `start of window ${i + 1}`);
    const endMs = time(w[1], `end of window ${i + 1}`);
    if (endMs < startMs) {
      throw new InputFileError(
        labelsFile,
        lineOf(w[1]),
        '',
        `window ${i + 1} of ${dataFile} ends before it starts`,
      );
    }
    return { startMs, endMs };
  });
}

/** The truth spans of label windows for every host of a file. */
export function labelTruth(windows: readonly LabelWindow[], hostIds: readonly string[]): TruthSpan[] {
  return hostIds.flatMap((hostId) =>
    windows.map((w, i): TruthSpan => ({
      hostId,
      injectionId: `window-${i + 1}`,
      anomalyType: LABELLED_ANOMALY_TYPE,
      startMs: w.startMs,
      endMs: w.endMs,
    })),
  );
}
