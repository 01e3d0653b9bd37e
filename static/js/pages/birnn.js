// Bidirectional RNN: fill in a blank from both sides. One request returns both state streams of the
// bidirectional model, the concatenation [→h_b ; ←h_b] at the blank, the split of each candidate's
// score and the three ranked lists. Stepping moves the forward cursor right and the backward cursor
// left over that trace, in the browser, with no round trip.
import { getJSON, postJSON, latest, showError, clearError } from '../api.js';
import { readState, urlState } from '../state.js';
import { heatmap, lineChart, barChart, stackedBarChart, setOverlay, setShapes, cursorShape, purge, setExportContext, COLOURS } from '../plots.js';
import { createStepper } from '../steps.js';
import { el, debounce, visibleChar, fmt, downloadJSON, downloadCSV, initChrome } from '../ui.js';

// Twelfth Night, a held-out play. Alone, the left side ("…born gr") suggests "gra…" and the right
// side ("_at, some achieve…") suggests "hat"/"that"; together they spell "great".
const DEFAULT_TEXT = 'Some are born gr_at, some achieve greatness';
// s is the step (−1: the last step, where both passes have read everything).
const DEFAULTS = { model: 'cloze-bi', text: DEFAULT_TEXT, s: -1, unit: 0, q: 'hidden' };
const KIND = 'cloze';
const INFO = {
  hidden: { name: 'hidden state h', kind: 'tanh' },
  cell: { name: 'cell state c', kind: 'cell' },
  forget: { name: 'forget gate f', kind: 'gate' },
  input: { name: 'input gate i', kind: 'gate' },
  output: { name: 'output gate o', kind: 'gate' },
  candidate: { name: 'candidate g̃', kind: 'tanh' },
};
const DIRS = {
  forward: { arrow: '→', colour: COLOURS.forward, reads: 'reads left to right', eq: '→hₜ = LSTM(xₜ, →hₜ₋₁)' },
  backward: { arrow: '←', colour: COLOURS.backward, reads: 'reads right to left', eq: '←hₜ = LSTM(xₜ, ←hₜ₊₁)' },
};
const BLANK_LINE = '#e4572e';

const $ = (id) => document.getElementById(id);
let state = readState(DEFAULTS);
let trace = null; // the last full response
let matrices = {}; // `${direction}:${quantity}` -> [H][T] for the heatmaps
let clozeModels = []; // /api/models entries of kind cloze
let stepper = null;

const request = latest((body, opts) => postJSON('/api/birnn/cloze', body, opts));

const url = urlState(DEFAULTS, ['model', 'text']);

function saveState() {
  url.write(state);
}

function T() {
  return trace ? trace.tokens.length : 1;
}

function currentStep() {
  const n = T();
  return state.s < 0 || state.s >= n ? n - 1 : state.s;
}

// Step s: the forward pass has just read character s, the backward pass character T−1−s.
function cursors(s = currentStep()) {
  return { fwd: s, bwd: T() - 1 - s };
}

function quantityRows(direction, q) {
  const d = trace[direction];
  return q === 'hidden' || q === 'cell' ? d[q] : d.gates[q];
}

function transpose(rows) {
  const n = rows.length;
  const H = n ? rows[0].length : 0;
  const out = Array.from({ length: H }, () => new Array(n));
  for (let t = 0; t < n; t++) for (let j = 0; j < H; j++) out[j][t] = rows[t][j];
  return out;
}

function matrix(direction, q) {
  const key = `${direction}:${q}`;
  if (!matrices[key]) matrices[key] = transpose(quantityRows(direction, q));
  return matrices[key];
}

// --- fetching

async function run() {
  const status = $('status');
  if (!state.text.length) {
    showError($('error'), 'Type a text with one _ marking the character to fill in.');
    return;
  }
  const started = performance.now();
  status.textContent = 'reading both ways…';
  const sent = { ...state };
  try {
    const result = await request({ model: sent.model, text: sent.text });
    if (result === null) return; // superseded by a newer request
    clearError($('error'));
    url.accept(sent);
    saveState();
    trace = result;
    onNewTrace();
    status.textContent = `read ${result.tokens.length} characters both ways in ${Math.round(performance.now() - started)} ms`;
  } catch (err) {
    status.textContent = '';
    showError($('error'), err);
  }
}

// --- rendering

function onNewTrace() {
  matrices = {};
  state.unit = Math.min(state.unit, trace.hidden_size - 1);
  stepper.setCount(T(), { value: currentStep() });
  $('stream-model').textContent = trace.model;
  renderNotes();
  renderReading();
  renderPredictions();
  renderStreams();
  renderConcat();
  renderHead();
  renderUnitChart();
  renderStep();
}

function renderNotes() {
  const note = $('unknown-note');
  const n = trace.unknown.length;
  note.hidden = n === 0;
  if (n) {
    const chars = [...new Set(trace.unknown.map((i) => trace.tokens[i]))].map((c) => `“${visibleChar(c)}”`).slice(0, 8).join(' ');
    note.textContent = `${n} character${n > 1 ? 's' : ''} the models never saw in training (${chars}) ${n > 1 ? 'are' : 'is'} read as the unknown token; marked with a wavy underline.`;
  }
  const notes = $('notes');
  notes.hidden = !trace.notes.length;
  notes.textContent = trace.notes.join(' · ');
}

function tokenLabels() {
  return trace.tokens.map((ch, t) => (t === trace.blank_index ? '_' : visibleChar(ch)));
}

function renderReading() {
  const unknown = new Set(trace.unknown);
  $('reading').replaceChildren(...trace.tokens.map((ch, t) => el('span', {
    class: `cell${t === trace.blank_index ? ' blank' : ''}${unknown.has(t) ? ' unknown' : ''}`,
    dataset: { t },
    title: t === trace.blank_index ? `step ${t}: the blank` : `character ${t} “${visibleChar(ch)}”`,
  }, ch === ' ' ? '\u00a0' : visibleChar(ch))));
}

function predictionColours(list, base) {
  const choice = trace.predictions.bi[0].token;
  return list.map((p) => (p.token === choice ? COLOURS.candidate : base));
}

function renderPredictions() {
  const lists = [
    ['bi', 'pred-bi', '#5b6572', 'both sides'],
    ['fwd', 'pred-fwd', COLOURS.forward, 'left context only'],
    ['bwd', 'pred-bwd', COLOURS.backward, 'right context only'],
  ];
  for (const [key, id, colour, sees] of lists) {
    const list = trace.predictions[key];
    $(`name-${key}`).textContent = trace.models[key] || '(not loaded)';
    const box = $(id);
    if (!list) {
      purge(box);
      box.replaceChildren(el('p', { class: 'muted' }, `No ${sees} model is loaded on this server (${trace.notes.join('; ')}).`));
      continue;
    }
    if (!box.data) box.replaceChildren();
    barChart(box, {
      labels: list.map((p) => `“${visibleChar(p.token)}”`),
      values: list.map((p) => p.prob),
      colours: predictionColours(list, colour),
      xTitle: 'probability',
      range: [0, 1],
      height: 300,
      filename: `birnn-predictions-${key}`,
      hover: '%{y}: p = %{x:.4g}<extra></extra>',
      margin: { l: 56, t: 8 },
    });
  }
  const top = trace.predictions.bi[0];
  const b = trace.blank_index;
  const before = state.text.slice(Math.max(0, b - 40), b);
  const after = state.text.slice(b + 1, b + 41);
  $('filled').replaceChildren(`${trace.models.bi} reads: `,
    el('span', { class: 'mono' }, before.replace(/\n/g, '↵'), el('mark', {}, visibleChar(top.token)), after.replace(/\n/g, '↵')),
    ` (p = ${fmt(top.prob, 3)})`);
}

function streamOverlay(direction, s) {
  const n = T();
  const b = trace.blank_index;
  const { fwd, bwd } = cursors(s);
  const at = direction === 'forward' ? fwd : bwd;
  const info = DIRS[direction];
  const shapes = [...cursorShape(at, 'x', info.colour)];
  // Columns this direction has not read yet at step s are veiled.
  const [u0, u1] = direction === 'forward' ? [fwd + 0.5, n - 0.5] : [-0.5, bwd - 0.5];
  if (u1 > u0) {
    shapes.push({ type: 'rect', xref: 'x', yref: 'paper', x0: u0, x1: u1, y0: 0, y1: 1, line: { width: 0 }, fillcolor: 'rgba(246,247,249,0.78)', layer: 'above' });
  }
  shapes.push({ type: 'rect', xref: 'x', yref: 'paper', x0: b - 0.5, x1: b + 0.5, y0: 0, y1: 1, line: { color: BLANK_LINE, width: 2, dash: 'dash' }, fillcolor: 'rgba(0,0,0,0)', layer: 'above' });
  shapes.push({ type: 'rect', xref: 'paper', yref: 'y', x0: 0, x1: 1, y0: state.unit - 0.5, y1: state.unit + 0.5, line: { color: '#111', width: 1 }, fillcolor: 'rgba(0,0,0,0)', layer: 'above' });
  // The arrow runs from where this direction starts to its cursor.
  const start = direction === 'forward' ? -0.5 : n - 0.5;
  const annotations = [{
    xref: 'x', yref: 'paper', x: at, y: 1.035, axref: 'x', ayref: 'pixel', ax: start, ay: 0,
    showarrow: true, arrowhead: 2, arrowsize: 1, arrowwidth: 3, arrowcolor: info.colour, text: '',
  }];
  return { shapes, annotations };
}

function renderStreams() {
  const x = tokenLabels();
  const q = state.q;
  const s = currentStep();
  for (const direction of ['forward', 'backward']) {
    const info = DIRS[direction];
    const overlay = streamOverlay(direction, s);
    heatmap($(`hm-${direction}`), {
      z: matrix(direction, q),
      kind: INFO[q].kind,
      xLabels: x,
      title: `${info.arrow} ${direction} stream, ${info.reads}: ${info.eq} · ${INFO[q].name}`,
      yTitle: 'unit',
      height: 280,
      hoverX: 'character',
      hoverY: 'unit',
      extraShapes: overlay.shapes,
      annotations: overlay.annotations,
      filename: `birnn-${direction}-${q}`,
      onClick: (pt) => select(direction, Math.round(pt.x), Math.round(pt.y)),
      margin: { l: 48, r: 8, b: 30, t: 52 },
    });
  }
}

function concatOverlay(s) {
  const H = trace.hidden_size;
  const b = trace.blank_index;
  const { fwd, bwd } = cursors(s);
  const shapes = [
    { type: 'line', xref: 'x', yref: 'paper', x0: H - 0.5, x1: H - 0.5, y0: -0.05, y1: 1.05, line: { color: '#111', width: 2 } },
    ...cursorShape(state.unit, 'x', DIRS.forward.colour),
    ...cursorShape(H + state.unit, 'x', DIRS.backward.colour),
  ];
  const annotations = [
    { xref: 'x', yref: 'paper', x: (H - 1) / 2, y: 1.02, yanchor: 'bottom', showarrow: false, text: '<b>→h<sub>b</sub></b> forward half', font: { color: DIRS.forward.colour } },
    { xref: 'x', yref: 'paper', x: H + (H - 1) / 2, y: 1.02, yanchor: 'bottom', showarrow: false, text: '<b>←h<sub>b</sub></b> backward half', font: { color: DIRS.backward.colour } },
  ];
  const pending = [];
  if (fwd < b) pending.push([-0.5, H - 0.5, `→ reaches the blank at step ${b}`]);
  if (bwd > b) pending.push([H - 0.5, 2 * H - 0.5, `← reaches the blank at step ${T() - 1 - b}`]);
  for (const [x0, x1, text] of pending) {
    shapes.push({ type: 'rect', xref: 'x', yref: 'paper', x0, x1, y0: 0, y1: 1, line: { width: 0 }, fillcolor: 'rgba(246,247,249,0.88)', layer: 'above' });
    annotations.push({ xref: 'x', yref: 'paper', x: (x0 + x1) / 2, y: 0.5, showarrow: false, text, font: { color: '#3d4652' } });
  }
  return { shapes, annotations, pending: pending.length };
}

function renderConcat() {
  const H = trace.hidden_size;
  const values = trace.concat;
  const text = [values.map((v, k) => (k < H ? `→h_b unit ${k} = ${fmt(v)}` : `←h_b unit ${k - H} = ${fmt(v)}`))];
  const every = Math.max(1, Math.round(H / 4));
  const ticks = Array.from({ length: Math.ceil((2 * H) / every) }, (_, i) => i * every);
  const overlay = concatOverlay(currentStep());
  heatmap($('concat'), {
    z: [values],
    kind: 'tanh',
    hoverText: text,
    height: 150,
    showScale: false,
    xAxis: { tickmode: 'array', tickvals: ticks, ticktext: ticks.map((k) => String(k < H ? k : k - H)), range: [-0.5, 2 * H - 0.5], title: { text: 'unit (left half →h, right half ←h)' } },
    extraShapes: overlay.shapes,
    annotations: overlay.annotations,
    filename: 'birnn-concat',
    onClick: (pt) => selectUnit(Math.round(pt.x) % H),
    yAxis: { showticklabels: false },
    margin: { l: 16, r: 16, t: 30, b: 46 },
  });
}

function renderHead() {
  const head = trace.head;
  stackedBarChart($('head'), {
    labels: head.map((h) => `“${visibleChar(h.token)}”`),
    series: [
      { name: 'forward part W→·→h', values: head.map((h) => h.forward), colour: DIRS.forward.colour },
      { name: 'backward part W←·←h', values: head.map((h) => h.backward), colour: DIRS.backward.colour },
      { name: 'bias b', values: head.map((h) => h.bias), colour: '#b8c0cc' },
    ],
    totals: head.map((h) => h.logit),
    totalName: 'score (logit)',
    xTitle: 'contribution to the score',
    height: 380,
    filename: 'birnn-head',
    margin: { l: 56, t: 8 },
  });
}

function renderUnitChart() {
  const j = state.unit;
  const q = state.q;
  $('unit-title').textContent = j;
  const x = trace.tokens.map((_, t) => t);
  const series = ['forward', 'backward'].map((direction) => ({
    name: `${DIRS[direction].arrow} ${direction} ${INFO[q].name}`,
    x,
    y: quantityRows(direction, q).map((row) => row[j]),
    colour: DIRS[direction].colour,
    width: 2.5,
  }));
  lineChart($('unit-chart'), {
    series,
    xLabels: tokenLabels(),
    yTitle: INFO[q].name,
    height: 320,
    extraShapes: unitShapes(currentStep()),
    filename: `birnn-unit-${j}-${q}`,
    onClick: (pt) => setStep(Math.round(pt.x)),
  });
}

function unitShapes(s) {
  const { fwd, bwd } = cursors(s);
  const b = trace.blank_index;
  return [
    ...cursorShape(fwd, 'x', DIRS.forward.colour),
    ...cursorShape(bwd, 'x', DIRS.backward.colour),
    { type: 'rect', xref: 'x', yref: 'paper', x0: b - 0.5, x1: b + 0.5, y0: 0, y1: 1, line: { color: BLANK_LINE, width: 1.5, dash: 'dash' }, fillcolor: 'rgba(0,0,0,0)' },
  ];
}

function renderStep() {
  const s = currentStep();
  const { fwd, bwd } = cursors(s);
  for (const direction of ['forward', 'backward']) setOverlay($(`hm-${direction}`), streamOverlay(direction, s));
  const overlay = concatOverlay(s);
  setOverlay($('concat'), overlay);
  const b = trace.blank_index;
  const reads = `→h_b has read characters 0…${b} (left context and blank), ←h_b characters ${T() - 1}…${b} (right context and blank).`;
  $('concat-note').textContent = overlay.pending
    ? `At step ${s} the blank's state is not complete yet: the output layer needs both halves. ${reads}`
    : `At step ${s} both passes have read the blank: these ${2 * trace.hidden_size} numbers are all the output layer sees. ${reads}`;
  setShapes($('unit-chart'), unitShapes(s));
  for (const cell of $('reading').children) {
    const t = Number(cell.dataset.t);
    cell.classList.toggle('fwd-read', t <= fwd);
    cell.classList.toggle('bwd-read', t >= bwd);
    cell.classList.toggle('fwd-cursor', t === fwd);
    cell.classList.toggle('bwd-cursor', t === bwd);
  }
}

// --- interaction

function setStep(s) {
  const n = T();
  const clamped = Math.min(Math.max(0, s), n - 1);
  state.s = clamped === n - 1 ? -1 : clamped;
  stepper.set(clamped, { silent: true });
  saveState();
  renderStep();
}

function selectUnit(unit) {
  state.unit = unit;
  saveState();
  renderUnitChart();
  renderStep();
}

// Clicking a heatmap cell moves that direction's cursor to the clicked character.
function select(direction, t, unit) {
  selectUnit(unit);
  setStep(direction === 'forward' ? t : T() - 1 - t);
}

async function loadModels() {
  try {
    const { models } = await getJSON('/api/models');
    clozeModels = models.filter((m) => m.available && m.kind === KIND);
    const bi = clozeModels.filter((m) => (m.metrics || {}).sees === 'both sides');
    const select = $('model');
    select.replaceChildren(...bi.map((m) => el('option', { value: m.name }, m.name)));
    renderAccuracy();
    if (!bi.length) {
      showError($('error'), 'No bidirectional cloze model is loaded on this server. Rebuild one with `recurrent-lens train cloze-bi`.');
      return false;
    }
    if (!bi.some((m) => m.name === state.model)) state.model = bi[0].name;
    select.value = state.model;
    return true;
  } catch (err) {
    showError($('error'), err);
    return false;
  }
}

const SEES_ORDER = ['both sides', 'left context only', 'right context only'];
const SEES_COLOUR = { 'both sides': COLOURS.ink, 'left context only': COLOURS.forward, 'right context only': COLOURS.backward };

function accuracyRows() {
  const models = [...clozeModels].sort((a, b) => SEES_ORDER.indexOf(a.metrics.sees) - SEES_ORDER.indexOf(b.metrics.sees) || a.name.localeCompare(b.name));
  const contexts = (models.find((m) => m.metrics.by_context) || { metrics: { by_context: { context: [] } } }).metrics.by_context.context;
  return { models, contexts };
}

function renderAccuracy() {
  const { models, contexts } = accuracyRows();
  const k = models.length ? models[0].metrics.context_per_side : 30;
  $('accuracy-table').querySelector('thead').replaceChildren(el('tr', {},
    el('th', {}, 'Model'), el('th', {}, 'Sees'), el('th', { class: 'num' }, 'Parameters'),
    el('th', { class: 'num' }, `Top-1 (${k}+${k})`), el('th', { class: 'num' }, `Top-5 (${k}+${k})`),
    ...contexts.map((c) => el('th', { class: 'num' }, `top-1, ${c} per side`))));
  const body = $('accuracy-table').querySelector('tbody');
  if (!models.length) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No cloze model is loaded.')));
    return;
  }
  body.replaceChildren(...models.map((m) => {
    const mt = m.metrics;
    const by = mt.by_context || { top1: [] };
    return el('tr', { class: m.name === state.model ? 'selected' : '', dataset: { model: m.name } },
      el('td', {}, el('code', {}, m.name)), el('td', {}, mt.sees || ''), el('td', { class: 'num' }, (mt.parameters || 0).toLocaleString('en')),
      el('td', { class: 'num' }, el('b', {}, fmt(mt.held_out_top1, 3))), el('td', { class: 'num' }, fmt(mt.held_out_top5, 3)),
      ...contexts.map((_, i) => el('td', { class: 'num' }, fmt(by.top1[i], 3))));
  }));
  lineChart($('accuracy-chart'), {
    series: models.filter((m) => m.metrics.by_context).map((m) => ({
      name: `${m.name} (${m.metrics.sees})`,
      x: contexts.map((_, i) => i),
      y: m.metrics.by_context.top1,
      colour: SEES_COLOUR[m.metrics.sees] || COLOURS.muted,
      dash: m.metrics.sees === 'right context only' ? 'dash' : 'solid',
      mode: 'lines+markers',
      width: 2.5,
    })),
    xLabels: contexts.map(String),
    title: 'Top-1 accuracy against characters of context on each side of the blank',
    yTitle: 'top-1 accuracy',
    yRange: [0, 1],
    height: 300,
    filename: 'birnn-accuracy',
  });
}

function downloadTable() {
  const { models, contexts } = accuracyRows();
  const rows = [['model', 'sees', 'parameters', 'context_per_side', 'top1', 'top5', ...contexts.flatMap((c) => [`top1_${c}_per_side`, `top5_${c}_per_side`])]];
  for (const m of models) {
    const mt = m.metrics;
    const by = mt.by_context || { top1: [], top5: [] };
    rows.push([m.name, mt.sees, mt.parameters, mt.context_per_side, mt.held_out_top1, mt.held_out_top5, ...contexts.flatMap((_, i) => [by.top1[i], by.top5[i]])]);
  }
  downloadCSV('birnn-accuracy.csv', rows);
}

async function main() {
  initChrome();
  setExportContext(() => ({ model: state.model, input: state.text, step: trace ? currentStep() : null }));
  const textBox = $('text');
  textBox.value = state.text;
  $('quantity').value = state.q;
  stepper = createStepper($('steps'), {
    count: 1,
    onChange: (s) => setStep(s),
    format: (i, n) => {
      if (!trace) return `step ${i}`;
      const { fwd, bwd } = cursors(i);
      const lab = tokenLabels();
      return `step ${i} / ${n - 1}   → at ${fwd} “${lab[fwd]}”   ← at ${bwd} “${lab[bwd]}”`;
    },
  });
  const runSoon = debounce(() => run(), 150);
  textBox.addEventListener('input', () => {
    state.text = textBox.value;
    saveState();
    runSoon();
  });
  $('model').addEventListener('change', (ev) => { state.model = ev.target.value; saveState(); renderAccuracy(); run(); });
  $('quantity').addEventListener('change', (ev) => {
    state.q = ev.target.value;
    saveState();
    if (trace) { renderStreams(); renderUnitChart(); renderStep(); }
  });
  $('reading').addEventListener('click', (ev) => {
    const t = ev.target && ev.target.dataset ? ev.target.dataset.t : undefined;
    if (t !== undefined) setStep(Number(t));
  });
  $('download-json').addEventListener('click', () => trace && downloadJSON(`birnn-cloze-${state.model}.json`, trace));
  $('download-csv').addEventListener('click', downloadTable);
  if (await loadModels()) await run();
}

main();
