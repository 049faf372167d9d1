import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TRUTH_COLUMNS } from '@faultline/detector';
import { tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { simulateCommand } from './simulate-command.js';
import { isUsageError } from './usage-error.js';
import { commandHarness, type CommandHarness } from '../../test/command-harness.js';

function cli(): CommandHarness {
  return commandHarness(simulateCommand);
}

async function usage(argv: string[]): Promise<string> {
  const err = await cli().run(argv);
  expect(isUsageError(err), String(err)).toBe(true);
  return (err as Error).message;
}

describe('faultline simulate', () => {
  it('prints the dimensions of the fleet on a dry run', async () => {
    const c = cli();
    expect(
      await c.run(['--dry-run', '--seed', '4', '--include-region', 'eu-central-1', '--include-ms', 'athena']),
    ).toBe(undefined);
    const text = c.out.join('');
    expect(text).toMatch(/^1 virtual hosts \(host scale 1, seed 4\): 1 regions, 1 cells, 1 silos/);
    const lines = text.trimEnd().split('\n');
    expect(lines[1]).toMatch(/^HOST_ID\s+REGION\s+CELL\s+SILO\s+AVAILABILITY_ZONE\s+MICROSERVICE_NAME/);
    expect(lines[2]).toMatch(
      /^i-\S+-athena-\d{4}\s+eu-central-1\s+eu-central-1-cell-1\s+eu-central-1-cell-1-silo-1\s/,
    );
    expect(lines).toHaveLength(3);
  });

  it('rejects bad flag values as usage errors that name the flag', async () => {
    expect(await usage(['--dry-run', '--include-region', 'mars-1'])).toMatch(
      /^--include-region\[0\] must be one of us-east-1, .*, got "mars-1"$/,
    );
    expect(await usage(['--dry-run', '--missing', '120'])).toBe(
      '--missing must be a number in [0, 100], got "120"',
    );
    expect(await usage(['--dry-run', '--sin-frq', 'fortnight'])).toBe(
      '--sin-frq must be one of m, h, d, we, mo, qu, ye, got "fortnight"',
    );
    expect(await usage(['--dry-run', '--hosts', '2.5'])).toBe(
      '--hosts must be an integer in [1, 1000000], got "2.5"',
    );
    expect(await usage(['--interval', 'soon', '--dry-run'])).toMatch(/^--interval must be a duration/);
    expect(await usage(['--hosts', '3'])).toMatch(/^give --nats URL to publish live, --backfill/);
    expect(await usage(['--backfill', '--from', '2026-11-01'])).toBe(
      '--backfill needs --from, --to and --out',
    );
    expect(await usage(['--backfill', '--from', 'yesterday'])).toMatch(/^--from must be an ISO 8601 date/);
    expect(
      await usage([
        '--backfill',
        '--from',
        '2026-11-01',
        '--to',
        '2026-11-02',
        '--out',
        '/tmp/x',
        '--fuzz',
        '2s',
        '--interval',
        '1s',
      ]),
    ).toBe('--fuzz must be an integer in [0, intervalMs 1000), got 2000');
  });

  it('backfills a date range to files and prints them with their row counts', async () => {
    await using dir = tempDir('sim-cli-');
    const c = cli();
    const out = join(dir.path, 'data');
    const err = await c.run([
      '--backfill',
      '--hosts',
      '3',
      '--seed',
      '9',
      '--from',
      '2026-11-01T00:00:00Z',
      '--to',
      '2026-11-01T01:00:00Z',
      '--interval',
      '1m',
      '--fuzz',
      '5s',
      '--out',
      out,
      '--format',
      'jsonl',
    ]);
    expect(err).toBeUndefined();
    expect(c.out.join('')).toContain(
      'simulated 3 hosts from 2026-11-01T00:00:00.000Z to 2026-11-01T01:00:00.000Z every 60000 ms (fuzz 5000 ms, seed 9)',
    );
    expect(c.out.join('')).toMatch(/samples\.jsonl\s+samples\s+180/);
    expect(readFileSync(join(out, 'samples.jsonl'), 'utf8').trimEnd().split('\n')).toHaveLength(180);
  });

  it('runs an experiment spec on the virtual hosts of a backfill', async () => {
    await using dir = tempDir('sim-cli-');
    const spec = join(dir.path, 'spec.yaml');
    writeFileSync(
      spec,
      `apiVersion: faultline/v1
kind: Experiment
metadata: { name: sim-cli }
spec:
  seed: 1
  duration: 2m
  baseline: { sleep: 1s }
  anomalies:
    mode: scheduled
    catalog:
      - { name: cpu_surge, workload: { kind: cpu, cores: 2, load: 100 } }
    schedule:
      - { at: 30s, anomaly: cpu_surge, duration: 20s }
`,
    );
    const out = join(dir.path, 'data');
    const c = cli();
    const err = await c.run([
      '--backfill',
      '--hosts',
      '4',
      '--seed',
      '2',
      '--spec',
      spec,
      '--from',
      '2026-11-01T00:00:00Z',
      '--to',
      '2026-11-01T00:03:00Z',
      '--interval',
      '10s',
      '--out',
      out,
    ]);
    expect(err).toBeUndefined();
    const truth = readFileSync(join(out, 'truth.csv'), 'utf8').trimEnd().split('\r\n');
    expect(truth).toHaveLength(5);
    // The simulator writes its truth file itself (the agent package cannot use the detector's
    // export): its columns must stay those of \`faultline export\`'s truth table.
    expect(truth[0]!.split(',')).toEqual(TRUTH_COLUMNS.map((c) => c.name));
    // The truth table of \`faultline export\`: ids, labels, times, duration, verdict, the request.
    expect(truth[1]).toMatch(
      /^sim-cli,sim-cli-i-\S+-1,simulator,i-\S+,cpu_surge,,2026-11-01T00:00:30.000Z,2026-11-01T00:00:50.000Z,2026-11-01T00:00:30.000Z,2026-11-01T00:00:50.000Z,/,
    );
    expect(truth[1]).toContain(',20,true,,cpu,2,100,');
    const samples = readFileSync(join(out, 'samples.csv'), 'utf8').split('\r\n');
    expect(samples.filter((l) => l.includes(',working_anomaly_cpu_surge,'))).toHaveLength(4 * 2);
  });
});
