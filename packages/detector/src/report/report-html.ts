/**
 * report.html: one self-contained page (inline CSS, the plots as inline SVG, no script that
 * runs, nothing fetched) with every table rendered here, and the whole document embedded as
 * JSON in `<script type="application/json" id="report-data">`. Pure: document and SVGs in,
 * text out. Table cells that show a number carry it unformatted in `data-value`.
 */
import type {
  ReportDocument,
  ReportEventRow,
  ReportHostRow,
  ReportInjection,
  ReportPlot,
  ReportPointScores,
  ReportScopeMetrics,
  ReportSummaryRow,
} from './report-document.js';
import { formatCount, formatDuration, formatFixed, formatQuantity, formatTime } from './report-format.js';
import { PLOT_FONT, typeColors } from './report-plots.js';

/** Rows of the injections, events and hosts tables at most; the rest are in report.json. */
export const MAX_TABLE_ROWS = 1000;

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/**
 * The document as the text of a `<script type="application/json">` block: JSON with every
 * `<` written as `\u003c`, so no `</script>` or `<!--` can end or alter the block, and
 * `JSON.parse` of the text gives the same value.
 */
export function embeddedJson(doc: ReportDocument): string {
  return JSON.stringify(doc).replace(/</g, '\\u003c');
}

/**
 * An SVG made fit to inline next to others: its ids (clip paths, gradients) get `prefix`, so
 * that references in one plot never resolve to another plot's definitions.
 */
export function inlineSvg(svg: string, prefix: string): string {
  return svg
    .replace(/<\?xml[^>]*>\s*/, '')
    .replace(/\bid="([^"]+)"/g, (_m, id: string) => `id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_m, id: string) => `url(#${prefix}-${id})`)
    .replace(/href="#([^"]+)"/g, (_m, id: string) => `href="#${prefix}-${id}"`);
}

type Cell = { text: string; value?: number | string | null; cls?: string; html?: boolean };

const num = (value: number | null, text: string, cls = 'num'): Cell => ({ text, value, cls });
const ratio = (value: number | null): Cell => num(value, formatFixed(value));
const count = (value: number | null): Cell => num(value, formatCount(value));
const duration = (value: number | null): Cell => num(value, formatDuration(value));
const text = (value: string, cls?: string): Cell =>
  cls === undefined ? { text: value } : { text: value, cls };
const raw = (html: string, cls?: string): Cell => ({ text: html, html: true, ...(cls ? { cls } : {}) });

function td(c: Cell, tag = 'td'): string {
  const attrs: string[] = [];
  if (c.cls !== undefined) attrs.push(`class="${c.cls}"`);
  if (c.value !== undefined)
    attrs.push(`data-value="${escapeHtml(c.value === null ? '' : String(c.value))}"`);
  const content = c.html === true ? c.text : escapeHtml(c.text);
  return `<${tag}${attrs.length > 0 ? ' ' + attrs.join(' ') : ''}>${content}</${tag}>`;
}

interface TableSpec {
  id: string;
  caption?: string;
  head: Array<string | [string, string]>;
  rows: Array<{ key: string; cells: Cell[] }>;
  foot?: Array<{ key: string; cells: Cell[] }>;
}

function table(t: TableSpec): string {
  const head = t.head
    .map((h) =>
      typeof h === 'string' ? `<th>${escapeHtml(h)}</th>` : `<th class="${h[1]}">${escapeHtml(h[0])}</th>`,
    )
    .join('');
  const row = (r: { key: string; cells: Cell[] }): string =>
    `<tr data-key="${escapeHtml(r.key)}">${r.cells.map((c, i) => td(c, i === 0 ? 'th' : 'td')).join('')}</tr>`;
  return (
    `<div class="table-wrap"><table id="${t.id}">` +
    (t.caption === undefined ? '' : `<caption>${escapeHtml(t.caption)}</caption>`) +
    `<thead><tr>${head}</tr></thead><tbody>${t.rows.map(row).join('\n')}</tbody>` +
    (t.foot === undefined ? '' : `<tfoot>${t.foot.map(row).join('')}</tfoot>`) +
    `</table></div>`
  );
}

function swatch(color: string | undefined): string {
  return color === undefined ? '' : `<span class="swatch" style="background:${escapeHtml(color)}"></span>`;
}

function summaryTable(doc: ReportDocument, colors: ReadonlyMap<string, string>): string {
  const summary = doc.summary;
  if (summary === null) return '<p class="empty">No ground truth, so nothing to grade.</p>';
  const cells = (r: ReportSummaryRow, label: Cell): Cell[] => [
    label,
    count(r.injected),
    count(r.detected),
    count(r.missed),
    duration(r.medianDelayMs),
    ratio(r.precision),
    ratio(r.recall),
    ratio(r.f1),
  ];
  return table({
    id: 'summary',
    head: [
      'Anomaly type',
      ['Injected', 'num'],
      ['Detected', 'num'],
      ['Missed', 'num'],
      ['Median delay', 'num'],
      ['Precision', 'num'],
      ['Recall', 'num'],
      ['F1', 'num'],
    ],
    rows: summary.rows.map((r) => ({
      key: r.anomalyType,
      cells: cells(r, raw(`${swatch(colors.get(r.anomalyType))}${escapeHtml(r.anomalyType)}`)),
    })),
    foot: [{ key: 'all', cells: cells(summary.total, text('All types')) }],
  });
}

function pointRow(key: string, label: string, m: ReportPointScores): { key: string; cells: Cell[] } {
  return {
    key,
    cells: [
      text(label),
      ratio(m.precision),
      ratio(m.recall),
      ratio(m.f1),
      count(m.tp),
      count(m.fp),
      count(m.fn),
      count(m.tn),
    ],
  };
}

function metricsTables(m: ReportScopeMetrics): string {
  const e = m.eventwise;
  const main = table({
    id: 'metrics',
    caption:
      'Point-wise: each scored sample against the truth. Point-adjusted: a window counts as found in full once any of its samples is flagged. Event-wise: TP/FP are events, FN the injections no event detected.',
    head: [
      'Scope',
      ['Precision', 'num'],
      ['Recall', 'num'],
      ['F1', 'num'],
      ['TP', 'num'],
      ['FP', 'num'],
      ['FN', 'num'],
      ['TN', 'num'],
    ],
    rows: [
      pointRow('pointwise', 'Point-wise', m.pointwise),
      pointRow('pointAdjusted', 'Point-adjusted', m.pointAdjusted),
      {
        key: 'eventwise',
        cells: [
          text('Event-wise'),
          ratio(e.precision),
          ratio(e.recall),
          ratio(e.f1),
          count(e.truePositiveEvents),
          count(e.falsePositiveEvents),
          count(e.injections - e.detectedInjections),
          text('—', 'num'),
        ],
      },
    ],
  });
  const ranking = table({
    id: 'ranking',
    caption: 'How well the score ranks anomalous samples above normal ones, whatever the threshold.',
    head: ['Measure', ['Value', 'num'], 'Meaning'],
    rows: [
      { key: 'rocAuc', cells: [text('ROC-AUC'), ratio(m.rocAuc), text('0.5 is random, 1 perfect')] },
      {
        key: 'prAuc',
        cells: [
          text('PR-AUC (average precision)'),
          ratio(m.prAuc),
          text('random = share of anomalous samples'),
        ],
      },
      {
        key: 'bestF1',
        cells: [
          text('Best point-wise F1'),
          ratio(m.bestF1.f1),
          text(
            `at threshold ${formatFixed(m.bestF1.threshold, 3)} (precision ${formatFixed(m.bestF1.precision)}, recall ${formatFixed(m.bestF1.recall)})`,
          ),
        ],
      },
      {
        key: 'positivePoints',
        cells: [
          text('Anomalous samples'),
          count(m.positivePoints),
          text(`of ${formatCount(m.points)} scored samples`),
        ],
      },
    ],
  });
  return main + ranking;
}

function byTypeTable(doc: ReportDocument, colors: ReadonlyMap<string, string>): string {
  const list = doc.metrics?.byType ?? [];
  if (list.length === 0) return '';
  return table({
    id: 'by-type-metrics',
    caption: 'Each type is graded on its own windows together with the normal data.',
    head: [
      'Anomaly type',
      ['Samples', 'num'],
      ['Anomalous', 'num'],
      ['Point P', 'num'],
      ['Point R', 'num'],
      ['Point F1', 'num'],
      ['Adjusted F1', 'num'],
      ['Event P', 'num'],
      ['Event R', 'num'],
      ['ROC-AUC', 'num'],
      ['PR-AUC', 'num'],
      ['Delay p50', 'num'],
      ['Delay p90', 'num'],
    ],
    rows: list.map((m) => ({
      key: m.anomalyType ?? 'all',
      cells: [
        raw(`${swatch(colors.get(m.anomalyType ?? ''))}${escapeHtml(m.anomalyType ?? 'all')}`),
        count(m.points),
        count(m.positivePoints),
        ratio(m.pointwise.precision),
        ratio(m.pointwise.recall),
        ratio(m.pointwise.f1),
        ratio(m.pointAdjusted.f1),
        ratio(m.eventwise.precision),
        ratio(m.eventwise.recall),
        ratio(m.rocAuc),
        ratio(m.prAuc),
        duration(m.delay.p50Ms),
        duration(m.delay.p90Ms),
      ],
    })),
  });
}

function capped<T>(rows: readonly T[], what: string): { rows: readonly T[]; note: string } {
  if (rows.length <= MAX_TABLE_ROWS) return { rows, note: '' };
  return {
    rows: rows.slice(0, MAX_TABLE_ROWS),
    note: `<p class="note">The first ${formatCount(MAX_TABLE_ROWS)} of ${formatCount(rows.length)} ${what}; all are in report.json.</p>`,
  };
}

function hostsTable(doc: ReportDocument): string {
  const { rows, note } = capped(doc.hosts, 'hosts');
  return (
    table({
      id: 'hosts',
      head: [
        'Host',
        ['Samples', 'num'],
        ['Scored', 'num'],
        ['Flagged', 'num'],
        ['Injections', 'num'],
        ['Detected', 'num'],
        ['Events', 'num'],
        'Plot',
      ],
      rows: rows.map((h: ReportHostRow) => ({
        key: h.hostId,
        cells: [
          text(h.hostId, 'mono'),
          count(h.samples),
          count(h.scoredSamples),
          count(h.flaggedSamples),
          count(h.truthWindows),
          count(h.detectedInjections),
          count(h.events),
          h.plotId === null
            ? text('not plotted', 'muted')
            : raw(`<a href="#plot-${escapeHtml(h.plotId)}">plot</a>`),
        ],
      })),
    }) + note
  );
}

function keyValues(values: Record<string, number | string | null>): string {
  const entries = Object.entries(values);
  if (entries.length === 0) return '<span class="muted">—</span>';
  return entries
    .map(
      ([k, v]) =>
        `<span class="kv"><span class="k">${escapeHtml(k)}</span> ${escapeHtml(v === null ? '—' : formatQuantity(k, v))}</span>`,
    )
    .join('');
}

function injectionsTable(doc: ReportDocument, colors: ReadonlyMap<string, string>): string {
  if (doc.injections.length === 0) return '<p class="empty">No truth windows.</p>';
  const { rows, note } = capped(doc.injections, 'injections');
  return (
    table({
      id: 'injections',
      head: [
        'Start (UTC)',
        'Host',
        'Type',
        'Injection',
        ['Duration', 'num'],
        'Requested',
        'Achieved',
        'Target',
        'Detected',
        ['Delay', 'num'],
      ],
      rows: rows.map((w: ReportInjection) => ({
        key: w.injectionId,
        cells: [
          num(w.startMs, formatTime(w.startMs), 'nowrap'),
          text(w.hostId, 'mono'),
          raw(`${swatch(colors.get(w.anomalyType))}${escapeHtml(w.anomalyType)}`, 'nowrap'),
          text(w.injectionId, 'mono small'),
          w.running ? text('running', 'num muted') : duration(w.durationMs),
          raw(keyValues(w.requested), 'kvs'),
          raw(keyValues(w.achieved), 'kvs'),
          w.reachedTarget
            ? raw('<span class="badge ok">reached</span>')
            : raw(
                `<span class="badge warn">short</span> <span class="small">${escapeHtml(w.shortfall)}</span>`,
              ),
          w.detected === null
            ? text('—', 'muted')
            : w.detected
              ? raw('<span class="badge ok">yes</span>')
              : raw('<span class="badge bad">missed</span>'),
          duration(w.delayMs),
        ],
      })),
    }) + note
  );
}

function eventsTable(doc: ReportDocument): string {
  if (doc.events.length === 0) return '<p class="empty">No anomaly events.</p>';
  const { rows, note } = capped(doc.events, 'events');
  const hasTruth = doc.injections.length > 0;
  return (
    table({
      id: 'events',
      head: [
        'Start (UTC)',
        'Host',
        ['Duration', 'num'],
        'Severity',
        ['Peak score', 'num'],
        'Top metrics',
        'Matched injection',
      ],
      rows: rows.map((e: ReportEventRow) => ({
        key: e.eventId,
        cells: [
          num(e.startMs, formatTime(e.startMs), 'nowrap'),
          text(e.hostId, 'mono'),
          duration(e.durationMs),
          raw(
            `<span class="badge sev-${escapeHtml(e.severity.toLowerCase())}">${escapeHtml(e.severity)}</span>`,
          ),
          ratio(e.peakScore),
          text(e.topMetrics.join(', '), 'small mono'),
          e.matchedInjectionId !== null
            ? text(e.matchedInjectionId, 'mono small')
            : hasTruth
              ? raw('<span class="badge bad">false positive</span>')
              : text('—', 'muted'),
        ],
      })),
    }) + note
  );
}

function card(label: string, value: string, detail: string, key: string, dataValue: number | null): string {
  return (
    `<div class="card" data-key="${escapeHtml(key)}"><div class="card-label">${escapeHtml(label)}</div>` +
    `<div class="card-value" data-value="${dataValue === null ? '' : dataValue}">${escapeHtml(value)}</div>` +
    `<div class="card-detail">${escapeHtml(detail)}</div></div>`
  );
}

function cards(doc: ReportDocument): string {
  const o = doc.overview;
  const m = doc.metrics?.overall;
  const out: string[] = [];
  if (m !== undefined && doc.summary !== null) {
    const t = doc.summary.total;
    out.push(
      card(
        'Injections detected',
        `${t.detected} / ${t.injected}`,
        `event recall ${formatFixed(t.recall)}`,
        'detected',
        t.detected,
      ),
      card(
        'Event precision',
        formatFixed(m.eventwise.precision),
        `${m.eventwise.truePositiveEvents} of ${m.eventwise.events} events matched a window`,
        'eventPrecision',
        m.eventwise.precision,
      ),
      card(
        'Point-adjusted F1',
        formatFixed(m.pointAdjusted.f1),
        `point-wise F1 ${formatFixed(m.pointwise.f1)}`,
        'pointAdjustedF1',
        m.pointAdjusted.f1,
      ),
      card('ROC-AUC', formatFixed(m.rocAuc), `PR-AUC ${formatFixed(m.prAuc)}`, 'rocAuc', m.rocAuc),
      card(
        'Median delay',
        formatDuration(m.delay.p50Ms),
        `p90 ${formatDuration(m.delay.p90Ms)}`,
        'medianDelay',
        m.delay.p50Ms,
      ),
    );
  }
  out.push(
    card(
      'Samples scored',
      formatCount(o.scoredSamples),
      `of ${formatCount(o.samples)}; ${formatCount(o.flaggedSamples)} flagged`,
      'scored',
      o.scoredSamples,
    ),
    card(
      'Hosts',
      formatCount(o.hosts),
      `${formatCount(o.truthWindows)} injections, ${formatCount(o.events)} events`,
      'hosts',
      o.hosts,
    ),
  );
  return `<div class="cards">${out.join('')}</div>`;
}

function figure(p: ReportPlot, svg: string | undefined): string {
  const body = svg === undefined ? '<p class="empty">Plot not rendered.</p>' : inlineSvg(svg, `p-${p.id}`);
  return (
    `<figure class="plot" id="plot-${escapeHtml(p.id)}" data-plot="${escapeHtml(p.id)}">` +
    `<div class="svg">${body}</div>` +
    `<figcaption>${escapeHtml(p.caption)} <span class="files"><a href="${escapeHtml(p.svg)}">SVG</a> · <a href="${escapeHtml(p.png)}">PNG</a></span></figcaption>` +
    `</figure>`
  );
}

const CSS = `
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f5f6f8;--card:#fff;--accent:#2563eb;--red:#dc2626;--green:#15803d;--amber:#b45309}
*{box-sizing:border-box}
html{font-family:${PLOT_FONT};color:var(--ink);background:var(--bg);font-size:14px;line-height:1.45}
body{margin:0}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
header.top{background:#111827;color:#f9fafb;padding:22px 32px 18px}
header.top .brand{font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:#9ca3af}
header.top h1{margin:4px 0 10px;font-size:26px;font-weight:700}
header.top .meta{display:flex;flex-wrap:wrap;gap:6px 22px;margin:0;font-size:13px;color:#d1d5db}
header.top .meta dt{display:inline;color:#9ca3af;margin-right:4px}header.top .meta dd{display:inline;margin:0}
nav.toc{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid var(--line);padding:8px 32px;display:flex;flex-wrap:wrap;gap:4px 18px;font-size:13px}
main{max-width:1240px;margin:0 auto;padding:8px 32px 40px}
section{margin-top:28px}
h2{font-size:19px;margin:0 0 12px;padding-bottom:6px;border-bottom:2px solid var(--line)}
h3{font-size:15px;margin:18px 0 8px}
.notes{margin:18px 0 0;padding:10px 14px;background:#fffbeb;border:1px solid #fde68a;border-radius:8px;color:#78350f;font-size:13px}
.notes p{margin:2px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card-label{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.card-value{font-size:26px;font-weight:700;margin:2px 0;font-variant-numeric:tabular-nums}
.card-detail{font-size:12px;color:var(--muted)}
.table-wrap{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:10px;margin:0 0 14px}
table{border-collapse:collapse;width:100%;font-size:13px}
caption{caption-side:bottom;text-align:left;padding:8px 12px;color:var(--muted);font-size:12px}
th,td{padding:7px 12px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{background:#f9fafb;font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.03em;white-space:nowrap}
tbody th,tfoot th{font-weight:600}
tfoot th,tfoot td{background:#f9fafb;font-weight:700;border-top:2px solid var(--line)}
tbody tr:hover{background:#f9fafb}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.nowrap{white-space:nowrap}.mono{font-family:'Liberation Mono',Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:12px;white-space:nowrap}
.small{font-size:12px}.muted{color:var(--muted)}.empty{color:var(--muted);font-style:italic}.note{color:var(--muted);font-size:12px}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:7px;vertical-align:baseline}
.kvs{min-width:180px}.kv{display:block;font-size:12px;white-space:nowrap}.kv .k{color:var(--muted)}
.badge{display:inline-block;padding:1px 7px;border-radius:999px;font-size:11px;font-weight:700;letter-spacing:.02em;background:#e5e7eb;color:#374151}
.badge.ok{background:#dcfce7;color:#166534}.badge.bad{background:#fee2e2;color:#991b1b}.badge.warn{background:#fef3c7;color:#92400e}
.badge.sev-low{background:#e0f2fe;color:#075985}.badge.sev-medium{background:#fef3c7;color:#92400e}.badge.sev-high{background:#fee2e2;color:#991b1b}.badge.sev-critical{background:#7f1d1d;color:#fff}
.plots{display:flex;flex-wrap:wrap;gap:14px}
figure.plot{margin:0 0 14px;background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px;max-width:100%;width:fit-content}
figure.plot .svg{overflow-x:auto}
figure.plot svg{display:block;max-width:100%;height:auto}
figcaption{font-size:12px;color:var(--muted);padding:6px 4px 0;width:0;min-width:100%}
figcaption .files{white-space:nowrap;margin-left:6px}
footer{max-width:1240px;margin:0 auto;padding:16px 32px 40px;color:var(--muted);font-size:12px;border-top:1px solid var(--line)}
@media print{nav.toc{display:none}header.top{background:none;color:var(--ink)}header.top .meta{color:var(--ink)}}
`;

/**
 * The report page of `doc`; `svgs` maps plot ids to their SVG text (a plot without one shows
 * a placeholder).
 */
export function renderReportHtml(doc: ReportDocument, svgs: ReadonlyMap<string, string>): string {
  const colors = typeColors(doc.overview.anomalyTypes);
  const plots = new Map(doc.plots.map((p) => [p.id, p]));
  const fig = (id: string): string => {
    const p = plots.get(id);
    return p === undefined ? '' : figure(p, svgs.get(id));
  };
  const o = doc.overview;
  const meta: Array<[string, string]> = [
    ['Source', doc.source],
    ['Mode', doc.mode],
    ['Model', doc.model],
    ['Threshold', formatFixed(doc.threshold, 2)],
    ['Time range', o.startMs === null ? '—' : `${formatTime(o.startMs)} → ${formatTime(o.endMs)}`],
    ['Generated', formatTime(doc.generatedAtMs)],
  ];
  const sections: Array<[string, string, string]> = [];
  sections.push(['overview', 'Overview', cards(doc)]);
  if (doc.summary !== null) {
    sections.push([
      'by-type',
      'Detection by anomaly type',
      summaryTable(doc, colors) +
        '<p class="note">Detected: an anomaly event opened inside the window or within the grace period after it. Precision and recall are event-wise; the delay runs from the injection’s start to the first such event.</p>' +
        fig('by-type'),
    ]);
  }
  if (doc.metrics !== null) {
    sections.push([
      'metrics',
      'Detection metrics',
      metricsTables(doc.metrics.overall) + byTypeTable(doc, colors),
    ]);
    sections.push([
      'scores',
      'Score quality',
      `<div class="plots">${fig('roc')}${fig('pr')}</div><div class="plots">${fig('confusion')}</div>${fig('threshold-sweep')}`,
    ]);
    sections.push(['delay', 'Detection delay', fig('delays')]);
  }
  const hostFigures = doc.plots
    .filter((p) => p.kind === 'host')
    .map((p) => figure(p, svgs.get(p.id)))
    .join('');
  sections.push(['hosts', 'Hosts', hostsTable(doc) + hostFigures]);
  sections.push([
    'injections',
    'Ground truth: injections (requested vs achieved)',
    injectionsTable(doc, colors),
  ]);
  sections.push(['events', 'Anomaly events', eventsTable(doc)]);

  const notes =
    doc.notes.length === 0
      ? ''
      : `<div class="notes">${doc.notes.map((n) => `<p>${escapeHtml(n)}</p>`).join('')}</div>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="Faultline">
<title>${escapeHtml(doc.title)} · Faultline detection report</title>
<style>${CSS}</style>
</head>
<body>
<header class="top">
<div class="brand">Faultline · detection report</div>
<h1>${escapeHtml(doc.title)}</h1>
<dl class="meta">${meta.map(([k, v]) => `<div><dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd></div>`).join('')}</dl>
</header>
<nav class="toc">${sections.map(([id, title]) => `<a href="#${id}">${escapeHtml(title)}</a>`).join('')}</nav>
<main>
${notes}
${sections.map(([id, title, body]) => `<section id="${id}">\n<h2>${escapeHtml(title)}</h2>\n${body}\n</section>`).join('\n')}
</main>
<footer>Generated by Faultline from ${escapeHtml(doc.source)} at ${escapeHtml(formatTime(doc.generatedAtMs))}. Every figure on this page is in <a href="report.json">report.json</a> (also embedded below as <code>#report-data</code>); the plots are in <code>plots/</code> as SVG and PNG, with their Vega-Lite specs in the JSON.</footer>
<script type="application/json" id="report-data">${embeddedJson(doc)}</script>
</body>
</html>
`;
}
