import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isInputFileError } from '@faultline/detector';
import { tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { scoreCommand } from './score-command.js';
import { isUsageError } from './usage-error.js';
import { commandHarness, type CommandHarness } from '../../test/command-harness.js';

function cli(): CommandHarness {
  return commandHarness(scoreCommand);
}

/** A RAM log: idle/normal cycles around 300–700 MB and one 5-sample RAM spike at 2.3 GB. */
function ramLog(): string {
  const lines = ['timestamp,state,event_type,event_details,ram_usage_mb'];
  const at = (s: number): string =>
    `2025-05-20 10:${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  let s = 0;
  for (let cycle = 0; cycle < 8; cycle++) {
    for (let k = 0; k < 4; k++) lines.push(`${at(++s)},idle,SAMPLED_STATE,,${300 + ((k * 7) % 5)}`);
    const spike = cycle === 5;
    const state = spike ? 'working_anomaly_ram_spike' : 'working_normal';
    lines.push(
      `${at(s)},${state},WORKLOAD_START,"type:${spike ? 'anomaly_ram_spike' : 'normal'},size:${spike ? 6000 : 3000}",`,
    );
    for (let k = 0; k < (spike ? 5 : 4); k++) {
      lines.push(`${at(++s)},${state},SAMPLED_STATE,,${spike ? 2300 + k : 700 + ((k * 13) % 30)}`);
    }
  }
  return lines.join('\n') + '\n';
}

describe('faultline score', () => {
  it('rejects bad flag values as usage errors that name the flag', async () => {
    const usage = async (argv: string[]): Promise<string> => {
      const err = await cli().run(['x.csv', ...argv]);
      expect(isUsageError(err)).toBe(true);
      return (err as Error).message;
    };
    expect(await usage(['--model', 'prophet'])).toBe(
      '--model must be one of iforest, bands, fused, got "prophet"',
    );
    expect(await usage(['--format', 'xlsx'])).toBe(
      '--format must be one of auto, ramlog, prmon, series, wide, got "xlsx"',
    );
    expect(await usage(['--contamination', '0.7'])).toBe(
      '--contamination must be \'auto\' or a fraction in (0, 0.5], got "0.7"',
    );
    expect(await usage(['--seed', '-3'])).toBe('--seed must be an integer in [0, 4294967295], got "-3"');
    expect(await usage(['--output', 'yaml'])).toBe('--output must be one of table, json, got "yaml"');
    expect(await usage(['--interval-width', '1'])).toBe(
      '--interval-width must be a number in (0, 1), got "1"',
    );
  });

  it('fails on a bad file with one message naming the file, line and column', async () => {
    await using dir = tempDir();
    const file = join(dir.path, 'cpu.csv');
    writeFileSync(file, 'timestamp,value\n2025-06-01 00:00:00,0.5\n2025-06-01 00:05:00,high\n');
    const err = await cli().run([file, '--out', join(dir.path, 'out')]);
    expect(isInputFileError(err)).toBe(true);
    expect((err as Error).message).toBe(`${file}:3: column "value": expected a number, got "high"`);
    expect(existsSync(join(dir.path, 'out'))).toBe(false);
  });

  it('prints the anomalous records, the counts per state and the evaluation of a RAM log, and writes its files', async () => {
    await using dir = tempDir();
    const file = join(dir.path, 'ram.csv');
    writeFileSync(file, ramLog());
    const out = join(dir.path, 'out');
    const c = cli();
    expect(await c.run([file, '--model', 'iforest', '--out', out])).toBeUndefined();
    const text = c.out.join('');
    expect(text).toContain(`scored ${file} (ramlog, 65 records) with iforest`);
    // Every spike sample is listed, with the RAM that stood out.
    for (let k = 0; k < 5; k++) expect(text).toMatch(new RegExp(`ram_usage_mb=${2300 + k} \\(z \\d`));
    expect(text).toMatch(/working_anomaly_ram_spike\s+5\s+5\s+100\.0%/);
    expect(text).toContain('evaluation against states');
    expect(text).toMatch(/event-wise\s+precision [0-9.]+\s+recall 1\.000/);
    const scores = readFileSync(join(out, 'scores.csv'), 'utf8').trimEnd().split('\n');
    expect(scores[0]).toBe('timestamp,score,is_anomaly');
    expect(scores).toHaveLength(66);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  });

  it('prints JSON with --output json', async () => {
    await using dir = tempDir();
    const file = join(dir.path, 'ram.csv');
    writeFileSync(file, ramLog());
    const c = cli();
    await c.run([
      file,
      '--model',
      'iforest',
      '--contamination',
      '0.05',
      '--out',
      join(dir.path, 'o'),
      '--output',
      'json',
    ]);
    const json = JSON.parse(c.out.join('')) as {
      summary: { rows: number; anomalies: number };
      anomalousRecords: Array<{ context: { state: string } }>;
      evaluation: { eventwise: { recall: number } };
    };
    expect(json.summary.rows).toBe(65);
    // 5% of 65 records: the forest's threshold leaves the 4 highest scores above it, all spike samples.
    expect(json.summary.anomalies).toBe(4);
    expect(json.anomalousRecords.every((r) => r.context.state === 'working_anomaly_ram_spike')).toBe(true);
    expect(json.evaluation.eventwise.recall).toBe(1);
  });
});
