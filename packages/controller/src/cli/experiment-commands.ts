import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { ExperimentState, type Experiment, type Plan } from '@faultline/protocol';
import { connectControlClient } from './connection.js';
import type { ControlClient } from './control-client.js';
import type { CliIo } from './io.js';
import { OUTPUT_FORMATS, render, type OutputFormat } from './output.js';
import { UsageError } from './usage-error.js';

const stateName = (s: ExperimentState): string =>
  (ExperimentState[s] ?? String(s)).replace('EXPERIMENT_STATE_', '').toLowerCase();

const iso = (ns: bigint): string => (ns > 0n ? new Date(Number(ns / 1_000_000n)).toISOString() : '-');

function workloadName(p: { workload?: { kind?: { $case: string } } }): string {
  return p.workload?.kind?.$case ?? '-';
}

function readSpec(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read spec ${file}: ${(err as Error).message}`);
  }
}

function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table');
}

async function withClient<T>(cmd: Command, fn: (c: ControlClient) => Promise<T>): Promise<T> {
  const c = connectControlClient(cmd);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

function experimentSummary(e: Experiment): Record<string, unknown> {
  return {
    experimentId: e.experimentId,
    name: e.name,
    state: stateName(e.state),
    message: e.message,
    start: iso(e.startUnixNano),
    end: iso(e.endUnixNano),
    agents: e.agentIds,
    injectionsPlanned: e.injectionsPlanned,
    truth: e.truth.map((t) => ({
      injectionId: t.injectionId,
      agentId: t.agentId,
      hostId: t.hostId,
      anomalyType: t.anomalyType,
      phase: t.phase,
      requestedStart: iso(t.requestedStartUnixNano),
      requestedEnd: iso(t.requestedEndUnixNano),
      actualStart: iso(t.actualStartUnixNano),
      actualEnd: iso(t.actualEndUnixNano),
      requested: t.requested,
      achieved: t.achieved,
      reachedTarget: t.reachedTarget,
      shortfall: t.shortfall,
    })),
  };
}

function renderPlans(plans: Plan[], format: OutputFormat): string {
  const rows = plans.flatMap((p) =>
    p.injections.length === 0
      ? [
          {
            agent: p.agentId,
            id: '-',
            type: '-',
            phase: '-',
            start: iso(p.startUnixNano),
            end: iso(p.endUnixNano),
            workload: '-',
          },
        ]
      : p.injections.map((i) => ({
          agent: p.agentId,
          id: i.injectionId,
          type: i.anomalyType,
          phase: i.phase || '-',
          start: iso(i.startUnixNano),
          end: iso(i.endUnixNano),
          workload: workloadName(i),
        })),
  );
  return render(format, { plans }, rows, [
    { header: 'agent', value: (r) => r.agent },
    { header: 'injection', value: (r) => r.id },
    { header: 'type', value: (r) => r.type },
    { header: 'phase', value: (r) => r.phase },
    { header: 'start', value: (r) => r.start },
    { header: 'end', value: (r) => r.end },
    { header: 'workload', value: (r) => r.workload },
  ]);
}

function renderExperiment(e: Experiment, format: OutputFormat): string {
  const summary = experimentSummary(e);
  if (format !== 'table') return render(format, summary, [], []);
  const head =
    `experiment ${e.experimentId} (${e.name}): ${stateName(e.state)} — ${e.message}\n` +
    `start ${iso(e.startUnixNano)}  end ${iso(e.endUnixNano)}  agents ${e.agentIds.length}  injections ${e.truth.length}/${e.injectionsPlanned}\n`;
  return (
    head +
    render('table', summary, e.truth, [
      { header: 'injection', value: (t) => t.injectionId },
      { header: 'host', value: (t) => t.hostId },
      { header: 'type', value: (t) => t.anomalyType },
      { header: 'start', value: (t) => iso(t.actualStartUnixNano) },
      { header: 'end', value: (t) => iso(t.actualEndUnixNano) },
      {
        header: 'target',
        value: (t) =>
          t.actualEndUnixNano === 0n ? 'running' : t.reachedTarget ? 'reached' : `short: ${t.shortfall}`,
      },
    ])
  );
}

/**
 * Waits for an experiment to end, with a progress bar on a TTY and event lines otherwise;
 * `allEvents` also prints every progress report (each agent's state changes).
 */
export async function follow(
  c: ControlClient,
  id: string,
  io: CliIo,
  bar: boolean,
  allEvents = false,
): Promise<Experiment> {
  const exp = await c.get(id);
  const total = Math.max(1, Number((exp.endUnixNano - exp.startUnixNano) / 1_000_000_000n));
  const progress = bar
    ? new SingleBar({
        format: 'running [{bar}] {percentage}% | {phase} | hosts {hosts} | injections {inj}',
        hideCursor: true,
      })
    : undefined;
  let injections = 0;
  let phase = '-';
  progress?.start(total, 0, { phase, hosts: exp.agentIds.length, inj: 0 });
  await c.watch(id, (e) => {
    if (e.kind === 'truth' && e.message.endsWith('started')) injections++;
    if (e.kind === 'progress') phase = e.message.split(' ')[0] ?? phase;
    if (progress) {
      const elapsed = Math.min(
        total,
        Math.max(0, (Date.now() - Number(exp.startUnixNano / 1_000_000n)) / 1000),
      );
      progress.update(Math.round(elapsed), { phase, hosts: exp.agentIds.length, inj: injections });
    } else if (allEvents || e.kind !== 'progress' || e.message.endsWith(' done')) {
      io.out(`${iso(e.timeUnixNano)} ${e.kind.padEnd(8)} ${e.agentId || '-'} ${e.message}\n`);
    }
  });
  progress?.update(total);
  progress?.stop();
  return c.get(id);
}

/** agents, plan, run, status, experiments, halt. */
export function experimentCommands(io: CliIo): Command[] {
  const agents = new Command('agents')
    .description('list registered agents and whether they hold their lease')
    .option('-l, --selector <labels>', 'label selector, e.g. role=worker,zone=a')
    .addOption(outputOption())
    .action(async (flags: { selector?: string; output: OutputFormat }, cmd: Command) => {
      const res = await withClient(cmd, (c) => c.listAgents(flags.selector ?? ''));
      io.out(
        render(flags.output, res, res.agents, [
          { header: 'agent', value: (a) => a.info?.agentId ?? '' },
          { header: 'host', value: (a) => a.info?.hostname ?? '' },
          { header: 'connected', value: (a) => (a.connected ? 'yes' : 'no') },
          { header: 'experiment', value: (a) => a.experimentId || '-' },
          {
            header: 'labels',
            value: (a) =>
              Object.entries(a.info?.labels ?? {})
                .map(([k, v]) => `${k}=${v}`)
                .join(',') || '-',
          },
          { header: 'last seen', value: (a) => iso(a.lastSeenUnixNano) },
        ]),
      );
    });

  const plan = new Command('plan')
    .description('compile a spec against the connected agents and print the timelines; runs nothing')
    .argument('<spec>', 'experiment spec (YAML)')
    .addOption(outputOption())
    .action(async (spec: string, flags: { output: OutputFormat }, cmd: Command) => {
      const plans = await withClient(cmd, (c) => c.plan(readSpec(spec)));
      io.out(renderPlans(plans, flags.output));
    });

  const run = new Command('run')
    .description('start an experiment; prints its id (with --wait: follows it to the end)')
    .argument('<spec>', 'experiment spec (YAML)')
    .option('--wait', 'wait for the experiment to end, with a progress bar; exit 1 unless it succeeded')
    .addOption(outputOption())
    .action(async (spec: string, flags: { wait?: boolean; output: OutputFormat }, cmd: Command) => {
      await withClient(cmd, async (c) => {
        const exp = await c.start(readSpec(spec));
        io.out(
          flags.output === 'table'
            ? `${exp.experimentId}\n`
            : render(flags.output, experimentSummary(exp), [], []),
        );
        if (exp.state === ExperimentState.EXPERIMENT_STATE_FAILED) {
          io.err(`experiment ${exp.experimentId} failed: ${exp.message}\n`);
          io.setExitCode(1);
          return;
        }
        if (!flags.wait) return;
        const done = await follow(c, exp.experimentId, io, process.stderr.isTTY === true);
        if (flags.output === 'table') io.out(renderExperiment(done, 'table'));
        if (done.state !== ExperimentState.EXPERIMENT_STATE_SUCCEEDED) io.setExitCode(1);
      });
    });

  const status = new Command('status')
    .description('show an experiment: state, truth windows (requested vs achieved)')
    .argument('<experiment>', 'experiment id')
    .option('-f, --follow', 'stream its events until it ends')
    .addOption(outputOption())
    .action(async (id: string, flags: { follow?: boolean; output: OutputFormat }, cmd: Command) => {
      await withClient(cmd, async (c) => {
        const exp = flags.follow ? await follow(c, id, io, false, true) : await c.get(id);
        io.out(renderExperiment(exp, flags.output));
      });
    });

  const experiments = new Command('experiments')
    .description('list experiments, newest first')
    .addOption(outputOption())
    .action(async (flags: { output: OutputFormat }, cmd: Command) => {
      const list = await withClient(cmd, (c) => c.list());
      io.out(
        render(flags.output, { experiments: list.map(experimentSummary) }, list, [
          { header: 'experiment', value: (e) => e.experimentId },
          { header: 'name', value: (e) => e.name },
          { header: 'state', value: (e) => stateName(e.state) },
          { header: 'agents', value: (e) => String(e.agentIds.length) },
          { header: 'injections', value: (e) => `${e.truth.length}/${e.injectionsPlanned}` },
          { header: 'start', value: (e) => iso(e.startUnixNano) },
        ]),
      );
    });

  const halt = new Command('halt')
    .description('stop every injection of one experiment, or fleet-wide without an id')
    .argument('[experiment]', 'experiment id; omit to halt everything')
    .option('--reason <text>', 'why, recorded with the experiment', 'halted by operator')
    .addOption(outputOption())
    .action(async (id: string | undefined, flags: { reason: string; output: OutputFormat }, cmd: Command) => {
      const res = await withClient(cmd, (c) => c.halt(id ?? '', flags.reason));
      if (flags.output !== 'table') io.out(render(flags.output, res, [], []));
      else
        io.out(
          `halted: ${res.agentsConfirmed} agents confirmed in ${res.confirmationMs} ms, ${res.agentsUnconfirmed} unconfirmed\n`,
        );
      if (res.agentsUnconfirmed > 0) io.setExitCode(1);
    });

  return [agents, plan, run, status, experiments, halt];
}
