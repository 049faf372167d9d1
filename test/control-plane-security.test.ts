// The control plane with mTLS and tokens end to end: the real faultline-controller,
// faultline-agent and faultline binaries (token rotation on SIGHUP, the CLI's one-line
// refusals), and a real Agent with its ControlLink running an experiment under mTLS.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, ControlLink } from '@faultline/agent';
import { ControlClient, ControllerServer } from '@faultline/controller';
import { ExperimentState } from '@faultline/protocol';
import { compileExperiment } from '@faultline/spec';
import {
  eventually,
  makeTestCertificates,
  spawnTracked,
  startRedis,
  stopTracked,
  tempDir,
  type TrackedProcess,
} from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { builtBin, faultline } from './cli.js';

const CLI_TOKEN = 'e2e-cli-token-0123456789abcdef';
const NEW_CLI_TOKEN = 'e2e-cli-token-rotated-0123456789';

/** Starts a built binary of ours; `dispose` stops it. */
function startBin(pkg: string, bin: string, args: string[]): TrackedProcess & AsyncDisposable {
  const p = spawnTracked(process.execPath, [builtBin(pkg, bin), ...args]);
  return Object.assign(p, { [Symbol.asyncDispose]: () => stopTracked(p) });
}

/** The port from the controller's "controller serving" log line. */
async function servingPort(p: TrackedProcess): Promise<number> {
  return eventually(
    () => {
      if (p.child.exitCode !== null) throw new Error(`controller exited: ${p.output()}`);
      const line = p
        .output()
        .split('\n')
        .find((l) => l.includes('"controller serving"'));
      return line ? (JSON.parse(line) as { port: number }).port : false;
    },
    { name: 'controller serving', timeoutMs: 15_000 },
  );
}

describe('control plane security (real binaries)', () => {
  it('serves the CLI and agents over mTLS with a token, rotates tokens on SIGHUP, and refuses in one line', async () => {
    await using redis = await startRedis();
    await using dir = tempDir('faultline-sec-e2e-');
    const pki = await makeTestCertificates(join(dir.path, 'pki'), {
      clients: ['operator', 'node-a', 'node-b'],
    });
    const tokens = join(dir.path, 'cli.tokens');
    writeFileSync(tokens, `# operators\n${CLI_TOKEN}\n`);
    await using controller = startBin('controller', 'faultline-controller', [
      '--listen',
      '127.0.0.1:0',
      '--redis',
      redis.url,
      '--tls-cert',
      pki.server.cert,
      '--tls-key',
      pki.server.key,
      '--tls-client-ca',
      pki.ca.cert,
      '--token-file',
      tokens,
    ]);
    const address = `127.0.0.1:${await servingPort(controller)}`;
    expect(controller.output()).toContain(
      '"security":{"tls":true,"mtls":true,"controlTokens":1,"agentTokens":0}',
    );

    const agentArgs = (id: string, cert: string): string[] => [
      'serve',
      '--agent-id',
      id,
      '--controller',
      address,
      '--data-dir',
      join(dir.path, id),
      '--tls-ca',
      pki.ca.cert,
      '--tls-cert',
      pki.client(cert).cert,
      '--tls-key',
      pki.client(cert).key,
    ];
    await using agent = startBin('agent', 'faultline-agent', agentArgs('node-a', 'node-a'));
    await using impostor = startBin('agent', 'faultline-agent', agentArgs('node-c', 'node-b'));

    const env = {
      FAULTLINE_CONTROLLER: address,
      FAULTLINE_TLS_CA: pki.ca.cert,
      FAULTLINE_TLS_CERT: pki.client('operator').cert,
      FAULTLINE_TLS_KEY: pki.client('operator').key,
      FAULTLINE_TOKEN: undefined,
      FAULTLINE_TOKEN_FILE: undefined,
    };
    const listed = await eventually(
      async () => {
        const r = await faultline(['agents', '-o', 'json'], { ...env, FAULTLINE_TOKEN: CLI_TOKEN });
        const agents = (
          JSON.parse(r.stdout) as { agents: Array<{ info: { agentId: string }; connected: boolean }> }
        ).agents;
        return agents.some((a) => a.connected) && agents;
      },
      { name: 'node-a connected', timeoutMs: 20_000 },
    );
    expect(listed.map((a) => a.info.agentId)).toEqual(['node-a']);
    await eventually(() => impostor.output().includes('PERMISSION_DENIED'), {
      name: 'impostor refused',
      timeoutMs: 10_000,
    });
    expect(impostor.output()).toContain(
      'the client certificate (names: node-b) is not for agent \\"node-c\\"',
    );
    expect(agent.child.exitCode).toBeNull();

    const none = await faultline(['agents'], env);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(
      `error: the controller at ${address} refused the call (unauthenticated): ControlService requires a token: ` +
        'send metadata "authorization: Bearer <token>"; pass --token-file FILE or set FAULTLINE_TOKEN / FAULTLINE_TOKEN_FILE\n',
    );
    const noCert = await faultline(['agents'], {
      ...env,
      FAULTLINE_TLS_CERT: undefined,
      FAULTLINE_TLS_KEY: undefined,
    });
    expect(noCert.code).toBe(1);
    expect(noCert.stderr.trim().split('\n')).toHaveLength(1);
    expect(noCert.stderr).toContain('the controller requires a client certificate (mTLS)');

    // Rotation: both tokens, SIGHUP, then only the new one, SIGHUP.
    const tokenFile = join(dir.path, 'my.token');
    writeFileSync(tokenFile, `${NEW_CLI_TOKEN}\n`);
    expect((await faultline(['--token-file', tokenFile, 'experiments'], env)).code).toBe(1);
    writeFileSync(tokens, `${CLI_TOKEN}\n${NEW_CLI_TOKEN}\n`);
    controller.child.kill('SIGHUP');
    await eventually(
      async () => (await faultline(['--token-file', tokenFile, 'experiments'], env)).code === 0,
      {
        name: 'new token accepted',
      },
    );
    writeFileSync(tokens, `${NEW_CLI_TOKEN}\n`);
    controller.child.kill('SIGHUP');
    await eventually(
      async () => (await faultline(['experiments'], { ...env, FAULTLINE_TOKEN: CLI_TOKEN })).code === 1,
      {
        name: 'old token refused',
      },
    );
    const old = await faultline(['experiments'], { ...env, FAULTLINE_TOKEN: CLI_TOKEN });
    expect(old.stderr).toContain("the token was not accepted (it is not in the controller's --token-file)");
    expect(old.stderr).not.toContain(CLI_TOKEN);
    expect(controller.output()).not.toContain(CLI_TOKEN);
    expect(controller.output()).not.toContain(NEW_CLI_TOKEN);
  });

  it('exits at start naming the flag and the file when a credential file is bad', async () => {
    await using dir = tempDir('faultline-sec-e2e-');
    const missing = join(dir.path, 'missing.pem');
    await using agent = startBin('agent', 'faultline-agent', [
      'serve',
      '--agent-id',
      'x',
      '--data-dir',
      dir.path,
      '--tls-ca',
      missing,
    ]);
    expect(await agent.exited).toBe(2);
    expect(agent.output()).toContain(`error: --tls-ca ${missing}: no such file`);

    const tokens = join(dir.path, 'empty.tokens');
    writeFileSync(tokens, '# no token yet\n');
    await using controller = startBin('controller', 'faultline-controller', [
      '--listen',
      '127.0.0.1:0',
      '--token-file',
      tokens,
      '--agent-token-file',
      tokens,
    ]);
    expect(await controller.exited).toBe(1);
    expect(controller.output()).toContain(`--token-file ${tokens}: the file holds no token`);
  });
});

describe('a real agent ControlLink under an mTLS controller', () => {
  it('registers with its certificate and runs an experiment; another id or no certificate is refused', async () => {
    await using redis = await startRedis();
    await using dir = tempDir('faultline-sec-agent-');
    const pki = await makeTestCertificates(join(dir.path, 'pki'), { clients: ['real-1', 'operator'] });
    const tokens = join(dir.path, 'cli.tokens');
    writeFileSync(tokens, `${CLI_TOKEN}\n`);
    const server = new ControllerServer(compileExperiment, {
      listen: '127.0.0.1:0',
      redisUrl: redis.url,
      leaseMs: 3000,
      heartbeatMs: 300,
      scheduler: { startDelayMs: 300, ackTimeoutMs: 3000 },
      tlsCertFile: pki.server.cert,
      tlsKeyFile: pki.server.key,
      tlsClientCaFile: pki.ca.cert,
      tokenFile: tokens,
    });
    await server.start();
    const address = `127.0.0.1:${server.port}`;
    const agents: Agent[] = [];
    const links: ControlLink[] = [];
    const client = new ControlClient(address, {
      tlsCaFile: pki.ca.cert,
      tlsCertFile: pki.client('operator').cert,
      tlsKeyFile: pki.client('operator').key,
      token: CLI_TOKEN,
    });
    try {
      const link = async (agentId: string, cert?: string): Promise<ControlLink> => {
        const agent = new Agent({ agentId, dataDir: join(dir.path, agentId), samplingIntervalMs: 200 });
        const l = new ControlLink(agent, {
          controller: address,
          reconnectDelayMs: 200,
          tlsCaFile: pki.ca.cert,
          ...(cert ? { tlsCertFile: pki.client(cert).cert, tlsKeyFile: pki.client(cert).key } : {}),
        });
        agents.push(agent);
        links.push(l);
        await agent.start();
        l.start();
        return l;
      };
      await link('real-1', 'real-1');
      const impostor = await link('real-2', 'real-1');
      const anonymous = await link('real-3');
      await eventually(() => server.scheduler.connectedAgentIds().includes('real-1'), {
        name: 'real-1 attached',
        timeoutMs: 10_000,
      });
      await eventually(() => impostor.lastError?.startsWith('PERMISSION_DENIED') === true, {
        name: 'impostor refused',
      });
      await eventually(() => anonymous.lastError?.includes('certificate required') === true, {
        name: 'no certificate refused',
      });

      const exp = await client.start(`apiVersion: faultline/v1
kind: Experiment
metadata: { name: mtls }
spec:
  duration: 2s
  sampling: { interval: 200ms }
  baseline: { sleep: 500ms }
  anomalies:
    mode: scheduled
    catalog:
      - { name: pause, stall: { extra: 200ms } }
    schedule:
      - { at: 0s, anomaly: pause, duration: 1s }
`);
      expect(exp.agentIds).toEqual(['real-1']);
      const done = await eventually(
        async () => {
          const e = await client.get(exp.experimentId);
          return e.state === ExperimentState.EXPERIMENT_STATE_SUCCEEDED && e;
        },
        { name: 'experiment succeeded', timeoutMs: 15_000 },
      );
      expect(done.truth.map((t) => [t.agentId, t.anomalyType])).toEqual([['real-1', 'pause']]);
      expect(server.scheduler.connectedAgentIds()).toEqual(['real-1']);
    } finally {
      client.close();
      for (const l of links) l.close();
      for (const a of agents) await a.stop();
      await server.stop();
    }
  });
});
