// Vanishing-gradient lab: one POST /api/gradients per model (all four at once) for the chosen delay T
// and sequence; stepping moves a cursor over the returned curves without a round trip.
import { getJSON, postJSON, latest, showError, clearError } from '../api.js';
import { readState, urlState } from '../state.js';
import { lineChart, setShapes, cursorShape, setExportContext } from '../plots.js';
import { createStepper } from '../steps.js';
import { el, debounce, visibleChar, fmt, downloadJSON, downloadCSV, initChrome } from '../ui.js';

const KINDS = ['recall-rnn', 'recall-lstm'];
const ORDER = ['recall-rnn', 'recall-rnn-orth', 'recall-lstm', 'recall-lstm-chrono'];
const PALETTE = ['#D55E00', '#E69F00', '#0072B2', '#009E73', '#CC79A7', '#56B4E9'];
const SYMBOLS = 'ABCDEFGH';
const DEFAULTS = { T: 50, sym: 'C', seed: 1, seq: '', w: 'trained', t: 0 };

const $ = (id) => document.getElementById(id);
let state = readState(DEFAULTS);
let models = []; // [{name, kind, metrics, description, colour}]
let results = {}; // model name -> response
let stepper = null;
const requests = {}; // model name -> latest()-wrapped request

const url = urlState(DEFAULTS, ['T', 'sym', 'seed', 'seq', 'w']);

function saveState() {
  url.write(state);
}

// Deterministic random digits (a small LCG), so a link with (T, sym, seed) reopens the same sequence.
function digits(T, seed) {
  let x = (seed * 2654435761 + T * 97) >>> 0;
  let out = '';
  for (let i = 0; i < T; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out += String(Math.floor((x / 4294967296) * 10));
  }
  return out;
}

function sequence() {
  return state.seq || `${state.sym}${digits(state.T, state.seed)}?`;
}

function label(m) {
  const init = (m.metrics && m.metrics.init) || m.kind;
  return `${m.name} (${init})`;
}

function step() {
  const any = Object.values(results)[0];
  const T = any ? any.tokens.length : 1;
  return Math.min(Math.max(0, state.t), T - 1);
}

// --- fetching

async function recompute() {
  const status = $('status');
  const seq = sequence();
  const started = performance.now();
  status.textContent = 'computing gradients…';
  const body = { delay: state.T, sequence: seq, weights: state.w };
  const sent = { ...state };
  const settled = await Promise.allSettled(models.map((m) => requests[m.name]({ model: m.name, ...body })));
  if (settled.some((s) => s.status === 'fulfilled' && s.value === null)) return; // superseded
  const errors = settled.filter((s) => s.status === 'rejected').map((s) => s.reason);
  const fresh = {};
  settled.forEach((s, i) => { if (s.status === 'fulfilled' && s.value) fresh[models[i].name] = s.value; });
  if (errors.length) {
    showError($('error'), errors[0]);
    status.textContent = '';
    if (!Object.keys(fresh).length) {
      if (Object.keys(results).length) status.textContent = 'The curves still show the last sequence the models accepted.';
      return;
    }
  } else {
    clearError($('error'));
  }
  url.accept(sent);
  saveState();
  results = fresh;
  const n = Object.values(results)[0].tokens.length;
  stepper.setCount(n, { value: step() });
  renderAll();
  status.textContent = `${Object.keys(results).length} models, ${n} steps, in ${Math.round(performance.now() - started)} ms`;
}

// --- rendering

function xAxis() {
  const any = Object.values(results)[0];
  return { x: any.tokens.map((_, i) => i), labels: any.tokens.map(visibleChar) };
}

function logRange() {
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of Object.values(results)) {
    for (const arr of [r.grad_norm_h, r.grad_norm_c, r.forget_product]) {
      if (!arr) continue;
      for (const v of arr) if (v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
  }
  if (!Number.isFinite(lo)) return undefined;
  return [Math.log10(lo) - 0.3, Math.log10(hi) + 0.3];
}

function renderOverlay() {
  const { x, labels } = xAxis();
  lineChart($('grad-overlay'), {
    series: models.filter((m) => results[m.name]).map((m) => ({ name: label(m), x, y: results[m.name].grad_norm_h, colour: m.colour, width: 2.5 })),
    logY: true,
    yExponentFormat: 'power',
    xLabels: labels,
    xTitle: 'step t (the character read at t)',
    yTitle: '‖∂L/∂h_t‖ (log scale)',
    height: 440,
    cursor: step(),
    filename: `gradients-T${state.T}`,
    onClick: (pt) => setStep(Math.round(pt.x)),
  });
}

function renderPanels() {
  const { x, labels } = xAxis();
  const range = logRange();
  const box = $('panels');
  if (box.children.length !== models.length) {
    box.replaceChildren(...models.map((m, i) => el('div', { id: `panel-${i}`, class: 'plot', role: 'img', 'aria-label': `Gradients of ${m.name}` })));
  }
  models.forEach((m, i) => {
    const r = results[m.name];
    if (!r) return;
    const series = [{ name: '‖∂L/∂h_t‖', x, y: r.grad_norm_h, colour: m.colour, width: 2.5 }];
    if (r.grad_norm_c) series.push({ name: '‖∂L/∂c_t‖', x, y: r.grad_norm_c, colour: '#E69F00', width: 2, dash: 'dash' });
    if (r.forget_product) series.push({ name: '∏f (cell path to the end)', x, y: r.forget_product, colour: '#555', width: 1.6, dash: 'dot' });
    const p = r.probs[r.classes.indexOf(r.target)];
    lineChart($(`panel-${i}`), {
      series,
      logY: true,
    yExponentFormat: 'power',
      yRange: range,
      xLabels: labels,
      title: `${m.name} · ${(m.metrics && m.metrics.init) || m.kind} · p(“${r.target}”) = ${fmt(p, 3)}`,
      yTitle: 'log scale',
      height: 320,
      cursor: step(),
      filename: `gradients-${m.name}-T${state.T}`,
      onClick: (pt) => setStep(Math.round(pt.x)),
    });
  });
}

function renderSaturation() {
  const { x, labels } = xAxis();
  lineChart($('saturation'), {
    series: models.filter((m) => results[m.name]).map((m) => ({ name: m.name, x, y: results[m.name].saturation, colour: m.colour, width: 2, shape: 'hv' })),
    xLabels: labels,
    yTitle: 'share of units, |h_t| > 0.95',
    yRange: [-0.02, 1.02],
    height: 320,
    cursor: step(),
    filename: `saturation-T${state.T}`,
    onClick: (pt) => setStep(Math.round(pt.x)),
  });
}

function delaysOf(m) {
  return (m.metrics && m.metrics.delays) || [];
}

function allDelays() {
  return [...new Set(models.flatMap(delaysOf))].sort((a, b) => a - b);
}

function renderAccuracy() {
  const delays = allDelays();
  const idx = (d) => delays.indexOf(d);
  const chance = (models[0] && models[0].metrics && models[0].metrics.chance) || 1 / 8;
  const series = [];
  models.forEach((m, i) => {
    const acc = (m.metrics && m.metrics.accuracy_by_delay) || {};
    const bySeed = (m.metrics && m.metrics.accuracy_by_seed) || {};
    const ds = delaysOf(m).filter((d) => acc[String(d)] !== undefined);
    const jitter = (i - (models.length - 1) / 2) * 0.06; // keep the seeds of different models apart
    series.push({
      name: `${m.name} (mean of ${(m.metrics && m.metrics.seeds) || 1} seeds)`,
      x: ds.map(idx), y: ds.map((d) => acc[String(d)]), colour: m.colour, mode: 'lines+markers', width: 2.5, markerSize: 9,
      hover: `${m.name}, mean: %{y:.3f}<extra>T = %{text}</extra>`, text: ds.map(String),
    });
    const pts = ds.flatMap((d) => (bySeed[String(d)] || []).map((a) => [idx(d) + jitter, a, d]));
    if (pts.length) {
      series.push({
        name: `${m.name}, each seed`, x: pts.map((p) => p[0]), y: pts.map((p) => p[1]), colour: m.colour, mode: 'markers',
        markerSize: 5, symbol: 'circle-open', showlegend: false, text: pts.map((p) => String(p[2])),
        hover: `${m.name}, one seed: %{y:.3f}<extra>T = %{text}</extra>`,
      });
    }
  });
  series.push({ name: 'chance (1/8)', x: [-0.2, delays.length - 0.8], y: [chance, chance], colour: '#888', dash: 'dash', width: 1.5 });
  lineChart($('accuracy'), {
    series,
    xLabels: delays.map((d) => `T = ${d}`),
    yTitle: 'held-out accuracy',
    yRange: [0, 1.05],
    height: 340,
    cursor: idx(state.T),
    filename: 'accuracy-vs-delay',
    onClick: (pt) => { const d = delays[Math.round(pt.x)]; if (d !== undefined) setDelay(d); },
  });
  const m0 = models[0] && models[0].metrics;
  const b = m0 && m0.budget;
  if (b) $('budget').textContent = `${m0.seeds || 1} runs (seeds) per delay, each ${b.steps_per_run || b.steps_per_delay} steps of batch ${b.batch}, AdamW lr ${b.lr}, gradient clipping ${b.clip}, hidden size ${b.hidden}`;
}

function renderCurves() {
  $('curve-delay').textContent = state.T;
  const key = String(state.T);
  const series = [];
  let maxStep = 1;
  for (const m of models) {
    const runs = (m.metrics && m.metrics.curves && m.metrics.curves[key]) || [];
    const kept = m.metrics && m.metrics.kept_seed ? m.metrics.kept_seed[key] : 0;
    (Array.isArray(runs) ? runs : [runs]).forEach((c, seed) => {
      maxStep = Math.max(maxStep, c.step[c.step.length - 1] || 1);
      series.push({
        name: seed === kept ? m.name : `${m.name} seed ${seed + 1}`,
        x: c.step, y: c.accuracy, colour: m.colour, width: seed === kept ? 3 : 1, showlegend: seed === kept,
        hover: `${m.name}, seed ${seed + 1}: %{y:.3f}<extra>step %{x}</extra>`,
      });
    });
  }
  const chance = (models[0] && models[0].metrics && models[0].metrics.chance) || 1 / 8;
  series.push({ name: 'chance', x: [0, maxStep], y: [chance, chance], colour: '#888', dash: 'dash', width: 1.5 });
  lineChart($('curves'), {
    series,
    xTitle: 'training step',
    yTitle: 'held-out accuracy',
    yRange: [0, 1.05],
    height: 320,
    filename: `learning-curves-T${state.T}`,
  });
}

function ratio(r, t) {
  const last = r.grad_norm_h[r.grad_norm_h.length - 1];
  return last > 0 ? r.grad_norm_h[t] / last : null;
}

function renderReadout() {
  const t = step();
  const any = Object.values(results)[0];
  $('target-label').textContent = any ? any.target : '?';
  const body = $('readout').querySelector('tbody');
  body.replaceChildren(...models.filter((m) => results[m.name]).map((m) => {
    const r = results[m.name];
    const p = r.probs[r.classes.indexOf(r.target)];
    return el('tr', {},
      el('td', {}, el('span', { class: 'legend-swatch', style: { background: m.colour } }), m.name),
      el('td', { class: 'num' }, fmt(p, 3)),
      el('td', { class: 'num' }, fmt(r.loss, 3)),
      el('td', { class: 'num' }, fmt(r.grad_norm_h[t], 3)),
      el('td', { class: 'num' }, fmt(ratio(r, t), 3)),
      el('td', { class: 'num' }, r.accuracy === null || r.accuracy === undefined ? '–' : fmt(r.accuracy, 3)));
  }));
  renderEvidence();
}

// Plain sentences from the numbers on screen: the whole span, step 0 against the last step.
function renderEvidence() {
  const items = [];
  for (const m of models) {
    const r = results[m.name];
    if (!r) continue;
    const q = ratio(r, 0);
    if (q === null) continue;
    const orders = -Math.log10(q);
    const span = r.tokens.length - 1;
    let text = `${m.name}: over ${span} steps back to the symbol, ‖∂L/∂h‖ changed by a factor ${fmt(q, 2)}`;
    text += orders > 0.5 ? ` (${fmt(orders, 2)} orders of magnitude smaller).` : orders < -0.5 ? ` (${fmt(-orders, 2)} orders of magnitude larger).` : ' (about the same size).';
    if (r.forget_product) text += ` Its forget gates keep ${fmt(100 * r.forget_product[0], 2)} % of the cell state along that path (mean ∏f).`;
    else text += ` Saturated units (|h| > 0.95), mean over the steps: ${fmt(100 * r.saturation.reduce((a, b) => a + b, 0) / r.saturation.length, 2)} %.`;
    items.push(el('li', {}, el('span', { class: 'legend-swatch', style: { background: m.colour } }), text));
  }
  $('evidence').replaceChildren(...items);
}

function renderAll() {
  renderOverlay();
  renderPanels();
  renderSaturation();
  renderAccuracy();
  renderCurves();
  renderReadout();
}

function renderMarks() {
  const t = step();
  const shape = cursorShape(t, 'x', 'rgba(0,0,0,0.35)');
  setShapes($('grad-overlay'), shape);
  setShapes($('saturation'), shape);
  models.forEach((_, i) => setShapes($(`panel-${i}`), shape));
  renderReadout();
}

// --- controls

function renderControls() {
  const delays = allDelays();
  $('delays').replaceChildren(...delays.map((d) => el('button', {
    type: 'button', 'aria-pressed': d === state.T ? 'true' : 'false', dataset: { value: d }, onclick: () => setDelay(d),
  }, String(d))));
  $('symbol').value = state.sym;
  for (const b of $('weights').querySelectorAll('button')) b.setAttribute('aria-pressed', b.dataset.value === state.w ? 'true' : 'false');
  $('sequence').value = sequence();
}

function setStep(t) {
  state.t = t;
  stepper.set(t, { silent: true });
  saveState();
  renderMarks();
}

function setDelay(d) {
  state.T = d;
  state.seq = ''; // a new delay regenerates the sequence with the same symbol
  state.t = 0;
  saveState();
  renderControls();
  recompute();
}

async function loadModels() {
  try {
    const list = (await getJSON('/api/models')).models.filter((m) => m.available && KINDS.includes(m.kind));
    list.sort((a, b) => {
      const ia = ORDER.indexOf(a.name);
      const ib = ORDER.indexOf(b.name);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.name.localeCompare(b.name);
    });
    models = list.map((m, i) => ({ ...m, colour: PALETTE[i % PALETTE.length] }));
    for (const m of models) requests[m.name] = latest((body, opts) => postJSON('/api/gradients', body, opts));
    if (!models.length) {
      showError($('error'), 'No delayed-recall model is loaded on this server. Rebuild them with `recurrent-lens train recall-rnn` (and recall-rnn-orth, recall-lstm, recall-lstm-chrono).');
      return false;
    }
    const delays = allDelays();
    if (!delays.includes(state.T)) state.T = delays.includes(DEFAULTS.T) ? DEFAULTS.T : delays[0];
    return true;
  } catch (err) {
    showError($('error'), err);
    return false;
  }
}

function csvRows() {
  const any = Object.values(results)[0];
  if (!any) return [];
  const names = models.filter((m) => results[m.name]);
  const header = ['step', 'token'];
  for (const m of names) {
    header.push(`${m.name} grad_norm_h`, `${m.name} saturation`);
    if (results[m.name].grad_norm_c) header.push(`${m.name} grad_norm_c`, `${m.name} forget_product`);
  }
  const rows = [header];
  any.tokens.forEach((tok, t) => {
    const row = [t, tok];
    for (const m of names) {
      const r = results[m.name];
      row.push(r.grad_norm_h[t], r.saturation[t]);
      if (r.grad_norm_c) row.push(r.grad_norm_c[t], r.forget_product[t]);
    }
    rows.push(row);
  });
  return rows;
}

async function main() {
  initChrome();
  setExportContext(() => ({
    model: state.w === 'initial' ? 'untrained' : 'trained',
    modelLabel: state.w === 'initial' ? 'four models before training' : `four models trained at T = ${state.T}`,
    input: sequence(),
    step: state.t,
  }));
  $('symbol').replaceChildren(...[...SYMBOLS].map((s) => el('option', { value: s }, s)));
  stepper = createStepper($('steps'), {
    count: 1,
    value: state.t,
    onChange: (t) => setStep(t),
    format: (i, n) => {
      const any = Object.values(results)[0];
      return any ? `step ${i} / ${n - 1}  “${visibleChar(any.tokens[i])}”` : `step ${i}`;
    },
  });
  const box = $('sequence');
  const recomputeSoon = debounce(() => recompute(), 150);
  box.addEventListener('input', () => {
    state.seq = box.value === `${state.sym}${digits(state.T, state.seed)}?` ? '' : box.value;
    saveState();
    recomputeSoon();
  });
  $('symbol').addEventListener('change', (ev) => {
    state.sym = ev.target.value;
    state.seq = state.seq ? `${state.sym}${state.seq.slice(1)}` : '';
    saveState();
    renderControls();
    recompute();
  });
  $('reroll').addEventListener('click', () => {
    state.seed += 1;
    state.seq = '';
    saveState();
    renderControls();
    recompute();
  });
  for (const b of $('weights').querySelectorAll('button')) {
    b.addEventListener('click', () => { state.w = b.dataset.value; saveState(); renderControls(); recompute(); });
  }
  $('download-csv').addEventListener('click', () => downloadCSV(`gradients-T${state.T}.csv`, csvRows()));
  $('download-json').addEventListener('click', () => downloadJSON(`gradients-T${state.T}.json`, results));
  if (await loadModels()) {
    renderControls();
    await recompute();
  }
}

main();
