import type { ExportManifest } from '@faultline/detector';
import { startNats } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { exportCommand, renderExportSummary } from './export-command.js';
import { isUsageError } from './usage-error.js';
import { commandHarness, type CommandHarness } from '../../test/command-harness.js';

function cli(): CommandHarness {
  return commandHarness(exportCommand);
}

async function usageError(argv: string[]): Promise<string> {
  const err = await cli().run(argv);
  expect(isUsageError(err)).toBe(true);
  return (err as Error).message;
}

const manifest = (files: ExportManifest['files']): ExportManifest => ({
  experimentId: 'exp-1',
  layout: 'ramlog',
  format: 'csv',
  files,
  samples: 600,
  hosts: 3,
  truthWindows: 6,
  metricKeys: [],
  skippedSamples: 70,
  malformedMessages: 2,
  malformed: [],
  sampleSeqRange: { first: 3, last: 62 },
});

describe('faultline export', () => {
  it('rejects bad flag values and experiment ids as usage errors that name them', async () => {
    expect(await usageError(['exp-1', '--out', 'x', '--format', 'xlsx'])).toBe(
      '--format must be one of csv, parquet, jsonl, got "xlsx"',
    );
    expect(await usageError(['exp-1', '--out', 'x', '--layout', 'tall'])).toBe(
      '--layout must be one of wide, long, ramlog, got "tall"',
    );
    expect(await usageError(['exp.1', '--out', 'x'])).toContain('"exp.1"');
  });

  it('says which stream is missing on a NATS server without Faultline streams', async () => {
    await using nats = await startNats({ jetstream: true });
    const err = await cli().run(['exp-1', '--out', 'unused', '--nats', nats.url]);
    expect((err as Error).message).toContain('cannot read stream FL_SAMPLES');
    expect((err as Error).message).toContain('faultline dev up');
  });

  it('lists the files with their rows and sums up large RAM log sets', () => {
    const three = renderExportSummary(
      manifest([
        { path: 'ramlog/host-0.csv', kind: 'ramlog', rows: 241, hostId: 'host-0', samples: 200 },
        { path: 'truth.csv', kind: 'truth', rows: 6 },
      ]),
      'out',
    );
    expect(three).toBe(
      'exported experiment exp-1 (ramlog, csv) to out\n' +
        'FILE               KIND      ROWS\n' +
        'ramlog/host-0.csv  ramlog    241\n' +
        'truth.csv          truth     6\n' +
        'manifest.json      manifest  -\n' +
        '600 samples from 3 hosts, 6 truth windows; skipped 70 samples of other experiments or unlabelled, 2 malformed messages\n',
    );
    const many = renderExportSummary(
      manifest(
        Array.from({ length: 12 }, (_, i) => ({
          path: `ramlog/h${i}.csv`,
          kind: 'ramlog' as const,
          rows: 10,
        })),
      ),
      'out',
    );
    expect(many).toContain('ramlog/*.csv (12 hosts)  ramlog    120\n');
    expect(many).not.toContain('h0.csv');
  });
});
