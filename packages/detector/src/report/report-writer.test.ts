import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { tempDir, type TempDir } from '@faultline/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fixtureReportInput } from '../../test/report-fixture.js';
import { isReportOutputError } from '../errors.js';
import { buildReportDocument, type ReportDocument } from './report-document.js';
import { embeddedJson, inlineSvg } from './report-html.js';
import { writeReport, type WrittenReport } from './report-writer.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
// Characters that must not break the page or the embedded JSON.
const TITLE = 'mixed-anomalies </script><!-- & "quoted" <b>';

let dir: TempDir;
let doc: ReportDocument;
let written: WrittenReport;
let html: string;
/** What Vega-Lite and Vega warned about (through console.warn) while rendering. */
const warnings: unknown[][] = [];

beforeAll(async () => {
  dir = tempDir('faultline-report-');
  doc = buildReportDocument({ ...fixtureReportInput(), title: TITLE });
  const warn = vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => void warnings.push(args));
  try {
    written = await writeReport(doc, join(dir.path, 'out'));
  } finally {
    warn.mockRestore();
  }
  html = readFileSync(written.htmlPath, 'utf8');
});

afterAll(async () => {
  await dir[Symbol.asyncDispose]();
});

interface HtmlCell {
  text: string;
  value: string | undefined;
}

/** The rows of table `id` (body and foot), by their `data-key`, as cells. */
function tableRows(id: string): Map<string, HtmlCell[]> {
  const table = new RegExp(`<table id="${id}">([\\s\\S]*?)</table>`).exec(html);
  expect(table, `table #${id}`).not.toBeNull();
  const rows = new Map<string, HtmlCell[]>();
  for (const [, key, body] of table![1]!.matchAll(/<tr data-key="([^"]*)">([\s\S]*?)<\/tr>/g)) {
    const cells = [...body!.matchAll(/<(td|th)([^>]*)>([\s\S]*?)<\/\1>/g)].map(([, , attrs, content]) => ({
      text: content!.replace(/<[^>]+>/g, ''),
      value: /data-value="([^"]*)"/.exec(attrs!)?.[1],
    }));
    rows.set(key!, cells);
  }
  return rows;
}

const valueOf = (v: number | null): string => (v === null ? '' : String(v));

describe('writeReport', () => {
  it('writes report.json, report.html and an SVG and a PNG per plot', () => {
    const expected = [...doc.plots.flatMap((p) => [p.svg, p.png]), 'report.json', 'report.html'];
    expect(written.files).toEqual(expected);
    for (const f of expected) expect(existsSync(join(written.outDir, f)), f).toBe(true);
    expect(written.htmlPath).toBe(join(dir.path, 'out', 'report.html'));
  });

  it('writes valid PNGs twice the size of their SVGs', () => {
    for (const p of doc.plots) {
      const png = readFileSync(join(written.outDir, p.png));
      expect([...png.subarray(0, 8)], p.png).toEqual(PNG_SIGNATURE);
      expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
      const svg = readFileSync(join(written.outDir, p.svg), 'utf8');
      const width = Number(/<svg[^>]*\swidth="([\d.]+)"/.exec(svg)![1]);
      const height = Number(/<svg[^>]*\sheight="([\d.]+)"/.exec(svg)![1]);
      expect(png.readUInt32BE(16)).toBe(Math.round(width * 2));
      expect(png.readUInt32BE(20)).toBe(Math.round(height * 2));
      // Real plots, not blank images: PNG compresses a blank page to a few hundred bytes.
      expect(statSync(join(written.outDir, p.png)).size, p.png).toBeGreaterThan(20_000);
    }
  });

  it('writes SVGs that parse and carry the plots’ titles and numbers', () => {
    for (const p of doc.plots) {
      const svg = readFileSync(join(written.outDir, p.svg), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      const parsed = new Resvg(svg); // throws on malformed XML
      expect(parsed.width).toBeGreaterThan(300);
      expect(svg).toContain(`>${p.title.replace(/</g, '&lt;')}<`);
    }
    const roc = readFileSync(join(written.outDir, 'plots/roc.svg'), 'utf8');
    expect(roc).toContain(`AUC = ${doc.roc!.auc!.toFixed(3)}`);
    const delays = readFileSync(join(written.outDir, 'plots/delays.svg'), 'utf8');
    expect(delays).toContain('4 of 5 injections detected');
  });

  it('embeds exactly report.json in the page', () => {
    const json = JSON.parse(readFileSync(written.jsonPath, 'utf8'));
    const block = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
    expect(block).not.toBeNull();
    expect(JSON.parse(block![1]!)).toEqual(json);
    expect(json).toEqual(JSON.parse(JSON.stringify(doc)));
    expect(json.title).toBe(TITLE);
    expect(embeddedJson(doc)).not.toContain('</script');
  });

  it('prints in its tables the numbers of report.json', () => {
    const summary = tableRows('summary');
    expect([...summary.keys()]).toEqual(['cpu_surge', 'ram_spike', 'sleep', 'all']);
    for (const row of [...doc.summary!.rows, doc.summary!.total]) {
      const cells = summary.get(row.anomalyType)!;
      const numbers = [
        row.injected,
        row.detected,
        row.missed,
        row.medianDelayMs,
        row.precision,
        row.recall,
        row.f1,
      ];
      expect(cells.slice(1).map((c) => c.value)).toEqual(numbers.map(valueOf));
    }
    // The texts, closed form: 5 injected, 4 detected, median of 2, 3, 4 and 7 s, 4 of 5 events right.
    expect(summary.get('all')!.map((c) => c.text)).toEqual([
      'All types',
      '5',
      '4',
      '1',
      '3.50 s',
      '0.800',
      '0.800',
      '0.800',
    ]);
    expect(summary.get('sleep')!.map((c) => c.text)).toEqual([
      'sleep',
      '1',
      '0',
      '1',
      '—',
      '0.000',
      '0.000',
      '0.000',
    ]);

    const metrics = tableRows('metrics');
    const pw = doc.metrics!.overall.pointwise;
    expect(
      metrics
        .get('pointwise')!
        .slice(1)
        .map((c) => c.value),
    ).toEqual([pw.precision, pw.recall, pw.f1, pw.tp, pw.fp, pw.fn, pw.tn].map(valueOf));
    const ranking = tableRows('ranking');
    expect(ranking.get('rocAuc')![1]!.value).toBe(valueOf(doc.metrics!.overall.rocAuc));
    expect(ranking.get('prAuc')![1]!.value).toBe(valueOf(doc.metrics!.overall.prAuc));

    const hosts = tableRows('hosts');
    for (const h of doc.hosts) {
      expect(
        hosts
          .get(h.hostId)!
          .slice(1, 7)
          .map((c) => c.value),
      ).toEqual(
        [h.samples, h.scoredSamples, h.flaggedSamples, h.truthWindows, h.detectedInjections, h.events].map(
          valueOf,
        ),
      );
    }
    const injections = tableRows('injections');
    expect(injections.size).toBe(doc.injections.length);
    for (const w of doc.injections)
      expect(injections.get(w.injectionId)!.at(-1)!.value).toBe(valueOf(w.delayMs));
    expect(tableRows('events').size).toBe(doc.events.length);
  });

  it('is self-contained: inline CSS and SVG, no script that runs, nothing to fetch', () => {
    const page = html.replace(/<script type="application\/json" id="report-data">[\s\S]*?<\/script>/, '');
    expect(page).not.toMatch(/<script/i);
    expect(page).not.toMatch(/<link|<img|<iframe|@import|\ssrc=/i);
    // The only absolute URLs left are XML namespaces, which are names, not fetched.
    const urls = [...page.matchAll(/([\w:-]+)="(https?:[^"]*)"/g)].map(([, attr]) => attr);
    expect(new Set(urls)).toEqual(new Set(['xmlns', 'xmlns:xlink']));
    expect(page.match(/<svg/g)).toHaveLength(doc.plots.length);
    expect(page).toContain(
      '<h1>mixed-anomalies &lt;/script&gt;&lt;!-- &amp; &quot;quoted&quot; &lt;b&gt;</h1>',
    );
  });

  it('renders every spec without a Vega-Lite warning', () => {
    expect(warnings).toEqual([]);
  });

  it('fails with ReportOutputError naming the path it cannot write', async () => {
    const file = join(dir.path, 'a-file');
    writeFileSync(file, 'not a directory');
    const err = await writeReport({ ...doc, plots: [] }, join(file, 'out')).catch((e: unknown) => e);
    expect(isReportOutputError(err)).toBe(true);
    expect((err as Error).message).toContain(`cannot write ${join(file, 'out', 'plots')}`);
  });
});

describe('inlineSvg', () => {
  it('prefixes ids and the references to them', () => {
    const svg =
      '<svg><defs><clipPath id="clip1"/></defs><g clip-path="url(#clip1)"><use href="#clip1"/></g></svg>';
    expect(inlineSvg(svg, 'p-roc')).toBe(
      '<svg><defs><clipPath id="p-roc-clip1"/></defs><g clip-path="url(#p-roc-clip1)"><use href="#p-roc-clip1"/></g></svg>',
    );
  });
});
