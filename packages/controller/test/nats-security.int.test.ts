/**
 * The data plane's permissions against a real nats-server configured with what
 * `faultline nats-config` generates: each role can do its job and nothing else.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeys, type NatsConnection } from '@nats-io/transport-node';
import { isNatsRefusalError, SamplePublisher, type AgentError } from '@faultline/agent';
import { exportExperiment, StreamRunner, SyntheticHost } from '@faultline/detector';
import {
  decodeScoreBatch,
  encodeSampleBatch,
  natsRefusalOf,
  partitionOf,
  resolveNatsAuthOptions,
  StreamName,
  subjects,
  TruthWindow,
  type NatsAuthOptions,
  type ResolvedNatsAuth,
} from '@faultline/protocol';
import { eventually, startNats, tempDir, type NatsServer, type TempDir } from '@faultline/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { seedPath } from '../src/cli/nats-config-command.js';
import { natsUser, renderNatsAuthorization, type NatsRole, type NatsUser } from '../src/nats-permissions.js';
import { ensureDataPlaneStreams, resolveControllerNatsAuth } from '../src/nats-streams.js';

const T0 = 1_763_000_000_000_000_000n;
const READER_PASSWORD = 'correct horse battery staple';

let dir: TempDir;
let nats: NatsServer;
let secrets: string;
let generated: string;

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (s) => (out += s), err: (s) => (err += s), setExitCode: () => {} });
  return { code, out, err };
}

const seedOf = (role: NatsRole, identity: string): string => seedPath(secrets, role, identity);

function auth(options: NatsAuthOptions): ResolvedNatsAuth {
  return resolveNatsAuthOptions(options);
}

function connectAs(role: NatsRole, identity: string): Promise<NatsConnection> {
  const a = auth({ nkeyFile: seedOf(role, identity), identity });
  return connect({ servers: nats.url, ...a.connectionOptions });
}

async function messages(stream: string): Promise<number> {
  const nc = await connectAs('controller', 'controller');
  try {
    return (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
  } finally {
    await nc.close();
  }
}

beforeAll(async () => {
  dir = tempDir('faultline-nats-security-');
  secrets = join(dir.path, 'secrets');
  const conf = join(dir.path, 'faultline-users.conf');
  const r = await cli([
    'nats-config',
    '--agents',
    'agent-1,agent-2',
    '--secrets-dir',
    secrets,
    '--out',
    conf,
  ]);
  expect(r).toMatchObject({ code: 0, err: '' });
  generated = readFileSync(conf, 'utf8');
  // The generated users, plus one user/password user with the cli role, to test passwords too.
  const users: NatsUser[] = [
    ...(['controller', 'detector', 'cli'] as const).map((role) => userFromSeed(role, role)),
    userFromSeed('agent', 'agent-1'),
    userFromSeed('agent', 'agent-2'),
    natsUser('cli', 'reader', { password: READER_PASSWORD }),
  ];
  nats = await startNats({ jetstream: true, config: renderNatsAuthorization(users) });
});

afterAll(async () => {
  await nats?.dispose();
  await dir?.[Symbol.asyncDispose]();
});

function userFromSeed(role: NatsRole, identity: string): NatsUser {
  const seed = readFileSync(seedOf(role, identity), 'utf8').trim();
  return natsUser(role, identity, { nkey: nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey() });
}

describe('faultline nats-config', () => {
  it('prints one nkey user per identity with its permissions, and keeps the seeds on a re-run', async () => {
    const roles = (['controller', 'detector', 'cli'] as const).map((role) => userFromSeed(role, role));
    const agents = [userFromSeed('agent', 'agent-1'), userFromSeed('agent', 'agent-2')];
    expect(generated).toContain(renderNatsAuthorization([...roles, ...agents]));
    expect(generated).not.toContain(readFileSync(seedOf('agent', 'agent-1'), 'utf8').trim());
    // Adding an agent keeps the others' keys; --rotate replaces exactly the ones it names.
    const again = await cli(['nats-config', '--agents', 'agent-1,agent-2,agent-3', '--secrets-dir', secrets]);
    expect(again.code).toBe(0);
    expect(again.err).toBe(
      `nats-config: 6 users (controller, detector, cli, 3 agents); 1 new nkeys, 5 kept, 0 rotated; seeds in ${secrets}\n`,
    );
    expect(again.out).toContain(
      renderNatsAuthorization([...roles, ...agents, userFromSeed('agent', 'agent-3')]),
    );
    const before = userFromSeed('agent', 'agent-3');
    const rotated = await cli([
      'nats-config',
      '--agents',
      'agent-1,agent-2,agent-3',
      '--secrets-dir',
      secrets,
      '--rotate',
      'agent-3',
    ]);
    expect(rotated.err).toContain('0 new nkeys, 5 kept, 1 rotated');
    expect(userFromSeed('agent', 'agent-3').auth).not.toEqual(before.auth);
    expect(userFromSeed('agent', 'agent-1')).toEqual(agents[0]);
  });

  it('refuses agent ids that cannot name a user and a file', async () => {
    const r = await cli(['nats-config', '--agents', 'a/b', '--secrets-dir', secrets]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      `error: agent id must be letters, digits, '_' or '-' (it names a NATS user and a seed file), got "a/b"\n`,
    );
    expect((await cli(['nats-config', '--agents', 'cli', '--secrets-dir', secrets])).err).toBe(
      'error: agent id "cli" is the name of a role: give the agent another id\n',
    );
  });
});

describe('NATS permissions per role', () => {
  it('lets the controller create the streams, and refuses an unauthenticated client in one line', async () => {
    await expect(
      ensureDataPlaneStreams(nats.url, resolveControllerNatsAuth({}), { storage: 'memory' }),
    ).rejects.toThrow(`NATS at ${nats.url} refused the credentials: Authorization Violation`);
    const controller = resolveControllerNatsAuth({ nkeyFile: seedOf('controller', 'controller') });
    expect(controller.inboxPrefix).toBe('_INBOX_controller');
    await ensureDataPlaneStreams(nats.url, controller, { storage: 'memory' });
    const nc = await connectAs('controller', 'controller');
    const names: string[] = [];
    for await (const name of (await jetstreamManager(nc)).streams.names()) names.push(name);
    await nc.close();
    expect(names.sort()).toEqual(['FL_ANOMALIES', 'FL_DEADLETTER', 'FL_SAMPLES', 'FL_SCORES', 'FL_TRUTH']);
  });

  it('lets agent-1 publish its samples and truth, and refuses agent-1 publishing as agent-2 naming the subject', async () => {
    const samplesBefore = await messages(StreamName.Samples);
    const truthBefore = await messages(StreamName.Truth);
    const errors: AgentError[] = [];
    const a1 = auth({ nkeyFile: seedOf('agent', 'agent-1'), identity: 'agent-1' });
    const publisher = SamplePublisher.open({
      agentId: 'agent-1',
      servers: nats.url,
      spool: { dir: join(dir.path, 'spool-agent-1') },
      maxBatchSamples: 50,
      connection: a1.connectionOptions,
      onError: (e) => errors.push(e),
    });
    for (const s of new SyntheticHost({
      hostId: 'agent-1',
      seed: 1,
      startUnixNano: T0,
      experimentId: 'exp-1',
    }).take(150)) {
      publisher.publish(s);
    }
    publisher.publishTruth(
      TruthWindow.fromPartial({
        experimentId: 'exp-1',
        agentId: 'agent-1',
        hostId: 'agent-1',
        injectionId: 'inj-1',
        anomalyType: 'memory_spike',
        phase: 'main',
        requestedStartUnixNano: T0 + 5_000_000_000n,
        requestedEndUnixNano: T0 + 8_000_000_000n,
        actualStartUnixNano: T0 + 5_000_000_000n,
        actualEndUnixNano: T0 + 8_000_000_000n,
        reachedTarget: true,
      }),
    );
    publisher.flushBatch();
    expect(await publisher.waitDrained(10_000)).toBe(true);
    await publisher.close();
    expect(errors).toEqual([]);
    expect(publisher.stats()).toMatchObject({ samplesPublished: 150, samplesLost: 0, truthPublished: 1 });
    expect(await messages(StreamName.Samples)).toBe(samplesBefore + 3);
    expect(await messages(StreamName.Truth)).toBe(truthBefore + 1);

    // With agent-1's credentials, agent-2's subject is not allowed.
    const nc = await connect({ servers: nats.url, ...a1.connectionOptions });
    const subject = subjects.samples(partitionOf('agent-2'), 'agent-2');
    const batch = {
      agentId: 'agent-2',
      seq: 1n,
      partition: partitionOf('agent-2'),
      sentUnixNano: T0,
      samples: [],
      lostSamplesTotal: 0n,
    };
    const err = await jetstream(nc)
      .publish(subject, encodeSampleBatch(batch), { timeout: 5000 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    await nc.close();
    const refused = natsRefusalOf(err, nats.url);
    expect(refused?.message).toBe(`NATS at ${nats.url} refused publish to ${subject}: Permissions Violation`);
    expect(await messages(StreamName.Samples)).toBe(samplesBefore + 3);
  });

  it('keeps an agent spooling while NATS refuses it, counts the refusals, and sends everything once fixed', async () => {
    const before = await messages(StreamName.Samples);
    const seedFile = join(dir.path, 'agent-2.nk');
    // A seed of a user the server does not know: refused until the right seed is put in place.
    writeFileSync(seedFile, new TextDecoder().decode(nkeys.createUser().getSeed()));
    const errors: AgentError[] = [];
    const publisher = SamplePublisher.open({
      agentId: 'agent-2',
      servers: nats.url,
      spool: { dir: join(dir.path, 'spool-agent-2') },
      maxBatchSamples: 10,
      reconnectTimeWaitMs: 50,
      connection: auth({ nkeyFile: seedFile, identity: 'agent-2' }).connectionOptions,
      onError: (e) => errors.push(e),
    });
    try {
      for (const s of new SyntheticHost({ hostId: 'agent-2', seed: 2, startUnixNano: T0 }).take(30)) {
        publisher.publish(s);
      }
      publisher.flushBatch();
      await eventually(() => publisher.stats().natsRefusals >= 2, { timeoutMs: 10_000, name: 'refusals' });
      const refusal = errors.find(isNatsRefusalError);
      expect(refusal?.message).toBe(`NATS at ${nats.url} refused the credentials: Authorization Violation`);
      expect(publisher.stats()).toMatchObject({ samplesSpooled: 30, samplesPublished: 0, samplesLost: 0 });
      expect(await messages(StreamName.Samples)).toBe(before);

      // The seed file is read again at every connect: a fixed (rotated) file is picked up.
      writeFileSync(seedFile, readFileSync(seedOf('agent', 'agent-2')));
      await eventually(() => publisher.stats().samplesPublished === 30, {
        timeoutMs: 15_000,
        name: 'drained',
      });
      expect(publisher.stats()).toMatchObject({ samplesSpooled: 0, samplesLost: 0 });
      expect(await messages(StreamName.Samples)).toBe(before + 3);
    } finally {
      await publisher.close();
    }
  });

  it('lets the detector consume samples and publish scores', async () => {
    const nc = await connectAs('detector', 'detector');
    const runner = new StreamRunner(nc, {
      replicaId: 'det-0',
      partitions: 16,
      checkpointIntervalMs: 500,
      lagPollMs: 200,
      streams: { storage: 'memory' },
    });
    try {
      await runner.start();
      // agent-1's 150 samples and agent-2's 30 are all scored.
      await eventually(async () => (await scoredSamples()) === 180, {
        timeoutMs: 20_000,
        name: 'all scored',
      });
    } finally {
      await runner.stop();
      await nc.drain();
    }
  });

  it('lets the CLI role export but not publish samples', async () => {
    const nc = await connectAs('cli', 'cli');
    try {
      const manifest = await exportExperiment({
        connection: nc,
        experimentId: 'exp-1',
        outDir: join(dir.path, 'export'),
      });
      expect(manifest).toMatchObject({ samples: 150, hosts: 1, truthWindows: 1 });
      const before = await messages(StreamName.Samples);
      const err = await jetstream(nc)
        .publish(subjects.samples(partitionOf('agent-1'), 'agent-1'), new Uint8Array([1]), { timeout: 5000 })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(natsRefusalOf(err, nats.url)?.refused).toBe('publish');
      expect(await messages(StreamName.Samples)).toBe(before);
    } finally {
      await nc.close();
    }
  });

  it('makes a wrong password one line on stderr and exit 1 in the CLI', async () => {
    const wrong = join(dir.path, 'wrong-password');
    writeFileSync(wrong, 'not the password\n');
    const args = ['export', 'exp-1', '--out', join(dir.path, 'export-2'), '--nats', nats.url];
    const r = await cli([...args, '--nats-user', 'reader', '--nats-password-file', wrong]);
    expect(r).toEqual({
      code: 1,
      out: '',
      err: `error: NATS at ${nats.url} refused the credentials: Authorization Violation\n`,
    });
    const right = join(dir.path, 'right-password');
    writeFileSync(right, `${READER_PASSWORD}\n`);
    const ok = await cli([...args, '--nats-user', 'reader', '--nats-password-file', right]);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('150 samples from 1 hosts, 1 truth windows');
  });
});

/** Scores in FL_SCORES, read as the CLI role. */
async function scoredSamples(): Promise<number> {
  const nc = await connectAs('cli', 'cli');
  try {
    const info = await (await jetstreamManager(nc)).streams.info(StreamName.Scores);
    if (info.state.messages === 0) return 0;
    const consumer = await jetstream(nc).consumers.get(StreamName.Scores, {
      deliver_policy: DeliverPolicy.All,
    });
    let n = 0;
    const batch = await consumer.fetch({ max_messages: info.state.messages, expires: 5000 });
    for await (const m of batch) {
      n += decodeScoreBatch(m.data).scores.length;
      if (m.info.pending === 0) break;
    }
    return n;
  } finally {
    await nc.close();
  }
}
