import { Command, Option } from 'commander';
import { DevStack, devServices, stackUrls, type DevStackOptions } from '../dev/dev-stack.js';
import { OUTPUT_FORMATS, render, type OutputFormat } from './output.js';
import type { CliIo } from './io.js';
import { parsePort, parsePositiveInt } from './parse.js';

interface DevFlags {
  dir?: string;
  natsPort?: number;
  natsMonitorPort?: number;
  redisPort?: number;
  controllerPort?: number;
  controllerMetricsPort?: number;
  agents?: number;
  agentMetricsPort?: number;
  detectorMetricsPort?: number;
}

function stackOptions(flags: DevFlags): DevStackOptions {
  return {
    dir: flags.dir,
    natsPort: flags.natsPort,
    natsMonitorPort: flags.natsMonitorPort,
    redisPort: flags.redisPort,
    controllerPort: flags.controllerPort,
    controllerMetricsPort: flags.controllerMetricsPort,
    agents: flags.agents,
    agentMetricsPort: flags.agentMetricsPort,
    detectorMetricsPort: flags.detectorMetricsPort,
  };
}

function withStackFlags(cmd: Command): Command {
  return cmd
    .option(
      '--dir <path>',
      'state directory: logs, pids, NATS store (default .faultline, or $FAULTLINE_HOME)',
    )
    .option('--nats-port <port>', 'nats-server client port (default 14222)', parsePort('--nats-port'))
    .option(
      '--nats-monitor-port <port>',
      'nats-server monitoring port (default 18222)',
      parsePort('--nats-monitor-port'),
    )
    .option('--redis-port <port>', 'redis-server port (default 16379)', parsePort('--redis-port'))
    .option(
      '--controller-port <port>',
      'controller gRPC port (default 15051)',
      parsePort('--controller-port'),
    )
    .option(
      '--agent-metrics-port <port>',
      'first agent /metrics port; agent i uses it + i (default 15100)',
      parsePort('--agent-metrics-port'),
    )
    .option(
      '--detector-metrics-port <port>',
      'detector /metrics and /healthz port (default 15053)',
      parsePort('--detector-metrics-port'),
    )
    .option(
      '--controller-metrics-port <port>',
      'controller /metrics and /healthz port (default 15052)',
      parsePort('--controller-metrics-port'),
    );
}

/** `faultline dev up|status|down`: the local stack as background processes. */
export function devCommand(io: CliIo): Command {
  const dev = new Command('dev').description('run the whole stack on this machine as background processes');

  withStackFlags(dev.command('up'))
    .option('--agents <n>', 'number of local agents to start (default 0)', parsePositiveInt('--agents', 64))
    .description(
      'start nats-server (JetStream), redis-server, the controller, the detector and N agents in the background',
    )
    .action(async (flags: DevFlags) => {
      const stack = new DevStack(stackOptions(flags));
      await stack.up(devServices(stack.options), (m) => io.out(`${m}\n`));
      const urls = stackUrls(stack.options);
      io.out(
        `local stack is up: NATS ${urls.nats}, Redis ${urls.redis}, controller ${urls.controller}; logs in ${stack.options.dir}/logs\n`,
      );
    });

  withStackFlags(dev.command('status'))
    .description("show each local service's process and health")
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .action(async (flags: DevFlags & { output: OutputFormat }) => {
      const stack = new DevStack(stackOptions(flags));
      const rows = await stack.status(devServices);
      if (rows.length === 0 && flags.output === 'table') {
        io.out('the local stack is not running (start it with: faultline dev up)\n');
      } else {
        io.out(
          render(flags.output, { services: rows }, rows, [
            { header: 'service', value: (r) => r.name },
            { header: 'pid', value: (r) => String(r.pid) },
            { header: 'state', value: (r) => (r.running ? 'running' : 'stopped') },
            { header: 'health', value: (r) => (r.healthy ? 'healthy' : 'unhealthy') },
            { header: 'ports', value: (r) => r.ports.join(',') },
            { header: 'detail', value: (r) => r.detail },
          ]),
        );
      }
      if (rows.length === 0 || rows.some((r) => !r.healthy)) io.setExitCode(1);
    });

  withStackFlags(dev.command('down'))
    .description('stop exactly the processes `dev up` started, and free their ports')
    .action(async (flags: DevFlags) => {
      const stack = new DevStack(stackOptions(flags));
      const stopped = await stack.down((m) => io.out(`${m}\n`));
      io.out(stopped.length === 0 ? 'nothing to stop\n' : 'local stack is down\n');
    });

  return dev;
}
