/* global Plotly */
// The only module that calls Plotly. Colour conventions (DESIGN.md) live here:
//  - sigmoid gates in [0, 1]: sequential, colourblind-safe (viridis);
//  - tanh quantities in [−1, 1] (candidate, hidden): diverging RdBu centred on 0 (blue < 0 < red);
//  - the cell state: the same diverging scale with symmetric limits ±max|c|;
//  - attention α: sequential (blues);
//  - each gate keeps one accent colour (Okabe–Ito) in every legend and line chart.
// Every plot exports PNG (camera button) and SVG (disk button) from its modebar, titled for a slide;
// the modebar offers nothing that leaves the machine (see plotConfig).

export const COLOURS = {
  input: '#0072B2',
  forget: '#D55E00',
  candidate: '#009E73',
  output: '#CC79A7',
  cell: '#E69F00',
  hidden: '#56B4E9',
  ink: '#1d232b',
  muted: '#8a94a3',
  kept: '#0072B2',
  pruned: '#b8c0cc',
  finished: '#009E73',
  greedy: '#D55E00',
  cursor: '#111111',
  forward: '#1f5fa8', // the two directions of a bidirectional RNN (→ and ←)
  backward: '#b5451b',
};

const RDBU = [
  [0, '#2166ac'], [0.1, '#4393c3'], [0.2, '#92c5de'], [0.35, '#d1e5f0'], [0.5, '#f7f7f7'],
  [0.65, '#fddbc7'], [0.8, '#f4a582'], [0.9, '#d6604d'], [1, '#b2182b'],
];

// ColorBrewer Blues, white at 0 (Plotly's built-in 'Blues' runs the other way: dark at 0).
const BLUES = [
  [0, '#f7fbff'], [0.125, '#deebf7'], [0.25, '#c6dbef'], [0.375, '#9ecae1'], [0.5, '#6baed6'],
  [0.625, '#4292c6'], [0.75, '#2171b5'], [0.875, '#08519c'], [1, '#08306b'],
];

export const SCALES = {
  gate: { colorscale: 'Viridis', zmin: 0, zmax: 1 },
  tanh: { colorscale: RDBU, zmin: -1, zmax: 1 },
  cell: { colorscale: RDBU },
  attention: { colorscale: BLUES, zmin: 0, zmax: 1 },
  sequential: { colorscale: 'Viridis' },
};

// Plots follow the page's text size: the root font is 15 px, larger in presentation mode (app.css),
// and a plot's font, its height and its token labels scale with it.
const BASE_ROOT_PX = 15;
let rootCache = 0;

function rootPx() {
  if (!rootCache) rootCache = parseFloat(getComputedStyle(document.documentElement).fontSize) || BASE_ROOT_PX;
  return rootCache;
}

export function fontSize() {
  const root = rootPx();
  return Math.round(root * (root > BASE_ROOT_PX ? 0.85 : 0.8)); // 12 px; 15–20 px in presentation mode
}

// A page asks for a plot height at the normal text size; larger text gets a taller plot, but never
// taller than most of the window (a projected plot should fit on the screen).
function scaledHeight(height) {
  if (!height) return undefined;
  const s = rootPx() / BASE_ROOT_PX;
  if (s <= 1) return height;
  return Math.round(Math.min(height * s, Math.max(height, window.innerHeight * 0.85)));
}

// Every drawn plot can be drawn again with the same options (when the text size or the width
// changes), keeping the cursors and marks the page has set since.
const plotted = new Set();

function redrawAll() {
  rootCache = 0;
  for (const gd of plotted) {
    if (!gd.isConnected || !gd.data) { plotted.delete(gd); continue; }
    if (!gd._lensRedraw) continue;
    gd._lensKeep = { shapes: gd.layout.shapes, annotations: gd.layout.annotations };
    gd._lensRedraw();
  }
}

window.addEventListener('fontsizechange', redrawAll);
let resizeTimer = null;
let lastWidth = window.innerWidth;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (window.innerWidth === lastWidth) return;
    lastWidth = window.innerWidth;
    redrawAll();
  }, 200);
});

// --- the modebar: only what works offline, one config for every plot
// Plotly.js 4 adds "Share chart…" (sendChartToCloud: it uploads the figure to Plotly Cloud) unless
// showSendToCloud is false, and its logo links to plotly.com; neither belongs in an offline app, and
// plotlyServerURL is emptied so no code path has a place to send a chart. The built-in camera button
// saves under one fixed name with no title, so ours replace it (see exportPlot).
export const MODEBAR_REMOVED = Object.freeze([
  'sendChartToCloud', 'toImage', 'select2d', 'lasso2d', 'autoScale2d', 'toggleSpikelines', 'hoverCompareCartesian',
  'hoverClosestCartesian',
]);

let config = null; // one object: Plotly.react redraws in full when the config it gets is a new one

export function plotConfig() {
  if (!config) {
    config = {
      responsive: true,
      displaylogo: false,
      showSendToCloud: false,
      plotlyServerURL: '',
      scrollZoom: false,
      modeBarButtonsToRemove: [...MODEBAR_REMOVED],
      modeBarButtonsToAdd: [
        { name: 'Download plot as PNG (titled, for slides)', icon: Plotly.Icons.camera, click: (gd) => exportPlot(gd, 'png') },
        { name: 'Download plot as SVG (titled, for slides)', icon: Plotly.Icons.disk, click: (gd) => exportPlot(gd, 'svg') },
      ],
    };
  }
  return config;
}

// --- slide-ready exports
// A page says what its view shows: setExportContext(() => ({ model, input, step })), with optional
// stepName ('output step') and modelLabel (the subtitle's words for the model). An exported
// image is named page-plot-model-input-step (so exports never overwrite one another) and carries a
// title (page and quantity) and a subtitle (model, input, step), so it stands on its own on a slide.
let exportContext = () => ({});

export function setExportContext(fn) {
  exportContext = fn;
}

function hash36(text) {
  let h = 0x811c9dc5; // FNV-1a, 32 bits
  for (const ch of text) {
    h ^= ch.codePointAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36);
}

// A file-name piece: letters and digits of any script, runs of anything else as one '-'.
export function slug(text, max = 32) {
  const s = String(text ?? '').normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '-').replace(/^-+|-+$/g, '');
  const chars = [...s];
  if (chars.length <= max) return s;
  return `${chars.slice(0, max).join('').replace(/-+$/, '')}-${hash36(String(text))}`; // a long input keeps a hash of all of it
}

function plainText(html) {
  return String(html ?? '').replace(/<br\s*\/?>/gi, ' ').replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();
}

function escapeText(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(text, max) {
  const chars = [...String(text)];
  return chars.length <= max ? chars.join('') : `${chars.slice(0, max - 1).join('')}…`;
}

// Older names some pages give their plots, the same as the page's slug.
const PAGE_ALIASES = { attention: ['seq2seq'], 'skip-thought': ['skipthought'] };

// What an export of plot gd is called and says: {filename, title, subtitle}. The title is the lesson
// and the plot's own label (its aria-label); the subtitle the card it sits in, its on-screen title,
// the model, the input and the step.
export function exportInfo(gd) {
  const ctx = exportContext() || {};
  const page = document.body.dataset.page || 'recurrent-lens';
  const lesson = (document.querySelector('main h1')?.textContent || document.title).trim();
  const onScreen = plainText(gd.layout?.title?.text);
  const quantity = gd.getAttribute('aria-label') || onScreen || gd.id;
  const card = gd.closest('section, .card');
  const heading = card ? plainText(card.querySelector('h2, h3')?.textContent) : '';
  const model = ctx.model ? String(ctx.model) : '';
  const hasStep = ctx.step !== undefined && ctx.step !== null;
  // the plot's own name, without what the other parts of the file name already say
  let name = String(gd._lensName || gd.id || 'plot');
  for (const prefix of [page, ...(PAGE_ALIASES[page] || [])]) if (name.startsWith(`${prefix}-`)) name = name.slice(prefix.length + 1);
  if (model) name = name.split(`-${model}`).join('');
  if (hasStep) name = name.replace(/-?step-?\d+/g, '');
  const parts = [page, name, model, ctx.input ? slug(ctx.input) : '', hasStep ? `step${ctx.step}` : ''];
  const filename = parts.map((p) => slug(p, 48)).filter(Boolean).join('-');
  const facts = [];
  for (const fact of [heading, onScreen]) if (fact && fact !== quantity && !facts.includes(fact)) facts.push(fact);
  if (ctx.modelLabel || model) facts.push(ctx.modelLabel || `model ${model}`);
  if (ctx.input) facts.push(`input “${clip(ctx.input.replace(/\s+/g, ' '), 60)}”`);
  if (hasStep) facts.push(`${ctx.stepName || 'step'} ${ctx.step}`);
  return { filename, title: `${lesson}: ${quantity}`, subtitle: facts.join(' · ') };
}

// Lines of at most ``max`` characters, broken after a separator (' · ') or a space.
function wrapLines(text, max) {
  const lines = [];
  let line = '';
  for (const word of String(text).split(/(?<= · )|(?<= )/)) {
    if (line && [...line].length + [...word].length > max) { lines.push(line.trimEnd()); line = ''; }
    line += word;
  }
  if (line.trim()) lines.push(line.trimEnd());
  return lines;
}

// Download plot gd as PNG or SVG: a copy of its figure with the title above the plot (the page
// itself keeps its plots untitled where a title would crowd it). Plotly draws the copy off screen.
export function exportPlot(gd, format = 'png') {
  if (!gd || !gd.data || !gd._fullLayout) return Promise.resolve();
  const { filename, title, subtitle } = exportInfo(gd);
  const full = gd._fullLayout;
  const size = full.font.size;
  const width = full.width;
  const titleLines = wrapLines(title, Math.max(24, Math.floor(width / ((size + 4) * 0.6))));
  const subLines = wrapLines(subtitle, Math.max(30, Math.floor(width / (size * 0.58))));
  const text = [
    ...titleLines.map((l) => `<b>${escapeText(l)}</b>`),
    ...subLines.map((l) => `<span style="font-size:${size}px;color:#5b6572">${escapeText(l)}</span>`),
  ].join('<br>');
  const extra = Math.round(titleLines.length * (size + 4) * 1.35 + subLines.length * size * 1.35 + size * 1.5);
  const layout = {
    ...gd.layout,
    width,
    height: full.height + extra,
    margin: { ...(gd.layout.margin || {}), t: full.margin.t + extra },
    paper_bgcolor: '#ffffff',
    // anchored at the top of its first line: Plotly places a multi-line title by its first line
    title: { text, x: 0, xref: 'container', xanchor: 'left', y: 1 - (size * 1.9) / (full.height + extra), yref: 'container', yanchor: 'top',
      pad: { l: 10 }, font: { size: size + 4, color: COLOURS.ink } },
  };
  return Plotly.downloadImage({ data: gd.data, layout, config: { displayModeBar: false } },
    { format, filename, width: layout.width, height: layout.height, scale: format === 'png' ? 2 : 1 });
}

function baseLayout({ title, height, xTitle, yTitle, margin, scale = true } = {}) {
  return {
    title: title ? { text: title, x: 0, xanchor: 'left', font: { size: fontSize() + 2 } } : undefined,
    height: scale ? scaledHeight(height) : height || undefined,
    margin: Object.assign({ l: 56, r: 16, t: title ? Math.round(fontSize() * 3) : 12, b: 40 }, margin || {}),
    font: { size: fontSize(), family: 'system-ui, -apple-system, Segoe UI, Roboto, Noto Sans, sans-serif' },
    paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: 'rgba(0,0,0,0)',
    xaxis: { title: xTitle ? { text: xTitle } : undefined, zeroline: false, automargin: true },
    yaxis: { title: yTitle ? { text: yTitle } : undefined, zeroline: false, automargin: true },
    hoverlabel: { font: { family: 'ui-monospace, DejaVu Sans Mono, monospace' } },
  };
}

// Plotly's bundle loads with `async` (templates/base.html), so a page sends its first request while
// the bundle starts up (about as long as the request, or longer); draws before then wait for it.
let plotlyLoaded = null;

function whenPlotly() {
  if (window.Plotly) return null;
  if (!plotlyLoaded) {
    plotlyLoaded = new Promise((resolve, reject) => {
      const script = document.querySelector('script[data-plotly]');
      if (!script) { reject(new Error('this page does not load the plotting library')); return; }
      script.addEventListener('load', () => resolve());
      script.addEventListener('error', () => reject(new Error('the plotting library failed to load; reload the page')));
    });
  }
  return plotlyLoaded;
}

// redraw: the call that draws this plot again with the same options (see redrawAll).
function draw(el, data, layout, filename, onClick, redraw = null) {
  plotted.add(el);
  el._lensName = filename;
  el._lensRedraw = redraw;
  if (el._lensKeep) {
    Object.assign(layout, el._lensKeep);
    el._lensKeep = null;
  }
  // The width is always given: Plotly sizes an autosized plot only once, so after the layout around
  // it changes (presentation mode, a resize) a redraw must say how wide the plot now is.
  if (!layout.width && el.clientWidth > 0) layout.width = el.clientWidth;
  const go = () => {
    const p = Plotly.react(el, data, layout, plotConfig()).then((gd) => { keepInView(el); return gd; });
    bindClick(el, onClick);
    return p;
  };
  const wait = whenPlotly();
  return wait ? wait.then(go) : go();
}

function bindClick(el, onClick) {
  el._lensClick = onClick;
  if (el._lensClickBound || !onClick) return;
  el._lensClickBound = true;
  el.on('plotly_click', (ev) => {
    const pt = ev && ev.points && ev.points[0];
    if (pt && el._lensClick) el._lensClick(pt);
  });
}

// A cursor: a highlighted column (axis 'x') or row (axis 'y') at index i.
export function cursorShape(i, axis = 'x', colour = COLOURS.cursor) {
  if (i === null || i === undefined || i < 0) return [];
  const common = { type: 'rect', line: { color: colour, width: 2 }, fillcolor: 'rgba(0,0,0,0)', layer: 'above' };
  return axis === 'x'
    ? [{ ...common, xref: 'x', yref: 'paper', x0: i - 0.5, x1: i + 0.5, y0: 0, y1: 1 }]
    : [{ ...common, xref: 'paper', yref: 'y', x0: 0, x1: 1, y0: i - 0.5, y1: i + 0.5 }];
}

export function setShapes(el, shapes) {
  if (!el || !el.data) return Promise.resolve();
  return Plotly.relayout(el, { shapes }).then(() => keepInView(el));
}

export function setCursor(el, i, axis = 'x', extra = []) {
  return setShapes(el, [...cursorShape(i, axis), ...extra]);
}

// Token axes. Positions are numeric (a categorical axis would merge repeated characters) and the
// text goes in ticktext. Every token keeps its label: labels shrink to fit (down to minTickPx()),
// labels longer than a character or two turn on their side, and when even that does not fit, a
// heatmap widens and scrolls sideways (fitTokenAxis reports the length it needs), up to
// MAX_LABELLED tokens; past that the labels are thinned and the hover names every token.
const MONO = 'ui-monospace, DejaVu Sans Mono, monospace';
export const MAX_LABELLED = 250;

function minTickPx() {
  return Math.max(8, Math.round(fontSize() * 0.6));
}

// Width of a label in ems of a monospace font: wide (CJK, fullwidth) characters take two cells.
function labelEms(label) {
  const text = String(label ?? '').replace(/<[^>]*>/g, '').replace(/&[a-z]+;|&#\d+;/g, '·');
  let cells = 0;
  for (const ch of text) cells += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]|[\u{20000}-\u{3fffd}]/u.test(ch) ? 2 : 1;
  return cells * 0.6;
}

// fitTokenAxis(labels, {length, vertical, thin}): axis settings that label every token within
// ``length`` px of plot area, and ``need``, the length that fits them all at the smallest size (0
// when they fit). Empty labels take no room. ``thin`` (line and bar charts) keeps every k-th label
// instead of asking for more room.
export function fitTokenAxis(labels, { length = 600, vertical = false, thin = false } = {}) {
  const n = Math.max(1, labels.length);
  const smallest = minTickPx();
  const per = length / n; // px per position along the axis
  const shown = [];
  labels.forEach((l, i) => { const ems = labelEms(l); if (ems) shown.push([i, ems]); });
  // the largest font at which neighbouring labels do not touch: side by side they need half of each
  // one's width (plus a gap); stacked (a vertical axis, or labels on their side) a line height
  let flat = Infinity;
  let turned = Infinity;
  for (let k = 1; k < shown.length; k++) {
    const [i, a] = shown[k - 1];
    const [j, b] = shown[k];
    const room = (j - i) * per;
    flat = Math.min(flat, vertical ? (room - 1) / 1.2 : (room - 1.5) / ((a + b) / 2));
    turned = Math.min(turned, room / 1.25);
  }
  // labels on their side read worse: only when lying flat they would be much smaller (or too small)
  const rotate = !vertical && turned > flat && (flat < minTickPx() || flat < 0.75 * Math.min(turned, fontSize()));
  const size = Math.min(fontSize(), Math.floor(rotate ? turned : flat));
  const axis = { tickmode: 'array', range: [-0.5, labels.length - 0.5], automargin: true };
  const ticks = (every) => {
    const tickvals = [];
    const ticktext = [];
    labels.forEach((t, i) => { if (i % every === 0) { tickvals.push(i); ticktext.push(t); } });
    return { tickvals, ticktext };
  };
  if (size >= smallest) return { axis: { ...axis, ...ticks(1), tickangle: rotate ? -90 : 0, tickfont: { size, family: MONO } }, need: 0 };
  // at the smallest size: the px per position the closest pair of labels needs, either way round
  let flatPer = 0;
  let turnedPer = 0;
  for (let k = 1; k < shown.length; k++) {
    const [i, a] = shown[k - 1];
    const [j, b] = shown[k];
    flatPer = Math.max(flatPer, (vertical ? smallest * 1.2 + 1 : ((a + b) / 2) * smallest + 1.5) / (j - i));
    turnedPer = Math.max(turnedPer, (smallest * 1.25) / (j - i));
  }
  const turn = !vertical && turnedPer < flatPer;
  const needPer = turn ? turnedPer : flatPer;
  const small = { ...axis, tickangle: turn ? -90 : 0, tickfont: { size: smallest, family: MONO } };
  if (thin || labels.length > MAX_LABELLED) return { axis: { ...small, ...ticks(Math.ceil(needPer / Math.max(per, 0.01))) }, need: 0 };
  return { axis: { ...small, ...ticks(1) }, need: Math.ceil(n * needPer) };
}

// Tick labels for a token axis of ``width`` px (labels thinned to fit, for line and bar charts).
export function tokenAxis(labels, { width = 600 } = {}) {
  return fitTokenAxis(labels, { length: width, thin: true }).axis;
}

// A widened plot keeps its cursor column in view as the step moves.
function keepInView(el) {
  if (!el.classList.contains('plot-wide') || !el._fullLayout) return;
  const shape = (el.layout.shapes || []).find((sh) => sh.xref === 'x' && sh.yref === 'paper');
  if (!shape) return;
  const L = el._fullLayout;
  const x = L._size.l + L.xaxis.l2p((shape.x0 + shape.x1) / 2);
  if (x < el.scrollLeft + 40 || x > el.scrollLeft + el.clientWidth - 40) el.scrollLeft = Math.max(0, x - el.clientWidth / 2);
}

// heatmap(el, {z, kind, xLabels, yLabels, title, ...}): z is row-major [rows][cols].
export function heatmap(el, opts) {
  const { z, kind = 'sequential', xLabels, yLabels, title, xTitle, yTitle, height, hoverX = 'step', hoverY = 'unit',
    hoverText, cursor = null, cursorAxis = 'x', onClick, colorbarTitle, filename, zmin, zmax, extraShapes = [], margin,
    annotations = [], showScale = true, xAxis = null, yAxis = null } = opts;
  const scale = { ...(SCALES[kind] || SCALES.sequential) };
  if (kind === 'cell') {
    let m = 0;
    for (const row of z) for (const v of row) if (Math.abs(v) > m) m = Math.abs(v);
    m = m || 1;
    scale.zmin = -m;
    scale.zmax = m;
  }
  if (zmin !== undefined) scale.zmin = zmin;
  if (zmax !== undefined) scale.zmax = zmax;
  const trace = {
    type: 'heatmap',
    z,
    ...scale,
    zmid: kind === 'tanh' || kind === 'cell' ? 0 : undefined,
    colorbar: { thickness: 12, len: 0.9, title: colorbarTitle ? { text: colorbarTitle, side: 'right' } : undefined },
    showscale: showScale,
    hovertemplate: hoverText ? '%{text}<extra></extra>' : `${hoverX} %{x}<br>${hoverY} %{y}<br>value %{z:.4g}<extra></extra>`,
    text: hoverText,
    xgap: 0,
    ygap: 0,
  };
  const layout = baseLayout({ title, height, xTitle, yTitle, margin });
  // Every token labelled: a plot too narrow for its labels widens and scrolls sideways in its pane
  // (.plot-wide), one too short for its row labels grows taller.
  const sideChrome = showScale ? 130 : 80; // y labels and title on the left, the colour bar on the right
  const paneWidth = el.clientWidth || 600;
  let wide = 0;
  if (xLabels) {
    const fit = fitTokenAxis(xLabels, { length: paneWidth - sideChrome });
    Object.assign(layout.xaxis, fit.axis);
    if (fit.need) wide = fit.need + sideChrome;
  }
  if (yLabels) {
    const total = layout.height || el.clientHeight || 300;
    const chrome = layout.margin.t + layout.margin.b + (xLabels || xTitle ? 2.5 * fontSize() : 0);
    const fit = fitTokenAxis(yLabels, { length: total - chrome, vertical: true });
    Object.assign(layout.yaxis, fit.axis);
    if (fit.need) layout.height = Math.ceil(fit.need + chrome);
    delete layout.yaxis.range;
  }
  layout.width = wide || undefined;
  el.classList.toggle('plot-wide', Boolean(wide));
  if (xLabels && !hoverText) {
    // the hover names the token of every column, labelled or not: one row of names, shared by every
    // row, and kept while the labels stay the same (a new array would make Plotly recompute the trace)
    const cached = el._lensHover;
    const same = cached && cached.rows === z.length && cached.labels.length === xLabels.length
      && cached.labels.every((l, i) => l === xLabels[i]);
    if (!same) {
      const names = xLabels.map((l, i) => `${i} “${l}”`);
      el._lensHover = { labels: [...xLabels], rows: z.length, customdata: Array.from({ length: z.length }, () => names) };
    }
    trace.customdata = el._lensHover.customdata;
    trace.hovertemplate = `${hoverX} %{customdata}<br>${hoverY} %{y}<br>value %{z:.4g}<extra></extra>`;
  }
  layout.yaxis.autorange = yLabels ? 'reversed' : true;
  if (xAxis) Object.assign(layout.xaxis, xAxis);
  if (yAxis) Object.assign(layout.yaxis, yAxis);
  layout.shapes = [...cursorShape(cursor, cursorAxis), ...extraShapes];
  layout.annotations = annotations;
  const p = draw(el, [trace], layout, filename, onClick, () => heatmap(el, opts));
  return p;
}

// Replace a plot's shapes and annotations at once (cursors, arrows, labels) without redrawing data.
export function setOverlay(el, { shapes = [], annotations = [] } = {}) {
  if (!el || !el.data) return Promise.resolve();
  return Plotly.relayout(el, { shapes, annotations }).then(() => keepInView(el));
}

// stackedBarChart(el, {labels, series: [{name, values, colour}], totals, totalName}): bars of each
// series stacked per label (negative parts stack below zero), with an optional marker at each total.
export function stackedBarChart(el, opts) {
  const { labels, series, totals, totalName = 'total', horizontal = true, title, xTitle, yTitle, height, filename, margin, onClick } = opts;
  const data = series.map((s) => ({
    type: 'bar',
    orientation: horizontal ? 'h' : 'v',
    name: s.name,
    x: horizontal ? s.values : labels,
    y: horizontal ? labels : s.values,
    marker: { color: s.colour },
    hovertemplate: `${s.name}: %{${horizontal ? 'x' : 'y'}:.4g}<extra>%{${horizontal ? 'y' : 'x'}}</extra>`,
  }));
  if (totals) {
    data.push({
      type: 'scatter',
      mode: 'markers',
      name: totalName,
      x: horizontal ? totals : labels,
      y: horizontal ? labels : totals,
      marker: { color: COLOURS.ink, symbol: 'diamond', size: 9, line: { color: '#fff', width: 1 } },
      hovertemplate: `${totalName}: %{${horizontal ? 'x' : 'y'}:.4g}<extra>%{${horizontal ? 'y' : 'x'}}</extra>`,
    });
  }
  const layout = baseLayout({ title, height, xTitle, yTitle, margin });
  layout.barmode = 'relative';
  layout.legend = { orientation: 'h', x: 0, y: 1.01, yanchor: 'bottom' };
  layout.margin.t = Math.max(layout.margin.t, 36);
  const cat = horizontal ? layout.yaxis : layout.xaxis;
  cat.type = 'category';
  Object.assign(cat, { tickmode: 'array', tickvals: labels, ticktext: labels }); // every label, even when crowded
  if (horizontal) cat.autorange = 'reversed';
  (horizontal ? layout.xaxis : layout.yaxis).zeroline = true;
  const p = draw(el, data, layout, filename, onClick, () => stackedBarChart(el, opts));
  return p;
}

// lineChart(el, {series: [{name, x, y, colour, dash, width, mode, hover}], logY, yExponentFormat, cursor, ...})
export function lineChart(el, opts) {
  const { series, title, xTitle, yTitle, height, logY = false, cursor = null, onClick, filename, yRange, xRange, legend = true, extraShapes = [], xLabels, margin, yExponentFormat } = opts;
  const data = series.map((s) => ({
    type: 'scatter',
    mode: s.mode || 'lines',
    name: s.name,
    x: s.x,
    y: s.y,
    line: { color: s.colour, width: s.width || 2, dash: s.dash || 'solid', shape: s.shape || 'linear' },
    marker: { color: s.colour, size: s.markerSize || 6, symbol: s.symbol },
    hovertemplate: s.hover || `${s.name}: %{y:.4g}<extra>%{x}</extra>`,
    showlegend: s.showlegend !== false,
    yaxis: s.yaxis,
    text: s.text,
    textposition: s.textposition,
    connectgaps: false,
  }));
  const layout = baseLayout({ title, height, xTitle, yTitle, margin });
  layout.showlegend = legend;
  layout.legend = { orientation: 'h', y: -0.22, x: 0 };
  if (logY) layout.yaxis.type = 'log';
  if (yExponentFormat) layout.yaxis.exponentformat = yExponentFormat; // e.g. 'power': 10⁻⁴ instead of 100µ
  if (yRange) layout.yaxis.range = yRange;
  if (xRange) layout.xaxis.range = xRange;
  if (xLabels) Object.assign(layout.xaxis, tokenAxis(xLabels, { width: (el.clientWidth || 600) - 100 }));
  layout.shapes = [...cursorShape(cursor, 'x', 'rgba(0,0,0,0.35)'), ...extraShapes];
  const p = draw(el, data, layout, filename, onClick, () => lineChart(el, opts));
  return p;
}

// barChart(el, {labels, values, colours, horizontal, title, text})
// tokenLabels (vertical bars only): one bar per position with these tick labels; unlike category
// labels, repeated tokens (two "2"s in a date) stay separate bars.
export function barChart(el, opts) {
  const { labels, values, colours, horizontal = true, title, xTitle, yTitle, height, text, filename, range, hover, margin, onClick, tokenLabels, customdata, extraShapes = [] } = opts;
  const positional = Boolean(tokenLabels) && !horizontal;
  const trace = {
    type: 'bar',
    orientation: horizontal ? 'h' : 'v',
    x: horizontal ? values : positional ? values.map((_, i) => i) : labels,
    y: horizontal ? labels : values,
    customdata,
    marker: { color: colours || COLOURS.input },
    text: text || values.map((v) => (typeof v === 'number' ? v.toPrecision(3) : v)),
    textposition: 'auto',
    hovertemplate: hover || (horizontal ? '%{y}: %{x:.4g}<extra></extra>' : '%{x}: %{y:.4g}<extra></extra>'),
    cliponaxis: false,
  };
  const layout = baseLayout({ title, height, xTitle, yTitle, margin });
  if (horizontal) {
    layout.yaxis.autorange = 'reversed';
    layout.yaxis.type = 'category';
    if (range) layout.xaxis.range = range;
  } else {
    if (positional) Object.assign(layout.xaxis, tokenAxis(tokenLabels, { width: (el.clientWidth || 600) - 80 }));
    else layout.xaxis.type = 'category';
    if (range) layout.yaxis.range = range;
  }
  layout.shapes = extraShapes;
  const p = draw(el, [trace], layout, filename, onClick, () => barChart(el, opts));
  return p;
}

// treeChart(el, {nodes: [{x, y, text, hover, colour, symbol, size, line}], edges: [{x0, y0, x1, y1, colour, width, dash}]})
// Edges of one style are drawn as one trace (null-separated), so big trees stay fast.
export function treeChart(el, opts) {
  const { nodes, edges, title, height, xTitle, yTitle, filename, onClick, xRange, yRange, margin, extraShapes = [], xTickText } = opts;
  const groups = new Map();
  for (const e of edges) {
    const key = `${e.colour}|${e.width || 1.5}|${e.dash || 'solid'}`;
    if (!groups.has(key)) groups.set(key, { x: [], y: [], colour: e.colour, width: e.width || 1.5, dash: e.dash || 'solid' });
    const g = groups.get(key);
    g.x.push(e.x0, e.x1, null);
    g.y.push(e.y0, e.y1, null);
  }
  const data = [...groups.values()].map((g) => ({
    type: 'scatter', mode: 'lines', x: g.x, y: g.y, hoverinfo: 'skip', showlegend: false,
    line: { color: g.colour, width: g.width, dash: g.dash },
  }));
  data.push({
    type: 'scatter',
    mode: 'markers+text',
    x: nodes.map((n) => n.x),
    y: nodes.map((n) => n.y),
    text: nodes.map((n) => n.text),
    textposition: 'middle right',
    textfont: { family: 'ui-monospace, DejaVu Sans Mono, monospace', size: fontSize(), color: nodes.map((n) => n.textColour || COLOURS.ink) },
    hovertext: nodes.map((n) => n.hover || n.text),
    hovertemplate: '%{hovertext}<extra></extra>',
    marker: {
      color: nodes.map((n) => n.colour || COLOURS.kept),
      size: nodes.map((n) => n.size || 10),
      symbol: nodes.map((n) => n.symbol || 'circle'),
      line: { color: nodes.map((n) => n.lineColour || '#ffffff'), width: nodes.map((n) => n.lineWidth ?? 1) },
    },
    customdata: nodes.map((n) => n.id),
    showlegend: false,
    cliponaxis: false,
  });
  const layout = baseLayout({ title, height, xTitle, yTitle, margin, scale: false });
  layout.yaxis.showticklabels = false;
  layout.yaxis.showgrid = false;
  layout.yaxis.autorange = yRange ? undefined : 'reversed';
  if (yRange) layout.yaxis.range = yRange;
  if (xRange) layout.xaxis.range = xRange;
  layout.xaxis.dtick = 1;
  if (xTickText) Object.assign(layout.xaxis, { tickmode: 'array', tickvals: xTickText.map((_, i) => i), ticktext: xTickText });
  layout.shapes = extraShapes;
  const p = draw(el, data, layout, filename, onClick);
  return p;
}

// Download a drawn plot as PNG or SVG from a page's own button (for plots wider than their pane,
// whose modebar may be scrolled out of view): the same titled export as the modebar's buttons.
export function downloadPlot(el, format = 'png') {
  return exportPlot(el, format);
}

export function purge(el) {
  if (el && el.data) Plotly.purge(el);
  plotted.delete(el);
}

// Colour of a single value on a page's scale (for DOM elements such as coloured text), matching the
// heatmaps: viridis for gates, RdBu for tanh quantities and the cell state (±maxAbs).
const VIRIDIS = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'];

function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function interpolate(stops, u) {
  const x = Math.max(0, Math.min(1, u)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const a = hexToRgb(stops[i]);
  const b = hexToRgb(stops[i + 1]);
  const f = x - i;
  return a.map((c, k) => Math.round(c + (b[k] - c) * f));
}

const RDBU_STOPS = ['#2166ac', '#4393c3', '#92c5de', '#d1e5f0', '#f7f7f7', '#fddbc7', '#f4a582', '#d6604d', '#b2182b'];

export function scaleColour(kind, value, maxAbs = 1) {
  const rgb = kind === 'gate'
    ? interpolate(VIRIDIS, value)
    : interpolate(RDBU_STOPS, 0.5 + 0.5 * (value / (maxAbs || 1)));
  const luminance = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255;
  return { background: `rgb(${rgb.join(',')})`, color: luminance < 0.55 ? '#fff' : '#111' };
}

// Ten distinguishable category colours (Tableau 10), for categories without a fixed meaning
// (e.g. the scripts of the skip-thought stories).
export const CATEGORY_COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#7f7f7f'];

// scatterChart(el, {series: [{name, x, y, colour, values, colorscale, cmin, cmax, colorbarTitle,
//   size, symbol, opacity, text, labels, hover, lineColour, lineWidth, showlegend}], ...})
// One trace per series. A series coloured by ``values`` uses a continuous scale (with a colour bar);
// ``labels`` draws text beside the points; ``annotations`` are Plotly annotations (e.g. an arrow
// with a label on a highlighted point, readable over dense points).
export function scatterChart(el, opts) {
  const { series, title, xTitle, yTitle, height, filename, margin, legend = true, onClick, xRange, yRange, equalAxes = false, annotations = [] } = opts;
  const data = series.map((s) => {
    const continuous = Array.isArray(s.values);
    const marker = {
      color: continuous ? s.values : s.colour,
      size: s.size || 6,
      symbol: s.symbol || 'circle',
      opacity: s.opacity ?? 1,
      line: { color: s.lineColour || 'rgba(0,0,0,0)', width: s.lineWidth ?? 0 },
    };
    if (continuous) {
      Object.assign(marker, {
        colorscale: s.colorscale || 'Viridis',
        cmin: s.cmin,
        cmax: s.cmax,
        showscale: s.showscale !== false,
        colorbar: { thickness: 12, len: 0.8, title: s.colorbarTitle ? { text: s.colorbarTitle, side: 'right' } : undefined },
      });
    }
    return {
      type: 'scatter',
      mode: s.labels ? 'markers+text' : 'markers',
      name: s.name,
      x: s.x,
      y: s.y,
      text: s.labels || s.text,
      hovertext: s.text,
      textposition: s.textposition || 'top center',
      textfont: { size: fontSize() + 1, color: COLOURS.ink },
      marker,
      hovertemplate: s.hover || '%{hovertext}<extra></extra>',
      showlegend: s.showlegend !== false,
      cliponaxis: false,
    };
  });
  const layout = baseLayout({ title, height, xTitle, yTitle, margin });
  layout.showlegend = legend;
  layout.legend = { orientation: 'v', x: 1.02, y: 1, itemsizing: 'constant' };
  layout.hovermode = 'closest';
  layout.xaxis.zeroline = true;
  layout.yaxis.zeroline = true;
  layout.xaxis.zerolinecolor = '#d5dae1';
  layout.yaxis.zerolinecolor = '#d5dae1';
  if (xRange) layout.xaxis.range = xRange;
  if (yRange) layout.yaxis.range = yRange;
  if (equalAxes) Object.assign(layout.yaxis, { scaleanchor: 'x', scaleratio: 1 });
  layout.annotations = annotations;
  const p = draw(el, data, layout, filename, onClick, () => scatterChart(el, opts));
  return p;
}
