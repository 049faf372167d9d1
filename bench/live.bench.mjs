// Benchmark of the live detector (the built `faultline-detector` binary as a child process,
// against a real nats-server on this machine): sustained throughput from publish into scored
// outputs, and detection latency from a sample's timestamp to its anomaly event's publication.
// Writes bench/results/live.md.
//
//   pnpm build && node bench/live.bench.mjs [--quick] [--cpu-prof DIR]
//
// --cpu-prof DIR runs the detector under `node --cpu-prof` and leaves its profile in DIR (the
// results are then printed only, not written).
//
// Throughput: 200 hosts, agents batching 100 samples per message; every host is warmed up
// first (training window, bands), then 300,000 samples are published as fast as the publisher
// can and the clock stops when the last ScoreBatch is stored in FL_SCORES.
// Latency: 2 simulator agents × 100 virtual hosts publish one 100-sample batch each every
// 4 ms (50,000 samples/s offered), stamped with the wall clock; every host has one planted
// memory spike; a core subscriber on fl.anomalies.> takes the time each event arrives.
//
// Targets: >= 50,000 samples/s; detection latency p99 <= 250 ms.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, release } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  decodeAnomalyEvent,
  encodeSampleBatch,
  ensureStreams,
  partitionOf,
  sampleBatchMsgId,
  subjects,
} from '../packages/protocol/dist/index.js';
import { SyntheticHost } from '../packages/detector/dist/runner/synthetic-host.js';
import { startNats } from '../packages/testkit/dist/index.js';
import { loadavg, until } from './lib.mjs';

// The NATS client is a dependency of the detector package, not of the bench: load it from there.
const detectorRequire = createRequire(new URL('../packages/detector/package.json', import.meta.url));
const { connect } = await import(detectorRequire.resolve('@nats-io/transport-node'));
const { jetstream, jetstreamManager } = await import(detectorRequire.resolve('@nats-io/jetstream'));

const quick = process.argv.includes('--quick');
const cpuProfAt = process.argv.indexOf('--cpu-prof');
const cpuProfDir = cpuProfAt < 0 ? undefined : process.argv[cpuProfAt + 1];
if (cpuProfAt >= 0 && (cpuProfDir === undefined || cpuProfDir.startsWith('--'))) {
  throw new Error('--cpu-prof needs a directory');
}
const PARTITIONS = 16;
const BATCH = 100;
const TP_HOSTS = 200;
const TP_WARMUP_SAMPLES = 200;
const TP_SAMPLES_PER_HOST = quick ? 500 : 1500;
const LAT_AGENTS = 2;
const LAT_HOSTS_PER_AGENT = 100;
const LAT_TICK_MS = 4; // 2 × 100 samples every 4 ms: 50,000 samples/s
const LAT_LIGHT_TICK_MS = 10; // 20,000 samples/s
const LAT_JOIN_MS = 2000;
const LAT_WARMUP_MS = 6000;
const LAT_MEASURED_MS = quick ? 4000 : 10_000;
const LAT_SPIKE_LENGTH = 40;
const TARGET_RATE = 50_000;
const TARGET_P99_MS = 250;
const detectorBin = fileURLToPath(
  new URL('../packages/detector/dist/bin/faultline-detector.js', import.meta.url),
);
const loadAtStart = loadavg();

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, USER_HZ = 100
}

/** Busy CPU seconds of the whole machine (all cores) from /proc/stat. */
function machineBusySeconds() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  return (f.reduce((a, b) => a + b, 0) - idle) / 100;
}

function findNatsPid(storeDir) {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes('nats-server') && cmd.includes(storeDir)) return Number(d);
    } catch {
      // gone
    }
  }
  return undefined;
}

/** CPU use over a phase: detector, nats-server, this script, and everything else on the machine. */
function cpuMeter(detectorPid, natsPid) {
  const read = () => ({
    at: performance.now(),
    det: cpuSeconds(detectorPid),
    nats: natsPid === undefined ? 0 : cpuSeconds(natsPid),
    self: process.cpuUsage(),
    machine: machineBusySeconds(),
  });
  const a = read();
  return () => {
    const b = read();
    const secs = (b.at - a.at) / 1000;
    const self = (b.self.user - a.self.user + b.self.system - a.self.system) / 1e6;
    const det = b.det - a.det;
    const nats = b.nats - a.nats;
    const others = b.machine - a.machine - det - nats - self;
    return {
      detector: det / secs,
      nats: nats / secs,
      publisher: self / secs,
      others: Math.max(0, others / secs),
    };
  };
}

function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** Publishes encoded messages with at most `window` publishes awaiting their ack. */
async function publishAll(js, messages, window = 512) {
  const inflight = new Set();
  for (const m of messages) {
    const p = js.publish(m.subject, m.data, { msgID: m.msgID }).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
}

function hostBatches(hostId, samples, firstBatchSeq) {
  const partition = partitionOf(hostId, PARTITIONS);
  const out = [];
  for (let at = 0, seq = firstBatchSeq; at < samples.length; at += BATCH, seq++) {
    const batch = {
      agentId: hostId,
      seq: BigInt(seq),
      partition,
      sentUnixNano: samples[at].timeUnixNano,
      samples: samples.slice(at, at + BATCH),
      lostSamplesTotal: 0n,
    };
    out.push({
      subject: subjects.samples(partition, hostId),
      data: encodeSampleBatch(batch),
      msgID: sampleBatchMsgId(hostId, seq),
    });
  }
  return out;
}

let detector;

/**
 * One latency run: LAT_AGENTS simulator agents × LAT_HOSTS_PER_AGENT virtual hosts, one batch
 * per agent every `tickMs` holding one sample of each host, stamped with the wall clock. Hosts
 * join over the first 2 s (agents do not start in the same millisecond) and warm up until 6 s;
 * then every host gets one memory spike at a random time of the measured window.
 */
async function latencyRun({ js, nc, natsPid, scoreMessages }, { label, tickMs, seed }) {
  const joinTicks = Math.round(LAT_JOIN_MS / tickMs);
  const warmupTicks = Math.round(LAT_WARMUP_MS / tickMs);
  const measuredTicks = Math.round(LAT_MEASURED_MS / tickMs);
  const ticks = warmupTicks + measuredTicks;
  const detectorPid = detector.pid;
  // Hosts join over the first joinTicks (agents do not start in the same millisecond),
  // warm up, and get their spike only in the measured window after warmupTicks.
  const latHosts = [];
  let rngState = seed;
  const nextInt = (n) => {
    rngState = (Math.imul(rngState, 1103515245) + 12345) >>> 0;
    return rngState % n;
  };
  for (let a = 0; a < LAT_AGENTS; a++) {
    for (let h = 0; h < LAT_HOSTS_PER_AGENT; h++) {
      const hostId = `${label}-${a}-${h}`;
      const joinTick = Math.floor((h * joinTicks) / LAT_HOSTS_PER_AGENT);
      const spikeTick = warmupTicks + nextInt(measuredTicks - 2 * LAT_SPIKE_LENGTH);
      latHosts.push({
        agent: a,
        hostId,
        joinTick,
        spikeTick,
        gen: new SyntheticHost({
          hostId,
          seed: seed + a * LAT_HOSTS_PER_AGENT + h,
          startUnixNano: 0n,
          intervalMs: tickMs,
          anomalies: [{ kind: 'memory_spike', start: spikeTick - joinTick, length: LAT_SPIKE_LENGTH }],
        }),
      });
    }
  }
  const spikeTickOf = new Map(latHosts.map((h) => [h.hostId, h.spikeTick]));
  // Generate and encode ahead, stamped with the wall clock of the planned publication.
  const startMs = Date.now() + (quick ? 5000 : 8000);
  const start = BigInt(startMs) * 1_000_000n;
  const tickMessages = [];
  for (let t = 0; t < ticks; t++) {
    const stamp = start + BigInt(t * tickMs) * 1_000_000n;
    const perAgent = Array.from({ length: LAT_AGENTS }, () => []);
    for (const h of latHosts) {
      if (t < h.joinTick) continue;
      const sample = h.gen.next();
      sample.timeUnixNano = stamp;
      perAgent[h.agent].push(sample);
    }
    tickMessages.push(
      perAgent.map((samples, a) => {
        const agentId = `${label}-agent-${a}`;
        const partition = partitionOf(agentId, PARTITIONS);
        const batch = {
          agentId,
          seq: BigInt(t + 1),
          partition,
          sentUnixNano: stamp,
          samples,
          lostSamplesTotal: 0n,
        };
        return {
          subject: subjects.samples(partition, agentId),
          data: encodeSampleBatch(batch),
          msgID: sampleBatchMsgId(agentId, t + 1),
          samples: samples.length,
        };
      }),
    );
  }
  const seenEvents = new Map();
  const sub = nc.subscribe('fl.anomalies.>', {
    callback: (err, msg) => {
      if (err) return;
      const arrived = Date.now();
      const e = decodeAnomalyEvent(msg.data);
      if (seenEvents.has(e.eventId) || e.state !== 1) return;
      seenEvents.set(e.eventId, {
        hostId: e.hostId,
        latencyMs: arrived - Number(e.startUnixNano / 1_000_000n),
        startMs: Number(e.startUnixNano / 1_000_000n),
      });
    },
  });
  const scoresBefore = await scoreMessages();
  if (Date.now() > startMs)
    console.warn(`encoding took ${Date.now() - startMs} ms longer than planned: the first ticks go out late`);
  await sleep(Math.max(0, startMs - Date.now()));
  let latMeter = cpuMeter(detectorPid, natsPid);
  const pending = new Set();
  let late = 0;
  let measuredFrom = 0;
  for (let t = 0; t < ticks; t++) {
    if (t === warmupTicks) {
      measuredFrom = Date.now();
      latMeter = cpuMeter(detectorPid, natsPid);
    }
    const due = startMs + t * tickMs;
    const wait = due - Date.now();
    if (wait > 1) await sleep(wait);
    else if (wait < -20 && t >= warmupTicks) late++;
    for (const m of tickMessages[t]) {
      const p = js.publish(m.subject, m.data, { msgID: m.msgID }).finally(() => pending.delete(p));
      pending.add(p);
    }
    if (pending.size > 2000) await Promise.race(pending);
  }
  await Promise.all(pending);
  const publishEnd = Date.now();
  const latTotal = ticks * LAT_AGENTS;
  await until(
    async () => (await scoreMessages()) === scoresBefore + latTotal,
    180_000,
    'the latency run to be scored',
  );
  const drainedAt = Date.now();
  const latCpu = latMeter();
  await sleep(500);
  sub.unsubscribe();
  const latencies = [];
  let matched = 0;
  let falseEvents = 0;
  const delaySamples = [];
  for (const e of seenEvents.values()) {
    const truthMs = startMs + spikeTickOf.get(e.hostId) * tickMs;
    const inWindow = e.startMs >= truthMs && e.startMs < truthMs + LAT_SPIKE_LENGTH * tickMs;
    if (inWindow) {
      matched++;
      latencies.push(e.latencyMs);
      delaySamples.push((e.startMs - truthMs) / tickMs);
    } else falseEvents++;
  }
  latencies.sort((a, b) => a - b);
  delaySamples.sort((a, b) => a - b);
  const offered = tickMessages.flat().reduce((n, m) => n + m.samples, 0);
  const measuredOffered = tickMessages
    .slice(warmupTicks)
    .flat()
    .reduce((n, m) => n + m.samples, 0);
  return {
    offeredRate: measuredOffered / ((publishEnd - measuredFrom) / 1000),
    scoredRate: offered / ((drainedAt - startMs) / 1000),
    measuredSeconds: (publishEnd - measuredFrom) / 1000,
    drainAfterPublishMs: drainedAt - publishEnd,
    lateTicks: late,
    spikes: latHosts.length,
    detected: matched,
    falseEvents,
    p50: percentile(latencies, 0.5),
    p90: percentile(latencies, 0.9),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1),
    delaySamplesMax: delaySamples.at(-1),
    delaySamplesP50: percentile(delaySamples, 0.5),
    falseRatePer100k: (falseEvents / offered) * 100_000,
    cpu: latCpu,
  };
}

const nats = await startNats({ jetstream: true });
const results = {};
try {
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm);
  const scoreMessages = async () => (await jsm.streams.info('FL_SCORES')).state.messages;

  detector = spawn(
    process.execPath,
    [
      ...(cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfDir]),
      detectorBin,
      '--nats',
      nats.url,
      '--replica-id',
      'bench-0',
      '--partitions',
      String(PARTITIONS),
      '--metrics-port',
      '-1',
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  detector.once('exit', (code) => {
    if (code !== 0) console.error(`the detector exited with code ${code}`);
  });
  await until(
    async () => {
      if (detector.exitCode !== null) throw new Error(`the detector exited with code ${detector.exitCode}`);
      return (await jsm.consumers.list('FL_SAMPLES').next()).length === PARTITIONS;
    },
    20_000,
    'the detector to claim every partition',
  );

  // ---- Throughput ------------------------------------------------------------------------
  const T0 = 1_763_000_000_000_000_000n;
  const tpHosts = Array.from(
    { length: TP_HOSTS },
    (_, i) => new SyntheticHost({ hostId: `tp-${i}`, seed: i, startUnixNano: T0 }),
  );
  const warm = tpHosts.flatMap((h) => hostBatches(h.hostId, h.take(TP_WARMUP_SAMPLES), 1));
  await publishAll(js, warm);
  await until(async () => (await scoreMessages()) === warm.length, 120_000, 'the warm-up to be scored');
  const firstSeq = TP_WARMUP_SAMPLES / BATCH + 1;
  const perHost = tpHosts.map((h) => hostBatches(h.hostId, h.take(TP_SAMPLES_PER_HOST), firstSeq));
  // Interleave hosts, as independent agents would publish.
  const measured = [];
  for (let i = 0; i < perHost[0].length; i++) for (const batches of perHost) measured.push(batches[i]);
  const tpSamples = measured.length * BATCH;
  const natsPid = findNatsPid(nats.storeDir);
  const tpMeter = cpuMeter(detector.pid, natsPid);
  const t0 = performance.now();
  await publishAll(js, measured);
  const tPublished = performance.now();
  await until(
    async () => (await scoreMessages()) === warm.length + measured.length,
    300_000,
    'every measured batch to be scored',
  );
  const t1 = performance.now();
  const tpCpu = tpMeter();
  results.throughput = {
    samples: tpSamples,
    seconds: (t1 - t0) / 1000,
    rate: tpSamples / ((t1 - t0) / 1000),
    publishRate: tpSamples / ((tPublished - t0) / 1000),
    cpu: tpCpu,
  };
  console.log('throughput', results.throughput);

  // ---- Latency ---------------------------------------------------------------------------
  const ctx = { js, nc, natsPid, scoreMessages };
  results.latency = await latencyRun(ctx, { label: 'l50', tickMs: LAT_TICK_MS, seed: 1000 });
  console.log('latency at the target rate', results.latency);
  results.latencyLight = await latencyRun(ctx, { label: 'l20', tickMs: LAT_LIGHT_TICK_MS, seed: 5000 });
  console.log('latency at a light rate', results.latencyLight);
  results.rssMiB = rssMiB(detector.pid);
  console.log('latency', results.latency);
  await nc.close();
} finally {
  if (detector && detector.exitCode === null) {
    detector.kill('SIGTERM');
    await new Promise((resolve) => detector.once('exit', resolve));
  }
  await nats.dispose();
}

// ---- Report --------------------------------------------------------------------------------
const loadAtEnd = loadavg();
const tp = results.throughput;
const lat = results.latency;
const fmt = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const pct = (x) => `${fmt(x * 100)}%`;
const cpuLine = (c) =>
  `detector ${pct(c.detector)}, nats-server ${pct(c.nats)}, publisher ${pct(c.publisher)}, other processes ${pct(c.others)} (of one core; 2 cores = 200%)`;
const light = results.latencyLight;
const latRow = (name, r) =>
  `| ${name} | ${fmt(r.offeredRate)} | ${fmt(r.p50)} | ${fmt(r.p90)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.detected}/${r.spikes} | ${r.falseEvents} | ${fmt(r.drainAfterPublishMs)} | ${pct(r.cpu.detector)} / ${pct(r.cpu.others)} |`;
const md = `## Live detector: throughput and detection latency

Measured ${new Date().toISOString().slice(0, 10)} on ${cpus()[0]?.model.trim() ?? 'unknown CPU'} (${cpus().length} cores, shared), Linux ${release()}, Node ${process.version}${quick ? ', `--quick`' : ''}.
Everything on this machine: nats-server 2.9 (JetStream, file storage), the built \`faultline-detector\` binary as one
replica owning all ${PARTITIONS} partitions (default options: 100 trees, training window 120, bands on 17 host
metrics, checkpoints every 30 s, groups lingering up to 20 ms), and this script as the publisher. 1-minute load
average ${loadAtStart} before and ${loadAtEnd} after; the cores are shared with other work, whose share is given with each phase.

| measure | result | target | met? |
|---|---:|---:|:---:|
| sustained throughput, publish → scores stored (samples/s) | ${fmt(tp.rate)} | ≥ ${fmt(TARGET_RATE)} | ${tp.rate >= TARGET_RATE ? 'yes' : 'no'} |
| detection latency p50 at ${fmt(lat.offeredRate)} samples/s, sample time → event published (ms) | ${fmt(lat.p50)} | – | – |
| detection latency p99 at ${fmt(lat.offeredRate)} samples/s (ms) | ${fmt(lat.p99)} | ≤ ${TARGET_P99_MS} | ${lat.p99 <= TARGET_P99_MS ? 'yes' : 'no'} |
| detection latency p99 at ${fmt(light.offeredRate)} samples/s (ms) | ${fmt(light.p99)} | ≤ ${TARGET_P99_MS} | ${light.p99 <= TARGET_P99_MS ? 'yes' : 'no'} |

**Throughput.** ${fmt(tp.samples)} samples of ${TP_HOSTS} hosts (after a ${TP_WARMUP_SAMPLES}-sample warm-up of each), one host's
${BATCH} consecutive samples per message (an agent batching), published with up to 512 unacknowledged publishes
(publishing alone ran at ${fmt(tp.publishRate)} samples/s); the clock runs from the first publish to the last
ScoreBatch stored in FL_SCORES: ${fmt(tp.seconds, 2)} s. CPU meanwhile: ${cpuLine(tp.cpu)}.

**Latency.** ${LAT_AGENTS} simulator agents × ${LAT_HOSTS_PER_AGENT} virtual hosts each publish one batch holding one sample of every
host per tick, stamped with the wall clock: every ${LAT_TICK_MS} ms (the target rate), then, with new hosts, every
${LAT_LIGHT_TICK_MS} ms. Hosts join over the first ${fmt(LAT_JOIN_MS / 1000, 1)} s and warm up (training window, bands) until
${fmt(LAT_WARMUP_MS / 1000, 1)} s; then, over ${fmt(LAT_MEASURED_MS / 1000, 1)} s, every host gets one memory spike of ${LAT_SPIKE_LENGTH} samples at a random time.
Latency is the arrival of the event's first message at a core subscriber on \`fl.anomalies.>\` minus the
timestamp of the sample that opened it. "Drain" is how long after the last publish everything was scored.

| run | offered (samples/s) | p50 (ms) | p90 | p99 | max | spikes detected | events outside spikes | drain (ms) | CPU detector / others |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${latRow('target', lat)}
${latRow('light', light)}

At the target rate the detected spikes opened their event on their first sample (median ${fmt(lat.delaySamplesP50)} samples
late, worst ${fmt(lat.delaySamplesMax)}); the events outside spikes are ${fmt(lat.falseRatePer100k, 1)} per 100,000 samples. CPU over the measured
window at the target rate: ${cpuLine(lat.cpu)}. Detector memory at the end: ${fmt(results.rssMiB)} MiB for
${TP_HOSTS + 2 * LAT_AGENTS * LAT_HOSTS_PER_AGENT} host models.

Reproduce: \`pnpm build && node bench/live.bench.mjs\` (\`--quick\` for a shorter run).
`;
console.log(md);
// A profiled detector runs slower: its numbers are not results.
if (cpuProfDir === undefined) {
  const out = fileURLToPath(new URL('./results/live.md', import.meta.url));
  mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
  writeFileSync(out, md);
} else {
  console.log(`profiled run: bench/results/live.md left as it was; the profile is in ${cpuProfDir}`);
}
