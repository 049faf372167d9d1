// A real agent (in process) under a real controller (gRPC + redis-server): plan refusal by
// caps, the dead-man switch, and the agent's /metrics.
import { get } from 'node:http';
import { Agent, ControlLink } from '@faultline/agent';
import { ControlClient, ControllerServer } from '@faultline/controller';
import { ExperimentState } from '@faultline/protocol';
import { compileExperiment } from '@faultline/spec';
import { eventually, startRedis, tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';

const spec = (injection: string): string => `apiVersion: faultline/v1
kind: Experiment
metadata: { name: dead-man }
spec:
  duration: 60s
  sampling: { interval: 200ms }
  baseline: { sleep: 1s }
  anomalies:
    mode: scheduled
    catalog:
      - { name: spike, workload: ${injection} }
    schedule:
      - { at: 0s, anomaly: spike, duration: 50s }
  onMissingAck: abort
`;

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

async function setup(dataDir: string, caps: { maxCores?: number } = {}, deadManTimeoutMs = 1000) {
  const redis = await startRedis();
  const startController = async (listen: string): Promise<ControllerServer> => {
    const c = new ControllerServer(compileExperiment, {
      listen,
      redisUrl: redis.url,
      leaseMs: 3000,
      heartbeatMs: 300,
      scheduler: { startDelayMs: 300, ackTimeoutMs: 3000 },
    });
    await c.start();
    return c;
  };
  let server = await startController('127.0.0.1:0');
  const agent = new Agent({ agentId: 'real-1', dataDir, samplingIntervalMs: 200, metricsPort: 0, caps });
  await agent.start();
  const link = new ControlLink(agent, {
    controller: `127.0.0.1:${server.port}`,
    deadManTimeoutMs,
    reconnectDelayMs: 200,
  });
  link.start();
  const client = new ControlClient(`127.0.0.1:${server.port}`);
  await eventually(() => server.scheduler.connectedAgentIds().includes('real-1'), {
    name: 'agent attached',
    timeoutMs: 10_000,
  });
  return {
    get server() {
      return server;
    },
    agent,
    client,
    /** A new controller process on `listen` (the stopped one's address), same Redis. */
    async restart(listen: string) {
      server = await startController(listen);
    },
    async [Symbol.asyncDispose]() {
      client.close();
      link.close();
      await agent.stop();
      await server.stop();
      await redis.dispose();
    },
  };
}

describe('a real agent under a real controller', () => {
  it('refuses a plan over its caps, and the experiment fails naming the cap', async () => {
    await using dir = tempDir('faultline-agent-');
    await using env = await setup(dir.path, { maxCores: 1 });
    const exp = await env.client.start(spec('{ kind: cpu, cores: 2, load: 100 }'));
    expect(exp.state).toBe(ExperimentState.EXPERIMENT_STATE_FAILED);
    expect(exp.message).toContain('real-1 refused its plan: caps.maxCores 1 < 2 cores requested at once');
    expect(env.agent.runner.active()).toEqual([]);
  });

  it('stops every injection when the controller has been gone longer than the dead-man timeout', async () => {
    await using dir = tempDir('faultline-agent-');
    await using env = await setup(dir.path);
    const exp = await env.client.start(spec('{ kind: memory, bytes: 32Mi }'));
    expect(exp.state).toBe(ExperimentState.EXPERIMENT_STATE_RUNNING);
    await eventually(() => env.agent.runner.active().length === 1, {
      name: 'injection running',
      timeoutMs: 10_000,
    });
    await env.server.stop(); // the control plane goes away; the injection would run for 50 s
    await eventually(() => env.agent.runner.active().length === 0, {
      name: 'dead-man halt',
      timeoutMs: 5000,
    });
  });

  it('delivers acks, progress and truth in order across a controller restart, losing none', async () => {
    await using dir = tempDir('faultline-agent-');
    await using env = await setup(dir.path, {}, 30_000);
    const exp = await env.client.start(`apiVersion: faultline/v1
kind: Experiment
metadata: { name: restart }
spec:
  duration: 5s
  sampling: { interval: 200ms }
  baseline: { sleep: 1s }
  anomalies:
    mode: scheduled
    catalog:
      - { name: spike, workload: { kind: memory, bytes: 16Mi } }
    schedule:
      - { at: 0s, anomaly: spike, duration: 1500ms }
      - { at: 3s, anomaly: spike, duration: 1s }
`);
    expect(exp.state).toBe(ExperimentState.EXPERIMENT_STATE_RUNNING);
    await eventually(() => env.agent.runner.active().length === 1, {
      name: 'first injection running',
      timeoutMs: 10_000,
    });
    // The controller goes away while the first injection runs: its end is reported to nobody.
    const port = env.server.port;
    await env.server.stop();
    await eventually(() => env.agent.runner.active().length === 0, {
      name: 'first injection ended',
      timeoutMs: 5000,
    });
    await env.restart(`127.0.0.1:${port}`);
    const done = await eventually(
      async () => {
        const e = await env.client.get(exp.experimentId);
        return e.state === ExperimentState.EXPERIMENT_STATE_SUCCEEDED && e;
      },
      { name: 'experiment succeeded after the restart', timeoutMs: 20_000 },
    );
    expect(
      done.truth.map((t) => [t.agentId, t.anomalyType, t.actualEndUnixNano > t.actualStartUnixNano]),
    ).toEqual([
      ['real-1', 'spike', true],
      ['real-1', 'spike', true],
    ]);
  });

  it('serves /metrics with samples taken and its own cpu and memory, and /healthz', async () => {
    await using dir = tempDir('faultline-agent-');
    await using env = await setup(dir.path);
    await eventually(
      async () => {
        const m = await httpGet(`http://127.0.0.1:${env.agent.metricsPort}/metrics`);
        const taken = /faultline_agent_samples_taken_total\{agent="real-1"\} (\d+)/.exec(m.body);
        return taken !== null && Number(taken[1]) >= 2 && m.body;
      },
      { name: 'samples counted', timeoutMs: 5000 },
    ).then((body) => {
      expect(body).toContain('faultline_agent_process_cpu_seconds_total');
      expect(body).toContain('faultline_agent_process_resident_memory_bytes');
      expect(body).toContain('faultline_agent_sampling_jitter_seconds');
    });
    expect((await httpGet(`http://127.0.0.1:${env.agent.metricsPort}/healthz`)).status).toBe(200);
  });
});
