/**
 * `faultline score FILE`, the library side: read a data file (and its labels or prmon summary),
 * score it ({@link scoreDataset}), and write `scores.csv` and the report. The thin I/O shell
 * around the pure readers and scorer.
 *
 * @example
 * ```ts
 * const result = await scoreOffline({ file: 'nyc_taxi.csv', labelsFile: 'combined_windows.json', model: 'fused' });
 * result.evaluation?.eventwise.recall;
 * await writeScoreOutputs(result, './score-nyc_taxi');
 * ```
 */
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, parse as parsePath } from 'node:path';

import { ExportOutputError, InputFileError } from '../errors.js';
import { buildReportDocument } from '../report/report-document.js';
import { writeReport } from '../report/report-writer.js';
import { labelTruth, readLabelWindows } from './label-windows.js';
import type { OfflineFormat } from './offline-dataset.js';
import { fileBaseName, parseOfflineData } from './offline-formats.js';
import {
  scoreDataset,
  type OfflineScoreOptions,
  type OfflineScoreResult,
  type OfflineTruth,
} from './offline-scoring.js';
import { readPrmonSummary } from './prmon-format.js';
import { formatIsoUtc } from './timestamps.js';

/** Options of {@link scoreOffline}: the files, plus the scoring options. */
export interface ScoreOfflineOptions extends OfflineScoreOptions {
  /** The data file. */
  file: string;
  /**
   * Label windows (NAB layout: file name → [[start, end], …]); they replace the file's own
   * labels. Default: none (the file's own labels, if any).
   */
  labelsFile?: string;
  /** The data file's layout, or `'auto'` (default) to detect it. */
  format?: OfflineFormat | 'auto';
  /**
   * prmon's JSON summary. Default: the file of the same name with `.json` beside a prmon file,
   * when there is one (a file there that is not a summary is then ignored, with a note).
   */
  summaryFile?: string;
  /** When the report is made, ms since the epoch. Default: now. */
  generatedAtMs?: number;
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new InputFileError(file, 0, '', `cannot read: ${reason}`, { cause: err });
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads and scores a file. Throws `InputFileError` (naming file, line and column) or
 * `UnknownInputFormatError` for a file it cannot read, `InvalidOptionsError` for bad options.
 */
export async function scoreOffline(options: ScoreOfflineOptions): Promise<OfflineScoreResult> {
  const { file, labelsFile, format, summaryFile, generatedAtMs, ...scoring } = options;
  const text = await readText(file);
  let dataset = parseOfflineData(text, { file, format: format ?? 'auto' });
  const notes: string[] = [];
  if (dataset.format === 'prmon') {
    if (summaryFile !== undefined) {
      dataset = { ...dataset, prmonSummary: readPrmonSummary(summaryFile, await readText(summaryFile)) };
    } else {
      const beside = join(dirname(file), `${parsePath(file).name}.json`);
      if (beside !== file && (await exists(beside))) {
        try {
          dataset = { ...dataset, prmonSummary: readPrmonSummary(beside, await readText(beside)) };
        } catch (err) {
          notes.push(`${beside} is not a prmon summary, ignored: ${(err as Error).message}`);
        }
      }
    }
  }
  let truth: OfflineTruth | undefined;
  if (labelsFile !== undefined) {
    const windows = readLabelWindows(labelsFile, await readText(labelsFile), file);
    truth = {
      source: `labels ${labelsFile}`,
      windows: labelTruth(
        windows,
        dataset.series.map((s) => s.hostId),
      ),
    };
  }
  const result = scoreDataset(dataset, scoring, { generatedAtMs: generatedAtMs ?? Date.now(), truth });
  return notes.length === 0 ? result : { ...result, notes: [...result.notes, ...notes] };
}

/**
 * `scores.csv`: a header `timestamp,score,is_anomaly` and one row per record, the time in ISO
 * 8601 UTC with milliseconds, the score as a full-precision number, the verdict as 1 or 0.
 * Files with several hosts get a `host_id` column after the time.
 */
export function renderScoresCsv(result: OfflineScoreResult): string {
  const multi = result.hosts.length > 1;
  const lines = [multi ? 'timestamp,host_id,score,is_anomaly' : 'timestamp,score,is_anomaly'];
  for (const r of result.records) {
    const host = multi ? `,${csvField(r.hostId)}` : '';
    lines.push(`${formatIsoUtc(r.timeMs)}${host},${r.score},${r.isAnomaly ? 1 : 0}`);
  }
  return lines.join('\n') + '\n';
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The default output directory of a data file: `./score-<base name without extension>`. */
export function defaultScoreOutDir(file: string): string {
  const base = fileBaseName(file);
  const dot = base.lastIndexOf('.');
  return `score-${dot > 0 ? base.slice(0, dot) : base}`;
}

/** The files {@link writeScoreOutputs} wrote. */
export interface ScoreOutputs {
  readonly outDir: string;
  /** Path of scores.csv. */
  readonly scoresPath: string;
  /** Path of report.html. */
  readonly reportPath: string;
  /** Paths of every file written, `scores.csv` first, then the report's. */
  readonly files: string[];
}

/**
 * Writes `outDir/scores.csv` and the report (`report.html`, `report.json`, `plots/`, the
 * same files as a live experiment's report) into `outDir`, created when missing. Throws
 * `ExportOutputError` or `ReportOutputError` naming a path that cannot be written.
 */
export async function writeScoreOutputs(result: OfflineScoreResult, outDir: string): Promise<ScoreOutputs> {
  const scoresPath = join(outDir, 'scores.csv');
  try {
    await mkdir(outDir, { recursive: true });
    await writeFile(scoresPath, renderScoresCsv(result));
  } catch (err) {
    throw new ExportOutputError(scoresPath, { cause: err });
  }
  const written = await writeReport(buildReportDocument(result.report), outDir);
  return {
    outDir,
    scoresPath,
    reportPath: written.htmlPath,
    files: [scoresPath, ...written.files.map((f) => join(outDir, f))],
  };
}
