import { Command } from 'commander';
import {
  EXPORT_FORMATS,
  EXPORT_LAYOUTS,
  exportExperiment,
  type ExportedFile,
  type ExportFormat,
  type ExportLayout,
  type ExportManifest,
  type ExportStage,
} from '@faultline/detector';
import type { NatsAuthFlagValues } from '@faultline/protocol';
import type { CliIo } from './io.js';
import { addNatsAuthOptions, resolveCliNatsAuth } from './nats-flags.js';
import { renderTable } from './output.js';
import { UsageError } from './usage-error.js';
import { stageProgressBar } from './stage-progress.js';

/** The local dev stack's NATS (`faultline dev up`). */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:14222';

/** RAM log files listed one by one up to this many; more are summed up in one line. */
const MAX_LISTED_LOGS = 10;

interface ExportFlags extends NatsAuthFlagValues {
  format: ExportFormat;
  layout: ExportLayout;
  out: string;
  nats?: string;
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

/** The summary `faultline export` prints: the files with their row counts, then the counts of the manifest. */
export function renderExportSummary(m: ExportManifest, outDir: string): string {
  const logs = m.files.filter((f) => f.kind === 'ramlog');
  const listed: Array<Pick<ExportedFile, 'path' | 'kind' | 'rows'>> =
    logs.length > MAX_LISTED_LOGS
      ? [
          {
            path: `ramlog/*.${m.format} (${logs.length} hosts)`,
            kind: 'ramlog',
            rows: logs.reduce((n, f) => n + f.rows, 0),
          },
          ...m.files.filter((f) => f.kind !== 'ramlog'),
        ]
      : [...m.files];
  const table = renderTable(
    [...listed, { path: 'manifest.json', kind: 'manifest', rows: -1 }],
    [
      { header: 'file', value: (f) => f.path },
      { header: 'kind', value: (f) => f.kind },
      { header: 'rows', value: (f) => (f.rows < 0 ? '-' : String(f.rows)) },
    ],
  );
  return (
    `exported experiment ${m.experimentId} (${m.layout}, ${m.format}) to ${outDir}\n` +
    table +
    `${m.samples} samples from ${m.hosts} hosts, ${m.truthWindows} truth windows; ` +
    `skipped ${m.skippedSamples} samples of other experiments or unlabelled, ${m.malformedMessages} malformed messages\n`
  );
}

/** `faultline export EXP --format csv|parquet|jsonl --layout wide|long|ramlog --out DIR [--nats URL]`. */
export function exportCommand(io: CliIo): Command {
  const cmd = new Command('export')
    .description("replay an experiment's samples and truth windows from NATS into labelled dataset files")
    .argument('<experiment>', 'experiment id')
    .option(
      '--format <format>',
      `file format: ${EXPORT_FORMATS.join(' | ')}`,
      parseChoice('--format', EXPORT_FORMATS),
      'csv',
    )
    .option(
      '--layout <layout>',
      'wide (a row per host and time, a column per metric) | long (a row per measurement) | ramlog (the seed RAM log, a file per host)',
      parseChoice('--layout', EXPORT_LAYOUTS),
      'wide',
    )
    .requiredOption('--out <dir>', 'output directory, created when missing')
    .option('--nats <url>', `NATS server URL (default $FAULTLINE_NATS_URL or ${DEFAULT_NATS_URL})`)
    .action(async (experimentId: string, flags: ExportFlags) => {
      if (!/^[^\s.*>]+$/.test(experimentId)) {
        throw new UsageError(
          `experiment id must not contain '.', '*', '>' or whitespace, got ${JSON.stringify(experimentId)}`,
        );
      }
      const natsUrl = flags.nats ?? process.env.FAULTLINE_NATS_URL ?? DEFAULT_NATS_URL;
      const auth = resolveCliNatsAuth(flags, 'cli');
      const bar = process.stderr.isTTY === true ? stageProgressBar<ExportStage>() : undefined;
      let manifest: ExportManifest;
      try {
        manifest = await exportExperiment({
          natsUrl,
          natsOptions: auth.connectionOptions,
          experimentId,
          format: flags.format,
          layout: flags.layout,
          outDir: flags.out,
          onProgress: bar?.update,
        });
      } finally {
        bar?.stop();
      }
      io.out(renderExportSummary(manifest, flags.out));
      if (manifest.malformedMessages > 0) {
        io.err(
          `warning: ${manifest.malformedMessages} malformed messages were skipped (see malformed in ${flags.out}/manifest.json)\n`,
        );
      }
    });
  return addNatsAuthOptions(cmd);
}
