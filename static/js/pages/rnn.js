// RNN cell page: trace the typed sequence once, then step, select and hover over that trace in the
// browser (no round trip), except that choosing a unit fetches that unit's weight rows.
// The four stages (neuron, layer, recurrent cell, output) all read the same trace.
import { getJSON, postJSON, latest, showError, clearError } from '../api.js';
import { readState, urlState } from '../state.js';
import { heatmap, lineChart, barChart, setShapes, cursorShape, setExportContext, COLOURS } from '../plots.js';
import { createStepper } from '../steps.js';
import { el, debounce, visibleChar, fmt, downloadJSON, initChrome } from '../ui.js';

const KINDS = ['recall-rnn'];
const DEFAULTS = { model: 'recall-rnn', text: 'E27182?', delay: 5, t: -1, unit: 0 };
const SYMBOLS = 'ABCDEFGH';
const DIGITS = '0123456789';

const $ = (id) => document.getElementById(id);
let state = readState(DEFAULTS);
let trace = null; // the last full response
let hiddenByUnit = []; // [H][T] for the heatmap
let modelInfo = {};
let stepper = null;

const request = latest((body, opts) => postJSON('/api/rnn/trace', body, opts));

const url = urlState(DEFAULTS, ['model', 'text', 'delay']);

function saveState() {
  url.write(state);
}

function transpose(rows) {
  const T = rows.length;
  const H = T ? rows[0].length : 0;
  const out = Array.from({ length: H }, () => new Array(T));
  for (let t = 0; t < T; t++) for (let j = 0; j < H; j++) out[j][t] = rows[t][j];
  return out;
}

function step() {
  return trace ? Math.min(state.t < 0 ? trace.tokens.length - 1 : state.t, trace.tokens.length - 1) : 0;
}

// "a + b − c" with signs folded in.
function sum(terms) {
  return terms.map((x, k) => (k === 0 ? fmt(x) : x < 0 ? ` − ${fmt(-x)}` : ` + ${fmt(x)}`)).join('');
}

function paren(x) {
  return x < 0 ? `(${fmt(x)})` : fmt(x);
}

function charLabel(t) {
  return `“${visibleChar(trace.tokens[t])}”`;
}

function vocabLabel(k) {
  const tok = trace.vocab[k];
  return tok === '\ufffd' ? 'unk' : visibleChar(tok);
}

// --- fetching

async function retrace({ detailOnly = false } = {}) {
  const status = $('status');
  if (!state.text.length) {
    showError($('error'), 'Type a sequence to trace (at least one character), for example E27182?');
    return;
  }
  const started = performance.now();
  status.textContent = 'tracing…';
  try {
    const info = modelInfo[state.model];
    const delays = (info && info.metrics && info.metrics.delays) || [];
    const body = { model: state.model, text: state.text, unit: state.unit, delay: delays.length ? state.delay : null };
    const sent = { ...state };
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
    status.textContent = `traced ${result.tokens.length} characters in ${Math.round(performance.now() - started)} ms`;
  } catch (err) {
    status.textContent = '';
    showError($('error'), err);
  }
}

// --- rendering

function onNewTrace() {
  const T = trace.tokens.length;
  hiddenByUnit = transpose(trace.hidden);
  if (state.t >= T) state.t = T - 1;
  state.unit = Math.min(state.unit, trace.hidden_size - 1);
  stepper.setCount(T, { value: step() });
  for (const node of document.querySelectorAll('.hidden-size')) node.textContent = trace.hidden_size;
  renderUnknown();
  renderModelNote();
  renderHeatmaps();
  renderUnitChart();
  renderStep();
}

function renderUnknown() {
  const note = $('unknown-note');
  const n = trace.unknown.length;
  note.hidden = n === 0;
  if (n) {
    const chars = [...new Set(trace.unknown.map((i) => trace.tokens[i]))].map((c) => `“${visibleChar(c)}”`).slice(0, 8).join(' ');
    note.textContent = `${n} character${n > 1 ? 's' : ''} outside the model's vocabulary (${chars}) ${n > 1 ? 'are' : 'is'} read as the unknown token, which it never saw in training.`;
  }
}

// Held-out accuracy of the weights served for delay d (the run kept among the seeds).
function keptAccuracy(info, d) {
  const m = info && info.metrics;
  if (!m) return null;
  const key = String(d);
  const seeds = m.accuracy_by_seed && m.accuracy_by_seed[key];
  if (seeds && m.kept_seed && seeds[m.kept_seed[key]] !== undefined) return seeds[m.kept_seed[key]];
  return m.accuracy_by_delay && m.accuracy_by_delay[key] !== undefined ? m.accuracy_by_delay[key] : null;
}

// What the sequence asks (symbol, delay) and how well these weights do at it (from the metrics).
function renderModelNote() {
  const info = modelInfo[state.model];
  const parts = [];
  const text = trace.tokens.join('');
  const m = /^([A-H])([0-9]*)\?$/.exec(text);
  if (m) parts.push(`This sequence asks the model to recall “${m[1]}” after ${m[2].length} digits.`);
  else parts.push('This sequence is not in the task format (a symbol A–H, digits, then ?), but the network computes on it all the same.');
  const acc = trace.delay !== null ? keptAccuracy(info, trace.delay) : null;
  if (acc !== null) {
    parts.push(`These weights, trained at T = ${trace.delay}, recall ${fmt(100 * acc, 3)} % of fresh sequences with ${trace.delay} digits (chance: ${fmt(100 * (info.metrics.chance || 0.125), 3)} %).`);
    if (m && m[2].length !== trace.delay) parts.push(`They only ever saw exactly ${trace.delay} digits in training, so with ${m[2].length} they may well answer wrong.`);
  }
  $('model-note').textContent = parts.join(' ');
}

function markUnitShape() {
  return { type: 'rect', xref: 'paper', yref: 'y', x0: 0, x1: 1, y0: state.unit - 0.5, y1: state.unit + 0.5, line: { color: '#e4572e', width: 1.5 }, layer: 'above' };
}

function renderHeatmaps() {
  const x = trace.tokens.map(visibleChar);
  heatmap($('hm-hidden'), {
    z: hiddenByUnit,
    kind: 'tanh',
    xLabels: x,
    title: 'h_t = tanh(W·[h_{t−1}, x_t] + b)',
    yTitle: 'unit',
    height: 380,
    hoverX: 'step',
    hoverY: 'unit',
    colorbarTitle: 'h',
    cursor: step(),
    extraShapes: [markUnitShape()],
    filename: 'rnn-hidden',
    onClick: (pt) => select(Math.round(pt.x), Math.round(pt.y)),
    margin: { l: 48, r: 8, b: 30 },
  });
  heatmap($('hm-output'), {
    z: transpose(trace.probs),
    kind: 'sequential',
    zmin: 0,
    zmax: 1,
    xLabels: x,
    yLabels: trace.classes,
    title: 'y_t = softmax(V·h_t + c)',
    yTitle: 'symbol',
    height: 260,
    hoverX: 'step',
    hoverY: 'symbol',
    colorbarTitle: 'p',
    cursor: step(),
    filename: 'rnn-output',
    onClick: (pt) => setStep(Math.round(pt.x)),
    margin: { l: 48, r: 8, b: 30 },
  });
}

function renderUnitChart() {
  for (const node of document.querySelectorAll('.unit-label')) node.textContent = state.unit;
  const j = state.unit;
  const x = trace.tokens.map((_, i) => i);
  const col = (rows) => rows.map((r) => r[j]);
  lineChart($('unit-chart'), {
    series: [
      { name: 'h_t (the cell)', x, y: col(trace.hidden), colour: COLOURS.hidden, width: 3 },
      { name: 'W_hh·h_{t−1} + b_hh (memory part)', x, y: col(trace.recurrent), colour: COLOURS.cell, width: 1.6 },
      { name: 'W_ih·x_t + b_ih (input part)', x, y: col(trace.from_input), colour: COLOURS.input, width: 1.6 },
      { name: 'tanh(input part + b_hh) (no memory)', x, y: col(trace.without_memory), colour: COLOURS.muted, width: 1.4, dash: 'dot' },
    ],
    xLabels: trace.tokens.map(visibleChar),
    yTitle: `unit ${j}`,
    height: 320,
    cursor: step(),
    filename: `rnn-unit-${j}`,
    onClick: (pt) => setStep(Math.round(pt.x)),
  });
}

function row(cls, ...parts) {
  return el('div', { class: `eq ${cls}` }, ...parts);
}

function value(x) {
  return el('span', { class: 'value' }, fmt(x));
}

function renderNeuron(t) {
  const d = trace.detail && trace.detail.unit === state.unit ? trace.detail : null;
  const j = state.unit;
  const id = trace.ids[t];
  for (const node of document.querySelectorAll('.current-char')) node.textContent = charLabel(t);
  // The one-hot input and the neuron's weights, one column per vocabulary entry, in two blocks
  // (unknown, symbols, "?" | digits) so the table fits a half-width card.
  const blocks = [[], []];
  trace.vocab.forEach((tok, k) => blocks[/[0-9]/.test(tok) ? 1 : 0].push(k));
  const cls = (k) => `num${k === id ? ' hot' : ''}`;
  const bodies = blocks.flatMap((ks, b) => [
    el('tr', { class: b ? 'block' : '' }, el('th', {}, ''), ...ks.map((k) => el('th', { class: cls(k) }, vocabLabel(k)))),
    el('tr', {}, el('th', {}, 'x_t'), ...ks.map((k) => el('td', { class: cls(k) }, k === id ? '1' : '0'))),
    el('tr', {}, el('th', {}, 'w'), ...ks.map((k) => el('td', { class: cls(k) }, d ? fmt(d.w_ih[k], 2) : '…'))),
  ]);
  $('onehot-table').replaceChildren(el('tbody', {}, ...bodies));
  const rows = [row('muted', `unit j = ${j}, step t = ${t}, x_t = one-hot of ${charLabel(t)}`)];
  rows.push(row('', 'y = tanh(w·x_t + b)   with w = W_ih[j], b = b_ih[j] + b_hh[j]'));
  if (d) {
    const pre = trace.from_input[t][j] + d.b_hh;
    rows.push(row('indent', `= tanh(w[${charLabel(t)}] + b_ih[j] + b_hh[j])`));
    rows.push(row('indent', `= tanh(${sum([d.w_ih[id], d.b_ih, d.b_hh])})`));
    rows.push(row('indent', `= tanh(${fmt(pre)}) = `, value(trace.without_memory[t][j])));
  } else {
    rows.push(row('indent', '= ', value(trace.without_memory[t][j])));
  }
  rows.push(row('muted', 'This is also what the cell outputs when h_{t−1} = 0, as at the first step.'));
  $('eq-neuron').replaceChildren(...rows);
}

function renderLayer(t) {
  const units = trace.hidden[t].map((_, j) => j);
  lineChart($('layer-chart'), {
    series: [
      { name: 'tanh(W_ih·x_t + b): no memory', x: units, y: trace.without_memory[t], colour: COLOURS.muted, mode: 'markers', markerSize: 7 },
      { name: 'h_t: with memory (stage 3)', x: units, y: trace.hidden[t], colour: COLOURS.input, mode: 'markers', markerSize: 7, symbol: 'diamond' },
    ],
    xTitle: `unit (step ${t}, input ${charLabel(t)})`,
    yTitle: 'output',
    yRange: [-1.08, 1.08],
    height: 300,
    cursor: state.unit,
    filename: `rnn-layer-step-${t}`,
    onClick: (pt) => select(t, Math.round(pt.x)),
  });
}

// The concatenation [h_{t−1}, x_t] and each term W[j,k]·[h_{t−1}, x_t]_k of unit j's sum.
function renderConcat(t) {
  const H = trace.hidden_size;
  const hPrev = t > 0 ? trace.hidden[t - 1] : new Array(H).fill(0);
  const x = trace.vocab.map((_, k) => (k === trace.ids[t] ? 1 : 0));
  const concat = [...hPrev, ...x];
  const labels = [...hPrev.map((_, k) => `h${k}`), ...trace.vocab.map((_, k) => `x:${vocabLabel(k)}`)];
  const ticks = labels.map((l, k) => (k < H ? (k % 8 === 0 ? l : '') : l.slice(2)));
  const divider = { type: 'line', xref: 'x', yref: 'paper', x0: H - 0.5, x1: H - 0.5, y0: -0.1, y1: 1.1, line: { color: COLOURS.ink, width: 2 } };
  heatmap($('concat-strip'), {
    z: [concat],
    kind: 'tanh',
    xLabels: ticks,
    yLabels: ['[h_{t−1}, x_t]'],
    title: `[h_{t−1}, x_t] at step ${t}: ${H} numbers from the previous step | ${x.length} for the input`,
    height: 150,
    hoverText: [concat.map((v, k) => `${k < H ? `h_{t−1}[${k}]` : `x_t[“${labels[k].slice(2)}”]`} = ${fmt(v)}`)],
    extraShapes: [divider],
    filename: `rnn-concat-step-${t}`,
    onClick: (pt) => { const k = Math.round(pt.x); if (k < H) select(t, k); },
    margin: { l: 110, r: 8, b: 40 },
  });
  const d = trace.detail && trace.detail.unit === state.unit ? trace.detail : null;
  if (!d) return;
  const w = [...d.w_hh, ...d.w_ih];
  const terms = w.map((wk, k) => wk * concat[k]);
  barChart($('terms-chart'), {
    labels,
    values: terms,
    horizontal: false,
    colours: terms.map((v, k) => (k < H ? COLOURS.cell : COLOURS.input)),
    text: terms.map(() => ''),
    title: `W[${state.unit}, k] × [h_{t−1}, x_t][k]: the ${w.length} terms of unit ${state.unit}'s sum`,
    yTitle: 'term',
    height: 200,
    hover: '%{x}: %{y:.4g}<extra></extra>',
    filename: `rnn-terms-unit-${state.unit}-step-${t}`,
    margin: { l: 56, b: 40 },
  });
}

function renderCellEquations(t) {
  const d = trace.detail && trace.detail.unit === state.unit ? trace.detail : null;
  const j = state.unit;
  const H = trace.hidden_size;
  const rec = trace.recurrent[t][j];
  const inp = trace.from_input[t][j];
  const h = trace.hidden[t][j];
  const rows = [row('muted', `unit j = ${j}, step t = ${t}, x_t = one-hot of ${charLabel(t)}`)];
  rows.push(row('eq-hidden', 'h_t[j] = tanh(W[j]·[h_{t−1}, x_t] + b[j])'));
  rows.push(row('eq-hidden indent', '= tanh((W_hh·h_{t−1} + b_hh)[j] + (W_ih·x_t + b_ih)[j])'));
  rows.push(row('eq-hidden indent', `= tanh(${sum([rec, inp])})`));
  rows.push(row('eq-hidden indent', `= tanh(${fmt(rec + inp)}) = `, value(h)));
  if (d) {
    const hPrev = t > 0 ? trace.hidden[t - 1] : new Array(H).fill(0);
    const terms = d.w_hh.map((w, k) => ({ k, w, h: hPrev[k], p: w * hPrev[k] }));
    const top = [...terms].sort((a, b) => Math.abs(b.p) - Math.abs(a.p)).slice(0, 3);
    const rest = terms.length - top.length;
    const shown = top.map((x, i) => `${i ? (x.w < 0 ? ' − ' : ' + ') : (x.w < 0 ? '−' : '')}${fmt(Math.abs(x.w))}×${paren(x.h)}`).join('');
    rows.push(row('eq-cell', 'memory part: (W_hh·h_{t−1} + b_hh)[j]'));
    rows.push(row('eq-cell indent', '= Σ_k W_hh[j,k]·h_{t−1}[k] + b_hh[j]'));
    if (t === 0) {
      rows.push(row('eq-cell indent', `= 0 + ${paren(d.b_hh)} = `, value(rec), '   (h_{−1} = 0: nothing read yet)'));
    } else {
      rows.push(row('eq-cell indent', `= ${shown}`));
      rows.push(row('eq-cell indent', `  + … (${rest} smaller terms) + ${paren(d.b_hh)} = `, value(rec)));
    }
    rows.push(row('eq-input', 'input part: (W_ih·x_t + b_ih)[j]'));
    rows.push(row('eq-input indent', `= W_ih[j, ${charLabel(t)}] + b_ih[j] = ${sum([d.w_ih[trace.ids[t]], d.b_ih])} = `, value(inp)));
  }
  $('eq-cell').replaceChildren(...rows);
}

function renderOutput(t) {
  const probs = trace.probs[t];
  const first = trace.tokens[0];
  const target = trace.classes.includes(first) ? first : null;
  barChart($('output-bars'), {
    labels: trace.classes.map((c) => `“${c}”`),
    values: probs,
    colours: trace.classes.map((c) => (c === target ? COLOURS.candidate : COLOURS.input)),
    xTitle: target ? `probability at step ${t} (green: the symbol to recall, “${target}”)` : `probability at step ${t}`,
    range: [0, 1],
    height: 250,
    filename: `rnn-output-step-${t}`,
    margin: { l: 50 },
  });
  let k = 0;
  probs.forEach((p, i) => { if (p > probs[k]) k = i; });
  const c = trace.head.bias[k];
  const z = trace.logits[t];
  const label = trace.classes[k];
  const rows = [row('muted', `step t = ${t}; the most probable symbol is “${label}”`)];
  rows.push(row('eq-output', `z_${label} = V[${label}]·h_t + c_${label}`));
  rows.push(row('eq-output indent', `= ${sum([z[k] - c, c])} = `, value(z[k])));
  const others = z.map((v, i) => (i === k ? null : `e^${paren(v)}`)).filter(Boolean);
  rows.push(row('eq-output', `y_${label} = e^{z_${label}} / Σ_m e^{z_m}`));
  rows.push(row('eq-output indent', `= e^${paren(z[k])} / (e^${paren(z[k])} + ${others.slice(0, 2).join(' + ')} + … ${others.length - 2} more)`));
  rows.push(row('eq-output indent', '= ', value(probs[k])));
  if (target && label !== target) {
    const ti = trace.classes.indexOf(target);
    rows.push(row('muted', `The symbol to recall, “${target}”, gets y = ${fmt(probs[ti])} (z = ${fmt(z[ti])}).`));
  }
  $('eq-output').replaceChildren(...rows);
}

function renderMarks() {
  const t = step();
  setShapes($('hm-hidden'), [...cursorShape(t, 'x'), markUnitShape()]);
  setShapes($('hm-output'), cursorShape(t, 'x'));
  setShapes($('unit-chart'), cursorShape(t, 'x', 'rgba(0,0,0,0.35)'));
}

function renderStep() {
  const t = step();
  renderMarks();
  renderNeuron(t);
  renderLayer(t);
  renderConcat(t);
  renderCellEquations(t);
  renderOutput(t);
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
    retrace({ detailOnly: true });
  }
  renderStep();
}

// A fresh task example: a random symbol, `delay` random digits, then "?".
function example(delay) {
  const pick = (s) => s[Math.floor(Math.random() * s.length)];
  let digits = '';
  for (let i = 0; i < delay; i++) digits += pick(DIGITS);
  return `${pick(SYMBOLS)}${digits}?`;
}

function renderDelaySelect() {
  const info = modelInfo[state.model];
  const delays = (info && info.metrics && info.metrics.delays) || [];
  const select = $('delay');
  select.disabled = !delays.length;
  select.replaceChildren(...delays.map((d) => {
    const acc = keptAccuracy(info, d);
    return el('option', { value: d }, `T = ${d}${acc !== null ? ` (accuracy ${fmt(acc, 3)})` : ''}`);
  }));
  if (delays.length && !delays.includes(state.delay)) state.delay = delays[0];
  select.value = String(state.delay);
  $('example').disabled = !delays.length;
}

async function loadModels() {
  try {
    const { models } = await getJSON('/api/models');
    const usable = models.filter((m) => m.available && KINDS.includes(m.kind));
    modelInfo = Object.fromEntries(usable.map((m) => [m.name, m]));
    $('model').replaceChildren(...usable.map((m) => el('option', { value: m.name }, m.name)));
    if (!usable.length) {
      showError($('error'), 'No vanilla RNN model is loaded on this server. Rebuild one with `recurrent-lens train recall-rnn`.');
      return false;
    }
    if (!modelInfo[state.model]) state.model = usable[0].name;
    $('model').value = state.model;
    renderDelaySelect();
    return true;
  } catch (err) {
    showError($('error'), err);
    return false;
  }
}

async function main() {
  initChrome();
  setExportContext(() => ({ model: state.model, input: state.text, step: step() }));
  const box = $('text');
  box.value = state.text;
  stepper = createStepper($('steps'), {
    count: 1,
    onChange: (t) => setStep(t),
    format: (i, n) => (trace ? `step ${i} / ${n - 1}  ${charLabel(i)}` : `step ${i}`),
  });
  const retraceSoon = debounce(() => retrace(), 150);
  box.addEventListener('input', () => {
    state.text = box.value;
    saveState();
    retraceSoon();
  });
  $('model').addEventListener('change', (ev) => { state.model = ev.target.value; renderDelaySelect(); saveState(); retrace(); });
  $('delay').addEventListener('change', (ev) => { state.delay = Number(ev.target.value); saveState(); retrace(); });
  $('example').addEventListener('click', () => {
    state.text = example(state.delay);
    state.t = -1;
    box.value = state.text;
    saveState();
    retrace();
  });
  $('download-json').addEventListener('click', () => trace && downloadJSON(`rnn-trace-${state.model}.json`, trace));
  if (await loadModels()) await retrace();
}

main();
