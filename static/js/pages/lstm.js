// LSTM gate explorer: trace the typed text, then step, select and hover over that trace in the
// browser (no round trip), except that choosing a unit fetches its pre-activation breakdown.
import { getJSON, postJSON, postForm, latest, showError, clearError } from '../api.js';
import { readState, urlState } from '../state.js';
import { heatmap, lineChart, barChart, setShapes, cursorShape, scaleColour, setExportContext, COLOURS } from '../plots.js';
import { createStepper } from '../steps.js';
import { el, debounce, visibleChar, fmt, downloadJSON, initChrome } from '../ui.js';
import { drawCellDiagram } from '../cell_diagram.js';

const DEFAULT_TEXT = "[Enter Hamlet.]\n\nHam.\nTo be, or not to be,--that is the question:--\nWhether 'tis nobler in the mind to suffer";
const DEFAULTS = { model: 'shakespeare-char', text: DEFAULT_TEXT, t: 0, unit: 0, q: 'hidden', layer: 0, mode: 'text', csv: '' };
const QUANTITIES = ['forget', 'input', 'candidate', 'output', 'cell', 'hidden'];
const INFO = {
  forget: { symbol: 'f', name: 'forget gate f', kind: 'gate', fn: 'σ', W: 'W_f', b: 'b_f' },
  input: { symbol: 'i', name: 'input gate i', kind: 'gate', fn: 'σ', W: 'W_i', b: 'b_i' },
  candidate: { symbol: 'g̃', name: 'candidate g̃', kind: 'tanh', fn: 'tanh', W: 'W_g', b: 'b_g' },
  output: { symbol: 'o', name: 'output gate o', kind: 'gate', fn: 'σ', W: 'W_o', b: 'b_o' },
  cell: { symbol: 'c', name: 'cell state c', kind: 'cell' },
  hidden: { symbol: 'h', name: 'hidden state h', kind: 'tanh' },
};
const KINDS = ['char-lm', 'lstm'];

const $ = (id) => document.getElementById(id);
let state = readState(DEFAULTS);
let trace = null; // the last full response
let transposed = {}; // quantity -> [H][T] for the heatmaps
let modelInfo = {};
let stepper = null;

const request = latest((body, opts) => postJSON('/api/lstm/trace', body, opts));

function entry() {
  return trace ? trace.layers[Math.min(state.layer, trace.layers.length - 1)] : null;
}

const url = urlState(DEFAULTS, ['model', 'text', 'layer', 'mode', 'csv']);

function saveState() {
  url.write(state);
}

function transpose(rows) {
  const T = rows.length;
  const H = T ? rows[0].length : 0;
  const out = Array.from({ length: H }, () => new Array(T));
  for (let t = 0; t < T; t++) {
    const row = rows[t];
    for (let j = 0; j < H; j++) out[j][t] = row[j];
  }
  return out;
}

function detailTarget() {
  const dirs = trace && trace.bidirectional ? 2 : 1;
  return { layer: Math.floor(state.layer / dirs), direction: state.layer % dirs };
}

// --- fetching

// CSV → rows of numbers, or a message naming the first bad cell.
export function parseCSV(text) {
  const rows = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) continue;
    const cells = line.split(/[,;\t ]+/).filter((c) => c !== '');
    const numbers = cells.map(Number);
    const bad = numbers.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) {
      if (!rows.length && numbers.every((x) => !Number.isFinite(x))) continue; // a header row
      return { error: `CSV line ${i + 1}, column ${bad + 1}: “${cells[bad]}” is not a number` };
    }
    rows.push(numbers);
  }
  if (!rows.length) return { error: 'Paste at least one row of numbers (one row per time step).' };
  return { rows };
}

function requestBody() {
  const body = { model: state.model, unit: state.unit, ...detailTarget() };
  if (state.mode === 'csv') {
    const parsed = parseCSV(state.csv);
    if (parsed.error) return { error: parsed.error };
    return { body: { ...body, inputs: parsed.rows } };
  }
  if (!state.text.length) return { error: 'Type some text to trace (at least one character).' };
  return { body: { ...body, text: state.text } };
}

async function retrace({ detailOnly = false } = {}) {
  const status = $('status');
  const built = requestBody();
  if (built.error) {
    showError($('error'), built.error);
    return;
  }
  const started = performance.now();
  status.textContent = 'tracing…';
  const sent = { ...state };
  try {
    const body = built.body;
    const result = await request(body);
    if (result === null) return; // superseded by a newer request
    clearError($('error'));
    url.accept(sent);
    saveState();
    if (detailOnly && trace && result.tokens.length === trace.tokens.length) {
      trace.detail = result.detail;
      renderStep();
    } else {
      trace = result;
      onNewTrace();
    }
    const what = result.input_kind === 'vector' ? 'steps' : 'tokens';
    status.textContent = `traced ${result.tokens.length} ${what} in ${Math.round(performance.now() - started)} ms`;
  } catch (err) {
    status.textContent = '';
    showError($('error'), err);
  }
}

// --- rendering

function onNewTrace() {
  const T = trace.tokens.length;
  transposed = {};
  for (const q of QUANTITIES) transposed[q] = transpose(entry()[q]);
  state.t = Math.min(state.t, T - 1);
  state.unit = Math.min(state.unit, trace.hidden_size - 1);
  stepper.setCount(T, { value: state.t });
  renderLayerSelect();
  renderUnknown();
  renderHeatmaps(); // the first heatmap now; the other panels once it is on screen
}

function renderLayerSelect() {
  const wrap = $('layer-wrap');
  const select = $('layer');
  const multi = trace.layers.length > 1;
  wrap.hidden = !multi;
  if (!multi) return;
  select.replaceChildren(...trace.layers.map((l, i) => el('option', { value: i }, `layer ${l.layer}${trace.bidirectional ? ` ${l.direction}` : ''}`)));
  select.value = String(state.layer);
}

function renderUnknown() {
  const note = $('unknown-note');
  const n = trace.unknown.length;
  note.hidden = n === 0;
  if (n) {
    const chars = [...new Set(trace.unknown.map((i) => trace.tokens[i]))].map((c) => `“${visibleChar(c)}”`).slice(0, 8).join(' ');
    note.textContent = `${n} character${n > 1 ? 's' : ''} the model never saw in training (${chars}) ${n > 1 ? 'are' : 'is'} read as the unknown token; marked with a wavy underline.`;
  }
}

function labels() {
  return trace.tokens.map(visibleChar);
}

function markShapes() {
  return [
    ...cursorShape(state.t, 'x'),
    { type: 'rect', xref: 'paper', yref: 'y', x0: 0, x1: 1, y0: state.unit - 0.5, y1: state.unit + 0.5, line: { color: '#e4572e', width: 1.5 }, layer: 'above' },
  ];
}

let renderGeneration = 0;
const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

// Draw the first heatmap at once and let it paint, then the panels that follow the trace (text,
// step, unit chart), then the other five heatmaps one per frame, so typing stays responsive; a
// newer trace stops an older drawing loop.
async function renderHeatmaps() {
  const generation = ++renderGeneration;
  const x = labels();
  for (const [k, q] of QUANTITIES.entries()) {
    const info = INFO[q];
    await heatmap($(`hm-${q}`), {
      z: transposed[q],
      kind: info.kind,
      xLabels: x,
      title: `${info.name}${info.fn ? ` = ${info.fn}(…)` : q === 'hidden' ? ' = o·tanh(c)' : ' = f·c + i·g̃'}`,
      yTitle: 'unit',
      height: 300,
      hoverX: 'step',
      hoverY: 'unit',
      extraShapes: markShapes().slice(1),
      cursor: state.t,
      filename: `lstm-${q}`,
      onClick: (pt) => select(Math.round(pt.x), Math.round(pt.y)),
      margin: { l: 48, r: 8, b: 30 },
    });
    await nextFrame(); // the frame that paints this heatmap has begun
    if (generation !== renderGeneration) return;
    if (k === 0) {
      performance.mark('lens:heatmap'); // keystroke -> first heatmap on screen (bench/browser.py)
      renderColouredText();
      renderStep();
      renderUnitChart();
      await nextFrame();
      if (generation !== renderGeneration) return;
    }
  }
  renderMarks(); // the cursor may have moved while the later heatmaps were drawn
  performance.mark('lens:heatmaps');
}

function renderMarks() {
  const shapes = markShapes();
  for (const q of QUANTITIES) setShapes($(`hm-${q}`), shapes);
  setShapes($('unit-chart'), cursorShape(state.t, 'x', 'rgba(0,0,0,0.35)'));
}

function unitSeries(q) {
  const j = state.unit;
  return entry()[q].map((row) => row[j]);
}

function renderUnitChart() {
  $('unit-title').textContent = state.unit;
  const x = trace.tokens.map((_, i) => i);
  lineChart($('unit-chart'), {
    series: QUANTITIES.map((q) => ({ name: INFO[q].symbol, x, y: unitSeries(q), colour: COLOURS[q], width: q === 'cell' || q === 'hidden' ? 2.5 : 1.6, dash: q === 'candidate' ? 'dot' : 'solid' })),
    xLabels: labels(),
    yTitle: 'value',
    height: 320,
    cursor: state.t,
    filename: `lstm-unit-${state.unit}`,
    onClick: (pt) => setStep(Math.round(pt.x)),
  });
}

function renderColouredText() {
  $('colour-unit').textContent = state.unit;
  const q = state.q;
  const values = unitSeries(q);
  const maxAbs = Math.max(1e-6, ...values.map(Math.abs));
  const kind = INFO[q].kind;
  const unknown = new Set(trace.unknown);
  const box = $('coloured-text');
  box.replaceChildren(...trace.tokens.map((ch, t) => {
    const c = scaleColour(kind, values[t], kind === 'cell' ? maxAbs : 1);
    const shown = trace.input_kind === 'vector' ? ` ${ch} ` : ch === '\n' ? '↵\n' : ch === ' ' ? ' ' : visibleChar(ch);
    return el('span', {
      class: `tok${unknown.has(t) ? ' unknown' : ''}${t === state.t ? ' current' : ''}`,
      style: { background: c.background, color: c.color },
      title: `step ${t} “${visibleChar(ch)}”: ${INFO[q].symbol} = ${fmt(values[t])}`,
      dataset: { t },
    }, shown);
  }));
}

function eqRow(cls, ...parts) {
  return el('div', { class: `eq ${cls}` }, ...parts);
}

// "a + b + c" with signs folded in: 1.2 − 0.5 + 3
function sum(terms) {
  return terms.map((x, k) => (k === 0 ? fmt(x) : x < 0 ? ` − ${fmt(-x)}` : ` + ${fmt(x)}`)).join('');
}

function renderEquations(t) {
  const e = entry();
  const d = trace.detail && trace.detail.unit === state.unit ? trace.detail : null;
  const j = state.unit;
  const cPrev = t > 0 ? e.cell[t - 1][j] : d ? d.c0 : 0;
  const rows = [];
  rows.push(eqRow('muted', `unit j = ${j}, step t = ${t}, xₜ = ${inputLabel(t)}`));
  for (const g of ['forget', 'input', 'candidate', 'output']) {
    const info = INFO[g];
    const v = e[g][t][j];
    rows.push(eqRow(`eq-${g}`, `${info.symbol}ₜ = ${info.fn}(${info.W}·[hₜ₋₁, xₜ] + ${info.b})`));
    if (d) {
      rows.push(eqRow(`eq-${g} indent`, `= ${info.fn}(${sum([d.recurrent[g][t], d.from_input[g][t], d.bias[g]])}) = ${info.fn}(${fmt(d.pre[g][t])}) = `, el('span', { class: 'value' }, fmt(v))));
    } else {
      rows.push(eqRow(`eq-${g} indent`, '= ', el('span', { class: 'value' }, fmt(v))));
    }
  }
  const f = e.forget[t][j];
  const i = e.input[t][j];
  const g = e.candidate[t][j];
  const o = e.output[t][j];
  const c = e.cell[t][j];
  const h = e.hidden[t][j];
  rows.push(eqRow('eq-cell', 'cₜ = fₜ·cₜ₋₁ + iₜ·g̃ₜ'));
  rows.push(eqRow('eq-cell indent', `= ${fmt(f)} × ${fmt(cPrev)} + ${fmt(i)} × ${fmt(g)} = ${sum([f * cPrev, i * g])} = `, el('span', { class: 'value' }, fmt(c))));
  rows.push(eqRow('eq-hidden', 'hₜ = oₜ·tanh(cₜ)'));
  rows.push(eqRow('eq-hidden indent', `= ${fmt(o)} × tanh(${fmt(c)}) = ${fmt(o)} × ${fmt(Math.tanh(c))} = `, el('span', { class: 'value' }, fmt(h))));
  $('equations').replaceChildren(...rows);
}

function inputLabel(t) {
  const token = visibleChar(trace.tokens[t]);
  if (trace.input_kind === 'vector') return `input row ${t}`;
  if (trace.input_kind === 'one-hot') return `one-hot of “${token}”`;
  return `embedding of “${token}”`;
}

function renderDiagram(t) {
  const e = entry();
  const j = state.unit;
  const d = trace.detail;
  const cPrev = t > 0 ? e.cell[t - 1][j] : d ? d.c0 : 0;
  const hPrev = t > 0 ? e.hidden[t - 1][j] : d ? d.h0 : 0;
  $('diagram-step').textContent = t;
  $('diagram-unit').textContent = j;
  drawCellDiagram($('diagram'), {
    x: trace.input_kind === 'vector' ? `row ${t}` : `“${visibleChar(trace.tokens[t])}”`,
    hPrev, cPrev,
    forget: e.forget[t][j], input: e.input[t][j], candidate: e.candidate[t][j], output: e.output[t][j],
    cell: e.cell[t][j], hidden: e.hidden[t][j], tanhCell: Math.tanh(e.cell[t][j]),
  });
}

function renderTopNext(t) {
  $('next-step').textContent = t;
  const top = trace.top_next ? trace.top_next[t] : null;
  $('top-next-wrap').hidden = !top;
  if (!top) return;
  const actual = t + 1 < trace.tokens.length ? trace.tokens[t + 1] : null;
  barChart($('top-next'), {
    labels: top.map((p) => `“${visibleChar(p.token)}”`),
    values: top.map((p) => p.prob),
    colours: top.map((p) => (p.token === actual ? COLOURS.candidate : COLOURS.input)),
    xTitle: actual !== null ? `probability (green: the character that actually follows, “${visibleChar(actual)}”)` : 'probability',
    range: [0, 1],
    height: 200,
    filename: 'lstm-next-char',
    margin: { l: 60 },
  });
}

function renderStep() {
  const t = state.t;
  renderMarks();
  renderEquations(t);
  renderDiagram(t);
  renderTopNext(t);
  for (const span of $('coloured-text').children) span.classList.toggle('current', Number(span.dataset.t) === t);
}

// --- interaction

function setStep(t) {
  state.t = t;
  stepper.set(t, { silent: true });
  saveState();
  renderStep();
}

function select(t, unit) {
  const unitChanged = unit !== state.unit;
  state.t = t;
  state.unit = unit;
  stepper.set(t, { silent: true });
  saveState();
  if (unitChanged) {
    renderUnitChart();
    renderColouredText();
    retrace({ detailOnly: true });
  }
  renderStep();
}

async function loadModels() {
  try {
    const { models } = await getJSON('/api/models');
    const usable = models.filter((m) => m.available && KINDS.includes(m.kind));
    modelInfo = Object.fromEntries(usable.map((m) => [m.name, m]));
    if (state.model.startsWith('upload-') && !modelInfo[state.model]) {
      // An upload from a shared link: kept on the server by content hash (it may have expired).
      modelInfo[state.model] = { name: state.model, description: 'your uploaded LSTM', metrics: {} };
    }
    const names = Object.keys(modelInfo);
    if (!names.length) {
      showError($('error'), 'No LSTM model is loaded on this server. Rebuild one with `recurrent-lens train shakespeare-char`, or load your own below.');
      return false;
    }
    if (!modelInfo[state.model]) state.model = names[0];
    renderModelSelect();
    renderUnitsTable();
    return true;
  } catch (err) {
    showError($('error'), err);
    return false;
  }
}

function renderModelSelect() {
  const select = $('model');
  select.replaceChildren(...Object.values(modelInfo).map((m) => el('option', { value: m.name }, m.name.startsWith('upload-') ? `your LSTM (${m.name})` : m.name)));
  select.value = state.model;
  const info = modelInfo[state.model];
  $('model-note').textContent = info && info.description ? info.description : '';
}

function setMode(mode) {
  state.mode = mode;
  $('mode-text').setAttribute('aria-pressed', mode === 'text' ? 'true' : 'false');
  $('mode-csv').setAttribute('aria-pressed', mode === 'csv' ? 'true' : 'false');
  $('text-field').hidden = mode !== 'text';
  $('csv-field').hidden = mode !== 'csv';
  $('input-hint').textContent = mode === 'text'
    ? 'Typing re-traces.'
    : 'For LSTMs that read numbers (a time series): each row is the input vector x_t.';
}

// A default series for a model that reads vectors: smooth waves, one column per input.
function exampleCSV(width, steps = 48) {
  const rows = [];
  for (let t = 0; t < steps; t++) {
    rows.push(Array.from({ length: width }, (_, k) => Math.sin(t / 5 + k * 0.9).toFixed(3)).join(', '));
  }
  return rows.join('\n');
}

async function uploadModel(ev) {
  ev.preventDefault();
  const errorBox = $('upload-error');
  clearError(errorBox);
  const file = $('upload-file').files[0];
  if (!file) {
    showError(errorBox, 'Choose a checkpoint file first.');
    return;
  }
  const form = new FormData();
  form.append('file', file);
  const vocab = $('upload-vocab').files[0];
  if (vocab) form.append('vocab', vocab);
  form.append('tokenization', $('upload-tokenization').value);
  if (!$('prefix-wrap').hidden && $('upload-prefix').value) form.append('prefix', $('upload-prefix').value);
  $('upload-status').textContent = 'reading your weights…';
  $('upload-submit').disabled = true;
  try {
    const info = await postForm('/api/models/upload', form);
    $('upload-status').textContent = `loaded: ${info.description}`;
    modelInfo[info.name] = { name: info.name, description: info.description, metrics: {} };
    state.model = info.name;
    state.layer = 0;
    state.unit = 0;
    state.t = 0;
    if (info.reads === 'vectors') {
      $('csv-width').textContent = info.input_size;
      if (!state.csv || parseCSV(state.csv).rows?.[0]?.length !== info.input_size) {
        state.csv = exampleCSV(info.input_size);
        $('csv').value = state.csv;
      }
      setMode('csv');
    } else {
      setMode('text');
    }
    renderModelSelect();
    renderUnitsTable();
    saveState();
    await retrace();
  } catch (err) {
    $('upload-status').textContent = '';
    const choices = err.body && err.body.choices;
    if (choices && choices.length) {
      $('prefix-wrap').hidden = false;
      $('upload-prefix').replaceChildren(...choices.map((c) => el('option', { value: c }, c || '(top level)')));
    }
    showError(errorBox, err);
  } finally {
    $('upload-submit').disabled = false;
  }
}

function renderUnitsTable() {
  const info = modelInfo[state.model];
  const units = (info && info.metrics && info.metrics.units) || [];
  const body = document.querySelector('#units-table tbody');
  if (!units.length) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'This model has no unit analysis.')));
    return;
  }
  body.replaceChildren(...units.map((u) => el('tr', {
    class: u.unit === state.unit ? 'selected' : '',
    style: { cursor: 'pointer' },
    tabindex: 0,
    onclick: () => { state.q = u.quantity; $('quantity').value = u.quantity; select(state.t, u.unit); renderUnitsTable(); },
  },
  el('td', {}, u.feature), el('td', { class: 'mono' }, String(u.unit)), el('td', {}, u.quantity),
  el('td', { class: 'num' }, fmt(u.r, 3)), el('td', { class: 'num' }, fmt(u.untrained_best_abs_r, 3)),
  el('td', { class: 'hint' }, (u.runners_up || []).map((r) => `${r.quantity} ${r.unit} (r ${fmt(r.r, 2)})`).join(', ')))));
}

async function main() {
  initChrome();
  setExportContext(() => ({ model: state.model, input: state.mode === 'csv' ? state.csv : state.text, step: state.t }));
  const textBox = $('text');
  textBox.value = state.text;
  $('csv').value = state.csv;
  setMode(state.mode);
  $('quantity').value = state.q;
  stepper = createStepper($('steps'), {
    count: 1,
    onChange: (t) => setStep(t),
    format: (i, n) => (trace ? `step ${i} / ${n - 1}  “${visibleChar(trace.tokens[i])}”` : `step ${i}`),
  });
  const retraceSoon = debounce(() => retrace(), 150);
  textBox.addEventListener('input', () => {
    state.text = textBox.value;
    saveState();
    retraceSoon();
  });
  $('csv').addEventListener('input', () => {
    state.csv = $('csv').value;
    saveState();
    retraceSoon();
  });
  for (const mode of ['text', 'csv']) {
    $(`mode-${mode}`).addEventListener('click', () => { setMode(mode); saveState(); retrace(); });
  }
  $('upload-form').addEventListener('submit', uploadModel);
  $('upload-file').addEventListener('change', () => { $('prefix-wrap').hidden = true; clearError($('upload-error')); });
  $('open-upload').addEventListener('click', () => { $('byo').open = true; $('byo').scrollIntoView({ behavior: 'smooth' }); });
  $('model').addEventListener('change', (ev) => { state.model = ev.target.value; state.layer = 0; saveState(); renderModelSelect(); renderUnitsTable(); retrace(); });
  $('layer').addEventListener('change', (ev) => { state.layer = Number(ev.target.value); saveState(); retrace(); });
  $('quantity').addEventListener('change', (ev) => { state.q = ev.target.value; saveState(); renderColouredText(); renderStep(); });
  $('coloured-text').addEventListener('click', (ev) => {
    const t = ev.target && ev.target.dataset ? ev.target.dataset.t : undefined;
    if (t !== undefined) setStep(Number(t));
  });
  $('download-json').addEventListener('click', () => trace && downloadJSON(`lstm-trace-${state.model}.json`, trace));
  // Trace the URL's view at once, while the model list loads (it only fills the picker and the
  // units table); trace again if the URL named a model this server does not have.
  const asked = state.model;
  const [ok] = await Promise.all([loadModels(), retrace()]);
  if (ok && state.model !== asked) await retrace();
}

main();
