import { Command } from 'commander';
import { Severity } from '@faultline/protocol';
import {
  OFFLINE_FORMATS,
  OFFLINE_MODELS,
  defaultScoreOutDir,
  isInvalidOptionsError,
  resolveOfflineScoreOptions,
  scoreOffline,
  writeScoreOutputs,
  type EvaluationReport,
  type OfflineFormat,
  type OfflineModel,
  type OfflineRecordScore,
  type OfflineScoreOptions,
  type OfflineScoreResult,
  type PrmonSummary,
  type ScoreOutputs,
} from '@faultline/detector';
import type { CliIo } from './io.js';
import { jsonReplacer, renderTable } from './output.js';
import { UsageError } from './usage-error.js';

/** `--output` of `faultline score`. */
const SCORE_OUTPUTS = ['table', 'json'] as const;
type ScoreOutput = (typeof SCORE_OUTPUTS)[number];

/** Anomalous records and events listed in the table output by default. */
const DEFAULT_LIMIT = 50;

interface ScoreFlags {
  labels?: string;
  model: OfflineModel;
  format: OfflineFormat | 'auto';
  contamination?: number | 'auto';
  seed?: number;
  thresholdMultiplier?: number;
  intervalWidth?: number;
  out?: string;
  output: ScoreOutput;
  limit: number;
}

/** A commander argument parser for one of `choices` that names the flag on error. */
function parseChoice<T extends string>(flag: string, choices: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new UsageError(`${flag} must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
    }
    return value as T;
  };
}

/** A commander parser of a number in (min, max] (or [min, max] with `closedMin`). */
function parseNumberIn(
  flag: string,
  min: number,
  max: number,
  opts: { closedMin?: boolean; maxOpen?: boolean } = {},
): (value: string) => number {
  return (value: string) => {
    const n = value.trim() === '' ? NaN : Number(value);
    const aboveMin = opts.closedMin === true ? n >= min : n > min;
    const belowMax = opts.maxOpen === true ? n < max : n <= max;
    if (!Number.isFinite(n) || !aboveMin || !belowMax) {
      const range = `${opts.closedMin === true ? '[' : '('}${min}, ${max}${opts.maxOpen === true ? ')' : ']'}`;
      throw new UsageError(`${flag} must be a number in ${range}, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

function parseContamination(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  const n = value.trim() === '' ? NaN : Number(value);
  if (!(n > 0 && n <= 0.5)) {
    throw new UsageError(
      `--contamination must be 'auto' or a fraction in (0, 0.5], got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

function parseInteger(flag: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = value.trim() === '' ? NaN : Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new UsageError(`${flag} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

/** `1.234e+6` for large and tiny values, else up to four significant digits. */
function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return String(Number(v.toPrecision(4)));
}

const percent = (share: number): string => `${(share * 100).toFixed(1)}%`;
const fixed = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : '-');

function severityName(s: Severity): string {
  return (Severity[s] ?? String(s)).replace(/^SEVERITY_/, '');
}

function standoutText(r: OfflineRecordScore): string {
  return r.standouts
    .map(
      (s) =>
        `${s.feature}=${formatValue(s.value)} (z ${s.z.toFixed(1)}${s.outsideBand ? ', out of band' : ''})`,
    )
    .join(', ');
}

/** `42.0 s`, `25.0 min`, `3.2 h`; `-` when undefined (no window detected). */
function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const s = ms / 1000;
  if (Math.abs(s) < 120) return `${s.toFixed(1)} s`;
  if (Math.abs(s) < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** One line on prmon's JSON summary: wall time, peak memory and threads, average CPU. */
export function renderPrmonSummary(s: PrmonSummary): string {
  const parts: string[] = [];
  const max = s.max;
  if (max['wtime'] !== undefined) parts.push(`wall time ${max['wtime']} s`);
  for (const key of ['pss', 'rss', 'vmem', 'swap']) {
    if (max[key] !== undefined) parts.push(`max ${key} ${formatValue(max[key])} kB`);
  }
  if (max['utime'] !== undefined) parts.push(`utime ${max['utime']} s`);
  if (max['stime'] !== undefined) parts.push(`stime ${max['stime']} s`);
  for (const key of ['nprocs', 'nthreads']) if (max[key] !== undefined) parts.push(`max ${key} ${max[key]}`);
  for (const key of ['read_bytes', 'write_bytes']) {
    if (s.avg[key] !== undefined) parts.push(`avg ${key} ${formatValue(s.avg[key])} B/s`);
  }
  const version = s.version === undefined ? '' : `, prmon ${s.version}`;
  return `prmon summary (${s.file}${version}): ${parts.join('; ')}\n`;
}

function renderEvaluation(e: EvaluationReport, source: string): string {
  const lines = [
    `evaluation against ${source} (${e.positivePoints} of ${e.points} records inside truth windows):`,
  ];
  const p = e.pointwise;
  lines.push(
    `  point-wise      precision ${fixed(p.precision)}  recall ${fixed(p.recall)}  F1 ${fixed(p.f1)}`,
  );
  lines.push(`  point-adjusted  F1 ${fixed(e.pointAdjusted.f1)}`);
  const ev = e.eventwise;
  lines.push(
    `  event-wise      precision ${fixed(ev.precision)}  recall ${fixed(ev.recall)}  F1 ${fixed(ev.f1)}` +
      `  (${ev.detectedInjections}/${ev.injections} windows found, ${ev.falsePositiveEvents} false events)`,
  );
  lines.push(`  ROC-AUC ${fixed(e.rocAuc)}  PR-AUC ${fixed(e.prAuc)}  delay p50 ${duration(e.delay.p50Ms)}`);
  const types = Object.keys(e.byType);
  if (types.length > 1) {
    for (const t of types) {
      const m = e.byType[t]!;
      lines.push(
        `  ${t}: event recall ${fixed(m.eventwise.recall)}, point recall ${fixed(m.pointwise.recall)}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

/** What `faultline score` prints with `--output table`. */
export function renderScoreTable(result: OfflineScoreResult, outputs: ScoreOutputs, limit: number): string {
  const multiHost = result.hosts.length > 1;
  const s = result.summary;
  let text =
    `scored ${result.file} (${result.format}, ${s.rows} records${multiHost ? `, ${result.hosts.length} hosts` : ''}) ` +
    `with ${result.options.model}: anomalous when score ${result.options.model === 'fused' ? '>=' : '>'} ${formatValue(result.threshold)}\n`;
  if (result.prmonSummary !== undefined) text += renderPrmonSummary(result.prmonSummary);
  const anomalous = result.records.filter((r) => r.isAnomaly);
  const shown = limit === 0 ? anomalous : anomalous.slice(0, limit);
  if (anomalous.length > 0) {
    const contextKey = s.groupBy;
    text +=
      '\n' +
      renderTable(shown, [
        { header: 'time', value: (r) => new Date(r.timeMs).toISOString() },
        ...(multiHost ? [{ header: 'host', value: (r: OfflineRecordScore) => r.hostId }] : []),
        { header: 'line', value: (r) => String(r.line) },
        { header: 'score', value: (r) => fixed(r.score) },
        ...(contextKey === undefined
          ? []
          : [{ header: contextKey, value: (r: OfflineRecordScore) => r.context[contextKey] ?? '' }]),
        { header: 'stood out', value: standoutText },
      ]);
    if (shown.length < anomalous.length) {
      text += `… and ${anomalous.length - shown.length} more anomalous records (all in ${outputs.scoresPath})\n`;
    }
  }
  text += `\n${s.rows} records, ${s.anomalies} anomalous (${percent(s.share)}), ${s.events} events\n`;
  if (s.groupBy !== undefined && s.groups.length > 0) {
    text += renderTable(s.groups, [
      { header: s.groupBy, value: (g) => g.value || '(none)' },
      { header: 'rows', value: (g) => String(g.rows) },
      { header: 'anomalies', value: (g) => String(g.anomalies) },
      { header: 'share', value: (g) => percent(g.share) },
      { header: 'mean score', value: (g) => fixed(g.meanScore) },
    ]);
  }
  if (result.events.length > 0) {
    const events = limit === 0 ? result.events : result.events.slice(0, limit);
    text +=
      '\n' +
      renderTable(events, [
        { header: 'event start', value: (e) => new Date(e.startMs).toISOString() },
        { header: 'end', value: (e) => new Date(e.endMs).toISOString() },
        ...(multiHost ? [{ header: 'host', value: (e: { hostId: string }) => e.hostId }] : []),
        { header: 'peak', value: (e) => fixed(e.peakScore) },
        { header: 'severity', value: (e) => severityName(e.severity) },
        { header: 'metrics', value: (e) => e.topMetrics.join(', ') },
      ]);
    if (events.length < result.events.length)
      text += `… and ${result.events.length - events.length} more events\n`;
  }
  if (result.evaluation !== undefined)
    text += '\n' + renderEvaluation(result.evaluation, result.truth.source);
  else text += '\nno truth windows: pass --labels WINDOWS.json to grade the detection\n';
  for (const note of result.notes) text += `note: ${note}\n`;
  text += `\nwrote ${outputs.scoresPath} and ${outputs.reportPath}\n`;
  return text;
}

/** What `faultline score` prints with `--output json`. */
export function scoreJson(result: OfflineScoreResult, outputs: ScoreOutputs): unknown {
  return {
    file: result.file,
    format: result.format,
    model: result.options.model,
    options: result.options,
    threshold: result.threshold,
    summary: result.summary,
    hosts: result.hosts,
    anomalousRecords: result.records
      .filter((r) => r.isAnomaly)
      .map((r) => ({ ...r, time: new Date(r.timeMs).toISOString() })),
    events: result.events.map((e) => ({ ...e, severity: severityName(e.severity) })),
    truth: result.truth,
    evaluation: result.evaluation,
    prmonSummary: result.prmonSummary,
    notes: result.notes,
    outputs,
  };
}

/**
 * `faultline score FILE [--labels WINDOWS.json] [--model iforest|bands|fused]
 * [--format auto|ramlog|prmon|series|wide] [--contamination N] [--seed N] [--out DIR]
 * [--output table|json]`: offline detection on a file (docs/score.md).
 */
export function scoreCommand(io: CliIo): Command {
  return new Command('score')
    .description(
      'score a file offline (seed RAM log, prmon output, timestamp,value series, wide CSV): print the anomalous records, write scores.csv and the report',
    )
    .argument('<file>', 'the data file')
    .option(
      '--labels <windows.json>',
      'label windows (NAB layout: file name → [[start, end], …]) to grade against',
    )
    .option(
      '--model <model>',
      `${OFFLINE_MODELS.join(' | ')}`,
      parseChoice('--model', OFFLINE_MODELS),
      'fused',
    )
    .option(
      '--format <format>',
      `auto | ${OFFLINE_FORMATS.join(' | ')}`,
      parseChoice('--format', ['auto', ...OFFLINE_FORMATS] as const),
      'auto',
    )
    .option(
      '--contamination <n>',
      "expected outlier fraction in (0, 0.5], or 'auto' (default 0.1)",
      parseContamination,
    )
    .option('--seed <n>', 'seed of the Isolation Forest (default 0)', parseInteger('--seed', 0, 0xffffffff))
    .option(
      '--threshold-multiplier <n>',
      'widening of the forecast bands (default 2)',
      parseNumberIn('--threshold-multiplier', 0, 100),
    )
    .option(
      '--interval-width <n>',
      'coverage of the bands’ prediction interval (default 0.95)',
      parseNumberIn('--interval-width', 0, 1, { maxOpen: true }),
    )
    .option('--out <dir>', 'output directory (default ./score-<file name>)')
    .option('--output <format>', SCORE_OUTPUTS.join(' | '), parseChoice('--output', SCORE_OUTPUTS), 'table')
    .option(
      '--limit <n>',
      `anomalous records and events listed at most, 0 for all (default ${DEFAULT_LIMIT})`,
      parseInteger('--limit', 0, Number.MAX_SAFE_INTEGER),
      DEFAULT_LIMIT,
    )
    .action(async (file: string, flags: ScoreFlags) => {
      const scoring: OfflineScoreOptions = { model: flags.model };
      if (flags.contamination !== undefined) scoring.contamination = flags.contamination;
      if (flags.seed !== undefined) scoring.seed = flags.seed;
      if (flags.thresholdMultiplier !== undefined) scoring.thresholdMultiplier = flags.thresholdMultiplier;
      if (flags.intervalWidth !== undefined) scoring.intervalWidth = flags.intervalWidth;
      try {
        resolveOfflineScoreOptions(scoring);
      } catch (err) {
        if (isInvalidOptionsError(err)) throw new UsageError(err.message);
        throw err;
      }
      const result = await scoreOffline({
        ...scoring,
        file,
        format: flags.format,
        ...(flags.labels === undefined ? {} : { labelsFile: flags.labels }),
      });
      const outputs = await writeScoreOutputs(result, flags.out ?? defaultScoreOutDir(file));
      io.out(
        flags.output === 'json'
          ? JSON.stringify(scoreJson(result, outputs), jsonReplacer, 2) + '\n'
          : renderScoreTable(result, outputs, flags.limit),
      );
    });
}
