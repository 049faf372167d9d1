/**
 * Renders Vega-Lite specs headless: Vega-Lite compiles the spec to Vega, a Vega view with no
 * renderer (no canvas needed) writes SVG, and resvg rasterises the SVG to PNG with the
 * system's fonts.
 */
import { renderAsync } from '@resvg/resvg-js';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** The SVG text of a Vega-Lite spec whose data is inline. */
export async function renderPlotSvg(spec: TopLevelSpec): Promise<string> {
  const vegaSpec = compile(spec).spec;
  const view = new View(parse(vegaSpec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Options of {@link renderPng}. */
export interface PngOptions {
  /** Pixels per SVG unit. Number in [0.25, 8], default 2 (sharp on high-density screens). */
  scale?: number;
}

/**
 * A PNG of `svg` on a white background. Text is drawn with the installed system fonts (the
 * plots ask for Liberation Sans, Arial, Helvetica or DejaVu Sans, then any sans-serif); a
 * machine without any font renders the plots without text.
 */
export async function renderPng(svg: string, options: PngOptions = {}): Promise<Buffer> {
  const image = await renderAsync(svg, {
    fitTo: { mode: 'zoom', value: options.scale ?? 2 },
    background: 'white',
    font: { loadSystemFonts: true },
  });
  return image.asPng();
}
