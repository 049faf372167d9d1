import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { requireBinary, tempDir } from '@faultline/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureReportInput } from '../../test/report-fixture.js';
import { buildReportDocument } from './report-document.js';
import { writeReport } from './report-writer.js';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** Kept after the run for a look (gitignored). */
const SCREENSHOT = join(REPO_ROOT, 'test-results', 'report.png');

// Without the background-networking flags Chromium's own services try the network, which a
// sandbox refuses; none of it is needed to render a local page.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let browser: Browser;

beforeAll(async () => {
  const executablePath = requireBinary('chromium', 'apt-get update && apt-get install -y chromium');
  browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  await browser?.close();
});

describe('report.html in Chromium', () => {
  it('opens from file:// offline, without errors or requests, and shows every plot', async () => {
    await using dir = tempDir('faultline-report-browser-');
    const doc = buildReportDocument(fixtureReportInput());
    const written = await writeReport(doc, dir.path, { pngScale: 0.5 }); // the PNGs are not looked at here
    const page = await browser.newPage({ viewport: { width: 1320, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    const failed: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    page.on('requestfailed', (r) => failed.push(`${r.url()}: ${r.failure()?.errorText ?? ''}`));

    const url = pathToFileURL(written.htmlPath).href;
    await page.goto(url, { waitUntil: 'load' });

    const figures = page.locator('figure.plot');
    expect(await figures.count()).toBe(doc.plots.length);
    for (const p of doc.plots) {
      const svg = page.locator(`#plot-${p.id} svg`);
      await svg.scrollIntoViewIfNeeded();
      expect(await svg.isVisible(), p.id).toBe(true);
      const box = await svg.boundingBox();
      expect(box!.width, p.id).toBeGreaterThan(300);
      expect(box!.height, p.id).toBeGreaterThan(200);
      // Text is laid out: the plot's title has a real width in the browser.
      const titleWidth = await svg
        .locator('.role-title-text text')
        .first()
        .evaluate((t) => (t as unknown as { getComputedTextLength(): number }).getComputedTextLength());
      expect(titleWidth, p.id).toBeGreaterThan(20);
    }
    const summaryRows = await page.locator('#summary tbody tr, #summary tfoot tr').count();
    expect(summaryRows).toBe(doc.summary!.rows.length + 1);

    // The embedded document, read by the browser, is report.json.
    // Strings run in the page: this package's types have no DOM.
    const embedded: unknown = await page.evaluate(
      "JSON.parse(document.getElementById('report-data').textContent)",
    );
    expect(embedded).toEqual(JSON.parse(readFileSync(written.jsonPath, 'utf8')));

    // The SVG files parse as XML in the browser.
    for (const p of doc.plots) {
      const text = readFileSync(join(dir.path, p.svg), 'utf8');
      const parsed: unknown = await page.evaluate(
        `(() => { const d = new DOMParser().parseFromString(${JSON.stringify(text)}, 'image/svg+xml');` +
          ` return { root: d.documentElement.nodeName, errors: d.getElementsByTagName('parsererror').length }; })()`,
      );
      expect(parsed, p.svg).toEqual({ root: 'svg', errors: 0 });
    }

    expect(errors).toEqual([]);
    expect(failed).toEqual([]);
    expect(requests).toEqual([url]);

    mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.close();
  });
});
