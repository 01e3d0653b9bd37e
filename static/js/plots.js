/* global Plotly */
// The only module that calls Plotly. Colour conventions (DESIGN.md) live here:
//  - sigmoid gates in [0, 1]: sequential, colourblind-safe (viridis);
//  - tanh quantities in [−1, 1] (candidate, hidden): diverging RdBu centred on 0 (blue < 0 < red);
//  - the cell state: the same diverging scale with symmetric limits ±max|c|;
//  - attention α: sequential (blues);
//  - each gate keeps one accent colour (Okabe–Ito) in every legend and line chart.
// Every plot exports PNG (camera button) and SVG (disk button) from its modebar.

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

export function fontSize() {
  return document.body.classList.contains('large') ? 18 : 12;
}

const plotted = new Set();
window.addEventListener('fontsizechange', () => {
  for (const gd of plotted) {
    if (!gd.isConnected || !gd.data) { plotted.delete(gd); continue; }
    Plotly.relayout(gd, { 'font.size': fontSize() });
  }
});

// One config object per filename: Plotly.react compares the config it is given with the last one
// (functions by identity), and a "changed" config turns every redraw into a full newPlot.
const configs = new Map();

export function plotConfig(filename = 'recurrent-lens') {
  if (!configs.has(filename)) configs.set(filename, makeConfig(filename));
  return configs.get(filename);
}

function makeConfig(filename) {
  return {
    responsive: true,
    displaylogo: false,
    scrollZoom: false,
    modeBarButtonsToRemove: ['select2d', 'lasso2d', 'autoScale2d', 'toggleSpikelines', 'hoverCompareCartesian', 'hoverClosestCartesian'],
    toImageButtonOptions: { format: 'png', filename, scale: 2 },
    modeBarButtonsToAdd: [{
      name: 'Download plot as SVG',
      icon: Plotly.Icons.disk,
      click: (gd) => Plotly.downloadImage(gd, { format: 'svg', filename }),
    }],
  };
}

function baseLayout({ title, height, xTitle, yTitle, margin } = {}) {
  return {
    title: title ? { text: title, x: 0, xanchor: 'left', font: { size: fontSize() + 2 } } : undefined,
    height: height || undefined,
    margin: Object.assign({ l: 56, r: 16, t: title ? 36 : 12, b: 40 }, margin || {}),
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

function draw(el, data, layout, filename, onClick) {
  plotted.add(el);
  const go = () => {
    const p = Plotly.react(el, data, layout, plotConfig(filename));
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
  return Plotly.relayout(el, { shapes });
}

export function setCursor(el, i, axis = 'x', extra = []) {
  return setShapes(el, [...cursorShape(i, axis), ...extra]);
}

// Tick labels for a token axis. Categorical axes would merge repeated characters, so positions are
// numeric and the text goes in ticktext. ``width`` (px) thins the ticks so labels never overlap.
export function tokenAxis(labels, { maxTicks = 120, width = 0 } = {}) {
  const longest = labels.reduce((m, l) => Math.max(m, String(l).length), 1);
  const fit = width ? Math.max(4, Math.floor(width / (longest * fontSize() * 0.65 + 4))) : maxTicks;
  const every = Math.max(1, Math.ceil(labels.length / Math.min(maxTicks, fit)));
  const tickvals = [];
  const ticktext = [];
  labels.forEach((t, i) => {
    if (i % every === 0) { tickvals.push(i); ticktext.push(t); }
  });
  return { tickmode: 'array', tickvals, ticktext, tickangle: 0, range: [-0.5, labels.length - 0.5] };
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
  if (xLabels) Object.assign(layout.xaxis, tokenAxis(xLabels, { width: (el.clientWidth || 600) - 120 }));
  if (yLabels) Object.assign(layout.yaxis, tokenAxis(yLabels, { maxTicks: 60 }));
  layout.yaxis.autorange = yLabels ? 'reversed' : true;
  if (yLabels) delete layout.yaxis.range;
  if (xAxis) Object.assign(layout.xaxis, xAxis);
  if (yAxis) Object.assign(layout.yaxis, yAxis);
  layout.shapes = [...cursorShape(cursor, cursorAxis), ...extraShapes];
  layout.annotations = annotations;
  const p = draw(el, [trace], layout, filename, onClick);
  return p;
}

// Replace a plot's shapes and annotations at once (cursors, arrows, labels) without redrawing data.
export function setOverlay(el, { shapes = [], annotations = [] } = {}) {
  if (!el || !el.data) return Promise.resolve();
  return Plotly.relayout(el, { shapes, annotations });
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
  const p = draw(el, data, layout, filename, onClick);
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
  if (xLabels) Object.assign(layout.xaxis, tokenAxis(xLabels, { width: (el.clientWidth || 600) - 80 }));
  layout.shapes = [...cursorShape(cursor, 'x', 'rgba(0,0,0,0.35)'), ...extraShapes];
  const p = draw(el, data, layout, filename, onClick);
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
    if (positional) Object.assign(layout.xaxis, tokenAxis(tokenLabels, { maxTicks: Math.max(8, Math.floor((el.clientWidth || 600) / 11)) }));
    else layout.xaxis.type = 'category';
    if (range) layout.yaxis.range = range;
  }
  layout.shapes = extraShapes;
  const p = draw(el, [trace], layout, filename, onClick);
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
  const layout = baseLayout({ title, height, xTitle, yTitle, margin });
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
// whose modebar may be scrolled out of view).
export function downloadPlot(el, format = 'png', filename = 'recurrent-lens') {
  if (!el || !el.data) return Promise.resolve();
  return Plotly.downloadImage(el, { format, filename, scale: format === 'png' ? 2 : 1 });
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
  const p = draw(el, data, layout, filename, onClick);
  return p;
}
