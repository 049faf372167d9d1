import { Command } from 'commander';
import {
  buildReportDocument,
  collectLiveReportInput,
  formatDuration,
  formatFixed,
  writeReport,
  type LiveReportStage,
  type ReportDocument,
  type ReportSummaryRow,
} from '@faultline/detector';
import { DEFAULT_NATS_URL } from './export-command.js';
import type { NatsAuthFlagValues } from '@faultline/protocol';
import type { CliIo } from './io.js';
import { addNatsAuthOptions, resolveCliNatsAuth } from './nats-flags.js';
import { renderTable } from './output.js';
import { UsageError } from './usage-error.js';
import { stageProgressBar } from './stage-progress.js';

interface ReportFlags extends NatsAuthFlagValues {
  out: string;
  nats?: string;
}

const count = (n: number, what: string): string =>
  `${n.toLocaleString('en-US')} ${what}${n === 1 ? '' : 's'}`;

/**
 * What `faultline report` prints: the counts, the summary table (per anomaly type: injected,
 * detected, median delay, event-wise precision and recall; then all types), the headline
 * scores, and the path of report.html.
 */
export function renderReportSummary(doc: ReportDocument, htmlPath: string): string {
  const o = doc.overview;
  let text =
    `report of ${doc.title}: ${count(o.hosts, 'host')}, ${count(o.samples, 'sample')} ` +
    `(${o.scoredSamples.toLocaleString('en-US')} scored, ${o.flaggedSamples.toLocaleString('en-US')} flagged), ` +
    `${count(o.truthWindows, 'injection')}, ${count(o.events, 'event')}\n`;
  if (doc.summary === null || doc.metrics === null) {
    text += 'no ground truth: nothing to grade against\n';
  } else {
    const rows: ReportSummaryRow[] = [...doc.summary.rows, doc.summary.total];
    text += renderTable(rows, [
      { header: 'type', value: (r) => r.anomalyType },
      { header: 'injected', value: (r) => String(r.injected) },
      { header: 'detected', value: (r) => String(r.detected) },
      { header: 'median delay', value: (r) => formatDuration(r.medianDelayMs) },
      { header: 'precision', value: (r) => formatFixed(r.precision) },
      { header: 'recall', value: (r) => formatFixed(r.recall) },
    ]);
    const m = doc.metrics.overall;
    text +=
      `precision and recall are event-wise; point-adjusted F1 ${formatFixed(m.pointAdjusted.f1)}, ` +
      `ROC-AUC ${formatFixed(m.rocAuc)}, PR-AUC ${formatFixed(m.prAuc)}\n`;
  }
  return text + `report: ${htmlPath}\n`;
}

/** `faultline report EXP --out DIR [--nats URL]`. */
export function reportCommand(io: CliIo): Command {
  const cmd = new Command('report')
    .description(
      'grade the detector on an experiment against its ground truth and write report.html, report.json and plots',
    )
    .argument('<experiment>', 'experiment id')
    .requiredOption('--out <dir>', 'output directory, created when missing')
    .option('--nats <url>', `NATS server URL (default $FAULTLINE_NATS_URL or ${DEFAULT_NATS_URL})`)
    .action(async (experimentId: string, flags: ReportFlags) => {
      if (!/^[^\s.*>]+$/.test(experimentId)) {
        throw new UsageError(
          `experiment id must not contain '.', '*', '>' or whitespace, got ${JSON.stringify(experimentId)}`,
        );
      }
      const natsUrl = flags.nats ?? process.env.FAULTLINE_NATS_URL ?? DEFAULT_NATS_URL;
      const auth = resolveCliNatsAuth(flags, 'cli');
      const bar = process.stderr.isTTY === true ? stageProgressBar<LiveReportStage>() : undefined;
      let malformed = 0;
      let doc: ReportDocument;
      try {
        const input = await collectLiveReportInput({
          natsUrl,
          natsOptions: auth.connectionOptions,
          experimentId,
          onProgress: bar?.update,
          onMalformed: () => malformed++,
        });
        doc = buildReportDocument(input);
      } finally {
        bar?.stop();
      }
      const written = await writeReport(doc, flags.out);
      io.out(renderReportSummary(doc, written.htmlPath));
      if (malformed > 0) io.err(`warning: ${malformed} malformed messages were skipped\n`);
    });
  return addNatsAuthOptions(cmd);
}
