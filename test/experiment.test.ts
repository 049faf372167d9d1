// The slow end-to-end case, run once: the real binaries (nats-server, redis-server,
// controller, detector, 3 agents) run the one-minute six-phase example; then the export,
// the report, and the report in headless Chromium.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { eventually, freePort, requireBinary, tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { faultline } from './cli.js';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Kept after the run as a test artifact (gitignored). */
const SCREENSHOT = join(root, 'test-results', 'e2e-report.png');

interface EventwiseJson {
  precision: number;
  recall: number;
  injections: number;
  detectedInjections: number;
}

/** Sum of the detector's consumer backlog, from its /metrics; undefined while unreachable. */
async function detectorBacklog(port: number): Promise<number | undefined> {
  const body = await fetch(`http://127.0.0.1:${port}/metrics`).then(
    (r) => r.text(),
    () => undefined,
  );
  if (body === undefined) return undefined;
  const values = [
    ...body.matchAll(/^faultline_detector_consumer_(?:ack_)?pending_messages\{[^}]*\} (\S+)$/gm),
  ];
  return values.length === 0 ? undefined : values.reduce((s, m) => s + Number(m[1]), 0);
}

async function consecutivePorts(n: number): Promise<number> {
  // agents use base..base+n-1: pick a base whose successors are free too
  for (;;) {
    const base = await freePort();
    const { isListening } = await import('@faultline/testkit');
    let free = base + n < 65535;
    for (let i = 1; i < n && free; i++) free = !(await isListening(base + i));
    if (free) return base;
  }
}

interface StatusJson {
  experimentId: string;
  state: string;
  agents: string[];
  injectionsPlanned: number;
  truth: Array<{
    injectionId: string;
    hostId: string;
    anomalyType: string;
    actualStart: string;
    actualEnd: string;
    reachedTarget: boolean;
    shortfall: string;
    achieved:
      { peakRssDeltaBytes?: number; meanCpuPercent?: number; writeBytesPerSecond?: number } | undefined;
  }>;
}

describe('a phased experiment across 3 local agents (real binaries)', () => {
  it('runs to completion with a truth window per injection, every sample exported, and the injections detected and reported', async () => {
    await using dir = tempDir('faultline-e2e-');
    const env = { FAULTLINE_HOME: dir.path };
    const ports = {
      nats: await freePort(),
      natsMonitor: await freePort(),
      redis: await freePort(),
      controller: await freePort(),
      controllerMetrics: await freePort(),
      detectorMetrics: await freePort(),
      agents: await consecutivePorts(3),
    };
    const stackFlags = [
      '--nats-port',
      String(ports.nats),
      '--nats-monitor-port',
      String(ports.natsMonitor),
      '--redis-port',
      String(ports.redis),
      '--controller-port',
      String(ports.controller),
      '--controller-metrics-port',
      String(ports.controllerMetrics),
      '--detector-metrics-port',
      String(ports.detectorMetrics),
    ];
    const controller = ['--controller', `127.0.0.1:${ports.controller}`];
    try {
      const up = await faultline(
        ['dev', 'up', '--agents', '3', '--agent-metrics-port', String(ports.agents), ...stackFlags],
        env,
      );
      expect(up.stderr).toBe('');
      expect(up.code).toBe(0);

      const agents = await faultline(['agents', ...controller, '-o', 'json']);
      const listed = JSON.parse(agents.stdout) as { agents: Array<{ connected: boolean }> };
      expect(listed.agents).toHaveLength(3);

      const run = await faultline(['run', join(root, 'examples/phased-quick.yaml'), '--wait', ...controller]);
      expect(run.code, run.stderr).toBe(0);
      const id = run.stdout.split('\n')[0]!.trim();
      expect(id).toMatch(/^exp-/);

      const status = await faultline(['status', id, ...controller, '--output', 'json']);
      expect(status.code).toBe(0);
      const exp = JSON.parse(status.stdout) as StatusJson;
      expect(exp.state).toBe('succeeded');
      expect(exp.agents).toHaveLength(3);
      // three injections (memory, cpu, io) on each of the three hosts, each with a closed window
      expect(exp.truth).toHaveLength(9);
      expect(exp.injectionsPlanned).toBe(9);
      for (const t of exp.truth) {
        expect(Date.parse(t.actualEnd)).toBeGreaterThan(Date.parse(t.actualStart));
        expect(t.achieved).toBeDefined();
        if (!t.reachedTarget) expect(t.shortfall).not.toBe(''); // a shortfall always says why
      }
      const memory = exp.truth.filter((t) => t.anomalyType === 'memory_spike');
      expect(memory).toHaveLength(3);
      for (const t of memory) expect(t.achieved!.peakRssDeltaBytes!).toBeGreaterThan(0.9 * 128 * 2 ** 20);

      const out = join(dir.path, 'export');
      const exported = await faultline([
        'export',
        id,
        '--format',
        'jsonl',
        '--layout',
        'wide',
        '--out',
        out,
        '--nats',
        `nats://127.0.0.1:${ports.nats}`,
      ]);
      expect(exported.code, exported.stderr).toBe(0);
      const rows = readFileSync(join(out, 'samples.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { host_id: string; seq: number; state: string });
      // no sample lost: per host, the experiment's sample sequence numbers are contiguous
      const byHost = new Map<string, number[]>();
      for (const r of rows) byHost.set(r.host_id, [...(byHost.get(r.host_id) ?? []), Number(r.seq)]);
      expect([...byHost.keys()].sort()).toEqual(['local-0', 'local-1', 'local-2']);
      for (const seqs of byHost.values()) {
        seqs.sort((a, b) => a - b);
        expect(seqs.length).toBeGreaterThan(500); // 50 ms sampling for a minute
        expect(seqs[seqs.length - 1]! - seqs[0]! + 1).toBe(seqs.length);
      }
      expect(rows.some((r) => r.state === 'working_anomaly_memory_spike')).toBe(true);
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { samples: number };
      expect(manifest.samples).toBe(rows.length);

      // the detector scored everything, and graded against the truth it finds the injections
      await eventually(async () => (await detectorBacklog(ports.detectorMetrics)) === 0, {
        name: 'detector caught up',
        timeoutMs: 60_000,
        intervalMs: 500,
      });
      const reportDir = join(dir.path, 'report');
      const report = await faultline([
        'report',
        id,
        '--out',
        reportDir,
        '--nats',
        `nats://127.0.0.1:${ports.nats}`,
      ]);
      expect(report.code, report.stderr).toBe(0);
      const json = readFileSync(join(reportDir, 'report.json'), 'utf8');
      const doc = JSON.parse(json) as {
        overview: { samples: number };
        metrics: { overall: { eventwise: EventwiseJson } };
      };
      expect(doc.overview.samples).toBe(rows.length);
      const eventwise = doc.metrics.overall.eventwise;
      expect(eventwise.injections).toBe(9);
      expect(eventwise.recall, JSON.stringify(eventwise)).toBeGreaterThanOrEqual(0.9);
      expect(eventwise.precision, JSON.stringify(eventwise)).toBeGreaterThanOrEqual(0.8);

      // report.json is what the page shows, and the page renders offline without errors
      const html = readFileSync(join(reportDir, 'report.html'), 'utf8');
      const embedded = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
      expect(embedded).not.toBeNull();
      expect(JSON.parse(embedded![1]!)).toEqual(JSON.parse(json)); // '<' is escaped as \u003c, which JSON.parse reads back
      const browser = await chromium.launch({
        executablePath: requireBinary('chromium', 'apt-get update && apt-get install -y chromium'),
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1320, height: 900 } });
        const errors: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error') errors.push(m.text());
        });
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(pathToFileURL(join(reportDir, 'report.html')).href, { waitUntil: 'load' });
        expect(await page.locator('figure.plot').count()).toBeGreaterThan(3);
        mkdirSync(join(root, 'test-results'), { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
      }
    } finally {
      const down = await faultline(['dev', 'down'], env);
      expect(down.code).toBe(0);
    }
  }, 240_000);
});
