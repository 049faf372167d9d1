import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { ExperimentState, type Experiment } from '@faultline/protocol';
import {
  buildReportDocument,
  collectLiveReportInput,
  exportExperiment,
  writeReport,
} from '@faultline/detector';
import { DevStack, devServices, stackUrls } from '../dev/dev-stack.js';
import { ControlClient } from './control-client.js';
import { follow } from './experiment-commands.js';
import type { CliIo } from './io.js';
import { renderTable } from './output.js';
import { renderReportSummary } from './report-command.js';
import { parsePositiveInt } from './parse.js';

const DEMO_SPEC = fileURLToPath(new URL('../../../../examples/demo.yaml', import.meta.url));

async function waitForAgents(c: ControlClient, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { agents } = await c.listAgents();
    if (agents.filter((a) => a.connected).length >= n) return;
    if (Date.now() > deadline)
      throw new Error(`only ${agents.length} of ${n} agents connected after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Waits until the detector has scored everything it was given: the pending and ack-pending
 * messages of its consumers, read from its /metrics, are 0 twice in a row.
 */
async function waitForDetector(metricsPort: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  while (Date.now() < deadline) {
    const body = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) })
      .then((r) => (r.ok ? r.text() : ''))
      .catch(() => '');
    const pending = [
      ...body.matchAll(/^faultline_detector_consumer_(?:ack_)?pending_messages\{[^}]*\} (\S+)$/gm),
    ];
    const total = pending.reduce((sum, x) => sum + Number(x[1]), 0);
    quiet = pending.length > 0 && total === 0 ? quiet + 1 : 0;
    if (quiet >= 2) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

/** Per anomaly type: injected, reached target, median achieved start delay. */
export function truthSummary(exp: Experiment): string {
  const types = new Map<string, { injected: number; reached: number; lagMs: number[] }>();
  for (const t of exp.truth) {
    const row = types.get(t.anomalyType) ?? { injected: 0, reached: 0, lagMs: [] };
    row.injected++;
    if (t.reachedTarget) row.reached++;
    row.lagMs.push(Number((t.actualStartUnixNano - t.requestedStartUnixNano) / 1_000_000n));
    types.set(t.anomalyType, row);
  }
  const rows = [...types.entries()].sort(([a], [b]) => a.localeCompare(b));
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  return renderTable(rows, [
    { header: 'anomaly type', value: ([t]) => t },
    { header: 'injected', value: ([, r]) => String(r.injected) },
    { header: 'reached target', value: ([, r]) => `${r.reached}/${r.injected}` },
    { header: 'median start lag', value: ([, r]) => `${median(r.lagMs)} ms` },
  ]);
}

/**
 * `faultline demo`: the local stack with N agents, the demo experiment, a labelled dataset
 * and a summary; stops the stack afterwards when the demo started it.
 */
export function demoCommand(io: CliIo): Command {
  return new Command('demo')
    .description(
      'start the local stack with 3 agents and the detector, run examples/demo.yaml (~2 min), export the dataset, write the report, print a summary',
    )
    .option('--agents <n>', 'number of local agents', parsePositiveInt('--agents', 64), 3)
    .option('--spec <file>', 'experiment spec to run instead of examples/demo.yaml')
    .option('--out <dir>', 'where the dataset and report go (default .faultline/demo/<experiment>)')
    .option('--keep', 'leave the local stack running afterwards')
    .action(async (flags: { agents: number; spec?: string; out?: string; keep?: boolean }) => {
      const specFile = resolve(flags.spec ?? DEMO_SPEC);
      const spec = readFileSync(specFile, 'utf8');
      const stack = new DevStack({ agents: flags.agents });
      const before = await stack.status(devServices);
      const startedHere = !before.some((s) => s.running);
      io.out(`starting the local stack with ${flags.agents} agents (logs in ${stack.options.dir}/logs)\n`);
      await stack.up(devServices(stack.options), (m) => io.out(`  ${m}\n`));
      const urls = stackUrls(stack.options);
      const client = new ControlClient(urls.controller);
      try {
        await waitForAgents(client, flags.agents, 30_000);
        io.out(`running ${specFile}\n`);
        const exp = await client.start(spec);
        io.out(`experiment ${exp.experimentId}\n`);
        if (exp.state === ExperimentState.EXPERIMENT_STATE_FAILED)
          throw new Error(`the experiment failed: ${exp.message}`);
        const done = await follow(client, exp.experimentId, io, process.stderr.isTTY === true);
        const out = resolve(flags.out ?? join(stack.options.dir, 'demo', exp.experimentId));
        mkdirSync(out, { recursive: true });
        const manifest = await exportExperiment({
          natsUrl: urls.nats,
          experimentId: exp.experimentId,
          format: 'csv',
          layout: 'wide',
          outDir: join(out, 'dataset'),
        });
        io.out(`\nexperiment ${done.experimentId}: ${done.message}\n\n`);
        io.out('what was injected (truth windows, requested vs achieved):\n');
        io.out(truthSummary(done));
        io.out(
          `\nlabelled dataset: ${join(out, 'dataset')} (${manifest.samples} samples, ${done.truth.length} truth windows)\n`,
        );
        io.out('waiting for the detector to score the last samples\n');
        if (!(await waitForDetector(stack.options.detectorMetricsPort, 120_000))) {
          io.err('the detector did not catch up within 120 s; the report shows what it scored so far\n');
        }
        const input = await collectLiveReportInput({
          natsUrl: urls.nats,
          experimentId: exp.experimentId,
          title: done.name,
        });
        const doc = buildReportDocument(input);
        const written = await writeReport(doc, join(out, 'report'));
        io.out('\nhow the detector did (against the truth windows):\n');
        io.out(renderReportSummary(doc, written.htmlPath));
        if (done.state !== ExperimentState.EXPERIMENT_STATE_SUCCEEDED) io.setExitCode(1);
      } finally {
        client.close();
        if (startedHere && !flags.keep) {
          io.out('stopping the local stack\n');
          await stack.down();
        }
      }
    });
}
