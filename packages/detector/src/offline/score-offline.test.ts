import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { isInputFileError } from '../errors.js';
import { defaultScoreOutDir, renderScoresCsv, scoreOffline, writeScoreOutputs } from './score-offline.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const NOW = Date.UTC(2026, 10, 22);

describe('scoreOffline', () => {
  it('reads the prmon summary beside a prmon file', async () => {
    const r = await scoreOffline({ file: fixture('prmon-small.txt'), model: 'iforest', generatedAtMs: NOW });
    expect(r.format).toBe('prmon');
    expect(r.prmonSummary?.file).toBe(fixture('prmon-small.json'));
    expect(r.prmonSummary?.max['wtime']).toBe(12);
    expect(r.hosts[0]!.features).toContain('write_bytes_per_second');
  });

  it('grades against a labels file, and writes scores.csv with one row per record and the report', async () => {
    await using dir = tempDir();
    const r = await scoreOffline({
      file: fixture('nab-series.csv'),
      labelsFile: fixture('nab-labels.json'),
      model: 'fused',
      generatedAtMs: NOW,
    });
    expect(r.truth.source).toBe(`labels ${fixture('nab-labels.json')}`);
    expect(r.evaluation?.eventwise.recall).toBe(1);
    const out = await writeScoreOutputs(r, join(dir.path, 'out'));
    const csv = readFileSync(out.scoresPath, 'utf8').trimEnd().split('\n');
    expect(csv[0]).toBe('timestamp,score,is_anomaly');
    expect(csv).toHaveLength(1 + 400);
    expect(csv[1]).toMatch(/^2014-04-10T00:00:00\.000Z,[0-9.e-]+,[01]$/);
    // The planted anomaly (records 250–254) is flagged in the file.
    expect(csv.slice(251, 256).every((l) => l.endsWith(',1'))).toBe(true);
    const html = readFileSync(out.reportPath, 'utf8');
    expect(html).toContain('nab-series.csv');
    expect(out.files).toContain(join(dir.path, 'out', 'report.json'));
  });

  it('names the file of a missing data or labels file', async () => {
    const missing = join(fixture('.'), 'nope.csv');
    await expect(scoreOffline({ file: missing })).rejects.toThrow(`${missing}: cannot read: no such file`);
    await using dir = tempDir();
    const bad = join(dir.path, 'bad.json');
    writeFileSync(bad, '{"nab-series.csv": [["2014-04-10 20:25:00", 5]], }');
    const err = await scoreOffline({ file: fixture('nab-series.csv'), labelsFile: bad }).catch(
      (e: unknown) => e,
    );
    expect(isInputFileError(err)).toBe(true);
    expect((err as Error).message).toMatch(
      new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:1: invalid JSON`),
    );
  });

  it('writes a host_id column into scores.csv for files with several hosts', async () => {
    await using dir = tempDir();
    const file = join(dir.path, 'export.csv');
    const rows = ['time,host_id,host_load1'];
    for (let i = 0; i < 30; i++)
      rows.push(`2025-06-01T00:00:${String(i).padStart(2, '0')}Z,a,${i === 20 ? 9 : 1 + (i % 3) / 10}`);
    for (let i = 0; i < 30; i++)
      rows.push(`2025-06-01T00:00:${String(i).padStart(2, '0')}Z,b,${2 + (i % 4) / 10}`);
    writeFileSync(file, rows.join('\n'));
    const r = await scoreOffline({ file, model: 'iforest', generatedAtMs: NOW });
    const csv = renderScoresCsv(r).trimEnd().split('\n');
    expect(csv[0]).toBe('timestamp,host_id,score,is_anomaly');
    expect(csv).toHaveLength(61);
    expect(csv[21]).toMatch(/^2025-06-01T00:00:20\.000Z,a,[0-9.]+,1$/);
  });

  it('names the default output directory after the file', () => {
    expect(defaultScoreOutDir('data/prmon_memory_spike.txt')).toBe('score-prmon_memory_spike');
    expect(defaultScoreOutDir('nyc_taxi')).toBe('score-nyc_taxi');
  });
});
