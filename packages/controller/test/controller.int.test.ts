import { credentials } from '@grpc/grpc-js';
import {
  AgentServiceClient,
  ExperimentState,
  TruthWindow,
  type AgentInfo,
  type Experiment,
  type Plan,
  type StreamReportsResponse,
} from '@faultline/protocol';
import { eventually, startRedis } from '@faultline/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../src/cli/control-client.js';
import { ControllerServer } from '../src/controller-server.js';
import type { CompiledExperiment, ExperimentCompiler } from '../src/scheduler.js';
import { ScriptedAgent } from './scripted-agent.js';

const ms = (n: number): bigint => BigInt(Math.round(n)) * 1_000_000n;

/**
 * A compiler for scheduler tests: "duration <ms> injections <n> [continue]" gives every agent
 * n injections spread over the duration. The real spec compiler is tested on its own.
 */
const testCompiler: ExperimentCompiler = (specYaml, agents: AgentInfo[], { startUnixNano, experimentId }) => {
  const [, duration, , count, mode] = specYaml.trim().split(/\s+/);
  const durationMs = Number(duration);
  const n = Number(count);
  const plans: Plan[] = agents.map((a) => ({
    planId: `${experimentId}-${a.agentId}`,
    experimentId,
    agentId: a.agentId,
    startUnixNano,
    endUnixNano: startUnixNano + ms(durationMs),
    samplingIntervalMs: 100,
    baseline: undefined,
    phases: [],
    injections: Array.from({ length: n }, (_, i) => ({
      injectionId: `${experimentId}-${a.agentId}-${i}`,
      anomalyType: 'stall',
      startUnixNano: startUnixNano + ms(((i + 0.2) * durationMs) / n),
      endUnixNano: startUnixNano + ms(((i + 0.6) * durationMs) / n),
      workload: { kind: { $case: 'stall', value: { extraMs: 100 } } },
      replacesBaseline: true,
      phase: '',
    })),
    deadManTimeoutMs: 0,
  }));
  const compiled: CompiledExperiment = {
    name: 'test',
    plans,
    onMissingAck: mode === 'continue' ? 'continue' : 'abort',
    injectionsPlanned: n * agents.length,
  };
  return compiled;
};

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

async function startController(redisUrl: string, listen = '127.0.0.1:0'): Promise<ControllerServer> {
  const server = new ControllerServer(testCompiler, {
    listen,
    redisUrl,
    leaseMs: 3000,
    heartbeatMs: 500,
    scheduler: { startDelayMs: 300, ackTimeoutMs: 2000, haltTimeoutMs: 2000, finishGraceMs: 3000 },
  });
  await server.start();
  return server;
}

async function agents(port: number, n: number): Promise<ScriptedAgent[]> {
  const out: ScriptedAgent[] = [];
  for (let i = 0; i < n; i++) {
    const a = new ScriptedAgent(`agent-${i}`, `127.0.0.1:${port}`, { role: 'worker' });
    await a.register();
    a.watch();
    out.push(a);
    cleanups.push(() => a.close());
  }
  return out;
}

describe('controller (real gRPC, real redis-server)', () => {
  it('registers agents, runs an experiment to completion and records every truth window', async () => {
    await using redis = await startRedis();
    const server = await startController(redis.url);
    cleanups.push(() => server.stop());
    await agents(server.port, 3);
    const cli = new ControlClient(`127.0.0.1:${server.port}`);
    cleanups.push(() => cli.close());

    const listed = await eventually(
      async () => {
        const r = await cli.listAgents('role=worker');
        return r.agents.length === 3 && r.agents.every((a) => a.connected) && r.agents;
      },
      { name: '3 connected agents' },
    );
    expect(listed.map((a) => a.info?.agentId)).toEqual(['agent-0', 'agent-1', 'agent-2']);

    const started = { experiment: await cli.start('duration 1500 injections 2') };
    const exp = started.experiment!;
    expect(exp.state).toBe(ExperimentState.EXPERIMENT_STATE_RUNNING);
    expect(exp.agentIds).toEqual(['agent-0', 'agent-1', 'agent-2']);

    const done = await eventually(
      async () => {
        const r = { experiment: await cli.get(exp.experimentId) };
        return r.experiment!.state === ExperimentState.EXPERIMENT_STATE_SUCCEEDED && r.experiment!;
      },
      { timeoutMs: 10_000, name: 'experiment succeeded' },
    );
    expect(done.truth).toHaveLength(6);
    for (const t of done.truth) {
      expect(t.actualEndUnixNano).toBeGreaterThan(t.actualStartUnixNano);
      expect(t.agentId).toMatch(/^agent-\d$/);
    }
    const list = { experiments: await cli.list() };
    expect(list.experiments.map((e) => e.experimentId)).toContain(exp.experimentId);
  });

  it('aborts when an agent refuses its plan, naming the agent and the reason', async () => {
    await using redis = await startRedis();
    const server = await startController(redis.url);
    cleanups.push(() => server.stop());
    const [a0, a1] = await agents(server.port, 2);
    a1!.refuse = 'caps.maxCores 1 < 2 requested';
    const cli = new ControlClient(`127.0.0.1:${server.port}`);
    cleanups.push(() => cli.close());
    await eventually(() => server.scheduler.connectedAgentIds().length === 2, { name: 'agents attached' });
    const r = { experiment: await cli.start('duration 5000 injections 1') };
    expect(r.experiment!.state).toBe(ExperimentState.EXPERIMENT_STATE_FAILED);
    expect(r.experiment!.message).toContain('agent-1 refused its plan: caps.maxCores 1 < 2 requested');
    expect(a0!.halts).toBe(1); // the agent that had accepted is told to stop
  });

  it('survives a controller restart mid-experiment without losing a truth window', async () => {
    await using redis = await startRedis();
    const first = await startController(redis.url);
    const port = first.port;
    await agents(port, 2);
    const cli = new ControlClient(`127.0.0.1:${port}`);
    cleanups.push(() => cli.close());
    await eventually(() => first.scheduler.connectedAgentIds().length === 2, { name: 'agents attached' });
    const started = { experiment: await cli.start('duration 3000 injections 3') };
    const id = started.experiment!.experimentId;
    await first.stop(); // injections keep coming while the controller is away
    await new Promise((r) => setTimeout(r, 800)); // the outage itself is the point of this test
    const second = await startController(redis.url, `127.0.0.1:${port}`);
    cleanups.push(() => second.stop());
    const done: Experiment = await eventually(
      async () => {
        const r = { experiment: await cli.get(id) };
        return r.experiment!.state === ExperimentState.EXPERIMENT_STATE_SUCCEEDED && r.experiment!;
      },
      { timeoutMs: 15_000, name: 'experiment succeeded after restart' },
    );
    expect(done.truth).toHaveLength(6);
    expect(done.truth.every((t) => t.actualEndUnixNano > 0n)).toBe(true);
  });

  it('halts an experiment fleet-wide and reports the confirmation time', async () => {
    await using redis = await startRedis();
    const server = await startController(redis.url);
    cleanups.push(() => server.stop());
    const fleet = await agents(server.port, 3);
    const cli = new ControlClient(`127.0.0.1:${server.port}`);
    cleanups.push(() => cli.close());
    await eventually(() => server.scheduler.connectedAgentIds().length === 3, { name: 'agents attached' });
    const started = { experiment: await cli.start('duration 60000 injections 5') };
    const halt = await cli.halt(started.experiment!.experimentId, 'test');
    expect(halt.agentsConfirmed).toBe(3);
    expect(halt.agentsUnconfirmed).toBe(0);
    expect(halt.confirmationMs).toBeGreaterThanOrEqual(0);
    expect(fleet.every((a) => a.halts === 1)).toBe(true);
    const after = { experiment: await cli.get(started.experiment!.experimentId) };
    expect(after.experiment!.state).toBe(ExperimentState.EXPERIMENT_STATE_HALTED);
    expect(after.experiment!.message).toContain('3 confirmed');
  });

  it('maps errors to gRPC status codes with messages that say what was wrong', async () => {
    await using redis = await startRedis();
    const server = await startController(redis.url);
    cleanups.push(() => server.stop());
    const cli = new ControlClient(`127.0.0.1:${server.port}`);
    cleanups.push(() => cli.close());
    await expect(cli.get('nope')).rejects.toMatchObject({
      grpcCode: 5,
      message: 'experiment "nope" not found',
    });
    await expect(cli.start('duration 1000 injections 1')).rejects.toMatchObject({
      grpcCode: 9,
      message: expect.stringContaining('no connected agent matches'),
    });
    const agentClient = new AgentServiceClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
    cleanups.push(() => agentClient.close());
    const watchError = await new Promise<{ code?: number; details?: string }>((resolve) =>
      agentClient.watchAssignments({ agentId: 'ghost' }).on('error', resolve),
    );
    expect(watchError).toMatchObject({ code: 5, details: 'agent "ghost" not found: call Register first' });
  });

  it('answers reports on StreamReports in order, refuses a malformed one for good, and ends the stream when it cannot store', async () => {
    await using redis = await startRedis();
    const server = await startController(redis.url);
    cleanups.push(() => server.stop());
    const client = new AgentServiceClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
    cleanups.push(() => client.close());
    const stream = client.streamReports();
    const answers: StreamReportsResponse[] = [];
    const ended = new Promise<{ code?: number; details?: string }>((resolve) => {
      stream.on('error', resolve);
      stream.on('end', () => resolve({}));
    });
    stream.on('data', (m: StreamReportsResponse) => answers.push(m));
    const progress = (experimentId: string) => ({
      agentId: 'agent-x',
      report: {
        $case: 'progress' as const,
        value: {
          planId: 'p',
          experimentId,
          phase: '',
          state: 'running',
          injectionsStarted: 1,
          injectionsFinished: 0,
          done: false,
        },
      },
    });
    stream.write({ seq: 1n, report: progress('exp-a') });
    stream.write({ seq: 2n, report: undefined });
    stream.write({
      seq: 3n,
      report: { agentId: 'agent-x', report: { $case: 'truth', value: TruthWindow.fromPartial({}) } },
    });
    stream.write({ seq: 4n, report: progress('exp-b') });
    await eventually(() => answers.length === 4, { name: 'four answers' });
    expect(answers.map((a) => [a.seq, a.code])).toEqual([
      [1n, 0],
      [2n, 3],
      [3n, 3],
      [4n, 0],
    ]);
    expect(answers[1]!.message).toBe('report 2: report is required');
    expect(answers[2]!.message).toContain('truth from agent-x must name experiment_id and injection_id');
    expect((await server.store.getProgress('exp-b')).get('agent-x')?.state).toBe('running');

    await redis.dispose(); // the controller loses its store: the next report cannot be stored
    stream.write({ seq: 5n, report: progress('exp-c') });
    const end = await ended;
    expect(end.code).toBe(13);
    expect(answers).toHaveLength(4);
  });
});
