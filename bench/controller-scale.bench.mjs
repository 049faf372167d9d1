// Controller at fleet scale: plan compile time and StartExperiment-to-all-acked for 10,000
// registered agents, and halt fan-out to the last confirmation at 1,000 agents.
//
//   pnpm build && node bench/controller-scale.bench.mjs [--agents 10000] [--runs 3]
//       [--halt-agents 1000] [--halts 20] [--workers 4] [--per-channel 50] [--profile]
//       [--experiments all|autopipelining,no-heartbeats,combined]
//       [--out FILE] [--quick]
//
// A real redis-server (started here on a free port, no persistence) and the real
// ControllerServer (in this process, with `compileExperiment` from @faultline/spec, default
// options except longer ack/halt timeouts so that a slow run is measured instead of aborted).
// The agents are lightweight but real gRPC clients, spread over `--workers` child processes
// (this file with `--agents-worker`), `--per-channel` agents sharing one AgentServiceClient
// (one HTTP/2 connection): each registers, holds WatchAssignments, acks every plan with
// one message each on its StreamReports stream (as the real agent does) and confirms every
// halt the same way. They run no workload.
//
// Measured: compileExperiment on 10,000 AgentInfo alone (median of runs after warm-up); per
// StartExperiment run the call-to-return time and, from the agents' side, when the first and
// last plan arrived and when the last ack was taken (the controller's answer arrived), with where
// the controller spent the time (its RedisStore calls traced, Redis command counts); then the
// Halt of that experiment. Halt at 1,000 agents: `--halts` experiments started and halted: the
// reported confirmationMs and our own call-to-last-confirmation. `--profile` also takes a cpu
// profile of the controller during one more StartExperiment; `--experiments` repeats the 10,000-agent
// runs with local changes applied to the controller at runtime (see VARIANTS: nothing shipped is
// changed), to measure what a proposed fix gains. Writes bench/results/controller-scale.md.
//
// Targets: StartExperiment to all acked at 10,000 agents <= 2 s; halt p99 <= 1 s at 1,000.
import { fork, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, release } from 'node:os';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AgentServiceClient, ControlServiceClient } from '../packages/protocol/dist/index.js';
import { CLK_TCK, cpuTicks, freePort, loadavg, until } from './lib.mjs';

// grpc-js is a dependency of the protocol package, ioredis of the controller: load them from there.
const grpc = createRequire(new URL('../packages/protocol/package.json', import.meta.url))('@grpc/grpc-js');

const now = () => performance.timeOrigin + performance.now();

function agentInfo(i) {
  const id = `host-${String(i).padStart(5, '0')}`;
  return {
    agentId: id,
    hostname: id,
    labels: { role: 'worker', zone: `z${i % 10}` },
    caps: undefined,
    version: '0.1.0',
    cpuCount: 8,
    memoryTotalBytes: 32n * 2n ** 30n,
    hostIds: [id],
  };
}

if (process.argv[2] === '--agents-worker') await agentsWorker();
else await main();

// ---------------------------------------------------------------------------------------------
// Worker: a slice of the fleet as lightweight gRPC agents, driven by the parent over IPC.

async function agentsWorker() {
  /** Per plan (experiment id) or halt (halt id): what the agents of this worker saw. */
  const seen = new Map();
  const entry = (key) => {
    let e = seen.get(key);
    if (!e) {
      e = { received: 0, acked: 0, failed: 0, firstReceived: Infinity, lastReceived: 0, lastAcked: 0 };
      seen.set(key, e);
    }
    return e;
  };
  const clients = [];
  const streams = [];
  let closing = false;
  let streamErrors = 0;
  let lastStreamError = '';

  /** Per agent: its StreamReports stream and the reports not answered yet, by seq. */
  const reporters = new Map();
  const openReports = (client, agentId) => {
    const r = { stream: client.streamReports(), seq: 0n, waiting: new Map() };
    r.stream.on('data', (a) => {
      const e = r.waiting.get(a.seq);
      r.waiting.delete(a.seq);
      if (!e) return;
      if (a.code === 0) {
        e.acked++;
        e.lastAcked = Math.max(e.lastAcked, now());
      } else e.failed++;
    });
    r.stream.on('error', (err) => {
      for (const e of r.waiting.values()) e.failed++;
      r.waiting.clear();
      if (closing) return;
      streamErrors++;
      lastStreamError = err.message;
    });
    reporters.set(agentId, r);
    return r.stream;
  };

  // As the real agent does: each report is one message on the agent's StreamReports stream,
  // taken when the controller's answer for its seq arrives.
  const report = (client, agentId, kind, key) => {
    const r = reporters.get(agentId);
    const seq = ++r.seq;
    r.waiting.set(seq, entry(key));
    r.stream.write({ seq, report: { agentId, report: kind } });
  };

  const onAssignment = (client, agentId, m) => {
    const a = m.assignment;
    if (a?.$case === 'plan') {
      const e = entry(a.value.experimentId);
      const t = now();
      e.received++;
      e.firstReceived = Math.min(e.firstReceived, t);
      e.lastReceived = Math.max(e.lastReceived, t);
      report(
        client,
        agentId,
        {
          $case: 'planAck',
          value: { planId: a.value.planId, experimentId: a.value.experimentId, accepted: true, reason: '' },
        },
        a.value.experimentId,
      );
    } else if (a?.$case === 'halt') {
      const e = entry(a.value.haltId);
      const t = now();
      e.received++;
      e.firstReceived = Math.min(e.firstReceived, t);
      e.lastReceived = Math.max(e.lastReceived, t);
      report(
        client,
        agentId,
        {
          $case: 'haltAck',
          value: {
            haltId: a.value.haltId,
            injectionsStopped: 0,
            confirmedUnixNano: BigInt(Math.round(t)) * 1_000_000n,
          },
        },
        a.value.haltId,
      );
    }
  };

  const register = (client, info) =>
    new Promise((resolve, reject) =>
      client.register({ agent: info }, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );

  async function start({ address, from, count, perChannel, concurrency }) {
    const t0 = now();
    let next = 0;
    const one = async () => {
      while (next < count) {
        const k = next++;
        const i = from + k;
        const c = Math.floor(k / perChannel);
        clients[c] ??= new AgentServiceClient(address, grpc.credentials.createInsecure(), {
          'grpc.max_receive_message_length': 64 << 20,
        });
        const client = clients[c];
        const info = agentInfo(i);
        await register(client, info);
        const stream = client.watchAssignments({ agentId: info.agentId });
        stream.on('data', (m) => onAssignment(client, info.agentId, m));
        stream.on('error', (err) => {
          if (closing) return;
          streamErrors++;
          lastStreamError = err.message;
        });
        streams.push(stream, openReports(client, info.agentId));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, one));
    return { registered: count, ms: now() - t0 };
  }

  /** Resolves once `expected` agents acked (or failed) `key`, or after `timeoutMs`. */
  async function stats({ key, expected, timeoutMs }) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const e = seen.get(key);
      if (e && e.acked + e.failed >= expected) break;
      await sleep(5);
    }
    const e = seen.get(key) ?? entry(key);
    seen.delete(key);
    return { ...e, streamErrors, lastStreamError };
  }

  process.on('message', (msg) => {
    const reply = (value) => process.send({ id: msg.id, value });
    const fail = (err) => process.send({ id: msg.id, error: String(err?.stack ?? err) });
    if (msg.cmd === 'start') start(msg).then(reply, fail);
    else if (msg.cmd === 'stats') stats(msg).then(reply, fail);
    else if (msg.cmd === 'close') {
      closing = true;
      for (const s of streams) s.cancel();
      for (const c of clients) c.close();
      reply({});
      setImmediate(() => process.exit(0));
    }
  });
  process.send({ ready: true });
}

// ---------------------------------------------------------------------------------------------
// Parent: redis-server, controller, workers, measurements, report.

async function main() {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const flag = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const AGENTS = flag('agents', quick ? 2000 : 10_000);
  const RUNS = flag('runs', 3);
  const HALT_AGENTS = flag('halt-agents', 1000);
  const HALTS = flag('halts', quick ? 10 : 20);
  const WORKERS = flag('workers', 4);
  const PER_CHANNEL = flag('per-channel', 50);
  const COMPILE_RUNS = flag('compile-runs', 7);
  const PROFILE = args.includes('--profile');
  const experimentsArg = args.indexOf('--experiments');
  const EXPERIMENTS =
    experimentsArg >= 0
      ? args[experimentsArg + 1] === 'all'
        ? ['autopipelining', 'no-heartbeats', 'combined']
        : args[experimentsArg + 1].split(',')
      : [];
  const outArg = args.indexOf('--out');
  const OUT =
    outArg >= 0 ? args[outArg + 1] : fileURLToPath(new URL('./results/controller-scale.md', import.meta.url));
  const SPEC_PATH = fileURLToPath(new URL('../examples/mixed.yaml', import.meta.url));
  const SPEC = readFileSync(SPEC_PATH, 'utf8');
  const TARGET_START_MS = 2000;
  const TARGET_HALT_P99_MS = 1000;

  const { ControllerServer } = await import('../packages/controller/dist/controller-server.js');
  const { compileExperiment } = await import('../packages/spec/dist/index.js');
  const controllerRequire = createRequire(new URL('../packages/controller/package.json', import.meta.url));
  const { Redis } = controllerRequire('ioredis');

  const loadStart = loadavg();
  const log = (s) => console.log(s);
  log(`controller scale: ${AGENTS} agents, ${RUNS} runs; halts at ${HALT_AGENTS}; load ${loadStart}`);

  // ---- 1. compile alone ----
  const infos = Array.from({ length: AGENTS }, (_, i) => agentInfo(i));
  const compileTimes = [];
  let compiled;
  for (let r = -2; r < COMPILE_RUNS; r++) {
    const t = performance.now();
    compiled = compileExperiment(SPEC, infos, {
      startUnixNano: BigInt(Date.now()) * 1_000_000n,
      experimentId: `exp-bench-${r + 2}`,
    });
    if (r >= 0) compileTimes.push(performance.now() - t);
  }
  const compileSummary = {
    median: median(compileTimes),
    min: Math.min(...compileTimes),
    max: Math.max(...compileTimes),
    plans: compiled.plans.length,
    injections: compiled.injectionsPlanned,
  };
  log(
    `compileExperiment, ${AGENTS} agents: median ${compileSummary.median.toFixed(0)} ms ` +
      `(min ${compileSummary.min.toFixed(0)}, max ${compileSummary.max.toFixed(0)}), ${compileSummary.plans} plans`,
  );

  // ---- infrastructure ----
  const children = new Set();
  process.on('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
  const redisPort = await freePort();
  const redisProc = spawn(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  children.add(redisProc);
  const redisPid = redisProc.pid;
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const admin = new Redis(redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  admin.on('error', () => {});
  await until(async () => (await admin.ping()) === 'PONG', 10_000, 'redis-server');

  /**
   * Variants of the controller for local experiments (the shipped code is not changed): each
   * is applied to a fresh ControllerServer at runtime.
   */
  const VARIANTS = {
    baseline: { what: 'the controller as shipped', options: {}, apply: () => {} },
    autopipelining: {
      what:
        "ioredis auto-pipelining on the controller's connection (`enableAutoPipelining: true`): commands " +
        'issued in the same tick leave in one write',
      options: {},
      apply: (server) => {
        server.store.redis.options.enableAutoPipelining = true;
      },
    },
    'no-heartbeats': {
      what:
        'heartbeats (one stream write per agent and one pipeline of lease renewals every 3 s) moved out of the ' +
        'measurement: heartbeatMs 290 s, leaseMs 600 s',
      options: { heartbeatMs: 290_000, leaseMs: 600_000 },
      apply: () => {},
    },
    combined: {
      what: 'both of the above',
      options: { heartbeatMs: 290_000, leaseMs: 600_000 },
      apply: (server) => {
        server.store.redis.options.enableAutoPipelining = true;
      },
    },
  };

  async function startController(variant = VARIANTS.baseline) {
    const trace = [];
    const compileTimed = (...a) => {
      const s = now();
      try {
        return compileExperiment(...a);
      } finally {
        trace.push(['compile', s, now()]);
      }
    };
    const server = new ControllerServer(compileTimed, {
      listen: '127.0.0.1:0',
      redisUrl,
      ...variant.options,
      scheduler: { ackTimeoutMs: 60_000, haltTimeoutMs: 30_000 },
    });
    await server.start();
    variant.apply(server);
    // Trace the store's calls: one extra `then` per call.
    for (const name of [
      'listAgents',
      'createExperiment',
      'appendEvent',
      'recordAck',
      'setAgentsExperiment',
      'updateExperiment',
      'getExperiment',
      'renewLeases',
    ]) {
      const original = server.store[name].bind(server.store);
      server.store[name] = (...a) => {
        const s = now();
        const p = original(...a);
        const done = () => trace.push([name, s, now()]);
        p.then(done, done);
        return p;
      };
    }
    const control = new ControlServiceClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 256 << 20,
    });
    return {
      server,
      trace,
      control,
      async stop() {
        control.close();
        await server.stop();
        await admin.flushall();
      },
    };
  }

  async function startFleet(port, n) {
    const workers = [];
    const per = Math.ceil(n / WORKERS);
    for (let w = 0; w < WORKERS && w * per < n; w++) {
      const child = fork(fileURLToPath(import.meta.url), ['--agents-worker'], {
        stdio: 'inherit',
        execArgv: [], // node flags given to the bench (a profiler, heap sizes) are for the controller
      });
      children.add(child);
      const pending = new Map();
      let seq = 0;
      child.on('message', (m) => {
        const p = pending.get(m.id);
        if (!p) return;
        pending.delete(m.id);
        if (m.error) p.reject(new Error(m.error));
        else p.resolve(m.value);
      });
      await new Promise((resolve) => child.once('message', resolve));
      const call = (msg) =>
        new Promise((resolve, reject) => {
          const id = ++seq;
          pending.set(id, { resolve, reject });
          child.send({ ...msg, id });
        });
      workers.push({ child, call, count: Math.min(per, n - w * per), from: w * per });
    }
    const t0 = now();
    await Promise.all(
      workers.map((w) =>
        w.call({
          cmd: 'start',
          address: `127.0.0.1:${port}`,
          from: w.from,
          count: w.count,
          perChannel: PER_CHANNEL,
          concurrency: 64,
        }),
      ),
    );
    return { workers, registerMs: now() - t0 };
  }

  async function fleetStats(fleet, key) {
    const parts = await Promise.all(
      fleet.workers.map((w) => w.call({ cmd: 'stats', key, expected: w.count, timeoutMs: 60_000 })),
    );
    return {
      received: sum(parts.map((p) => p.received)),
      acked: sum(parts.map((p) => p.acked)),
      failed: sum(parts.map((p) => p.failed)),
      firstReceived: Math.min(...parts.map((p) => p.firstReceived)),
      lastReceived: Math.max(...parts.map((p) => p.lastReceived)),
      lastAcked: Math.max(...parts.map((p) => p.lastAcked)),
      streamErrors: sum(parts.map((p) => p.streamErrors)),
      lastStreamError: parts.map((p) => p.lastStreamError).find((e) => e) ?? '',
    };
  }

  async function stopFleet(fleet) {
    await Promise.all(
      fleet.workers.map(async (w) => {
        const exited = new Promise((resolve) => w.child.once('exit', resolve));
        await w.call({ cmd: 'close' });
        await exited;
        children.delete(w.child);
      }),
    );
  }

  const unary = (client, method, req) =>
    new Promise((resolve, reject) =>
      client[method](req, new grpc.Metadata(), { deadline: Date.now() + 180_000 }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );

  async function commandStats() {
    const text = await admin.info('commandstats');
    const out = {};
    for (const m of text.matchAll(/^cmdstat_([a-z|]+):calls=(\d+),usec=(\d+)/gm))
      out[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
    return out;
  }

  function phases(trace, t0, t1) {
    const by = new Map();
    for (const [name, s, e] of trace) {
      if (s < t0 || s > t1) continue;
      const p = by.get(name) ?? { calls: 0, first: Infinity, last: 0, busy: 0 };
      p.calls++;
      p.first = Math.min(p.first, s - t0);
      p.last = Math.max(p.last, e - t0);
      p.busy += e - s;
      by.set(name, p);
    }
    return by;
  }

  /** One StartExperiment at the fleet's size, then the Halt of that experiment. */
  async function startAndHalt(ctl, fleet, expected) {
    await admin.config('RESETSTAT');
    ctl.trace.length = 0;
    const others = () => ({
      agents: sum(fleet.workers.map((w) => cpuTicks(w.child.pid))),
      redis: cpuTicks(redisPid),
    });
    const o0 = others();
    const c0 = process.cpuUsage();
    const t0 = now();
    const res = await unary(ctl.control, 'startExperiment', { specYaml: SPEC });
    const t1 = now();
    const c1 = process.cpuUsage(c0);
    const o1 = others();
    const cmds = await commandStats();
    const exp = res.experiment;
    const s = await fleetStats(fleet, exp.experimentId);
    const tr = phases(ctl.trace, t0, t1);
    const hc0 = process.cpuUsage();
    const h0 = now();
    const halt = await unary(ctl.control, 'halt', { experimentId: exp.experimentId, reason: 'bench' });
    const h1 = now();
    const hc1 = process.cpuUsage(hc0);
    const hs = await fleetStats(fleet, halt.haltId);
    if (exp.agentIds.length !== expected || s.acked !== expected) {
      throw new Error(
        `StartExperiment ran on ${exp.agentIds.length} agents, ${s.acked} acked, expected ${expected}: ${exp.message}` +
          (s.streamErrors ? ` (${s.streamErrors} stream errors, e.g. ${s.lastStreamError})` : ''),
      );
    }
    return {
      start: {
        callMs: t1 - t0,
        cpuMs: (c1.user + c1.system) / 1000,
        agentsCpuMs: ((o1.agents - o0.agents) * 1000) / CLK_TCK,
        redisCpuMs: ((o1.redis - o0.redis) * 1000) / CLK_TCK,
        firstPlanMs: s.firstReceived - t0,
        lastPlanMs: s.lastReceived - t0,
        lastAckMs: s.lastAcked - t0,
        agents: exp.agentIds.length,
        phases: tr,
        cmds,
      },
      halt: {
        callMs: h1 - h0,
        cpuMs: (hc1.user + hc1.system) / 1000,
        confirmationMs: halt.confirmationMs,
        lastReceivedMs: hs.lastReceived - h0,
        lastConfirmedMs: hs.lastAcked - h0,
        confirmed: halt.agentsConfirmed,
        unconfirmed: halt.agentsUnconfirmed,
      },
    };
  }

  async function attachedFleet(ctl, n) {
    const fleet = await startFleet(ctl.server.port, n);
    await until(() => ctl.server.scheduler.connectedAgentIds().length === n, 120_000, `${n} agents attached`);
    fleet.attachedMs = fleet.registerMs;
    return fleet;
  }

  const logRun = (label, run) =>
    log(
      `${label}: StartExperiment returned in ${run.start.callMs.toFixed(0)} ms; plans reached agents ` +
        `${run.start.firstPlanMs.toFixed(0)}–${run.start.lastPlanMs.toFixed(0)} ms, last ack ${run.start.lastAckMs.toFixed(0)} ms; ` +
        `halt confirmationMs ${run.halt.confirmationMs}, call ${run.halt.callMs.toFixed(0)} ms`,
    );

  // ---- 2. StartExperiment at AGENTS ----
  let ctl = await startController();
  let fleet = await attachedFleet(ctl, AGENTS);
  const registrationMs = fleet.registerMs;
  log(`registered and attached ${AGENTS} agents in ${(registrationMs / 1000).toFixed(1)} s`);

  // What an idle fleet costs the controller: heartbeats and lease renewals.
  const idle = await (async () => {
    const c0 = process.cpuUsage();
    const r0 = cpuTicks(redisPid);
    const t0 = now();
    await admin.config('RESETSTAT');
    await sleep(10_000);
    const wall = (now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const cmds = await commandStats();
    return {
      controllerCpu: (100 * (c.user + c.system)) / 1e6 / wall,
      redisCpu: (100 * (cpuTicks(redisPid) - r0)) / CLK_TCK / wall,
      commandsPerS: sum(Object.values(cmds).map((x) => x.calls)) / wall,
    };
  })();
  log(
    `idle fleet: controller ${idle.controllerCpu.toFixed(1)} % cpu, redis ${idle.redisCpu.toFixed(1)} %, ` +
      `${idle.commandsPerS.toFixed(0)} redis commands/s`,
  );

  const runs = [];
  const load10k = [loadavg()];
  for (let r = 0; r < RUNS; r++) {
    const run = await startAndHalt(ctl, fleet, AGENTS);
    runs.push(run);
    logRun(`run ${r + 1}`, run);
  }
  load10k.push(loadavg());

  let profile;
  if (PROFILE) {
    const { Session } = await import('node:inspector/promises');
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    const run = await startAndHalt(ctl, fleet, AGENTS);
    const { profile: p } = await session.post('Profiler.stop');
    session.disconnect();
    profile = { run, top: summarizeProfile(p) };
    logRun('profiled run', run);
  }
  await stopFleet(fleet);
  await ctl.stop();

  // ---- 3. local experiments: the same measurement with one change each ----
  const experiments = [];
  for (const name of EXPERIMENTS) {
    const variant = VARIANTS[name];
    if (!variant)
      throw new Error(`--experiments: unknown variant ${name}; known: ${Object.keys(VARIANTS).join(', ')}`);
    ctl = await startController(variant);
    fleet = await attachedFleet(ctl, AGENTS);
    const vruns = [];
    const load = loadavg();
    for (let r = 0; r < RUNS; r++) {
      const run = await startAndHalt(ctl, fleet, AGENTS);
      vruns.push(run);
      logRun(`${name} run ${r + 1}`, run);
    }
    experiments.push({ name, what: variant.what, runs: vruns, load: [load, loadavg()] });
    await stopFleet(fleet);
    await ctl.stop();
  }

  // ---- 4. Halt at HALT_AGENTS ----
  ctl = await startController();
  fleet = await attachedFleet(ctl, HALT_AGENTS);
  const haltRuns = [];
  const loadHalt = [loadavg()];
  for (let i = 0; i < HALTS + 1; i++) {
    const run = await startAndHalt(ctl, fleet, HALT_AGENTS);
    if (i > 0) haltRuns.push(run); // the first one warms up the paths
  }
  loadHalt.push(loadavg());
  const conf = haltRuns.map((r) => r.halt.confirmationMs);
  const own = haltRuns.map((r) => r.halt.lastConfirmedMs);
  log(
    `halt at ${HALT_AGENTS}: confirmationMs p50 ${pct(conf, 0.5)} p99 ${pct(conf, 0.99)}; ` +
      `call → last confirmation p50 ${pct(own, 0.5).toFixed(0)} p99 ${pct(own, 0.99).toFixed(0)} ms`,
  );
  await stopFleet(fleet);
  await ctl.stop();
  admin.disconnect();
  redisProc.kill('SIGTERM');
  const loadEnd = loadavg();

  // ---- report ----
  const ms = (x) => `${Math.round(x)} ms`;
  const n = (x) => x.toLocaleString('en-US');
  const startMedian = median(runs.map((r) => r.start.lastAckMs));
  const callMedian = median(runs.map((r) => r.start.callMs));
  const medianRun = runs.slice().sort((a, b) => a.start.callMs - b.start.callMs)[
    Math.floor((runs.length - 1) / 2)
  ];
  const lines = [
    '# Controller at fleet scale',
    '',
    '`pnpm build && node bench/controller-scale.bench.mjs' +
      (EXPERIMENTS.length ? ` --experiments ${EXPERIMENTS.join(',')}` : '') +
      (PROFILE ? ' --profile' : '') +
      '` (writes this file).',
    '',
    `Node ${process.version}, Linux ${release()}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ` +
      `${new Date().toISOString().slice(0, 10)}. The machine is shared with other engineers' builds and tests, and ` +
      'the controller, redis-server and the agent processes share its 2 cores: load average (1/5/15 min) ' +
      `${loadStart} at the start, ${loadEnd} at the end; each section's own is in its heading.`,
    '',
    `Setup: redis-server (no persistence) on loopback; the real ControllerServer in the bench process with ` +
      '`compileExperiment`, default options (lease 15 s, heartbeat 3 s, start delay 2 s) except ack timeout 60 s ' +
      `and halt timeout 30 s; ${n(AGENTS)} lightweight gRPC agents in ${WORKERS} child ` +
      `processes, ${PER_CHANNEL} per HTTP/2 connection, each registered with its own WatchAssignments stream, ` +
      'acking plans and halts with one message each on its StreamReports stream (as the real agent does). Spec: `examples/mixed.yaml` (random anomalies, 25 min, ' +
      'no selector: every agent is targeted). Agent-side times are wall-clock times taken in the agent ' +
      "processes (same host clock). The bench wraps the controller's RedisStore methods to time them (one " +
      'extra `then` per call).',
    '',
    '## Summary',
    '',
    '| measure | result | target | verdict |',
    '|---|---:|---:|---|',
    `| compileExperiment, ${n(AGENTS)} agents (parse + compile), median of ${COMPILE_RUNS} | ${ms(compileSummary.median)} | | |`,
    `| StartExperiment call → last plan ack taken, ${n(AGENTS)} agents, median of ${RUNS} | ${ms(startMedian)} | ≤ ${TARGET_START_MS} ms | ${startMedian <= TARGET_START_MS ? 'met' : '**missed**'} |`,
    `| StartExperiment call → return, same runs | ${ms(callMedian)} | | |`,
    `| Halt fan-out, ${n(HALT_AGENTS)} agents: reported confirmationMs p50 / p99 (${HALTS} halts) | ${ms(pct(conf, 0.5))} / ${ms(pct(conf, 0.99))} | p99 ≤ ${TARGET_HALT_P99_MS} ms | ${pct(conf, 0.99) <= TARGET_HALT_P99_MS ? 'met' : '**missed**'} |`,
    `| Halt call → last agent's confirmation taken, p50 / p99 | ${ms(pct(own, 0.5))} / ${ms(pct(own, 0.99))} | p99 ≤ ${TARGET_HALT_P99_MS} ms | ${pct(own, 0.99) <= TARGET_HALT_P99_MS ? 'met' : '**missed**'} |`,
    '',
    '## Plan compile alone',
    '',
    `\`compileExperiment(mixed.yaml, ${AGENTS} AgentInfo)\`, ${COMPILE_RUNS} runs after 2 warm-up runs: median ` +
      `${compileSummary.median.toFixed(1)} ms, min ${compileSummary.min.toFixed(1)}, max ${compileSummary.max.toFixed(1)}; ` +
      `${compileSummary.plans} plans, ${compileSummary.injections} injections.`,
    '',
    `## StartExperiment at ${n(AGENTS)} agents (load ${load10k[0]} → ${load10k[1]})`,
    '',
    `Registration: ${AGENTS} agents registered and attached in ${(registrationMs / 1000).toFixed(1)} s ` +
      `(${(AGENTS / (registrationMs / 1000)).toFixed(0)}/s, 64 in flight per worker). Idle fleet over 10 s: ` +
      `controller ${idle.controllerCpu.toFixed(1)} % of a core, redis-server ${idle.redisCpu.toFixed(1)} %, ` +
      `${idle.commandsPerS.toFixed(0)} Redis commands/s (heartbeat + lease renewal per agent every 3 s).`,
    '',
    'Each run is a StartExperiment followed by the Halt of that experiment (all 10,000 agents). cpu is ' +
      'process cpu time (all threads) during the call, from process.cpuUsage() for the controller and ' +
      '/proc/<pid>/stat for the others: the two cores are shared by all of them.',
    '',
    ...runTable(runs),
    '',
    'Where the controller spent StartExperiment (run with the median call time): each traced RedisStore call ' +
      '(and the compile) with its count, when the first started and the last ended (ms after the call), and ' +
      'the sum of their durations (overlapping calls add up, so a large sum means calls waiting in a queue).',
    '',
    ...phaseTable(medianRun.start),
  ];
  if (profile) {
    lines.push(
      '',
      `### CPU profile of one more StartExperiment at ${n(AGENTS)} agents (controller process, main thread)`,
      '',
      `That run (Start and its Halt, profiled together): Start call → return ${ms(profile.run.start.callMs)}, ` +
        `last ack ${ms(profile.run.start.lastAckMs)} (the profiler slows it). Self time by function (top 25) ` +
        'and inclusive time by module:',
      '',
      '| self ms | function | where |',
      '|---:|---|---|',
      ...profile.top.functions.map(([k, t]) => `| ${t.toFixed(0)} | ${k.fn} | ${k.where} |`),
      '',
      '| inclusive ms | module |',
      '|---:|---|',
      ...profile.top.modules.map(([k, t]) => `| ${t.toFixed(0)} | ${k} |`),
    );
  }
  if (experiments.length > 0) {
    lines.push(
      '',
      `## Local experiments at ${n(AGENTS)} agents`,
      '',
      'Each row starts a fresh controller with one change applied at runtime by the bench (the shipped ' +
        `controller code is untouched), registers the ${n(AGENTS)} agents again and repeats the ${RUNS} runs. ` +
        'The baseline row is the section above. Medians:',
      '',
      '| variant | change | call → last ack | call → return | last plan at agent | controller cpu in the call | Redis commands in the call | Halt confirmationMs | load |',
      '|---|---|---:|---:|---:|---:|---:|---:|---|',
      experimentRow('baseline', VARIANTS.baseline.what, runs, load10k),
      ...experiments.map((e) => experimentRow(e.name, e.what, e.runs, e.load)),
    );
    for (const e of experiments) {
      lines.push(
        '',
        `### ${e.name}`,
        '',
        ...runTable(e.runs),
        '',
        ...phaseTable(
          e.runs.slice().sort((a, b) => a.start.callMs - b.start.callMs)[Math.floor((e.runs.length - 1) / 2)]
            .start,
        ),
      );
    }
  }
  lines.push(
    '',
    `## Halt at ${n(HALT_AGENTS)} agents (${HALTS} halts; load ${loadHalt[0]} → ${loadHalt[1]})`,
    '',
    `Each halt follows a StartExperiment of ${HALT_AGENTS} agents (call → last ack: p50 ` +
      `${ms(
        pct(
          haltRuns.map((r) => r.start.lastAckMs),
          0.5,
        ),
      )}, max ${ms(Math.max(...haltRuns.map((r) => r.start.lastAckMs)))}). ` +
      '"confirmationMs" is what the Halt RPC reports (from the controller sending the halts to the last ' +
      "confirmation it processed); the other rows are measured here from the client's Halt call: the last " +
      "agent receiving the halt, the last agent's confirmation taken (the controller's answer arrived), and the RPC " +
      'returning (after the experiment is marked halted).',
    '',
    '| measure | p50 | p99 | max |',
    '|---|---:|---:|---:|',
    ...[
      ['confirmationMs (reported)', conf],
      ['call → last agent received the halt', haltRuns.map((r) => r.halt.lastReceivedMs)],
      ['call → last confirmation taken', own],
      ['call → Halt returned', haltRuns.map((r) => r.halt.callMs)],
    ].map(
      ([name, xs]) => `| ${name} | ${ms(pct(xs, 0.5))} | ${ms(pct(xs, 0.99))} | ${ms(Math.max(...xs))} |`,
    ),
    '',
    `Every halt was confirmed by ${Math.min(...haltRuns.map((r) => r.halt.confirmed))}–${Math.max(...haltRuns.map((r) => r.halt.confirmed))} agents, ` +
      `${sum(haltRuns.map((r) => r.halt.unconfirmed))} unconfirmed in total. With ${HALTS} samples the nearest-rank p99 is the largest.`,
  );
  const md = lines.join('\n') + '\n';
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, md);
  log(`\n${md}\nwrote ${OUT}`);
  process.exit(0);

  function runTable(rs) {
    return [
      '| run | call → return | first plan at agent | last plan at agent | last ack taken | cpu in the call: controller / agent processes / redis-server | Halt: confirmationMs / call → return / controller cpu |',
      '|---:|---:|---:|---:|---:|---:|---:|',
      ...rs.map(
        (r, i) =>
          `| ${i + 1} | ${ms(r.start.callMs)} | ${ms(r.start.firstPlanMs)} | ${ms(r.start.lastPlanMs)} | ${ms(r.start.lastAckMs)} | ` +
          `${ms(r.start.cpuMs)} / ${ms(r.start.agentsCpuMs)} / ${ms(r.start.redisCpuMs)} | ` +
          `${ms(r.halt.confirmationMs)} / ${ms(r.halt.callMs)} / ${ms(r.halt.cpuMs)} |`,
      ),
    ];
  }

  function experimentRow(name, what, rs, load) {
    const m = (f) => median(rs.map(f));
    return (
      `| ${name} | ${what} | ${ms(m((r) => r.start.lastAckMs))} | ${ms(m((r) => r.start.callMs))} | ` +
      `${ms(m((r) => r.start.lastPlanMs))} | ${ms(m((r) => r.start.cpuMs))} | ` +
      `${n(Math.round(m((r) => sum(Object.values(r.start.cmds).map((c) => c.calls)))))} | ` +
      `${ms(m((r) => r.halt.confirmationMs))} | ${load[0]} → ${load[1]} |`
    );
  }

  function phaseTable(start) {
    const rows = [...start.phases].sort((a, b) => a[1].first - b[1].first);
    const redisCalls = sum(Object.values(start.cmds).map((c) => c.calls));
    return [
      '| step | calls | first started | last ended | summed duration |',
      '|---|---:|---:|---:|---:|',
      ...rows.map(([name, p]) => `| ${name} | ${p.calls} | ${ms(p.first)} | ${ms(p.last)} | ${ms(p.busy)} |`),
      '',
      `Redis commands during the call: ${n(redisCalls)} (${(redisCalls / start.agents).toFixed(1)} per agent): ` +
        Object.entries(start.cmds)
          .sort((a, b) => b[1].calls - a[1].calls)
          .map(([c, v]) => `${c} ${n(v.calls)} (${(v.usec / 1000).toFixed(0)} ms inside redis)`)
          .join(', ') +
        '.',
    ];
  }
}

// ---------------------------------------------------------------------------------------------

function sum(xs) {
  return xs.reduce((a, b) => a + b, 0);
}

function median(xs) {
  return pct(xs, 0.5);
}

/** Nearest-rank percentile. */
function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(p * s.length) - 1)];
}

/** Self time per function and inclusive time per module of a V8 cpu profile, in ms. */
function summarizeProfile(p) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000));
  const fns = new Map();
  const mods = new Map();
  const moduleOf = (url) => {
    if (!url) return '';
    const nm = /node_modules\/(?:\.pnpm\/)?(@[^/+]+[/+][^/@]+|[^/@]+)/.exec(url);
    if (nm) return nm[1].replace('+', '/');
    const pkg = /\/packages\/([^/]+)\/dist\/(.+)$/.exec(url);
    if (pkg) return `@faultline/${pkg[1]} ${pkg[2]}`;
    if (url === import.meta.url) return ''; // the tracing wrappers around RedisStore calls
    return url.startsWith('node:') ? url : url.replace(/^.*\//, '');
  };
  for (const [id, t] of self) {
    const cf = byId.get(id).callFrame;
    const key = `${cf.functionName || '(anonymous)'}\u0000${moduleOf(cf.url) || cf.url}:${cf.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + t);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const m = moduleOf(byId.get(cur).callFrame.url);
      if (m && !seen.has(m)) {
        seen.add(m);
        mods.set(m, (mods.get(m) ?? 0) + t);
      }
    }
  }
  return {
    functions: [...fns]
      .filter(([k]) => !k.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, 25)
      .map(([k, t]) => {
        const [fn, where] = k.split('\u0000');
        return [{ fn: fn.replace(/\|/g, '\\|'), where }, t];
      }),
    modules: [...mods].sort((a, b) => b[1] - a[1]).slice(0, 15),
  };
}
