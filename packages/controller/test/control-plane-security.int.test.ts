// The control plane with TLS, mTLS and tokens: a real controller (gRPC + redis-server), the
// CLI's ControlClient and runCli in process, scripted agents with their own certificates.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  credentials,
  makeClientConstructor,
  Metadata,
  status,
  type ChannelCredentials,
  type ServiceError,
} from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { AgentServiceClient, ExperimentState, type AgentInfo, type Plan } from '@faultline/protocol';
import {
  eventually,
  makeTestCertificates,
  startRedis,
  tempDir,
  type RedisServer,
  type TempDir,
  type TestCertificates,
} from '@faultline/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient, ControllerCallError } from '../src/cli/control-client.js';
import { runCli } from '../src/cli/main.js';
import { ControllerServer, type ControllerOptions } from '../src/controller-server.js';
import type { ExperimentCompiler } from '../src/scheduler.js';
import { ScriptedAgent } from './scripted-agent.js';

const CLI_TOKEN = 'cli-token-0123456789abcdef';
const NEW_CLI_TOKEN = 'cli-token-rotated-fedcba9876543210';
const AGENT_TOKEN = 'agent-token-0123456789abcdef';

/** Every selected agent gets one 300 ms stall injection in a 700 ms plan. */
const oneStall: ExperimentCompiler = (_spec, agents: AgentInfo[], { startUnixNano, experimentId }) => {
  const ms = (n: number): bigint => BigInt(n) * 1_000_000n;
  const plans: Plan[] = agents.map((a) => ({
    planId: `${experimentId}-${a.agentId}`,
    experimentId,
    agentId: a.agentId,
    startUnixNano,
    endUnixNano: startUnixNano + ms(700),
    samplingIntervalMs: 100,
    baseline: undefined,
    phases: [],
    injections: [
      {
        injectionId: `${experimentId}-${a.agentId}-0`,
        anomalyType: 'stall',
        startUnixNano: startUnixNano + ms(100),
        endUnixNano: startUnixNano + ms(400),
        workload: { kind: { $case: 'stall', value: { extraMs: 100 } } },
        replacesBaseline: true,
        phase: '',
      },
    ],
    deadManTimeoutMs: 0,
  }));
  return { name: 'secure', plans, onMissingAck: 'abort', injectionsPlanned: plans.length };
};

let redis: RedisServer;
let dir: TempDir;
let certs: TestCertificates;
/** A second CA and certificates it signed: trusted by nobody here. */
let rogue: TestCertificates;

beforeAll(async () => {
  redis = await startRedis();
  dir = tempDir('faultline-security-');
  certs = await makeTestCertificates(join(dir.path, 'pki'), { clients: ['agent-1', 'agent-2', 'operator'] });
  rogue = await makeTestCertificates(join(dir.path, 'rogue'), { clients: ['agent-1'] });
});
afterAll(async () => {
  await redis?.dispose();
  await dir?.[Symbol.asyncDispose]();
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

function tokenFile(name: string, ...lines: string[]): string {
  const path = join(dir.path, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

let prefix = 0;
async function startController(
  options: ControllerOptions,
): Promise<{ server: ControllerServer; address: string }> {
  const server = new ControllerServer(oneStall, {
    listen: '127.0.0.1:0',
    redisUrl: redis.url,
    redisPrefix: `sec${prefix++}`,
    leaseMs: 3000,
    heartbeatMs: 500,
    scheduler: { startDelayMs: 200, ackTimeoutMs: 2000, haltTimeoutMs: 2000, finishGraceMs: 3000 },
    ...options,
  });
  await server.start();
  cleanups.push(() => server.stop());
  return { server, address: `127.0.0.1:${server.port}` };
}

function client(
  address: string,
  options: ConstructorParameters<typeof ControlClient>[1] = {},
): ControlClient {
  const c = new ControlClient(address, { timeoutMs: 5000, ...options });
  cleanups.push(() => c.close());
  return c;
}

async function callError(p: Promise<unknown>): Promise<ControllerCallError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ControllerCallError);
  return err as ControllerCallError;
}

/** `faultline ARGS` in process: the exit code and what it wrote. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => (out += s), err: (s) => (err += s), setExitCode: () => {} });
  return { code, out, err };
}

const HealthClient = makeClientConstructor(healthService, 'Health');

/** grpc.health.v1 Check with no token: the serving status, or the call's error. */
function healthCheck(address: string, creds: ChannelCredentials): Promise<string> {
  const c = new HealthClient(address, creds);
  return new Promise((resolve) => {
    c.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (m: { service: string }) => Buffer.from(healthService.Check!.requestSerialize(m)),
      (b: Buffer) => healthService.Check!.responseDeserialize(b) as { status: string },
      { service: '' },
      new Metadata(),
      { deadline: Date.now() + 5000 },
      (err: ServiceError | null, res?: { status: string }) => {
        c.close();
        resolve(err ? `error ${status[err.code]}` : String(res?.status));
      },
    );
  });
}

const ssl = (ca: string, client?: { cert: string; key: string }): ChannelCredentials =>
  credentials.createSsl(
    readFileSync(ca),
    client ? readFileSync(client.key) : null,
    client ? readFileSync(client.cert) : null,
  );

function register(c: AgentServiceClient, agentId: string, token?: string): Promise<ServiceError | undefined> {
  const md = new Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) =>
    c.register(
      {
        agent: {
          agentId,
          hostname: agentId,
          labels: {},
          caps: undefined,
          version: 'test',
          cpuCount: 1,
          memoryTotalBytes: 0n,
          hostIds: [agentId],
        },
      },
      md,
      { deadline: Date.now() + 5000 },
      (err) => resolve(err ?? undefined),
    ),
  );
}

describe('control plane over TLS', () => {
  it('serves a CLI that trusts its CA, and tells a plaintext or untrusting client what to do', async () => {
    const { address } = await startController({
      tlsCertFile: certs.server.cert,
      tlsKeyFile: certs.server.key,
    });
    expect((await client(address, { tlsCaFile: certs.ca.cert }).listAgents()).agents).toEqual([]);

    const plain = await callError(client(address).listAgents());
    expect(plain.grpcCode).toBe(status.UNAVAILABLE);
    expect(plain.message).toContain(`cannot reach the controller at ${address}`);
    expect(plain.message).toContain('if the controller serves TLS, pass --tls-ca FILE');

    const untrusting = await callError(client(address, { tls: true }).listAgents());
    expect(untrusting.message).toContain('unable to verify the first certificate');
    expect(untrusting.message).toContain(
      "pass --tls-ca FILE with the CA that signed the controller's certificate",
    );

    const wrongName = await callError(
      client(address, { tlsCaFile: certs.ca.cert, tlsServerName: 'controller.example' }).listAgents(),
    );
    expect(wrongName.message).toContain('--tls-server-name');

    const r = await cli(['--controller', address, 'agents']);
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/^error: cannot reach the controller at .* if the controller serves TLS/);
  });

  it('tells a TLS client of a plaintext controller to drop TLS', async () => {
    const { address } = await startController({});
    const err = await callError(client(address, { tlsCaFile: certs.ca.cert }).listAgents());
    expect(err.message).toContain('wrong version number');
    expect(err.message).toContain('the controller does not speak TLS');
  });

  it('names the flag and the file when a credential file is missing or not PEM', async () => {
    const notPem = tokenFile('not-pem.crt', 'hello');
    expect(() => new ControllerServer(oneStall, { tlsCertFile: certs.server.cert })).toThrow(
      '--tls-cert and --tls-key go together, got only --tls-cert',
    );
    const missing = new ControllerServer(oneStall, {
      redisUrl: redis.url,
      tlsCertFile: join(dir.path, 'nope.crt'),
      tlsKeyFile: certs.server.key,
    });
    await expect(missing.start()).rejects.toThrow(`--tls-cert ${join(dir.path, 'nope.crt')}: no such file`);
    const wrongKind = new ControllerServer(oneStall, {
      redisUrl: redis.url,
      tlsCertFile: certs.server.cert,
      tlsKeyFile: notPem,
    });
    await expect(wrongKind.start()).rejects.toThrow(
      `--tls-key ${notPem}: not a PEM private key (no "-----BEGIN PRIVATE KEY-----" block)`,
    );
    const mismatched = new ControllerServer(oneStall, {
      redisUrl: redis.url,
      tlsCertFile: certs.server.cert,
      tlsKeyFile: certs.client('operator').key,
    });
    await expect(mismatched.start()).rejects.toThrow(
      `--tls-key ${certs.client('operator').key} does not fit`,
    );

    const r = await cli(['--tls-ca', join(dir.path, 'no-ca.crt'), 'agents']);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`error: --tls-ca ${join(dir.path, 'no-ca.crt')}: no such file\n`);
  });
});

describe('control plane with tokens', () => {
  async function tokenController() {
    const tokens = tokenFile('cli.tokens', '# operators', CLI_TOKEN, '', '# ci', 'another-token-0123456789');
    const agentTokens = tokenFile('agent.tokens', AGENT_TOKEN);
    const started = await startController({
      tlsCertFile: certs.server.cert,
      tlsKeyFile: certs.server.key,
      tokenFile: tokens,
      agentTokenFile: agentTokens,
    });
    return { ...started, tokens };
  }

  it('refuses ControlService calls without the right token, in one line with exit 1', async () => {
    const { server, address } = await tokenController();
    expect(server.security()).toEqual({ tls: true, mtls: false, controlTokens: 2, agentTokens: 1 });
    const base = ['--controller', address, '--tls-ca', certs.ca.cert];

    const none = await cli([...base, 'agents']);
    expect(none.code).toBe(1);
    expect(none.err).toBe(
      `error: the controller at ${address} refused the call (unauthenticated): ControlService requires a token: ` +
        'send metadata "authorization: Bearer <token>"; pass --token-file FILE or set FAULTLINE_TOKEN / FAULTLINE_TOKEN_FILE\n',
    );

    const wrong = await cli([
      ...base,
      '--token-file',
      tokenFile('wrong.token', 'not-the-token-0123456789'),
      'agents',
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.err.trim().split('\n')).toHaveLength(1);
    expect(wrong.err).toContain("the token was not accepted (it is not in the controller's --token-file)");
    expect(wrong.err).not.toContain('not-the-token');

    const right = await cli([
      ...base,
      '--token-file',
      tokenFile('right.token', CLI_TOKEN),
      'agents',
      '-o',
      'json',
    ]);
    expect(right).toEqual({ code: 0, out: expect.stringContaining('"agents": []') as string, err: '' });

    // An agent token is not a CLI token.
    const agentsToken = await callError(
      client(address, { tlsCaFile: certs.ca.cert, token: AGENT_TOKEN }).list(),
    );
    expect(agentsToken.grpcCode).toBe(status.UNAUTHENTICATED);
  });

  it('refuses StartExperiment, WatchExperiment and Halt without a token, and runs nothing', async () => {
    const { address } = await tokenController();
    const agent = new ScriptedAgent(
      'agent-1',
      address,
      {},
      { credentials: ssl(certs.ca.cert), token: AGENT_TOKEN },
    );
    cleanups.push(() => agent.close());
    await agent.register();
    agent.watch();
    const operator = client(address, { tlsCaFile: certs.ca.cert, token: CLI_TOKEN });
    await eventually(async () => (await operator.listAgents()).agents.some((a) => a.connected), {
      name: 'agent connected',
    });

    const anonymous = client(address, { tlsCaFile: certs.ca.cert });
    const start = await callError(anonymous.start('anything'));
    expect(start.grpcCode).toBe(status.UNAUTHENTICATED);
    const watch = await callError(anonymous.watch('exp-1', () => {}));
    expect(watch.grpcCode).toBe(status.UNAUTHENTICATED);
    expect((await callError(anonymous.halt('', 'no'))).grpcCode).toBe(status.UNAUTHENTICATED);
    expect(await operator.list()).toEqual([]);
    expect(agent.plans).toEqual([]);

    const exp = await operator.start('anything');
    expect(exp.state).toBe(ExperimentState.EXPERIMENT_STATE_RUNNING);
    const done = await eventually(
      async () => {
        const e = await operator.get(exp.experimentId);
        return e.state === ExperimentState.EXPERIMENT_STATE_SUCCEEDED && e;
      },
      { name: 'experiment succeeded', timeoutMs: 10_000 },
    );
    expect(done.truth.map((t) => t.agentId)).toEqual(['agent-1']);
  });

  it('lets agents in with an agent token only', async () => {
    const { address } = await tokenController();
    const agents = new AgentServiceClient(address, ssl(certs.ca.cert));
    cleanups.push(() => agents.close());
    expect((await register(agents, 'agent-1'))?.code).toBe(status.UNAUTHENTICATED);
    const wrong = await register(agents, 'agent-1', CLI_TOKEN);
    expect(wrong?.code).toBe(status.UNAUTHENTICATED);
    expect(wrong?.details).toBe(
      "the agent token was not accepted (it is not in the controller's --agent-token-file)",
    );
    expect(await register(agents, 'agent-1', AGENT_TOKEN)).toBeUndefined();
  });

  it('answers health checks without a token, over TLS', async () => {
    const { address } = await tokenController();
    expect(await healthCheck(address, ssl(certs.ca.cert))).toBe('SERVING');
  });

  it('takes rotated tokens on reload and keeps the old ones when the file is bad', async () => {
    const { server, address, tokens } = await tokenController();
    const old = client(address, { tlsCaFile: certs.ca.cert, token: CLI_TOKEN });
    const rotated = client(address, { tlsCaFile: certs.ca.cert, token: NEW_CLI_TOKEN });
    expect((await callError(rotated.list())).grpcCode).toBe(status.UNAUTHENTICATED);

    writeFileSync(tokens, `${CLI_TOKEN}\n${NEW_CLI_TOKEN}\n`);
    expect(server.reloadTokens()).toEqual({ controlTokens: 2, agentTokens: 1 });
    expect(await rotated.list()).toEqual([]);
    expect(await old.list()).toEqual([]);

    writeFileSync(tokens, `${NEW_CLI_TOKEN}\n`);
    server.reloadTokens();
    expect((await callError(old.list())).grpcCode).toBe(status.UNAUTHENTICATED);

    writeFileSync(tokens, '# nothing here\nshort\n');
    expect(() => server.reloadTokens()).toThrow(
      `--token-file ${tokens}: line 2: a token must be at least 16 characters, got 5`,
    );
    expect(await rotated.list()).toEqual([]);
  });

  it('will not start with a token for one service and the other open', () => {
    expect(
      () => new ControllerServer(oneStall, { tokenFile: tokenFile('only-cli.tokens', CLI_TOKEN) }),
    ).toThrow(
      '--token-file protects ControlService but agents would connect unauthenticated: set --agent-token-file or --tls-client-ca too',
    );
    expect(
      () => new ControllerServer(oneStall, { agentTokenFile: tokenFile('only-agent.tokens', AGENT_TOKEN) }),
    ).toThrow('--agent-token-file protects AgentService but ControlService (start, halt) would be open');
  });
});

describe('control plane with mutual TLS', () => {
  async function mtlsController(withToken = true) {
    return startController({
      tlsCertFile: certs.server.cert,
      tlsKeyFile: certs.server.key,
      tlsClientCaFile: certs.ca.cert,
      ...(withToken ? { tokenFile: tokenFile('mtls-cli.tokens', CLI_TOKEN) } : {}),
    });
  }

  it('runs an experiment with an agent whose certificate names its id', async () => {
    const { server, address } = await mtlsController();
    expect(server.security()).toEqual({ tls: true, mtls: true, controlTokens: 1, agentTokens: 0 });
    const agent = new ScriptedAgent(
      'agent-1',
      address,
      {},
      { credentials: ssl(certs.ca.cert, certs.client('agent-1')) },
    );
    cleanups.push(() => agent.close());
    await agent.register();
    agent.watch();
    const operator = client(address, {
      tlsCaFile: certs.ca.cert,
      tlsCertFile: certs.client('operator').cert,
      tlsKeyFile: certs.client('operator').key,
      token: CLI_TOKEN,
    });
    await eventually(async () => (await operator.listAgents()).agents.some((a) => a.connected), {
      name: 'agent connected',
    });
    const exp = await operator.start('anything');
    const done = await eventually(
      async () => {
        const e = await operator.get(exp.experimentId);
        return e.state === ExperimentState.EXPERIMENT_STATE_SUCCEEDED && e;
      },
      { name: 'experiment succeeded', timeoutMs: 10_000 },
    );
    expect(done.truth).toHaveLength(1);

    // A certificate alone is not the CLI token.
    const certOnly = client(address, {
      tlsCaFile: certs.ca.cert,
      tlsCertFile: certs.client('agent-1').cert,
      tlsKeyFile: certs.client('agent-1').key,
    });
    expect((await callError(certOnly.start('anything'))).grpcCode).toBe(status.UNAUTHENTICATED);
  });

  it('refuses an agent presenting the certificate of another agent, on every call and report', async () => {
    const { address } = await mtlsController();
    const asAgent2 = new AgentServiceClient(address, ssl(certs.ca.cert, certs.client('agent-2')));
    cleanups.push(() => asAgent2.close());
    const err = await register(asAgent2, 'agent-1');
    expect(err?.code).toBe(status.PERMISSION_DENIED);
    expect(err?.details).toBe(
      'the client certificate (names: agent-2) is not for agent "agent-1": ' +
        "an agent's certificate must carry its agent id as CN or DNS SAN",
    );
    expect(await register(asAgent2, 'agent-2')).toBeUndefined();

    const watchErr = await new Promise<ServiceError>((resolve) => {
      const s = asAgent2.watchAssignments({ agentId: 'agent-1' });
      s.on('data', () => {});
      s.on('error', resolve);
    });
    expect(watchErr.code).toBe(status.PERMISSION_DENIED);

    const reportErr = await new Promise<ServiceError>((resolve) => {
      const s = asAgent2.streamReports();
      s.on('data', () => {});
      s.on('error', resolve);
      s.write({
        seq: 1n,
        report: {
          agentId: 'agent-1',
          report: { $case: 'planAck', value: { planId: 'p', experimentId: 'e', accepted: true, reason: '' } },
        },
      });
    });
    expect(reportErr.code).toBe(status.PERMISSION_DENIED);
  });

  it('refuses clients without a certificate or with one from another CA, and says so', async () => {
    const { address } = await mtlsController();
    const noCert = new AgentServiceClient(address, ssl(certs.ca.cert));
    const rogueCert = new AgentServiceClient(address, ssl(certs.ca.cert, rogue.client('agent-1')));
    cleanups.push(
      () => noCert.close(),
      () => rogueCert.close(),
    );
    const e1 = await register(noCert, 'agent-1');
    expect(e1?.code).toBe(status.UNAVAILABLE);
    expect(e1?.details).toContain('certificate required');
    expect((await register(rogueCert, 'agent-1'))?.code).toBe(status.UNAVAILABLE);

    const r = await cli([
      '--controller',
      address,
      '--tls-ca',
      certs.ca.cert,
      '--token-file',
      tokenFile('t', CLI_TOKEN),
      'agents',
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'the controller requires a client certificate (mTLS): pass --tls-cert FILE and --tls-key FILE',
    );
  });

  it('answers health checks from a client with a certificate and no token', async () => {
    const { address } = await mtlsController();
    expect(await healthCheck(address, ssl(certs.ca.cert, certs.client('operator')))).toBe('SERVING');
  });

  it('lets any certificate of the CA use ControlService when no token file is set', async () => {
    const { address } = await mtlsController(false);
    const op = client(address, {
      tlsCaFile: certs.ca.cert,
      tlsCertFile: certs.client('operator').cert,
      tlsKeyFile: certs.client('operator').key,
    });
    expect(await op.list()).toEqual([]);
  });
});
