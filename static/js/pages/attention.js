// Seq2Seq & attention: translate the typed text, then step over the returned trace in the browser
// (no round trip): α heatmap row by row, the context vector as a weighted sum, the top-5 next
// characters. Hard mode, training snapshots and the copy-model bottleneck panel are further requests.
import { postJSON, latest, showError, clearError, loadModelPicker } from '../api.js';
import { readState, urlState } from '../state.js';
import { heatmap, lineChart, barChart, setShapes, cursorShape, setExportContext, COLOURS } from '../plots.js';
import { createStepper } from '../steps.js';
import { el, debounce, visibleChar, fmt, downloadJSON, downloadCSV, initChrome } from '../ui.js';

const KINDS = ['seq2seq'];
const DEFAULT_TEXT = { dates: '27 Nov 2026', copy: 'fetchabreadforthegardenparties' };
const EXAMPLES = {
  dates: ['27 Nov 2026', 'vendredi 27 novembre 2026', '2026年11月27日', '11/27/26', '27.11.2026', 'MARCH 3 1961', 'sábado, 6 de enero de 1973', '20491231'],
  copy: ['hcadq', 'abcdefghijklmnopqrst', 'fetchabreadforthegardenparties', 'tsrqponmlkjihgfedcbaabcdefghijklmnopqrst'],
};
const COPY_MODELS = ['copy-attention', 'copy-plain'];
const DEFAULTS = { model: 'dates', text: DEFAULT_TEXT.dates, t: 0, mode: 'soft', snap: -1, samples: 20, seed: 0, run: 0, copy: DEFAULT_TEXT.copy };
const HARD = '#E69F00';
const SPECIALS = new Set(['<pad>', '<bos>', '<eos>', '<unk>']);

const $ = (id) => document.getElementById(id);
let state = readState(DEFAULTS);
let trace = null; // the last full response
let models = {}; // name -> /api/models entry
let stepper = null;
let runStepper = null;
let snapStepper = null;

const request = latest((body, opts) => postJSON('/api/seq2seq/translate', body, opts));
const copyRequest = latest((body, opts) => Promise.all(COPY_MODELS.filter((m) => models[m]).map((m) => postJSON('/api/seq2seq/translate', { ...body, model: m }, opts))));

const TRANSLATE_KEYS = ['model', 'text', 'mode', 'snap', 'samples', 'seed'];
const url = urlState(DEFAULTS, [...TRANSLATE_KEYS, 'copy']);

function saveState() {
  url.write(state);
}

function taskOf(name) {
  return (models[name] && models[name].task) || 'dates';
}

function label(token) {
  return SPECIALS.has(token) ? token : visibleChar(token);
}

const clampIndex = (i, n) => Math.min(Math.max(0, i), Math.max(0, n - 1));

// What the heatmap and step panel show: the soft trace, or the selected hard-attention run.
function view() {
  if (state.mode === 'hard' && trace && trace.hard) {
    const run = trace.hard.runs[clampIndex(state.run, trace.hard.runs.length)];
    return { hard: true, run, outputs: run.output_tokens, matrix: run.weights, positions: run.positions };
  }
  return { hard: false, run: null, outputs: trace.output_tokens, matrix: trace.attention, positions: null };
}

// --- fetching

async function retranslate() {
  const status = $('status');
  if (!state.text.length) {
    showError($('error'), 'Type some text to translate (at least one character).');
    return;
  }
  const body = { model: state.model, text: state.text, attention_mode: state.mode };
  if (state.mode === 'hard') Object.assign(body, { samples: state.samples, seed: state.seed });
  if (state.snap >= 0) body.snapshot = state.snap;
  const started = performance.now();
  status.textContent = 'translating…';
  const sent = { ...state };
  try {
    const result = await request(body);
    if (result === null) return; // superseded by a newer request
    clearError($('error'));
    url.accept(sent, TRANSLATE_KEYS);
    trace = result;
    onNewTrace();
    status.textContent = `decoded ${result.output_tokens.length} steps in ${Math.round(performance.now() - started)} ms`;
  } catch (err) {
    status.textContent = '';
    const field = err && err.body ? err.body.field : null;
    if (err.status === 422 && field === 'attention_mode' && state.mode === 'hard') {
      state.mode = 'soft'; // this model has no attention to sample from
      saveState();
      return retranslate();
    }
    if (err.status === 422 && field === 'snapshot' && state.snap >= 0) {
      state.snap = -1; // a snapshot index from another model's link
      saveState();
      return retranslate();
    }
    showError($('error'), err);
  }
}

// --- rendering

function onNewTrace() {
  if (state.mode === 'hard' && !trace.has_attention) state.mode = 'soft';
  const v = view();
  state.t = clampIndex(state.t, v.outputs.length);
  stepper.setCount(v.outputs.length, { value: state.t });
  if (trace.hard) {
    state.run = clampIndex(state.run, trace.hard.runs.length);
    runStepper.setCount(trace.hard.runs.length, { value: state.run });
  }
  const pos = positions();
  if (state.snap >= 0 && pos[state.snap] && pos[state.snap].snap < 0) state.snap = -1; // that snapshot is the final model
  snapStepper.setCount(pos.length, { value: positionOf(state.snap) });
  saveState();
  renderModeButtons();
  renderTokens();
  renderHeatmap();
  renderHard();
  renderTraining();
  renderStep();
}

function renderModeButtons() {
  $('mode-soft').setAttribute('aria-pressed', String(state.mode === 'soft'));
  $('mode-hard').setAttribute('aria-pressed', String(state.mode === 'hard'));
  const noAttention = trace ? !trace.has_attention : false;
  $('mode-hard').disabled = noAttention;
  $('mode-hard').title = noAttention ? 'This model has no attention to sample from' : 'c_i = h_j for one j sampled from α_i';
  $('hard-options').hidden = state.mode !== 'hard';
}

function renderTokens() {
  const unknown = new Set(trace.unknown);
  $('source-tokens').replaceChildren(...trace.source_tokens.map((ch, j) => el('span', {
    class: `tok${unknown.has(j) ? ' unknown' : ''}`,
    title: `input ${j}: “${visibleChar(ch)}”${unknown.has(j) ? ' (unknown to this model: read as <unk>)' : ''}`,
    dataset: { j },
  }, visibleChar(ch))));
  renderOutputTokens();
  const note = $('unknown-note');
  const n = trace.unknown.length;
  note.hidden = n === 0;
  if (n) {
    const chars = [...new Set(trace.unknown.map((i) => trace.source_tokens[i]))].map((c) => `“${visibleChar(c)}”`).slice(0, 8).join(' ');
    note.textContent = `${n} character${n > 1 ? 's' : ''} this model never saw in training (${chars}) ${n > 1 ? 'are' : 'is'} read as the unknown token; marked with a wavy underline.`;
  }
  const stopped = trace.finished ? '' : ` Decoding stopped at the limit of ${trace.max_length} characters without writing <eos>.`;
  const snap = trace.snapshot === null ? 'final weights' : `weights from training step ${trace.snapshot_step}`;
  const info = models[state.model];
  $('model-note').textContent = `${info ? info.description : state.model} · ${snap}.${stopped}`;
}

function renderOutputTokens() {
  const v = view();
  $('output-tokens').replaceChildren(...v.outputs.map((tok, i) => el('span', {
    class: `tok${SPECIALS.has(tok) ? ' special' : ''}${i === state.t ? ' current' : ''}`,
    title: `output step ${i}: “${label(tok)}”`,
    dataset: { i },
  }, label(tok))));
}

function sourceLabels() {
  const unknown = new Set(trace.unknown);
  return trace.source_tokens.map((ch, j) => (unknown.has(j) ? `<span style="color:#b3261e">${escapeHTML(visibleChar(ch))}̰</span>` : escapeHTML(visibleChar(ch))));
}

function escapeHTML(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function hardMarkers(v) {
  if (!v.positions) return [];
  return v.positions.map((j, i) => ({ type: 'rect', xref: 'x', yref: 'y', x0: j - 0.5, x1: j + 0.5, y0: i - 0.5, y1: i + 0.5, line: { color: HARD, width: 3 }, layer: 'above' }));
}

function renderHeatmap() {
  const v = view();
  const outLabels = v.outputs.map((tok) => escapeHTML(label(tok)));
  if (!trace.has_attention) {
    $('heatmap-title').textContent = 'No attention: the fixed vector C';
    $('heatmap-hint').textContent = `This model has no attention. Its decoder starts from C = [→h_T; ←h_1], the encoder's final state (${trace.fixed_context.length} numbers, shown above), and never looks at the input again: every output character is written from the decoder's own state.`;
    const H = trace.fixed_context.length / 2;
    $('heatmap-axes').textContent = 'one row: the units of C';
    heatmap($('alpha'), {
      z: [trace.fixed_context],
      kind: 'tanh',
      yLabels: ['C'],
      xTitle: `unit of C (0–${H - 1}: →h at the last character, ${H}–${2 * H - 1}: ←h at the first)`,
      height: 220,
      hoverText: [trace.fixed_context.map((x, u) => `C[${u}] = ${fmt(x)}`)],
      filename: `seq2seq-C-${state.model}`,
    });
    return;
  }
  $('heatmap-title').textContent = v.hard ? `Hard attention, run ${state.run + 1}: sampled positions` : 'Attention α';
  $('heatmap-axes').textContent = 'rows: output characters · columns: input characters · click a row to step there';
  $('heatmap-hint').textContent = v.hard
    ? 'Each row is the α_i the position was sampled from (it depends on this run\'s own decoder state); the orange cell is the position sampled, whose h_j became c_i.'
    : 'Row i is the distribution α_i· the decoder used to write output character i; each row sums to 1. The outlined row is the current step.';
  const hover = v.matrix.map((row, i) => row.map((a, j) => {
    const e = !v.hard && trace.energies ? `<br>energy e = ${fmt(trace.energies[i][j])}` : '';
    const picked = v.positions && v.positions[i] === j ? '<br><b>sampled</b>' : '';
    return `output ${i} “${escapeHTML(label(v.outputs[i]))}” ← input ${j} “${escapeHTML(visibleChar(trace.source_tokens[j]))}”<br>α = ${fmt(a)}${e}${picked}`;
  }));
  const rows = v.outputs.length;
  heatmap($('alpha'), {
    z: v.matrix,
    kind: 'attention',
    xLabels: sourceLabels(),
    yLabels: outLabels,
    xTitle: 'input character j',
    yTitle: 'output character i',
    height: Math.min(640, Math.max(300, 120 + 30 * rows)),
    hoverText: hover,
    cursor: state.t,
    cursorAxis: 'y',
    extraShapes: hardMarkers(v),
    colorbarTitle: 'α',
    filename: `seq2seq-attention-${state.model}`,
    onClick: (pt) => setStep(Math.round(pt.y)),
  });
}

function renderMarks() {
  if (!trace.has_attention) return;
  setShapes($('alpha'), [...cursorShape(state.t, 'y'), ...hardMarkers(view())]);
}

function top(values, k) {
  return values.map((x, j) => [x, j]).sort((a, b) => b[0] - a[0]).slice(0, k);
}

function eqRow(cls, ...parts) {
  return el('div', { class: `eq ${cls}` }, ...parts);
}

function renderEquations(t) {
  const v = view();
  const tok = v.outputs[t];
  const prev = t === 0 ? '<bos>' : label(v.outputs[t - 1]);
  const src = (j) => `“${visibleChar(trace.source_tokens[j])}”${sub(j)}`;
  const rows = [eqRow('muted', `step i = ${t}: the decoder reads y_{i−1} = “${prev}” and writes “${label(tok)}”`)];
  if (!trace.has_attention) {
    rows.push(eqRow('', 's₀ = tanh(W_C·C + b_C)   (the only view of the input)'));
    rows.push(eqRow('', 'sᵢ = LSTM([y_{i−1}], sᵢ₋₁)   (no context cᵢ)'));
    rows.push(eqRow('', `p(yᵢ) = softmax(W_o·sᵢ + b_o) → “${label(tok)}”`, probOf(t, tok)));
    $('equations').replaceChildren(...rows);
    return;
  }
  const alpha = v.matrix[t];
  const best = top(alpha, 3);
  if (!v.hard) {
    const e = trace.energies[t];
    rows.push(eqRow('', 'eᵢⱼ = v_aᵀ tanh(W_a·sᵢ₋₁ + U_a·hⱼ)'));
    rows.push(eqRow('indent', best.map(([, j]) => `e(${src(j)}) = ${fmt(e[j])}`).join(',  ') + (alpha.length > 3 ? ', …' : '')));
    rows.push(eqRow('', 'αᵢⱼ = exp(eᵢⱼ) / Σₖ exp(eᵢₖ)'));
    rows.push(eqRow('indent', best.map(([a, j]) => `α(${src(j)}) = `).map((s, k) => [s, el('span', { class: 'value' }, fmt(best[k][0])), k < best.length - 1 ? ',  ' : '']).flat(), alpha.length > 3 ? ', …  (Σⱼ αᵢⱼ = 1)' : '  (Σⱼ αᵢⱼ = 1)'));
    rows.push(eqRow('', 'cᵢ = Σⱼ αᵢⱼ hⱼ'));
    rows.push(eqRow('indent', `= ${best.map(([a, j]) => `${fmt(a, 3)}·h${sub(j)}`).join(' + ')}${alpha.length > 3 ? ' + …' : ''}`));
    const shares = trace.context_contributions.share[t];
    const s = top(shares, 3);
    rows.push(eqRow('indent muted', `share of cᵢ: ${s.map(([x, j]) => `${src(j)} ${Math.round(100 * x)} %`).join(', ')}`));
  } else {
    const j = v.positions[t];
    rows.push(eqRow('', `j ~ αᵢ· (sampled): j = ${j}, ${src(j)}, which had α = ${fmt(alpha[j])}`));
    rows.push(eqRow('', `cᵢ = h${sub(j)}   (instead of Σⱼ αᵢⱼ hⱼ)`));
  }
  rows.push(eqRow('', 'sᵢ = LSTM([y_{i−1}; cᵢ], sᵢ₋₁)'));
  rows.push(eqRow('', `p(yᵢ) = softmax(W_o·[sᵢ; cᵢ] + b_o) → “${label(tok)}”`, v.hard ? '' : probOf(t, tok)));
  $('equations').replaceChildren(...rows);
}

function probOf(t, tok) {
  const row = trace.top_next[t] || [];
  const hit = row.find((p) => p.token === tok);
  return hit ? el('span', { class: 'value' }, ` (p = ${fmt(hit.prob)})`) : '';
}

const SUBSCRIPTS = '₀₁₂₃₄₅₆₇₈₉';
function sub(n) {
  return String(n).split('').map((d) => SUBSCRIPTS[Number(d)]).join('');
}

function renderTopNext(t) {
  const v = view();
  const box = $('top-next');
  if (v.hard) {
    $('top-title').textContent = 'Top-5 next characters (shown for soft decoding)';
    box.hidden = true;
    return;
  }
  box.hidden = false;
  $('top-title').textContent = `The decoder's top-5 next characters at step ${t}`;
  const row = trace.top_next[t];
  const chosen = trace.output_tokens[t];
  barChart(box, {
    labels: row.map((p) => `“${escapeHTML(label(p.token))}”`),
    values: row.map((p) => p.prob),
    colours: row.map((p) => (p.token === chosen ? COLOURS.candidate : COLOURS.input)),
    xTitle: `probability (green: the character written, “${escapeHTML(label(chosen))}”)`,
    range: [0, 1],
    height: 210,
    filename: `seq2seq-top5-${state.model}-step${t}`,
    margin: { l: 70 },
  });
}

function renderContext(t) {
  const card = $('context-card');
  card.hidden = !trace.has_attention;
  if (!trace.has_attention) return;
  const v = view();
  const states = trace.context_contributions.encoder_states;
  const T = states.length;
  const weights = v.hard ? states.map((_, j) => (j === v.positions[t] ? 1 : 0)) : v.matrix[t];
  const context = v.hard ? states[v.positions[t]] : trace.context_contributions.context[t];
  $('context-title').innerHTML = `The context vector c<sub>${t}</sub> = Σ<sub>j</sub> α<sub>${t}j</sub> h<sub>j</sub>${v.hard ? ' (hard: one h<sub>j</sub>)' : ''}`;
  const shares = v.hard ? null : trace.context_contributions.share[t];
  const norms = v.hard ? null : trace.context_contributions.norm[t];
  barChart($('weights'), {
    labels: trace.source_tokens.map((_, j) => String(j)),
    tokenLabels: sourceLabels(),
    values: v.hard ? v.matrix[t] : weights,
    colours: (v.hard ? v.matrix[t] : weights).map((_, j) => (v.hard && j === v.positions[t] ? HARD : COLOURS.input)),
    horizontal: false,
    text: (v.hard ? v.matrix[t] : weights).map((a) => (a >= 0.05 ? fmt(a, 2) : '')),
    customdata: trace.source_tokens.map((ch, j) => [visibleChar(ch), shares ? fmt(shares[j]) : '–', norms ? fmt(norms[j]) : '–']),
    hover: 'input %{x} “%{customdata[0]}”<br>α = %{y:.4g}<br>share of c_i = %{customdata[1]}<br>‖α·h‖ = %{customdata[2]}<extra></extra>',
    yTitle: v.hard ? 'α (sampling distribution)' : 'α: weight of h_j in c_i',
    xTitle: 'input character j',
    range: [0, 1],
    height: 280,
    filename: `seq2seq-context-weights-${state.model}-step${t}`,
  });
  const z = states.map((h, j) => h.map((x) => weights[j] * x));
  z.push(context);
  const yLabels = trace.source_tokens.map((ch, j) => `α·h${sub(j)} “${escapeHTML(visibleChar(ch))}”`);
  yLabels.push(`<b>c${sub(t)} = Σ</b>`);
  const hover = z.map((row, j) => row.map((x, u) => (j < T
    ? `α${sub(t)}${sub(j)}·h${sub(j)}[${u}] = ${fmt(weights[j])} × ${fmt(states[j][u])} = ${fmt(x)}`
    : `c${sub(t)}[${u}] = ${fmt(x)}`)));
  const H = context.length / 2;
  heatmap($('terms'), {
    z,
    kind: 'tanh',
    yLabels,
    xTitle: `unit (0–${H - 1}: forward →h, ${H}–${2 * H - 1}: backward ←h)`,
    height: Math.min(720, Math.max(320, 90 + 16 * (T + 1))),
    hoverText: hover,
    extraShapes: [
      { type: 'line', xref: 'x', yref: 'paper', x0: H - 0.5, x1: H - 0.5, y0: 0, y1: 1, line: { color: '#555', width: 1, dash: 'dot' } },
      { type: 'rect', xref: 'paper', yref: 'y', x0: 0, x1: 1, y0: T - 0.5, y1: T + 0.5, line: { color: COLOURS.cursor, width: 2 }, layer: 'above' },
    ],
    filename: `seq2seq-context-terms-${state.model}-step${t}`,
    margin: { l: 90 },
  });
}

function renderStep() {
  const t = state.t;
  const v = view();
  $('step-title').textContent = `${t} of ${v.outputs.length - 1}: writing “${label(v.outputs[t])}”`;
  renderMarks();
  renderEquations(t);
  renderTopNext(t);
  renderContext(t);
  for (const span of $('output-tokens').children) span.classList.toggle('current', Number(span.dataset.i) === t);
  const weights = trace.has_attention ? v.matrix[t] : null;
  for (const span of $('source-tokens').children) {
    const j = Number(span.dataset.j);
    const a = weights ? weights[j] : 0;
    span.style.background = weights ? `rgba(8, 81, 156, ${Math.min(1, a).toFixed(3)})` : '';
    span.style.color = a > 0.5 ? '#fff' : '';
    span.classList.toggle('picked', Boolean(v.positions && v.positions[t] === j));
  }
}

function renderHard() {
  const card = $('hard-card');
  card.hidden = !(state.mode === 'hard' && trace.hard);
  if (card.hidden) return;
  const hard = trace.hard;
  $('hard-summary').replaceChildren(
    el('span', { class: 'metric' }, 'runs: ', el('b', {}, String(hard.samples))),
    el('span', { class: 'metric' }, 'seed: ', el('b', {}, String(hard.seed))),
    el('span', { class: 'metric' }, 'differ from soft decoding: ', el('b', {}, `${hard.differ} of ${hard.samples} (${Math.round(100 * hard.differ_fraction)} %)`)),
    el('span', { class: 'metric' }, 'soft output: ', el('b', { class: 'mono' }, `“${trace.output_text}”`)),
  );
  const short = (text) => (text.length > 22 ? `${text.slice(0, 21)}…` : text);
  barChart($('hard-outputs'), {
    // numbered, so two outputs that share their first 21 characters stay two bars
    labels: hard.outputs.map((o, k) => `${k + 1}. “${escapeHTML(short(o.text))}”${o.same_as_soft ? ' (= soft)' : ''}`),
    values: hard.outputs.map((o) => o.count),
    customdata: hard.outputs.map((o) => escapeHTML(o.text)),
    hover: '“%{customdata}”: %{x} runs<extra></extra>',
    colours: hard.outputs.map((o) => (o.same_as_soft ? COLOURS.candidate : HARD)),
    text: hard.outputs.map((o) => String(o.count)),
    xTitle: `runs out of ${hard.samples} (green: the soft-attention output)`,
    height: Math.min(420, 90 + 28 * hard.outputs.length),
    filename: `seq2seq-hard-outputs-${state.model}`,
    margin: { l: 140 },
  });
  renderRun();
}

function renderRun() {
  const run = trace.hard.runs[state.run];
  $('run-output').replaceChildren(...run.output_tokens.map((tok) => el('span', { class: `tok${SPECIALS.has(tok) ? ' special' : ''}` }, label(tok))));
  $('run-positions').textContent = `Sampled input positions, one per output step: ${run.positions.join(', ')}. ${run.same_as_soft ? 'Same output as soft decoding.' : 'A different output from soft decoding.'}`;
}

// The slider's positions: every snapshot, then the final weights (the last snapshot, when it was
// taken at the last step, IS the final model, so it is not listed twice).
function positions() {
  const snaps = trace.snapshots;
  const out = snaps.map((s, k) => ({ snap: k, step: s.step, metrics: s.metrics }));
  const last = out[out.length - 1];
  if (last && last.step === trace.training_steps) Object.assign(last, { snap: -1, final: true });
  else out.push({ snap: -1, step: trace.training_steps, metrics: null, final: true });
  return out;
}

function positionOf(snap) {
  return snap < 0 ? positions().length - 1 : snap;
}

function renderTraining() {
  const snaps = trace.snapshots;
  const card = $('snapshot-card');
  card.hidden = !snaps.length;
  if (!snaps.length) return;
  const info = models[state.model] || { metrics: {} };
  const metrics = info.metrics || {};
  const pos = positions();
  const x = pos.map((_, k) => k);
  const xLabels = pos.map((p) => (p.final ? `${p.step ?? '?'} (final)` : String(p.step)));
  const series = [];
  if (snaps.every((s) => typeof s.metrics.exact === 'number')) {
    const value = (p) => (p.final && typeof metrics.held_out_exact === 'number' ? metrics.held_out_exact : p.metrics ? p.metrics.exact : null);
    series.push({ name: 'held-out exact match', x, y: pos.map(value), colour: COLOURS.input, mode: 'lines+markers' });
  } else if (snaps.every((s) => s.metrics.exact_by_bucket)) {
    const buckets = Object.keys(snaps[0].metrics.exact_by_bucket);
    const finals = Object.fromEntries((metrics.buckets || []).map((b) => [b.bucket, b.exact]));
    const palette = [COLOURS.input, COLOURS.candidate, COLOURS.cell, COLOURS.forget, COLOURS.output];
    const value = (p, b) => (p.final && b in finals ? finals[b] : p.metrics ? p.metrics.exact_by_bucket[b] : null);
    buckets.forEach((b, k) => series.push({ name: `length ${b}`, x, y: pos.map((p) => value(p, b)), colour: palette[k % palette.length], mode: 'lines+markers' }));
  }
  lineChart($('training'), {
    series,
    xLabels,
    title: 'Held-out exact match at each snapshot (x: training step)',
    yTitle: 'exact match',
    yRange: [-0.02, 1.02],
    height: 260,
    cursor: positionOf(state.snap),
    filename: `seq2seq-training-${state.model}`,
    onClick: (pt) => setSnapshot(Math.round(pt.x)),
  });
}

// --- bottleneck panel: both copy models on the same string

function renderBuckets() {
  const att = models['copy-attention'];
  const plain = models['copy-plain'];
  const card = $('bottleneck-card');
  if (!att && !plain) {
    $('buckets').replaceChildren(el('p', { class: 'muted' }, 'The copy models are not loaded on this server (rebuild them with `recurrent-lens train copy-attention` and `copy-plain`).'));
    return;
  }
  const rows = (m) => (m && m.metrics && m.metrics.buckets) || [];
  const ref = rows(att).length ? rows(att) : rows(plain);
  const x = ref.map((_, k) => k);
  const xLabels = ref.map((b) => b.bucket);
  const series = [];
  for (const [m, name, colour] of [[att, 'copy-attention', COLOURS.input], [plain, 'copy-plain', COLOURS.forget]]) {
    if (!m) continue;
    series.push({ name: `${name}: exact match`, x, y: rows(m).map((b) => b.exact), colour, mode: 'lines+markers', width: 3 });
    series.push({ name: `${name}: token accuracy`, x, y: rows(m).map((b) => b.token_accuracy), colour, mode: 'lines+markers', dash: 'dot', width: 1.5 });
  }
  const unseen = ref.map((b, k) => (b.seen_in_training ? null : k)).filter((k) => k !== null);
  const shapes = unseen.length ? [{ type: 'rect', xref: 'x', yref: 'paper', x0: Math.min(...unseen) - 0.5, x1: Math.max(...unseen) + 0.5, y0: 0, y1: 1, fillcolor: 'rgba(0,0,0,0.06)', line: { width: 0 }, layer: 'below' }] : [];
  lineChart($('buckets'), {
    series,
    xLabels,
    title: 'Copy accuracy by input length (shaded: longer than any training string)',
    yTitle: 'fraction correct (fresh strings)',
    yRange: [-0.02, 1.02],
    height: 320,
    extraShapes: shapes,
    filename: 'seq2seq-bottleneck-by-length',
  });
  card.dataset.ready = '1';
}

async function recopy() {
  if (!COPY_MODELS.some((m) => models[m])) return;
  if (!state.copy.length) {
    showError($('copy-error'), 'Type a string to copy (at least one symbol).');
    return;
  }
  const sent = { copy: state.copy };
  try {
    const results = await copyRequest({ text: sent.copy });
    if (results === null) return;
    clearError($('copy-error'));
    url.accept(sent, ['copy']);
    saveState();
    $('copy-results').replaceChildren(...results.map((r) => copyRow(r)));
    const plain = results.find((r) => !r.has_attention);
    if (plain) $('c-size').textContent = `${plain.fixed_context.length / 2} + ${plain.fixed_context.length / 2}`;
  } catch (err) {
    showError($('copy-error'), err);
  }
}

function copyRow(r) {
  const gold = r.source_tokens;
  const out = [...r.output_text];
  const n = Math.max(gold.length, out.length);
  const cells = [];
  let right = 0;
  for (let k = 0; k < n; k++) {
    const ok = k < gold.length && out[k] === gold[k];
    right += ok ? 1 : 0;
    const ch = k < out.length ? visibleChar(out[k]) : '·';
    cells.push(el('span', { class: `tok ${k >= out.length ? 'missing' : ok ? 'right' : 'wrong'}`, title: `position ${k}: expected “${k < gold.length ? visibleChar(gold[k]) : '–'}”, wrote “${k < out.length ? visibleChar(out[k]) : 'nothing'}”` }, ch));
  }
  const exact = r.output_text === gold.join('');
  return el('div', { class: 'copy-row', dataset: { model: r.model } },
    el('div', { class: 'copy-head' }, el('b', {}, r.model), ' ',
      el('span', { class: `badge ${exact ? 'ok' : 'off'}` }, exact ? 'exact copy' : 'not exact'), ' ',
      el('span', { class: 'hint' }, `${right} of ${gold.length} positions right${r.has_attention ? '' : ' · no attention'}`)),
    el('div', { class: 'tokens copy-tokens' }, ...cells));
}

function randomCopyString(n) {
  const symbols = 'abcdefghijklmnopqrst';
  const values = new Uint32Array(n);
  crypto.getRandomValues(values);
  return Array.from(values, (v) => symbols[v % symbols.length]).join('');
}

// --- interaction

function setStep(t) {
  state.t = clampIndex(t, view().outputs.length);
  stepper.set(state.t, { silent: true });
  saveState();
  renderStep();
}

function setSnapshot(k) {
  const pos = trace ? positions() : [];
  state.snap = pos[k] ? pos[k].snap : -1;
  snapStepper.set(k, { silent: true });
  saveState();
  retranslate();
}

function setMode(mode) {
  if (mode === state.mode) return;
  state.mode = mode;
  saveState();
  renderModeButtons();
  retranslate();
}

function renderExamples() {
  const task = taskOf(state.model);
  $('examples').replaceChildren(el('span', { class: 'hint' }, 'Try:'), ...(EXAMPLES[task] || []).map((text) => el('button', {
    type: 'button',
    class: 'ghost chip',
    onclick: () => { state.text = text; $('text').value = text; state.t = 0; saveState(); retranslate(); },
  }, text)));
}

async function loadModels() {
  try {
    models = (await loadModelPicker({
      kinds: KINDS,
      select: $('model'),
      state,
      errorEl: $('error'),
      emptyMessage: 'No seq2seq model is loaded on this server. Rebuild one with `recurrent-lens train dates`.',
    })) || {};
    if (!Object.keys(models).length) return false;
    const params = new URLSearchParams(window.location.search);
    if (!params.has('text')) state.text = DEFAULT_TEXT[taskOf(state.model)] || state.text;
    return true;
  } catch (err) {
    showError($('error'), err);
    return false;
  }
}

async function main() {
  initChrome();
  setExportContext(() => ({ model: state.model, input: state.text, step: state.t, stepName: 'output step' }));
  stepper = createStepper($('steps'), {
    count: 1,
    onChange: (t) => setStep(t),
    format: (i, n) => (trace ? `step ${i} / ${n - 1}  “${label(view().outputs[i])}”` : `step ${i}`),
  });
  runStepper = createStepper($('runs'), {
    count: 1,
    keys: false,
    onChange: (k) => {
      state.run = k;
      state.t = clampIndex(state.t, view().outputs.length);
      stepper.setCount(view().outputs.length, { value: state.t });
      saveState();
      renderHeatmap();
      renderRun();
      renderOutputTokens();
      renderStep();
    },
    format: (i, n) => `run ${i + 1} / ${n}`,
  });
  snapStepper = createStepper($('snapshots'), {
    count: 1,
    keys: false,
    interval: 900,
    onChange: (k) => setSnapshot(k),
    format: (i, n) => {
      if (!trace || !trace.snapshots.length) return '';
      const p = positions()[i];
      return p.final ? `final weights (step ${p.step ?? '?'})` : `snapshot ${i + 1} / ${n}: training step ${p.step}`;
    },
  });
  const ok = await loadModels();
  const textBox = $('text');
  textBox.value = state.text;
  $('samples').value = state.samples;
  $('seed').value = state.seed;
  $('copy-text').value = state.copy;
  renderExamples();
  const retranslateSoon = debounce(() => retranslate(), 150);
  textBox.addEventListener('input', () => { state.text = textBox.value; saveState(); retranslateSoon(); });
  $('model').addEventListener('change', (ev) => {
    const before = taskOf(state.model);
    state.model = ev.target.value;
    const after = taskOf(state.model);
    if (before !== after && (state.text === DEFAULT_TEXT[before] || !state.text)) {
      state.text = DEFAULT_TEXT[after] || state.text;
      textBox.value = state.text;
    }
    Object.assign(state, { snap: -1, run: 0, t: 0 });
    saveState();
    renderExamples();
    retranslate();
  });
  $('mode-soft').addEventListener('click', () => setMode('soft'));
  $('mode-hard').addEventListener('click', () => setMode('hard'));
  const numberInput = (id, key, lo) => $(id).addEventListener('change', () => {
    const n = Math.floor(Number($(id).value));
    if (!Number.isFinite(n) || n < lo) { $(id).value = state[key]; return; }
    state[key] = n;
    saveState();
    retranslate();
  });
  numberInput('samples', 'samples', 1);
  numberInput('seed', 'seed', 0);
  $('output-tokens').addEventListener('click', (ev) => {
    const i = ev.target && ev.target.dataset ? ev.target.dataset.i : undefined;
    if (i !== undefined) setStep(Number(i));
  });
  $('download-json').addEventListener('click', () => trace && downloadJSON(`seq2seq-trace-${state.model}.json`, { request: { ...state }, ...trace }));
  $('download-csv').addEventListener('click', () => {
    if (!trace || !trace.has_attention) return;
    const v = view();
    downloadCSV(`seq2seq-attention-${state.model}.csv`, [
      ['output \\ input', ...trace.source_tokens],
      ...v.matrix.map((row, i) => [v.outputs[i], ...row]),
    ]);
  });
  const copyBox = $('copy-text');
  const recopySoon = debounce(() => recopy(), 150);
  copyBox.addEventListener('input', () => { state.copy = copyBox.value; saveState(); recopySoon(); });
  $('copy-random').addEventListener('click', () => {
    const n = Math.max(1, Math.min(Number($('copy-length').value) || 35, Number($('copy-length').max)));
    state.copy = randomCopyString(n);
    copyBox.value = state.copy;
    saveState();
    recopy();
  });
  if (ok) {
    renderBuckets();
    await Promise.all([retranslate(), recopy()]);
  }
}

main();
