// The agent binary on its own (standalone mode): real /proc, real workloads, real nats-server.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { decodeSampleBatch, ensureStreams, StreamName } from '@faultline/protocol';
import { startNats, tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { builtBin, type CliResult } from './cli.js';

function agent(args: string[], cwd: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [builtBin('agent', 'faultline-agent'), ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const SPEC = `apiVersion: faultline/v1
kind: Experiment
metadata: { name: standalone }
spec:
  duration: 6s
  sampling: { interval: 100ms }
  baseline:
    workload: { kind: matmul, sizes: [60], matrices: 2, dots: 2 }
    sleep: 300ms
  anomalies:
    mode: phased
    phases:
      - { name: baseline1, duration: 2s }
      - name: memory_spike
        duration: 2s
        injection: { workload: { kind: memory, bytes: 64Mi } }
      - { name: recovery1, duration: 2s }
`;

describe('faultline-agent run (standalone)', () => {
  it('runs a local plan, writes the RAM log and prmon output, and publishes labelled samples to NATS', async () => {
    await using dir = tempDir('faultline-agent-');
    await using nats = await startNats({ jetstream: true });
    const nc = await connect({ servers: nats.url });
    try {
      await ensureStreams(await jetstreamManager(nc));
      writeFileSync(join(dir.path, 'plan.yaml'), SPEC);
      const r = await agent(
        [
          'run',
          '--plan',
          'plan.yaml',
          '--ramlog',
          'ram.csv',
          '--prmon',
          'prmon',
          '--nats',
          nats.url,
          '--agent-id',
          'solo',
        ],
        dir.path,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/memory_spike\treached\tpeak_rss_delta=6\d\.\dMiB/);

      const ram = readFileSync(join(dir.path, 'ram.csv'), 'utf8').trim().split('\n');
      expect(ram[0]).toBe('timestamp,state,event_type,event_details,ram_usage_mb');
      const events = ram.slice(1).map((l) => l.split(',')[2]);
      expect(events[0] === 'SAMPLED_STATE' || events[0] === 'SCRIPT_START').toBe(true);
      expect(events).toContain('WORKLOAD_START');
      expect(events).toContain('WORKLOAD_END');
      expect(events[events.length - 1]).toBe('SCRIPT_END');
      expect(
        ram.some((l) =>
          /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3},working_anomaly_memory_spike,SAMPLED_STATE,,\d+\.\d\d$/.test(
            l,
          ),
        ),
      ).toBe(true);

      const prmon = readFileSync(join(dir.path, 'prmon', 'prmon.txt'), 'utf8').split('\n');
      expect(prmon[0]!.split('\t')).toEqual(
        expect.arrayContaining([
          'Time',
          'pss',
          'rss',
          'vmem',
          'rchar',
          'write_bytes',
          'utime',
          'nprocs',
          'nthreads',
        ]),
      );
      const summary = JSON.parse(
        readFileSync(join(dir.path, 'prmon', 'prmon_memory_spike.json'), 'utf8'),
      ) as {
        Max: { rss: number };
        Avg: { rss: number };
      };
      const baseline = JSON.parse(readFileSync(join(dir.path, 'prmon', 'prmon_baseline1.json'), 'utf8')) as {
        Max: { rss: number };
      };
      expect(summary.Max.rss - baseline.Max.rss).toBeGreaterThan(50 * 1024); // kB: the 64 MiB spike shows

      // samples arrived in FL_SAMPLES, contiguous, labelled with the phase and the injection
      const js = jetstream(nc);
      const consumer = await js.consumers.get(StreamName.Samples);
      const info = await (await jetstreamManager(nc)).streams.info(StreamName.Samples);
      const seqs: number[] = [];
      const states = new Set<string>();
      const messages = await consumer.fetch({ max_messages: info.state.messages, expires: 2000 });
      for await (const m of messages) {
        for (const s of decodeSampleBatch(m.data).samples) {
          seqs.push(Number(s.seq));
          states.add(`${s.labels?.phase}|${s.labels?.state}`);
        }
        if (seqs.length > 0 && m.info.pending === 0) break;
      }
      expect(seqs.length).toBeGreaterThan(40);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
      expect(states).toContain('memory_spike|working_anomaly_memory_spike');
    } finally {
      await nc.close();
    }
  }, 60_000);

  it('names the field and the value of a malformed plan file, exit 2', async () => {
    await using dir = tempDir('faultline-agent-');
    writeFileSync(join(dir.path, 'bad.yaml'), SPEC.replace('duration: 6s', 'duration: fast'));
    const r = await agent(['run', '--plan', 'bad.yaml'], dir.path);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bad.yaml');
    expect(r.stderr).toContain('spec.duration');
    expect(r.stderr).toContain('"fast"');
  });

  it('refuses a plan over a local cap, naming the cap, and runs nothing', async () => {
    await using dir = tempDir('faultline-agent-');
    writeFileSync(
      join(dir.path, 'big.yaml'),
      SPEC.replace('kind: memory, bytes: 64Mi', 'kind: cpu, cores: 2, load: 100'),
    );
    const r = await agent(['run', '--plan', 'big.yaml', '--max-cores', '1'], dir.path);
    expect(r.code).toBe(2);
    // the 2-core surge runs beside the baseline matmul (1 core): 3 at once
    expect(r.stderr).toMatch(/caps\.maxCores 1 < 3 cores requested at once/);
  });
});
