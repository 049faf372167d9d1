/**
 * `writeReport`: a report document to files. See docs/report.md.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ReportOutputError } from '../errors.js';
import { checkNumber, checkObject } from '../option-checks.js';
import { renderPlotSvg, renderPng } from './plot-render.js';
import type { ReportDocument } from './report-document.js';
import { renderReportHtml } from './report-html.js';

/** The report page's file name. */
export const REPORT_HTML_FILE = 'report.html';
/** The document's file name. */
export const REPORT_JSON_FILE = 'report.json';

/** Options of {@link writeReport}. */
export interface WriteReportOptions {
  /** Pixels per SVG unit of the PNGs. Number in [0.25, 8], default 2. */
  pngScale?: number;
}

/** What {@link writeReport} wrote. */
export interface WrittenReport {
  /** The output directory as given. */
  outDir: string;
  /** Path of report.html (`outDir` joined). */
  htmlPath: string;
  /** Path of report.json. */
  jsonPath: string;
  /** Every file written, relative to `outDir`, `/`-separated, in the order written. */
  files: string[];
}

async function write(outDir: string, file: string, data: string | Uint8Array): Promise<void> {
  const path = join(outDir, file);
  try {
    await writeFile(path, data);
  } catch (err) {
    throw new ReportOutputError(path, { cause: err });
  }
}

/**
 * Writes `doc` into `outDir` (created when missing; files of the same names are replaced):
 * `plots/<id>.svg` and `plots/<id>.png` for every plot, `report.json` (the document) and
 * `report.html` (self-contained: inline CSS and SVG, the document embedded as JSON, nothing
 * fetched). Throws {@link ReportOutputError} naming the path that could not be written.
 *
 * @example
 * ```ts
 * const written = await writeReport(buildReportDocument(input), './exp-42-report');
 * console.log(written.htmlPath); // ./exp-42-report/report.html
 * ```
 */
export async function writeReport(
  doc: ReportDocument,
  outDir: string,
  options: WriteReportOptions = {},
): Promise<WrittenReport> {
  const o = checkObject(options, 'options');
  const pngScale = checkNumber(o.pngScale, 2, 'pngScale', { min: 0.25, max: 8 });
  const plotsDir = join(outDir, 'plots');
  try {
    await mkdir(plotsDir, { recursive: true });
  } catch (err) {
    throw new ReportOutputError(plotsDir, { cause: err });
  }
  const files: string[] = [];
  const svgs = new Map<string, string>();
  // resvg rasterises on a worker thread: the PNG of one plot is made while Vega lays out the
  // next. Its failure is caught at once (no unhandled rejection) and thrown when awaited.
  let pendingPng: Promise<void> = Promise.resolve();
  let pngFailure: { err: unknown } | undefined;
  const settlePng = async (): Promise<void> => {
    await pendingPng;
    if (pngFailure !== undefined) throw pngFailure.err;
  };
  for (const plot of doc.plots) {
    const svg = await renderPlotSvg(plot.spec);
    svgs.set(plot.id, svg);
    await write(outDir, plot.svg, svg);
    await settlePng();
    files.push(plot.svg, plot.png);
    pendingPng = renderPng(svg, { scale: pngScale })
      .then((png) => write(outDir, plot.png, png))
      .catch((err: unknown) => {
        pngFailure = { err };
      });
  }
  await settlePng();
  await write(outDir, REPORT_JSON_FILE, JSON.stringify(doc) + '\n');
  files.push(REPORT_JSON_FILE);
  await write(outDir, REPORT_HTML_FILE, renderReportHtml(doc, svgs));
  files.push(REPORT_HTML_FILE);
  return {
    outDir,
    htmlPath: join(outDir, REPORT_HTML_FILE),
    jsonPath: join(outDir, REPORT_JSON_FILE),
    files,
  };
}
