// Teacher forcing vs free running: one request decodes the input both ways (POST /api/seq2seq/forcing);
// the lanes table, the per-step loss chart, the step detail and the attention rows all read that one
// trace. Injecting an error is a new request; the ratio panel sends the same request to each model
// trained with another teacher-forcing ratio; the training curves come from the checkpoints' metrics.
import { postJSON, latest, showError, clearError, loadModelPicker } from '../api.js';
import { readState, urlState } from '../state.js';
import { lineChart, setShapes, cursorShape, setExportContext, COLOURS } from '../plots.js';
import { createStepper } from '../steps.js';
import { el, debounce, visibleChar, fmt, downloadJSON, downloadCSV, initChrome } from '../ui.js';

const KINDS = ['seq2seq'];
const CLASSIC = 'abcefgh';
const DEFAULTS = { model: 'copy-tf-1.0', text: CLASSIC, target: '', inj: 2, tok: 's', t: 3, loss: 'train' };
const TASK_DEFAULTS = { copy: { text: CLASSIC, target: '' }, dates: { text: '27 Nov 2026', target: '2026-11-27' } };
// Examples set the input and the injected error together (inj is 0-based: 2 is step 3).
const EXAMPLES = {
  copy: [
    { text: CLASSIC, inj: 2, tok: 's', title: 'the classic: “s” written at step 3' },
    { text: 'tlionebbpkges', inj: 2, tok: 'o', title: '“o” at step 3: watch each ratio carry on' },
    { text: 'hcadqbbtqsrkamlefgtn', inj: -1, tok: 's', title: '20 symbols, no injected error' },
    { text: 'tsrqponmlkjihgfedcbaabcdefghijklmno', inj: -1, tok: 's', title: '35 symbols, no injected error' },
  ],
  dates: [],
};
const TEACHER = COLOURS.input; // blue: the lane fed the label
const FREE = COLOURS.forget; // vermillion: the lane fed its own output
const SPECIALS = new Set(['<pad>', '<bos>', '<eos>', '<unk>']);
const RATIO_ORDER = ['copy-tf-1.0', 'copy-tf-0.5', 'copy-tf-0.0', 'copy-tf-scheduled'];
const RATIO_COLOURS = { 'copy-tf-1.0': COLOURS.input, 'copy-tf-0.5': COLOURS.candidate, 'copy-tf-0.0': COLOURS.forget, 'copy-tf-scheduled': COLOURS.output };

const $ = (id) => document.getElementById(id);
let state = readState(DEFAULTS);
let trace = null; // the last full response
let models = {}; // name -> /api/models entry
let stepper = null;
let explicitInject = false; // the user just chose the injection (its error is shown, not dropped)

const request = latest((body, opts) => postJSON('/api/seq2seq/forcing', body, opts));
const ratioRequest = latest((bodies, opts) => Promise.all(bodies.map((b) => postJSON('/api/seq2seq/forcing', b, opts).then(
  (r) => ({ ok: true, r }),
  (err) => { if (err.name === 'AbortError') throw err; return { ok: false, model: b.model, err }; },
))));

const label = (tok) => (tok === null || tok === undefined ? '' : SPECIALS.has(tok) ? tok : visibleChar(tok));
const clamp = (i, n) => Math.min(Math.max(0, i), Math.max(0, n - 1));
const taskOf = (name) => (models[name] && models[name].task) || 'copy';
const ratioModels = () => RATIO_ORDER.filter((m) => models[m]);
const stepCount = () => (trace ? Math.max(trace.teacher.steps, trace.free.steps) : 1);

const url = urlState(DEFAULTS, ['model', 'text', 'target', 'inj', 'tok']);

function saveState() {
  url.write(state);
}

function requestBody(model = state.model) {
  const body = { model, text: state.text };
  if (state.target) body.target = state.target;
  if (state.inj >= 0) body.inject = { step: state.inj, token: state.tok };
  return body;
}

// --- fetching

async function rerun() {
  if (!state.text.length) {
    showError($('error'), 'Type an input (at least one character).');
    return;
  }
  const status = $('status');
  const started = performance.now();
  status.textContent = 'decoding…';
  const sent = { ...state };
  try {
    const result = await request(requestBody());
    if (result === null) return; // superseded
    clearError($('error'));
    url.accept(sent);
    explicitInject = false;
    trace = result;
    onNewTrace();
    status.textContent = `both lanes in ${Math.round(performance.now() - started)} ms`;
    rerunRatios();
  } catch (err) {
    status.textContent = '';
    const field = err && err.body ? err.body.field : null;
    if (err.status === 422 && !explicitInject && state.inj >= 0 && (field === 'inject.step' || field === 'inject.token')) {
      // the input or model changed under a link's injection: drop it and say so
      $('inject-note').textContent = `The injected error was removed: ${err.message}`;
      state.inj = -1;
      saveState();
      return rerun();
    }
    explicitInject = false;
    showError($('error'), err);
  }
}

async function rerunRatios() {
  const box = $('ratio-results');
  const names = ratioModels();
  if (!names.length) {
    box.replaceChildren(el('p', { class: 'muted' }, 'The copy-tf models are not loaded on this server (rebuild them with `recurrent-lens train copy-tf-1.0` and the others).'));
    return;
  }
  if (taskOf(state.model) !== 'copy') {
    box.replaceChildren(el('p', { class: 'muted' }, `The models trained with different ratios copy strings of a–t; ${state.model} is a ${taskOf(state.model)} model, so choose a copy model to compare them.`));
    return;
  }
  try {
    const results = await ratioRequest(names.map((m) => requestBody(m)));
    if (results === null) return;
    box.replaceChildren(...results.map((x) => (x.ok ? ratioRow(x.r) : el('div', { class: 'copy-row', dataset: { model: x.model } },
      el('div', { class: 'copy-head' }, el('b', {}, x.model), ' ', el('span', { class: 'hint' }, x.err.message))))));
  } catch (err) {
    box.replaceChildren(el('p', { class: 'error' }, err.message));
  }
}

// --- rendering the trace

function onNewTrace() {
  state.t = clamp(state.t, stepCount());
  stepper.setCount(stepCount(), { value: state.t });
  saveState();
  renderNotes();
  renderInjectControls();
  renderLanes();
  renderSummary();
  renderLoss();
  renderStep();
}

function renderNotes() {
  const unknown = trace.unknown;
  const note = $('unknown-note');
  note.hidden = unknown.length === 0;
  if (unknown.length) {
    const chars = [...new Set(unknown.map((i) => trace.source_tokens[i]))].map((c) => `“${visibleChar(c)}”`).slice(0, 8).join(' ');
    note.textContent = `${unknown.length} input character${unknown.length > 1 ? 's' : ''} this model never saw (${chars}) ${unknown.length > 1 ? 'are' : 'is'} read as the unknown token.`;
  }
  const info = models[state.model];
  const training = trace.training ? ` Trained with teacher-forcing ${trace.training}.` : '';
  const label = trace.target_from === 'copy' ? 'The label is the copy of the input.' : 'The label is the one you typed.';
  $('model-note').textContent = `${info ? info.description : state.model}.${training} ${label}`;
  if (!trace.inject && !$('inject-note').textContent.startsWith('The injected error was removed')) $('inject-note').textContent = '';
  if (trace.inject) {
    const inj = trace.inject;
    const what = inj.is_error
      ? `wrote “${label_(inj.token)}” where the label has “${label_(inj.gold)}”`
      : `wrote “${label_(inj.token)}”, which is the label's own token (not an error)`;
    $('inject-note').replaceChildren(el('b', {}, `Injected at step ${inj.step + 1}: `),
      `the free run ${what}; the model itself had predicted “${label_(inj.replaced)}”. Step ${inj.step + 2} reads the injected token.`);
  }
}

function label_(tok) {
  return tok === null ? '–' : label(tok);
}

function renderInjectControls() {
  const select = $('inject-token');
  const current = state.inj >= 0 ? state.tok : select.value;
  select.replaceChildren(...trace.symbols.map((s) => el('option', { value: s }, label(s))));
  if (trace.symbols.includes(current)) select.value = current;
  $('inject-step').max = String(trace.free.steps);
  $('inject-step').value = state.inj >= 0 ? String(state.inj + 1) : String(Math.min(3, trace.free.steps));
  $('inject-clear').disabled = state.inj < 0;
}

function cell(text, cls, data, title) {
  return el('td', { class: cls, dataset: data, title }, text);
}

function probCell(p, lane, i) {
  if (p === null || p === undefined) return cell('', 'prob empty', { i, lane });
  const pct = Math.max(0, Math.min(100, p * 100)).toFixed(1);
  const colour = lane === 'teacher' ? 'rgba(0,114,178,0.28)' : 'rgba(213,94,0,0.28)';
  const td = cell(fmt(p, 2), 'prob', { i, lane }, `p(gold) = ${fmt(p)}`);
  td.style.background = `linear-gradient(to top, ${colour} ${pct}%, transparent ${pct}%)`;
  return td;
}

function renderLanes() {
  const n = stepCount();
  const T = trace.teacher;
  const F = trace.free;
  const idx = [...Array(n).keys()];
  const inj = trace.inject ? trace.inject.step : -1;
  const rows = [];
  rows.push(el('tr', { class: 'head' }, el('th', {}, 'step i'), ...idx.map((i) => cell(String(i + 1), 'stepno', { i }))));
  rows.push(el('tr', { class: 'gold' }, el('th', {}, 'label yᵢ'), ...idx.map((i) => cell(label(trace.target_tokens[i] ?? null), 'tok gold', { i }))));
  const section = (text, cls) => el('tr', { class: `section ${cls}` }, el('th', { colspan: n + 1 }, text));
  rows.push(section('Teacher forcing: each step reads the label’s previous token', 'teacher'));
  rows.push(el('tr', { class: 'lane teacher' }, el('th', {}, 'reads'), ...idx.map((i) => (i < T.steps
    ? cell(label(T.fed[i]), 'tok fed', { i, lane: 'teacher' }, `step ${i + 1} reads “${label(T.fed[i])}”`) : cell('', 'empty', { i })))));
  rows.push(el('tr', { class: 'lane teacher' }, el('th', {}, 'writes'), ...idx.map((i) => (i < T.steps
    ? cell(label(T.written[i]), `tok out ${T.correct[i] === null ? '' : T.correct[i] ? 'right' : 'wrong'}`, { i, lane: 'teacher' },
      `predicts “${label(T.written[i])}” with p = ${fmt(T.predicted_prob[i])}`)
    : cell('', 'empty', { i })))));
  rows.push(el('tr', { class: 'lane teacher' }, el('th', {}, 'p(gold)'), ...idx.map((i) => (i < T.steps ? probCell(T.gold_prob[i], 'teacher', i) : cell('', 'empty', { i })))));
  rows.push(section('Free running: each step reads its own previous output', 'free'));
  rows.push(el('tr', { class: 'lane free' }, el('th', {}, 'reads'), ...idx.map((i) => {
    if (i >= F.steps) return cell('', 'empty', { i });
    const diverged = i < T.steps && F.fed[i] !== T.fed[i];
    return cell(label(F.fed[i]), `tok fed${diverged ? ' diverged' : ''}`, { i, lane: 'free' },
      diverged ? `reads its own “${label(F.fed[i])}”; teacher forcing reads “${label(T.fed[i])}”` : `step ${i + 1} reads “${label(F.fed[i])}”`);
  })));
  rows.push(el('tr', { class: 'lane free' }, el('th', {}, 'writes'), ...idx.map((i) => {
    if (i >= F.steps) return cell('', 'empty', { i });
    const ok = F.correct[i];
    const injected = i === inj;
    const td = cell(label(F.written[i]), `tok out injectable ${ok === null ? 'extra' : ok ? 'right' : 'wrong'}${injected ? ' injected' : ''}`, { i, lane: 'free' },
      injected ? `injected “${label(F.written[i])}” (the model predicted “${label(F.predicted[i])}”); click to change`
        : `predicts “${label(F.written[i])}” with p = ${fmt(F.predicted_prob[i])}; click to inject another token here`);
    td.tabIndex = 0;
    td.setAttribute('role', 'button');
    return td;
  })));
  rows.push(el('tr', { class: 'lane free' }, el('th', {}, 'p(gold)'), ...idx.map((i) => (i < F.steps ? probCell(F.gold_prob[i], 'free', i) : cell('', 'empty', { i })))));
  $('lanes').replaceChildren(...rows);
  markCurrent();
}

function markCurrent() {
  for (const td of $('lanes').querySelectorAll('td')) td.classList.toggle('current', Number(td.dataset.i) === state.t);
}

function countRight(lane) {
  return lane.correct.filter((c) => c === true).length;
}

function renderSummary() {
  const T = trace.teacher;
  const F = trace.free;
  const gold = trace.target_tokens.length;
  const item = (name, colour, text) => el('span', { class: 'metric' }, el('span', { class: 'legend-swatch', style: { background: colour } }), name, ': ', el('b', {}, text));
  const freeEnd = F.finished ? `stopped with <eos> after ${F.steps} steps` : `no <eos> within ${F.steps} steps`;
  $('summary').replaceChildren(
    item('teacher forcing', TEACHER, `${countRight(T)} of ${gold} steps right, mean loss ${fmt(T.loss_mean, 3)}`),
    item('free running', FREE, `${countRight(F)} of ${gold} right, mean loss ${fmt(F.loss_mean, 3)}, output “${F.output_text}” (${freeEnd})`),
    el('span', { class: 'metric' }, 'lanes first read different tokens at: ', el('b', {}, trace.first_divergence === null ? 'never' : `step ${trace.first_divergence + 1}`)),
    el('span', { class: 'metric' }, 'first wrong free-running token: ', el('b', {}, trace.first_error === null ? 'none' : `step ${trace.first_error + 1}`)),
  );
}

function stepLabels() {
  return [...Array(stepCount()).keys()].map((i) => `${i + 1}·${escapeHTML(label(trace.target_tokens[i] ?? '–'))}`);
}

function escapeHTML(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function injectShape() {
  if (!trace.inject) return [];
  const x = trace.inject.step;
  return [{ type: 'line', xref: 'x', yref: 'paper', x0: x, x1: x, y0: 0, y1: 1, line: { color: COLOURS.cell, width: 2, dash: 'dash' } }];
}

function renderLoss() {
  const T = trace.teacher;
  const F = trace.free;
  const hover = (lane, name) => lane.loss.map((l, i) => `${name}, step ${i + 1}<br>reads “${escapeHTML(label(lane.fed[i]))}”, writes “${escapeHTML(label(lane.written[i]))}”<br>p(gold “${escapeHTML(label(trace.target_tokens[i] ?? '–'))}”) = ${fmt(lane.gold_prob[i])}<br>loss = ${fmt(l)}`);
  lineChart($('loss'), {
    series: [
      { name: 'teacher forcing', x: [...Array(T.steps).keys()], y: T.loss, colour: TEACHER, mode: 'lines+markers', text: hover(T, 'teacher forcing'), hover: '%{text}<extra></extra>' },
      { name: 'free running', x: [...Array(F.steps).keys()], y: F.loss, colour: FREE, mode: 'lines+markers', text: hover(F, 'free running'), hover: '%{text}<extra></extra>' },
    ],
    xLabels: stepLabels(),
    title: 'x: step i · the label’s token yᵢ',
    yTitle: '−log p(yᵢ)',
    height: 300,
    cursor: state.t,
    extraShapes: injectShape(),
    filename: `teacher-forcing-loss-${state.model}`,
    onClick: (pt) => setStep(Math.round(pt.x)),
  });
}

function laneLine(name, colour, lane, i) {
  if (i >= lane.steps) return el('div', { class: 'eq muted' }, `${name}: this lane had already stopped (it wrote <eos>).`);
  const gold = trace.target_tokens[i];
  const top = lane.top[i].map((p) => `“${label(p.token)}” ${fmt(p.prob, 3)}`).join(', ');
  const goldPart = gold === undefined ? ' (past the end of the label)' : `; p(gold “${label(gold)}”) = ${fmt(lane.gold_prob[i])}, loss ${fmt(lane.loss[i])}`;
  const injected = trace.inject && name === 'free running' && trace.inject.step === i ? ` → injected “${label(lane.written[i])}” instead` : '';
  return el('div', { class: 'eq' },
    el('span', { class: 'legend-swatch', style: { background: colour } }),
    el('b', {}, name), `: reads “${label(lane.fed[i])}”, predicts “${label(lane.predicted[i])}”${injected}${goldPart}`,
    el('div', { class: 'eq indent muted' }, `top 3: ${top}`));
}

function renderStep() {
  const i = state.t;
  const gold = trace.target_tokens[i];
  $('step-title').textContent = `Step ${i + 1}${gold !== undefined ? `: the label's token is “${label(gold)}”` : ''}`;
  $('step-detail').replaceChildren(laneLine('teacher forcing', TEACHER, trace.teacher, i), laneLine('free running', FREE, trace.free, i));
  markCurrent();
  // the loss chart's step cursor moves; its injection marker stays
  setShapes($('loss'), [...cursorShape(i, 'x', 'rgba(0,0,0,0.35)'), ...injectShape()]);
  renderAttention(i);
}

function renderAttention(i) {
  const box = $('attention');
  if (!trace.has_attention) {
    $('attention-hint').textContent = 'This model has no attention: it writes from its decoder state alone.';
    box.hidden = true;
    return;
  }
  box.hidden = false;
  $('attention-hint').textContent = 'Attention α over the input at this step, in each lane: the copy model finds the character to write by where it looks. After an injected error, compare where the two lanes look.';
  const series = [];
  for (const [name, colour, lane] of [['teacher forcing', TEACHER, trace.teacher], ['free running', FREE, trace.free]]) {
    if (i >= lane.steps || !lane.attention) continue;
    series.push({ name, x: trace.source_tokens.map((_, j) => j), y: lane.attention[i], colour, mode: 'lines+markers', hover: `${name}: α = %{y:.4g}<extra>input %{x}</extra>` });
  }
  lineChart(box, {
    series,
    xLabels: trace.source_tokens.map((c) => escapeHTML(visibleChar(c))),
    title: `α at step ${i + 1} over the input characters j`,
    yTitle: 'α',
    yRange: [-0.02, 1.02],
    height: 240,
    filename: `teacher-forcing-attention-${state.model}-step${i + 1}`,
  });
}

// --- the ratio panel

function ratioRow(r) {
  const gold = r.target_tokens;
  const out = r.free.written;
  const n = Math.max(gold.length, out.length);
  const inj = r.inject ? r.inject.step : -1;
  const cells = [];
  for (let k = 0; k < n; k++) {
    const ok = k < gold.length && k < out.length && out[k] === gold[k];
    const ch = k < out.length ? label(out[k]) : '·';
    const cls = k >= out.length ? 'missing' : ok ? 'right' : 'wrong';
    cells.push(el('span', { class: `tok ${cls}${k === inj ? ' injected' : ''}`, title: `step ${k + 1}: label “${k < gold.length ? label(gold[k]) : '–'}”, wrote “${k < out.length ? label(out[k]) : 'nothing'}”${k === inj ? ' (injected)' : ''}` }, ch));
  }
  const after = inj >= 0 ? r.free.correct.slice(inj + 1) : r.free.correct;
  const missing = Math.max(0, gold.length - r.free.steps);
  const wrongAfter = after.filter((c) => c === false).length + missing;
  const exact = r.free.written.join('') === gold.join('');
  const verdict = inj >= 0
    ? (wrongAfter === 0 ? 'recovers: every token after the error is right' : `${wrongAfter} wrong after the error`)
    : (exact ? 'exact copy' : `${r.free.correct.filter((c) => c === false).length + missing} wrong`);
  const good = inj >= 0 ? wrongAfter === 0 : exact;
  return el('div', { class: 'copy-row', dataset: { model: r.model } },
    el('div', { class: 'copy-head' }, el('span', { class: 'legend-swatch', style: { background: RATIO_COLOURS[r.model] || COLOURS.muted } }),
      el('b', {}, r.model), ' ', el('span', { class: 'hint' }, r.training ? `(${r.training})` : ''), ' ',
      el('span', { class: `badge ${good ? 'ok' : 'off'}` }, verdict), ' ',
      el('span', { class: 'hint' }, `mean loss free running ${fmt(r.free.loss_mean, 3)}, teacher forced ${fmt(r.teacher.loss_mean, 3)}`)),
    el('div', { class: 'tokens copy-tokens' }, ...cells));
}

// --- training curves and the trade-off, from the checkpoints' metrics

function curveSeries(key, opts = {}) {
  return ratioModels().filter((m) => models[m].metrics.curves).map((m) => {
    const c = models[m].metrics.curves;
    return { name: `${m}${opts.suffix || ''}`, x: c.step, y: c[key], colour: RATIO_COLOURS[m], dash: opts.dash, width: opts.width, mode: 'lines',
      hover: `${m}${opts.suffix || ''}: %{y:.4g}<extra>step %{x}</extra>`, showlegend: opts.showlegend };
  });
}

function renderCurves() {
  const names = ratioModels();
  const card = $('training-card');
  if (!names.length) {
    $('tradeoff').replaceChildren(el('p', { class: 'muted' }, 'The copy-tf models are not loaded on this server: rebuild them with `recurrent-lens train copy-tf-1.0` (and copy-tf-0.5, copy-tf-0.0, copy-tf-scheduled).'));
    return;
  }
  for (const b of card.querySelectorAll('[data-loss]')) b.setAttribute('aria-pressed', String(b.dataset.loss === state.loss));
  const titles = { train: 'Training loss (each in its own regime)', tf: 'Held-out loss, fed the label’s tokens', free: 'Held-out loss, fed its own tokens' };
  lineChart($('curve-loss'), {
    series: curveSeries(`${state.loss}_loss`),
    title: `${titles[state.loss]} · x: training step`,
    yTitle: 'cross-entropy per token',
    height: 320,
    filename: `teacher-forcing-curves-${state.loss}-loss`,
  });
  lineChart($('curve-acc'), {
    series: [...curveSeries('free_exact', { width: 3 }), ...curveSeries('free_token_acc', { dash: 'dot', suffix: ' (tokens)', width: 1.5, showlegend: false })],
    title: 'Free-running accuracy: exact (solid), tokens (dotted) · x: step',
    yTitle: 'fraction right (held-out)',
    yRange: [-0.02, 1.02],
    height: 320,
    filename: 'teacher-forcing-curves-accuracy',
  });
  const ref = (models[names[0]].metrics.buckets || []);
  const x = ref.map((_, k) => k);
  const unseen = ref.map((b, k) => (b.seen_in_training ? null : k)).filter((k) => k !== null);
  lineChart($('buckets'), {
    series: names.filter((m) => models[m].metrics.buckets).map((m) => ({ name: m, x, y: models[m].metrics.buckets.map((b) => b.exact), colour: RATIO_COLOURS[m], mode: 'lines+markers', width: 3,
      hover: `${m}: exact match %{y:.4g}<extra>length %{x}</extra>` })),
    xLabels: ref.map((b) => b.bucket),
    title: 'Exact match by input length (shaded: longer than training)',
    yTitle: 'exact match (fresh strings)',
    yRange: [-0.02, 1.02],
    height: 320,
    extraShapes: unseen.length ? [{ type: 'rect', xref: 'x', yref: 'paper', x0: Math.min(...unseen) - 0.5, x1: Math.max(...unseen) + 0.5, y0: 0, y1: 1, fillcolor: 'rgba(0,0,0,0.06)', line: { width: 0 }, layer: 'below' }] : [],
    filename: 'teacher-forcing-by-length',
  });
  const rec = names.filter((m) => models[m].metrics.recovery);
  const rx = rec.map((_, k) => k);
  lineChart($('recovery'), {
    series: [
      { name: 'no error injected', x: rx, y: rec.map((m) => models[m].metrics.recovery.baseline.rest_exact), colour: COLOURS.muted, mode: 'markers', markerSize: 14, symbol: 'circle-open', hover: 'no error: %{y:.3g}<extra></extra>' },
      { name: 'after one injected error', x: rx, y: rec.map((m) => models[m].metrics.recovery.injected.rest_exact), colour: COLOURS.ink, mode: 'markers', markerSize: 14,
        text: rec.map((m) => `${Math.round(100 * models[m].metrics.recovery.kept)} % of its exact copies survive`), hover: 'after one error: %{y:.3g}<br>%{text}<extra></extra>' },
    ],
    xLabels: rec,
    title: `Rest of the copy still exact after one error (lengths ${(models[rec[0]].metrics.recovery.lengths || []).join('–')})`,
    yTitle: 'fraction of strings, rest exact',
    yRange: [-0.02, 1.02],
    height: 320,
    extraShapes: rec.map((m, k) => ({ type: 'line', xref: 'x', yref: 'y', x0: k, x1: k, y0: models[m].metrics.recovery.baseline.rest_exact, y1: models[m].metrics.recovery.injected.rest_exact, line: { color: RATIO_COLOURS[m], width: 4 }, layer: 'below' })),
    filename: 'teacher-forcing-recovery',
  });
  renderTradeoff(names);
  card.dataset.ready = '1';
}

function bucket(m, name) {
  const b = (models[m].metrics.buckets || []).find((x) => x.bucket === name);
  return b ? b.exact : null;
}

function renderTradeoff(names) {
  const has = (m) => names.includes(m);
  const pct = (x) => (x === null || x === undefined ? '–' : `${Math.round(100 * x)} %`);
  const rec = (m) => models[m].metrics.recovery || {};
  const lens = (m) => (rec(m).lengths || []).join('–');
  const short = (m) => m.replace('copy-tf-', '').replace(/^(\d)/, 'ratio $1');
  const coloured = (m, text) => el('b', { style: { color: RATIO_COLOURS[m] } }, text);
  const long = '31–40';
  const steps = (models[names[0]].metrics.curves.step || []).slice(-1)[0];
  const parts = [el('p', {}, 'Four copies of one network, trained on the same strings in the same order for the same ',
    el('b', {}, `${steps} steps`), '; only what each training step reads differs. Exact match at lengths 31–40, decoded free running: ',
    ...names.map((m, k) => [coloured(m, `${short(m)} ${pct(bucket(m, long))}`), k < names.length - 1 ? ', ' : '.']).flat())];
  const best = [...names].sort((a, b) => (bucket(b, long) ?? 0) - (bucket(a, long) ?? 0))[0];
  if (has('copy-tf-1.0')) {
    const r = rec('copy-tf-1.0');
    parts.push(el('p', {}, coloured('copy-tf-1.0', 'Teacher forcing (1.0)'),
      best === 'copy-tf-1.0' ? ' learns fastest here: ' : ': ',
      'every step is trained from a correct history, so the loss says exactly which token comes next. But it never reads its own mistakes. ',
      `On strings of ${lens('copy-tf-1.0')} symbols it copies ${pct(r.baseline && r.baseline.rest_exact)} exactly; after one injected error only `,
      el('b', {}, pct(r.kept)), ' of those copies stay exact to the end. That gap between training and use is exposure bias.'));
  }
  if (has('copy-tf-0.0')) {
    const m = models['copy-tf-0.0'].metrics;
    parts.push(el('p', {}, coloured('copy-tf-0.0', 'Free running (0.0)'),
      ' trains on its own outputs from the first step, when they are noise, so it learns from wrong histories: its training loss is still ',
      el('b', {}, fmt(m.curves.train_loss.slice(-1)[0], 2)), ` after ${steps} steps and it copies ${pct(bucket('copy-tf-0.0', long))} of the strings of 31–40. `,
      'Whatever it has learnt hardly depends on the token it reads: ', el('b', {}, pct(rec('copy-tf-0.0').kept)),
      ' of its exact copies survive an injected error.'));
  }
  const middle = ['copy-tf-0.5', 'copy-tf-scheduled'].filter(has);
  if (middle.length) {
    parts.push(el('p', {}, ...middle.map((m) => [coloured(m, m === 'copy-tf-0.5' ? 'Half and half (0.5)' : 'Scheduled sampling'),
      m === 'copy-tf-0.5' ? ' (a coin per token)' : ' (the ratio falls from 1 to about 0 during training)',
      `: ${pct(bucket(m, long))} at 31–40, and `, el('b', {}, pct(rec(m).kept)), ' of its copies survive an error. ']).flat()));
  }
  parts.push(el('p', { class: 'hint' }, 'The trade-off: a lower ratio closes the gap between training and use, but makes every training step noisier, ',
    'so on an equal budget the model fed the label learns the task best and the models fed their own outputs learn to survive their mistakes. ',
    'Click any free-running step above to test a model yourself.'));
  $('tradeoff').replaceChildren(...parts);
}

// --- inject menu

function openInjectMenu(td) {
  const i = Number(td.dataset.i);
  const menu = $('inject-menu');
  const gold = trace.target_tokens[i];
  const own = trace.free.predicted[i];
  const buttons = trace.symbols.map((s) => el('button', {
    type: 'button',
    class: `ghost chip${s === gold ? ' gold' : ''}${s === own ? ' own' : ''}`,
    title: s === gold ? 'the label’s token (not an error)' : s === own ? 'the model’s own prediction' : `write “${label(s)}” at step ${i + 1}`,
    dataset: { token: s },
    onclick: () => { closeInjectMenu(); inject(i, s); },
  }, label(s)));
  const extra = [];
  if (trace.inject && trace.inject.step === i) extra.push(el('button', { type: 'button', class: 'ghost', onclick: () => { closeInjectMenu(); clearInject(); } }, 'remove the error'));
  extra.push(el('button', { type: 'button', class: 'ghost', onclick: () => closeInjectMenu() }, 'cancel'));
  menu.replaceChildren(
    el('div', { class: 'menu-title' }, `Step ${i + 1}: make the free run write…`),
    el('div', { class: 'hint' }, `The model predicted “${label(own)}”; the label has “${label(gold ?? '–')}” (underlined).`),
    el('div', { class: 'menu-tokens' }, ...buttons),
    el('div', { class: 'row' }, ...extra),
  );
  const wrap = $('lanes-card').getBoundingClientRect();
  const r = td.getBoundingClientRect();
  menu.style.left = `${Math.max(0, Math.min(r.left - wrap.left, wrap.width - 360))}px`;
  menu.style.top = `${r.bottom - wrap.top + 6}px`;
  menu.hidden = false;
  menu.dataset.step = String(i);
  const first = menu.querySelector('button');
  if (first) first.focus();
}

function closeInjectMenu() {
  $('inject-menu').hidden = true;
}

function inject(step, token) {
  state.inj = step;
  state.tok = token;
  state.t = clamp(step + 1, stepCount());
  explicitInject = true;
  $('inject-note').textContent = '';
  saveState();
  rerun();
}

function clearInject() {
  state.inj = -1;
  $('inject-note').textContent = '';
  saveState();
  rerun();
}

// --- interaction

function setStep(t) {
  state.t = clamp(t, stepCount());
  stepper.set(state.t, { silent: true });
  saveState();
  renderStep();
}

function renderExamples() {
  const list = EXAMPLES[taskOf(state.model)] || [];
  $('examples').replaceChildren(...(list.length ? [el('span', { class: 'hint' }, 'Try:')] : []), ...list.map((ex) => el('button', {
    type: 'button',
    class: 'ghost chip',
    title: ex.title,
    onclick: () => {
      Object.assign(state, { text: ex.text, target: '', inj: ex.inj, tok: ex.tok, t: ex.inj >= 0 ? ex.inj + 1 : 0 });
      $('text').value = ex.text;
      $('target').value = '';
      $('inject-note').textContent = '';
      saveState();
      rerun();
    },
  }, ex.inj >= 0 ? `${ex.text} + “${ex.tok}” at step ${ex.inj + 1}` : ex.text)));
}

async function loadModels() {
  try {
    const order = (m) => { const k = RATIO_ORDER.indexOf(m.name); return k < 0 ? RATIO_ORDER.length : k; };
    models = (await loadModelPicker({
      kinds: KINDS,
      select: $('model'),
      state,
      errorEl: $('error'),
      emptyMessage: 'No seq2seq model is loaded on this server. Rebuild one with `recurrent-lens train copy-tf-1.0`.',
      compare: (a, b) => order(a) - order(b) || a.name.localeCompare(b.name),
    })) || {};
    return Object.keys(models).length > 0;
  } catch (err) {
    showError($('error'), err);
    return false;
  }
}

function downloadLanes() {
  if (!trace) return;
  const n = stepCount();
  const T = trace.teacher;
  const F = trace.free;
  const rows = [['step', 'label', 'teacher_reads', 'teacher_writes', 'teacher_p_gold', 'teacher_loss', 'free_reads', 'free_writes', 'free_p_gold', 'free_loss', 'injected']];
  for (let i = 0; i < n; i++) {
    rows.push([i + 1, trace.target_tokens[i] ?? '',
      T.fed[i] ?? '', T.written[i] ?? '', T.gold_prob[i] ?? '', T.loss[i] ?? '',
      F.fed[i] ?? '', F.written[i] ?? '', F.gold_prob[i] ?? '', F.loss[i] ?? '',
      trace.inject && trace.inject.step === i ? 1 : 0]);
  }
  downloadCSV(`teacher-forcing-${state.model}.csv`, rows);
}

async function main() {
  initChrome();
  setExportContext(() => ({ model: state.model, input: state.target ? `${state.text} → ${state.target}` : state.text, step: state.t + 1 }));
  stepper = createStepper($('steps'), {
    count: 1,
    onChange: (t) => setStep(t),
    format: (i) => (trace ? `step ${i + 1} / ${stepCount()}  label “${label(trace.target_tokens[i] ?? '–')}”` : `step ${i + 1}`),
  });
  const ok = await loadModels();
  const textBox = $('text');
  const targetBox = $('target');
  textBox.value = state.text;
  targetBox.value = state.target;
  renderExamples();
  const rerunSoon = debounce(() => rerun(), 150);
  textBox.addEventListener('input', () => { state.text = textBox.value; saveState(); rerunSoon(); });
  targetBox.addEventListener('input', () => { state.target = targetBox.value; saveState(); rerunSoon(); });
  $('model').addEventListener('change', (ev) => {
    const before = taskOf(state.model);
    state.model = ev.target.value;
    const after = taskOf(state.model);
    if (before !== after) {
      const d = TASK_DEFAULTS[after] || { text: state.text, target: '' };
      Object.assign(state, { text: d.text, target: d.target, inj: -1, t: 0 });
      textBox.value = state.text;
      targetBox.value = state.target;
      $('inject-note').textContent = '';
    }
    saveState();
    renderExamples();
    rerun();
  });
  $('lanes').addEventListener('click', (ev) => {
    const td = ev.target.closest('td');
    if (!td || td.dataset.i === undefined) return;
    setStep(Number(td.dataset.i));
    if (td.classList.contains('injectable')) openInjectMenu(td);
  });
  $('lanes').addEventListener('keydown', (ev) => {
    const td = ev.target.closest && ev.target.closest('td.injectable');
    if (td && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); ev.stopPropagation(); setStep(Number(td.dataset.i)); openInjectMenu(td); }
  });
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeInjectMenu(); });
  document.addEventListener('click', (ev) => {
    const menu = $('inject-menu');
    if (!menu.hidden && !menu.contains(ev.target) && !ev.target.closest('td.injectable')) closeInjectMenu();
  });
  $('inject-apply').addEventListener('click', () => {
    const step = Math.floor(Number($('inject-step').value)) - 1;
    if (!Number.isFinite(step) || step < 0) { showError($('error'), 'Inject at step: type a step number from 1.'); return; }
    inject(step, $('inject-token').value);
  });
  $('inject-clear').addEventListener('click', () => clearInject());
  for (const b of document.querySelectorAll('[data-loss]')) {
    b.addEventListener('click', () => { state.loss = b.dataset.loss; saveState(); renderCurves(); });
  }
  $('download-json').addEventListener('click', () => trace && downloadJSON(`teacher-forcing-${state.model}.json`, { request: requestBody(), ...trace }));
  $('download-csv').addEventListener('click', () => downloadLanes());
  if (ok) {
    renderCurves();
    await rerun();
  }
}

main();
