#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { pino } from 'pino';
import { isSpecError } from '@faultline/spec';
import { isInvalidNatsAuthError } from '@faultline/protocol';
import { Agent } from '../agent.js';
import {
  addCommonAgentFlags,
  addControlSecurityFlags,
  agentOptionsFrom,
  controlSecurityFrom,
  parseDurationMs,
  type CommonAgentFlags,
  type ControlSecurityFlags,
} from '../config.js';
import { ControlLink } from '../control-link.js';
import {
  isAgentError,
  isInvalidOptionsError,
  isInvalidPlanFileError,
  isPlanRefusedError,
} from '../errors.js';
import { loadLocalPlan } from '../local-plan.js';

const log = pino({ name: 'faultline-agent' });

function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

async function runStandalone(
  flags: CommonAgentFlags & { plan: string; ramlog?: string; prmon?: string },
): Promise<number> {
  const agent = new Agent({
    ...agentOptionsFrom(flags),
    ramlogPath: flags.ramlog,
    prmonDir: flags.prmon,
    logger: log,
  });
  const plan = loadLocalPlan(
    flags.plan,
    { agentId: agent.options.agentId, labels: agent.options.labels },
    BigInt(Date.now() + 500) * 1_000_000n,
  );
  agent.check(plan);
  await agent.start();
  const signal = untilSignal().then(async (s) => {
    log.warn({ signal: s }, 'halting');
    await agent.halt();
  });
  const outcome = await agent.runPlan(plan);
  void signal;
  await agent.stop();
  const st = agent.publisherStats();
  log.info(
    {
      injections: outcome.injectionsFinished,
      halted: outcome.halted,
      published: st?.samplesPublished,
      lost: st?.samplesLost,
    },
    'plan finished',
  );
  for (const t of outcome.truth) {
    process.stdout.write(
      `${t.injectionId}\t${t.anomalyType}\t${t.reachedTarget ? 'reached' : `short: ${t.shortfall}`}\t` +
        `peak_rss_delta=${((t.achieved?.peakRssDeltaBytes ?? 0) / 2 ** 20).toFixed(1)}MiB ` +
        `mean_cpu=${(t.achieved?.meanCpuPercent ?? 0).toFixed(1)}% ` +
        `write=${((t.achieved?.writeBytesPerSecond ?? 0) / 2 ** 20).toFixed(1)}MiB/s\n`,
    );
  }
  return outcome.halted ? 1 : 0;
}

type ServeFlags = CommonAgentFlags & ControlSecurityFlags & { controller?: string; deadManTimeout?: number };

async function serve(flags: ServeFlags): Promise<number> {
  const controller = flags.controller ?? process.env.FAULTLINE_CONTROLLER ?? '127.0.0.1:15051';
  const agent = new Agent({ ...agentOptionsFrom(flags), logger: log });
  // Before the agent starts: a bad credential file is an error at start, not a running agent.
  const link = new ControlLink(agent, {
    controller,
    deadManTimeoutMs: flags.deadManTimeout,
    ...controlSecurityFrom(flags),
  });
  await agent.start();
  link.start();
  log.info(
    { agent: agent.options.agentId, controller, nats: agent.options.natsUrl, metricsPort: agent.metricsPort },
    'agent serving',
  );
  const s = await untilSignal();
  log.info({ signal: s }, 'shutting down');
  link.close();
  await agent.stop();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let result: Promise<number> = Promise.resolve(0);
  const program = new Command('faultline-agent')
    .description(
      'the Faultline agent: samples /proc, runs workload plans within local caps, publishes to NATS',
    )
    .exitOverride();
  addCommonAgentFlags(
    program
      .command('run')
      .description('run a local plan (a kind: Experiment spec) on this machine, with or without NATS')
      .requiredOption('--plan <file>', 'experiment spec YAML; this machine is its only target')
      .option(
        '--ramlog <file>',
        "write the seed's RAM log CSV (timestamp,state,event_type,event_details,ram_usage_mb)",
      )
      .option(
        '--prmon <dir>',
        'write prmon-style output: prmon.txt (time series) and prmon.json (max and avg), also per phase',
      ),
  ).action((flags: CommonAgentFlags & { plan: string; ramlog?: string; prmon?: string }) => {
    result = runStandalone(flags);
  });
  addCommonAgentFlags(
    addControlSecurityFlags(
      program
        .command('serve')
        .description('register with a controller and run the plans it sends')
        .option(
          '--controller <host:port>',
          'controller address (env FAULTLINE_CONTROLLER; default 127.0.0.1:15051)',
        )
        .option(
          '--dead-man-timeout <duration>',
          'stop injections when the controller is gone this long (default 15s)',
          parseDurationMs('--dead-man-timeout'),
        ),
    ),
  ).action((flags: ServeFlags) => {
    result = serve(flags);
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return await result;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.help' ||
        err.code === 'commander.version'
        ? 0
        : 2;
    }
    if (
      isSpecError(err) ||
      isInvalidPlanFileError(err) ||
      isPlanRefusedError(err) ||
      isInvalidNatsAuthError(err) ||
      isInvalidOptionsError(err)
    ) {
      process.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    if (isAgentError(err)) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    log.error({ err }, err instanceof Error ? err.message : String(err));
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
