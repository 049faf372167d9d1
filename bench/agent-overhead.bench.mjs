// Agent overhead: cpu (% of one core) and RSS of the real `faultline-agent serve` process
// sampling at 1 Hz and at 20 Hz, without NATS (it samples but publishes nothing) and with a
// real nats-server (JetStream, the FL_* streams created first), so publishing is included.
// Measured in the same windows beside prometheus-node-exporter (Debian's binary, scraped
// over HTTP at the same rate, once with its default collectors and once with only the
// collectors that read what our sampler reads) and an idle `node` process.
//
//   pnpm build && node bench/agent-overhead.bench.mjs [--seconds 60] [--warmup 5] [--quick]
//
// cpu % = (utime + stime) delta of /proc/<pid>/stat over the window ÷ wall time; it counts
// every thread of the process. RSS = VmRSS of /proc/<pid>/status read every second: median
// and max. Each configuration starts fresh processes, lets them warm up, then measures.
// Writes bench/results/agent-overhead.md.
//
// Targets: <= 1 % cpu at 1 Hz, <= 10 % at 20 Hz, RSS <= 80 MB.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request, Agent as HttpAgent } from 'node:http';
import { createRequire } from 'node:module';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearTimeout, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AGENT_NODE_FLAGS } from '../packages/agent/dist/index.js';
import { ensureStreams, StreamName } from '../packages/protocol/dist/index.js';
import { CLK_TCK, cpuTicks, freePort, loadavg, until } from './lib.mjs';

// The NATS client is a dependency of the agent package, not of the bench: load it from there.
const agentRequire = createRequire(new URL('../packages/agent/package.json', import.meta.url));
const { connect } = await import(agentRequire.resolve('@nats-io/transport-node'));
const { jetstreamManager } = await import(agentRequire.resolve('@nats-io/jetstream'));

const AGENT_BIN = fileURLToPath(new URL('../packages/agent/dist/bin/faultline-agent.js', import.meta.url));
const NODE_EXPORTER = '/usr/bin/prometheus-node-exporter';
const OUT = fileURLToPath(new URL('./results/agent-overhead.md', import.meta.url));

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const quick = args.includes('--quick');
const SECONDS = flag('seconds', quick ? 10 : 60);
const WARMUP_S = flag('warmup', quick ? 2 : 5);
const TARGETS = { cpu1Hz: 1, cpu20Hz: 10, rssMB: 80 };
/** The collectors that read what the agent's host sample reads (stat, loadavg, meminfo, diskstats, net/dev, file-nr). */
const MATCHED_COLLECTORS = ['cpu', 'stat', 'loadavg', 'meminfo', 'diskstats', 'netdev', 'filefd'];

/** VmRSS, and its anonymous (private heap) and file-backed (mostly the shared `node` binary) parts. */
function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const kb = (field) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : NaN;
  };
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

const children = new Set();
function launch(name, cmd, argv, logDir) {
  const log = join(logDir, `${name}.log`);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks = [];
  child.stdout.on('data', (b) => chunks.push(b));
  child.stderr.on('data', (b) => chunks.push(b));
  child.on('exit', () => writeFileSync(log, Buffer.concat(chunks)));
  children.add(child);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    name,
    pid: child.pid,
    output: () => Buffer.concat(chunks).toString('utf8'),
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      children.delete(child);
    },
  };
}
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
/** GET over a kept-alive connection; resolves with the body. */
function get(port, path) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: httpAgent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        res.statusCode === 200
          ? resolve(Buffer.concat(chunks).toString('utf8'))
          : reject(new Error(`GET ${path} → ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** Scrapes `port` every `intervalMs` on an absolute schedule (a slow scrape is not overlapped). */
function startScraper(port, intervalMs) {
  const st = { scrapes: 0, failures: 0, series: 0, bytes: 0 };
  let running = true;
  const done = (async () => {
    let next = performance.now();
    while (running) {
      try {
        const body = await get(port, '/metrics');
        if (st.scrapes++ === 0) {
          st.bytes = body.length;
          st.series = body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
        }
      } catch {
        st.failures++;
      }
      next += intervalMs;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else next = performance.now();
    }
  })();
  return {
    stats: st,
    async stop() {
      running = false;
      await done;
    },
  };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)];
}

/**
 * Measures every process over `seconds`: cpu from the tick delta over the whole window and per
 * 10 s slice, RSS once a second.
 */
async function measure(procs, seconds) {
  const t0 = performance.now();
  const start = new Map(procs.map((p) => [p.name, cpuTicks(p.pid)]));
  const mem = new Map(procs.map((p) => [p.name, { rss: [], anon: [], file: [] }]));
  const slices = new Map(procs.map((p) => [p.name, []]));
  let sliceStart = new Map(start);
  let sliceT = t0;
  for (let s = 1; s <= seconds; s++) {
    const wait = t0 + s * 1000 - performance.now();
    if (wait > 0) await sleep(wait);
    for (const p of procs) {
      const m = memory(p.pid);
      const into = mem.get(p.name);
      into.rss.push(m.rss);
      into.anon.push(m.anon);
      into.file.push(m.file);
    }
    if (s % 10 === 0 || s === seconds) {
      const now = performance.now();
      for (const p of procs) {
        const t = cpuTicks(p.pid);
        slices.get(p.name).push((100 * (t - sliceStart.get(p.name))) / CLK_TCK / ((now - sliceT) / 1000));
        sliceStart.set(p.name, t);
      }
      sliceT = now;
    }
  }
  const wallS = (performance.now() - t0) / 1000;
  const out = new Map();
  for (const p of procs) {
    const ticks = cpuTicks(p.pid) - start.get(p.name);
    const m = mem.get(p.name);
    out.set(p.name, {
      cpuPercent: (100 * ticks) / CLK_TCK / wallS,
      sliceMedian: median(slices.get(p.name)),
      sliceMax: Math.max(...slices.get(p.name)),
      rssMedian: median(m.rss),
      rssMax: Math.max(...m.rss),
      rssMaxAtS: m.rss.indexOf(Math.max(...m.rss)) + 1,
      rssMaxLate: Math.max(...m.rss.slice(Math.floor(m.rss.length / 2))),
      anonMedian: median(m.anon),
      fileMedian: median(m.file),
    });
  }
  return { wallS, byProc: out };
}

function metricValue(text, name) {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/**
 * Where the agent's idle cpu goes, measured beside it: prom-client's default metrics alone (its
 * event-loop-delay monitor wakes the loop every 10 ms), a gRPC client retrying Register every
 * second against the same unreachable controller (what the control link does here), and the
 * agent itself run without AGENT_NODE_FLAGS (V8's default young generation), to show what they
 * save.
 */
const agentPackageJson = fileURLToPath(new URL('../packages/agent/package.json', import.meta.url));
const protocolIndex = new URL('../packages/protocol/dist/index.js', import.meta.url).href;
const PROM_ONLY = `
  import { createRequire } from 'node:module';
  const prom = createRequire(${JSON.stringify(agentPackageJson)})('prom-client');
  prom.collectDefaultMetrics({ register: new prom.Registry() });
  setInterval(() => {}, 1e9);`;
const GRPC_RETRY = `
  import { createRequire } from 'node:module';
  const grpc = createRequire(${JSON.stringify(agentPackageJson)})('@grpc/grpc-js');
  const { AgentServiceClient } = await import(${JSON.stringify(protocolIndex)});
  const client = new AgentServiceClient('127.0.0.1:1', grpc.credentials.createInsecure());
  const agent = { agentId: 'x', hostname: 'x', labels: {}, caps: undefined, version: '', cpuCount: 1,
    memoryTotalBytes: 0n, hostIds: [] };
  const attempt = () => client.register({ agent }, new grpc.Metadata(), { deadline: Date.now() + 5000 },
    () => setTimeout(attempt, 1000));
  attempt();`;

const work = mkdtempSync(join(tmpdir(), 'faultline-overhead-'));
const loadStart = loadavg();
console.log(`agent overhead: ${SECONDS} s per configuration after ${WARMUP_S} s warm-up; load ${loadStart}`);

// One nats-server for the NATS configurations, with the data-plane streams in place.
const natsPort = await freePort();
const natsDir = join(work, 'nats');
mkdirSync(natsDir);
const nats = launch(
  'nats-server',
  'nats-server',
  ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', natsDir],
  work,
);
const natsUrl = `nats://127.0.0.1:${natsPort}`;
const nc = await until(() => connect({ servers: natsUrl, reconnect: false }), 10_000, 'nats-server');
const jsm = await jetstreamManager(nc);
await ensureStreams(jsm);

const configs = [
  { name: '1 Hz, no NATS', intervalMs: 1000, nats: false },
  { name: '20 Hz, no NATS', intervalMs: 50, nats: false },
  { name: '1 Hz, NATS', intervalMs: 1000, nats: true },
  { name: '20 Hz, NATS', intervalMs: 50, nats: true },
];

const results = [];
for (const cfg of configs) {
  const dir = join(work, cfg.name.replace(/[^a-z0-9]+/gi, '-'));
  mkdirSync(dir);
  const [agentMetricsPort, nePort, neMatchedPort] = await Promise.all([freePort(), freePort(), freePort()]);
  // As the image's entrypoint and `faultline dev up` launch it: `node ${AGENT_NODE_FLAGS} …`.
  const agentArgs = (id, metricsPort, nodeFlags = AGENT_NODE_FLAGS) => [
    ...nodeFlags,
    AGENT_BIN,
    'serve',
    '--controller',
    '127.0.0.1:1',
    '--interval',
    `${cfg.intervalMs}ms`,
    '--agent-id',
    id,
    '--data-dir',
    join(dir, id),
    '--metrics-port',
    String(metricsPort),
    ...(cfg.nats ? ['--nats', natsUrl] : []),
  ];
  const agent = launch('agent', process.execPath, agentArgs('bench-1', agentMetricsPort), dir);
  const agentV8Defaults = launch('agent-v8-defaults', process.execPath, agentArgs('bench-2', 0, []), dir);
  const promOnly = launch('prom-only', process.execPath, ['--input-type=module', '-e', PROM_ONLY], dir);
  const grpcRetry = launch('grpc-retry', process.execPath, ['--input-type=module', '-e', GRPC_RETRY], dir);
  const ne = launch('node-exporter', NODE_EXPORTER, [`--web.listen-address=127.0.0.1:${nePort}`], dir);
  const neMatched = launch(
    'node-exporter-matched',
    NODE_EXPORTER,
    [
      `--web.listen-address=127.0.0.1:${neMatchedPort}`,
      '--collector.disable-defaults',
      '--web.disable-exporter-metrics',
      ...MATCHED_COLLECTORS.map((c) => `--collector.${c}`),
    ],
    dir,
  );
  const idle = launch('idle-node', process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], dir);

  await until(() => get(agentMetricsPort, '/metrics'), 15_000, 'the agent /metrics');
  await until(() => get(nePort, '/metrics'), 15_000, 'node-exporter');
  await until(() => get(neMatchedPort, '/metrics'), 15_000, 'node-exporter (matched)');
  const scrapers = [startScraper(nePort, cfg.intervalMs), startScraper(neMatchedPort, cfg.intervalMs)];
  await sleep(WARMUP_S * 1000);

  const before = await get(agentMetricsPort, '/metrics');
  const samplesBefore = (await jsm.streams.info(StreamName.Samples)).state.messages;
  const load0 = loadavg();
  const started = [agent, ne, neMatched, idle, agentV8Defaults, promOnly, grpcRetry];
  const procs = [...started, ...(cfg.nats ? [nats] : [])];
  console.log(`${cfg.name}: measuring ${procs.map((p) => p.name).join(', ')} (load ${load0})`);
  const m = await measure(procs, SECONDS);
  const load1 = loadavg();
  const after = await get(agentMetricsPort, '/metrics');
  const samplesAfter = (await jsm.streams.info(StreamName.Samples)).state.messages;
  for (const s of scrapers) await s.stop();

  const taken =
    metricValue(after, 'faultline_agent_samples_taken_total') -
    metricValue(before, 'faultline_agent_samples_taken_total');
  const published =
    metricValue(after, 'faultline_agent_samples_published') -
    metricValue(before, 'faultline_agent_samples_published');
  const alive = started.every((p) => p.alive());
  results.push({
    cfg,
    m,
    load: [load0, load1],
    taken,
    published: cfg.nats ? published : 0,
    batches: cfg.nats ? samplesAfter - samplesBefore : 0,
    scrapes: scrapers.map((s) => ({ ...s.stats })),
    alive,
  });
  const a = m.byProc.get('agent');
  console.log(
    `  agent ${a.cpuPercent.toFixed(2)} % cpu, rss ${(a.rssMedian / 1e6).toFixed(1)} MB (max ${(a.rssMax / 1e6).toFixed(1)}); ` +
      `${taken} samples taken, ${cfg.nats ? `${published} published in ${samplesAfter - samplesBefore} batches` : 'not published'}`,
  );
  await Promise.all(started.map((p) => p.stop()));
  if (!alive) throw new Error(`a process exited during "${cfg.name}": see the logs in ${dir}`);
}

await nc.close();
await nats.stop();
httpAgent.destroy();
const loadEnd = loadavg();
rmSync(work, { recursive: true, force: true });

// ---- report ----
const pct = (x) => `${x.toFixed(2)} %`;
const mb = (x) => `${(x / 1e6).toFixed(1)} MB`;
const label = {
  agent: '**faultline-agent**',
  'node-exporter': 'node-exporter, default collectors',
  'node-exporter-matched': `node-exporter, ${MATCHED_COLLECTORS.join('+')} only`,
  'idle-node': 'idle `node`',
  'nats-server': 'nats-server (receiving both agents)',
  'agent-v8-defaults':
    "experiment: faultline-agent without AGENT_NODE_FLAGS (V8's default 16 MiB semi-spaces)",
  'prom-only': 'reference: `node` + prom-client default metrics only',
  'grpc-retry': 'reference: `node` + gRPC Register retried every 1 s to 127.0.0.1:1',
};
const lines = [
  '# Agent overhead',
  '',
  '`pnpm build && node bench/agent-overhead.bench.mjs` (writes this file).',
  '',
  `Node ${process.version}, Linux ${release()}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ` +
    `${new Date().toISOString().slice(0, 10)}. The machine is shared with other engineers' builds and tests: ` +
    `load average (1/5/15 min) ${loadStart} at the start, ${loadEnd} at the end; each window's own is in its heading.`,
  '',
  `Each configuration starts fresh processes, waits ${WARMUP_S} s, then measures ${SECONDS} s. ` +
    'cpu is % of one core: (utime + stime) from /proc/<pid>/stat over the window (all threads), and ' +
    'the median / max of its 10 s slices; RSS is VmRSS read once a second (median / max; 1 MB = 10^6 B). ' +
    `The agent runs \`node ${AGENT_NODE_FLAGS.join(' ')} faultline-agent serve --controller 127.0.0.1:1\` ` +
    '(as the image and `faultline dev up` launch it; no controller: it samples, keeps ' +
    'retrying the controller link, and serves /metrics); node-exporter is scraped at the same rate as the ' +
    'agent samples, so it does comparable work; the idle `node` is `node -e "setInterval(()=>{},1e9)"`.',
  '',
  `Targets: agent ≤ ${TARGETS.cpu1Hz} % cpu at 1 Hz, ≤ ${TARGETS.cpu20Hz} % at 20 Hz, RSS ≤ ${TARGETS.rssMB} MB.`,
  '',
  '## Summary',
  '',
  '| configuration | agent cpu | target | cpu | agent RSS median / max / max in 2nd half (anon median) | target | RSS | node-exporter (default) cpu | node-exporter (matched) cpu | idle node cpu | agent without node flags: RSS max |',
  '|---|---:|---:|---|---:|---:|---|---:|---:|---:|---:|',
];
const verdict = (ok) => (ok ? 'met' : '**missed**');
for (const r of results) {
  const a = r.m.byProc.get('agent');
  const cpuTarget = r.cfg.intervalMs >= 1000 ? TARGETS.cpu1Hz : TARGETS.cpu20Hz;
  const rssLimit = TARGETS.rssMB * 1e6;
  const rssVerdict =
    a.rssMax <= rssLimit
      ? 'met'
      : a.rssMaxLate <= rssLimit
        ? `**missed** at the start-up peak (${a.rssMaxAtS + WARMUP_S} s after start), met in the 2nd half`
        : '**missed**';
  lines.push(
    `| ${r.cfg.name} | ${pct(a.cpuPercent)} | ≤ ${cpuTarget} % | ${verdict(a.cpuPercent <= cpuTarget)} | ` +
      `${mb(a.rssMedian)} / ${mb(a.rssMax)} / ${mb(a.rssMaxLate)} (${mb(a.anonMedian)}) | ≤ ${TARGETS.rssMB} MB | ${rssVerdict} | ` +
      `${pct(r.m.byProc.get('node-exporter').cpuPercent)} | ${pct(r.m.byProc.get('node-exporter-matched').cpuPercent)} | ` +
      `${pct(r.m.byProc.get('idle-node').cpuPercent)} | ${mb(r.m.byProc.get('agent-v8-defaults').rssMax)} |`,
  );
}
for (const r of results) {
  lines.push(
    '',
    `## ${r.cfg.name} (sampling every ${r.cfg.intervalMs} ms; load ${r.load[0]} → ${r.load[1]})`,
    '',
    `The agent took ${r.taken} samples in ${r.m.wallS.toFixed(1)} s ` +
      `(${(r.taken / r.m.wallS).toFixed(2)}/s)` +
      (r.cfg.nats
        ? `, published ${r.published} of them in ${r.batches} JetStream messages.`
        : '; nothing published (no NATS).') +
      ` node-exporter scrapes: ${r.scrapes[0].scrapes} of ${r.scrapes[0].series} series (default, ` +
      `${(r.scrapes[0].bytes / 1024).toFixed(0)} KiB each), ${r.scrapes[1].scrapes} of ${r.scrapes[1].series} ` +
      `series (matched), ${r.scrapes[0].failures + r.scrapes[1].failures} failed (scrapes include the warm-up).`,
    '',
    '| process | cpu (window) | cpu 10 s slices median / max | RSS median | RSS max (s after start) | RSS max in 2nd half | anon / file RSS median |',
    '|---|---:|---:|---:|---:|---:|---:|',
  );
  for (const [name, v] of r.m.byProc) {
    lines.push(
      `| ${label[name]} | ${pct(v.cpuPercent)} | ${pct(v.sliceMedian)} / ${pct(v.sliceMax)} | ${mb(v.rssMedian)} | ` +
        `${mb(v.rssMax)} (${v.rssMaxAtS + WARMUP_S} s) | ${mb(v.rssMaxLate)} | ${mb(v.anonMedian)} / ${mb(v.fileMedian)} |`,
    );
  }
}
lines.push(
  '',
  '## Reading the numbers',
  '',
  '- cpu is counted in clock ticks of 1/' +
    `${CLK_TCK} s: over a ${SECONDS} s window one tick is ${(100 / CLK_TCK / SECONDS).toFixed(3)} % of a core.`,
  '- RSS counts the file-backed pages the process maps, and for a Node process most of them are the ' +
    '`node` binary itself, shared with every other Node process on the host (see the idle `node` row: ' +
    'its anonymous part is small). The anonymous part is what the agent adds to the host.',
  "- A fresh agent's RSS climbs for its first ~15–20 s (start-up garbage: module compilation, the first " +
    "samples) until V8's first full collection, then drops and stays flat; the max column catches that " +
    'peak when it falls inside the window, the 2nd-half max is the steady state.',
  "- The reference rows isolate two fixed costs of an idle agent: prom-client's `collectDefaultMetrics` " +
    'starts an event-loop-delay monitor that wakes the loop every 10 ms (100 wake-ups/s whatever the ' +
    'sampling rate), and the control link retries Register once a second while the controller is ' +
    'unreachable (with a controller it holds one stream and gets a heartbeat every few seconds instead). ' +
    `The experiment row is the same agent without \`${AGENT_NODE_FLAGS.join(' ')}\`: V8's default young ` +
    'generation lets more start-up garbage pile up before the first collections.',
);
const md = lines.join('\n') + '\n';
mkdirSync(join(OUT, '..'), { recursive: true });
writeFileSync(OUT, md);
console.log(`\n${md}\nwrote ${OUT}`);
