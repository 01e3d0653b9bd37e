// Greedy vs beam search: one request decodes with both and returns every candidate of the beam
// tree; stepping, the ranked candidate panel, greedy's overlay and node selection all work over
// that trace in the browser. Width, length penalty, max length and n-best re-run the search live.
import { postJSON, latest, showError, clearError, loadModelPicker } from '../api.js';
import { readState, urlState } from '../state.js';
import { treeChart, downloadPlot, setExportContext, COLOURS, fontSize } from '../plots.js';
import { createStepper } from '../steps.js';
import { el, debounce, visibleChar, fmt, downloadJSON, downloadCSV, initChrome } from '../ui.js';

const $ = (id) => document.getElementById(id);
const KINDS = ['seq2seq'];
const MAX_WIDTH = Number($('input-card').dataset.maxWidth) || 16;
const MAX_LENGTH = Number($('input-card').dataset.maxLength) || 64;
const DEFAULT_TEXT = { idioms: 'mirar pasear', dates: '28/10/2006', copy: 'abcdefgh' };
// Examples per task; `snapStep` picks a training snapshot by its step (an undertrained net).
const EXAMPLES = {
  idioms: [
    { text: 'mirar pasear' },
    { text: 'mirar pasear descansar', label: 'mirar pasear descansar (k = 5 misses the best; try 16)' },
    { text: 'hablar' },
    { text: 'nadar correr dormir comer' },
    { text: 'llamar abrazar decidir intentar limpiar' },
    { text: 'beber comer viajar empujar' },
  ],
  dates: [
    { text: '28/10/2006', snapStep: 168, label: '28/10/2006 (undertrained, step 168)' },
    { text: '13 mar 82', snapStep: 168, label: '13 mar 82 (undertrained, step 168)' },
    { text: '2020.07.20', snapStep: 168, label: '2020.07.20 (undertrained, step 168)' },
    { text: 'vendredi 27 novembre 2026', label: 'vendredi 27 novembre 2026 (final)' },
  ],
  copy: [{ text: 'abcdefgh' }, { text: 'hcadqpmt' }],
};
const DEFAULTS = { model: 'idioms', text: DEFAULT_TEXT.idioms, k: 5, alpha: 0, maxlen: MAX_LENGTH, n: 0, snap: -1, t: -1, pruned: 'near', node: -1 };
const SPECIALS = new Set(['<pad>', '<bos>', '<eos>', '<unk>']);
const MAX_DRAWN = 2500; // nodes; beyond this "all pruned" falls back to the near misses
const SELECTED = '#6a3d9a';

let state = readState(DEFAULTS);
let trace = null;
let models = {};
let stepper = null;
let index = null; // per-trace lookups (nodes by id, children, paths)

const request = latest((body, opts) => postJSON('/api/decode/beam', body, opts));

const url = urlState(DEFAULTS, ['model', 'text', 'k', 'alpha', 'maxlen', 'n', 'snap']);

function saveState() {
  url.write(state);
}

function taskOf(name) {
  return (models[name] && models[name].task) || 'idioms';
}

function label(token) {
  return SPECIALS.has(token) ? token : [...token].map(visibleChar).join('');
}

function joinTokens(tokens) {
  const shown = tokens.filter((t) => !SPECIALS.has(t)).map(label);
  return trace && trace.target_level === 'word' ? shown.join(' ') : shown.join('');
}

function escapeHTML(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const prob = (logp) => Math.exp(logp);
const lastStep = () => (trace ? trace.steps.length - 1 : 0);
const currentStep = () => (state.t < 0 || state.t > lastStep() ? lastStep() : state.t);

// --- fetching

async function decode() {
  const status = $('status');
  if (!state.text.trim().length) {
    showError($('error'), 'Type a source sentence (at least one word or character).');
    return;
  }
  const body = { model: state.model, text: state.text, beam_width: state.k, max_length: state.maxlen, length_penalty: state.alpha };
  if (state.n > 0) body.n_best = Math.min(state.n, state.k);
  if (state.snap >= 0) body.snapshot = state.snap;
  const started = performance.now();
  status.textContent = 'decoding…';
  const sent = { ...state };
  try {
    const result = await request(body);
    if (result === null) return; // superseded by a newer request
    clearError($('error'));
    url.accept(sent);
    trace = result;
    onNewTrace();
    status.textContent = `decoded in ${Math.round(performance.now() - started)} ms · ${trace.steps.length} steps · stopped: ${trace.stop_reason}`;
  } catch (err) {
    status.textContent = '';
    const field = err && err.body ? err.body.field : null;
    if (err.status === 422 && field === 'snapshot' && state.snap >= 0) {
      state.snap = -1; // a snapshot index from another model's link
      saveState();
      return decode();
    }
    showError($('error'), err);
  }
}

// --- the trace, indexed

function buildIndex() {
  const nodes = new Map();
  const children = new Map([[-1, []]]);
  for (const step of trace.steps) {
    step.candidates.forEach((c, j) => {
      const node = { ...c, step: step.step, rank: j + 1, parentId: c.parent === null ? -1 : c.parent };
      nodes.set(c.id, node);
      if (!children.has(node.parentId)) children.set(node.parentId, []);
      children.get(node.parentId).push(c.id);
    });
  }
  const hypRank = new Map(trace.hypotheses.map((h, r) => [h.node, r + 1]));
  const greedyNodes = trace.greedy.nodes;
  const greedySet = new Set(greedyNodes.filter((id) => id !== null));
  index = { nodes, children, hypRank, greedyNodes, greedySet, pathCache: new Map() };
}

function pathTo(id) {
  if (index.pathCache.has(id)) return index.pathCache.get(id);
  const out = [];
  let cur = id;
  while (cur !== -1 && cur !== null && cur !== undefined) {
    const node = index.nodes.get(cur);
    if (!node) break;
    out.push(node);
    cur = node.parentId;
  }
  out.reverse();
  index.pathCache.set(id, out);
  return out;
}

const ancestors = (id) => new Set(id === null || id === undefined || id < 0 ? [] : pathTo(id).map((n) => n.id));

// --- layout: a tidy tree (leaves in depth-first order, a parent centred on its children)

function shownMode() {
  if (state.pruned !== 'all') return state.pruned;
  let count = 0;
  for (const step of trace.steps) count += step.candidates.length;
  return count > MAX_DRAWN ? 'near' : 'all';
}

function layout(mode) {
  const k = trace.beam_width;
  const shown = (n) => n.kept || index.greedySet.has(n.id) || mode === 'all' || (mode === 'near' && n.pruned_rank <= 2 * k);
  // Greedy after the beam pruned it: a chain of pseudo-nodes "g<i>" hung under its last tree node,
  // so the chain gets its own row (a leaf's row is never used by another subtree).
  const offBeam = [];
  trace.greedy.nodes.forEach((id, i) => { if (id === null) offBeam.push(i); });
  const lastInTree = offBeam.length ? (offBeam[0] > 0 ? trace.greedy.nodes[offBeam[0] - 1] : -1) : null;
  const kidsOf = (id) => {
    if (typeof id === 'string') {
      const i = Number(id.slice(1));
      return offBeam.includes(i + 1) ? [`g${i + 1}`] : [];
    }
    const kids = (index.children.get(id) || []).filter((c) => shown(index.nodes.get(c)));
    return id === lastInTree ? [...kids, `g${offBeam[0]}`] : kids;
  };
  const y = new Map();
  let slot = 0;
  const place = (id) => {
    const kids = kidsOf(id);
    if (!kids.length) {
      y.set(id, slot);
      slot += 1;
      return;
    }
    for (const c of kids) place(c);
    y.set(id, (y.get(kids[0]) + y.get(kids[kids.length - 1])) / 2);
  };
  place(-1);
  return { y, slots: slot, shown, offBeam };
}

// --- rendering

function onNewTrace() {
  buildIndex();
  const n = trace.steps.length;
  if (state.t > n - 1) state.t = -1;
  if (state.node >= 0 && !index.nodes.has(state.node)) state.node = -1;
  stepper.setCount(n, { value: currentStep() });
  saveState();
  renderNotes();
  renderOutcomes();
  renderTree();
  renderCandidates();
  renderNBest();
  renderGrammar();
  renderSnapshotSelect();
}

function renderNotes() {
  const info = models[state.model];
  const weights = trace.snapshot === null ? 'final weights' : `weights from training step ${trace.snapshot_step} (undertrained)`;
  $('model-note').textContent = `${info ? info.description : state.model} · ${weights} · V = ${trace.vocab_size} output tokens.`;
  const unknown = trace.unknown.map((i) => trace.source_tokens[i]);
  const note = $('unknown-note');
  note.hidden = !unknown.length && !trace.grammar_note;
  const parts = [];
  if (unknown.length) parts.push(`${unknown.length} input token${unknown.length > 1 ? 's' : ''} this model never saw (${[...new Set(unknown)].slice(0, 6).map((u) => `“${u}”`).join(', ')}) ${unknown.length > 1 ? 'are' : 'is'} read as <unk>.`);
  if (trace.grammar_note) parts.push(trace.grammar_note[0].toUpperCase() + trace.grammar_note.slice(1) + '.');
  note.textContent = parts.join(' ');
}

function numbersLine(logprob, trueProb, score, finished) {
  const parts = [
    el('span', {}, 'log P = ', el('b', {}, fmt(logprob))),
    el('span', {}, ' · P = ', el('b', {}, fmt(prob(logprob)))),
  ];
  if (trace.length_penalty) parts.push(el('span', {}, ' · score = ', el('b', {}, fmt(score))));
  if (trueProb !== undefined && trueProb !== null) parts.push(el('span', {}, ' · true P = ', el('b', {}, fmt(trueProb))));
  if (!finished) parts.push(el('span', { class: 'badge off' }, ' no <eos> within max length'));
  return parts;
}

function renderOutcomes() {
  const g = trace.greedy;
  const b = trace.hypotheses[0];
  const box = (id, text, numbers, title) => {
    const node = $(id);
    node.querySelector('.out-text').textContent = text || '(empty)';
    node.querySelector('.out-numbers').replaceChildren(...numbers);
    if (title) node.querySelector('h3').textContent = title;
  };
  box('out-greedy', g.text, numbersLine(g.logprob, g.true_prob, g.score, g.finished), 'Greedy');
  box('out-beam', b.text, numbersLine(b.logprob, b.true_prob, b.score, b.finished), `Beam search, k = ${trace.beam_width} (best of ${trace.hypotheses.length})`);
  const truth = $('out-true');
  truth.hidden = !trace.true_best;
  if (trace.true_best) {
    box('out-true', trace.true_best.text, [el('span', {}, 'true P = ', el('b', {}, fmt(trace.true_best.prob))), el('span', {}, ' (every word literal)')]);
  }
  $('verdict').replaceChildren(...verdict(g, b));
}

function verdict(g, b) {
  const same = g.text === b.text;
  if (trace.true_best && b.true_prob !== null && g.true_prob !== null) {
    const out = [];
    if (same) out.push('Greedy and beam search write the same output.');
    else if (b.true_prob > g.true_prob) out.push('Under the true grammar, beam search\'s output is ', el('b', {}, `${fmt(b.true_prob / g.true_prob, 3)}×`), ' as probable as greedy\'s.');
    else if (b.true_prob < g.true_prob) out.push('Here greedy\'s output is more probable under the true grammar than beam\'s (the network is not the grammar).');
    else out.push('Greedy and beam search write outputs of equal true probability.');
    const found = Math.abs(b.true_prob - trace.true_best.prob) <= 1e-9 * trace.true_best.prob;
    out.push(found ? ' Beam search found the most probable output.' : ` Beam search (k = ${trace.beam_width}) missed the most probable output; a wider beam keeps more of the literal branches alive.`);
    return out;
  }
  if (same) return ['Greedy and beam search write the same output.'];
  const ratio = prob(b.logprob - g.logprob);
  return ['The outputs differ: under the network, beam search\'s output is ', el('b', {}, `${fmt(ratio, 3)}×`), ' as probable as greedy\'s.'];
}

function nodeStyle(n, layoutInfo, selectedPath, bestPath) {
  const tokenText = label(n.token);
  const rankTag = index.hypRank.has(n.id) ? ` #${index.hypRank.get(n.id)}` : '';
  const base = { id: n.id, x: n.step + 1, y: layoutInfo.y.get(n.id), text: ` ${tokenText}${rankTag}<br> ${fmt(n.score, 3)}` };
  const fate = n.finished ? 'finished (EOS)' : n.kept ? 'kept' : `pruned at rank ${n.pruned_rank}`;
  const prefix = joinTokens(pathTo(n.id).slice(0, -1).map((p) => p.token)) || '(start)';
  base.hover = [
    `<b>step ${n.step}</b> · rank ${n.rank} · ${fate}`,
    `prefix: ${escapeHTML(prefix)}`,
    `+ “${escapeHTML(tokenText)}”: log P(token) = ${fmt(n.token_logprob)} (p = ${fmt(prob(n.token_logprob))})`,
    `log P = ${fmt(n.logprob)} · score = ${fmt(n.score)}`,
    index.greedySet.has(n.id) ? '<b>on greedy\'s path</b>' : '',
  ].filter(Boolean).join('<br>');
  if (n.finished) Object.assign(base, { colour: COLOURS.finished, symbol: 'square', size: 14 });
  else if (n.kept) Object.assign(base, { colour: COLOURS.kept, size: 11 });
  else Object.assign(base, { colour: '#ffffff', lineColour: COLOURS.pruned, lineWidth: 2, size: 8, textColour: COLOURS.muted });
  if (index.greedySet.has(n.id)) Object.assign(base, { lineColour: COLOURS.greedy, lineWidth: 3 });
  if (selectedPath.has(n.id)) Object.assign(base, { lineColour: SELECTED, lineWidth: 3 });
  if (bestPath.has(n.id) && n.kept) base.textColour = COLOURS.ink;
  return base;
}

function renderTree() {
  const s = currentStep();
  const mode = shownMode();
  const L = layoutCache(mode);
  const selectedPath = ancestors(state.node);
  const bestPath = ancestors(trace.hypotheses[0] ? trace.hypotheses[0].node : null);
  const nodes = [{ id: -1, x: 0, y: L.y.get(-1), text: ' <bos>', hover: 'start: the decoder reads <bos>', colour: COLOURS.ink, size: 9 }];
  const edges = [];
  const rootY = L.y.get(-1);
  const greedyEdges = [];
  // Edges leave a node after its label (x offset in step units), so no line crosses a label.
  const geo = treeGeometry(L);
  const labelEnd = new Map([[-1, geo.offset(' <bos>')]]);
  for (const step of trace.steps) {
    if (step.step > s) break;
    for (const c of step.candidates) {
      const n = index.nodes.get(c.id);
      if (!L.shown(n)) continue;
      const style = nodeStyle(n, L, selectedPath, bestPath);
      nodes.push(style);
      labelEnd.set(n.id, geo.offset(style.text));
      const x0 = n.step + (labelEnd.get(n.parentId) || 0);
      const y0 = n.parentId === -1 ? rootY : L.y.get(n.parentId);
      const y1 = L.y.get(n.id);
      let colour = n.kept ? '#8fb3d9' : '#d7dce3';
      let width = n.kept ? 1.6 : 1;
      if (bestPath.has(n.id)) { colour = COLOURS.ink; width = 3; }
      if (selectedPath.has(n.id)) { colour = SELECTED; width = 3; }
      edges.push({ x0, y0, x1: n.step + 1, y1, colour, width, dash: n.kept ? 'solid' : 'dot' });
      if (index.greedySet.has(n.id)) greedyEdges.push({ x0, y0, x1: n.step + 1, y1, colour: COLOURS.greedy, width: 8 });
    }
  }
  // Greedy after it fell off the beam: its own lane, dashed.
  const g = trace.greedy;
  let prev = null;
  g.nodes.forEach((id, i) => {
    if (i > s) return;
    if (id !== null) { prev = { x: i + 1 + (labelEnd.get(id) || 0), y: L.y.get(id) }; return; }
    const here = { x: i + 1, y: L.y.get(`g${i}`) };
    const from = prev || { x: labelEnd.get(-1), y: rootY };
    const text = ` ${label(g.tokens[i])}<br> ${fmt(cumulative(g.token_logprobs, i), 3)}`;
    greedyEdges.push({ x0: from.x, y0: from.y, x1: here.x, y1: here.y, colour: COLOURS.greedy, width: 3, dash: 'dash' });
    nodes.push({
      id: `g${i}`, x: here.x, y: here.y, text,
      hover: `<b>greedy, step ${i}</b> (outside the beam: its prefix was pruned)<br>+ “${escapeHTML(label(g.tokens[i]))}”: log P(token) = ${fmt(g.token_logprobs[i])}<br>log P = ${fmt(cumulative(g.token_logprobs, i))}`,
      colour: '#ffffff', lineColour: COLOURS.greedy, lineWidth: 2, symbol: 'diamond', size: 10, textColour: COLOURS.greedy,
    });
    prev = { x: here.x + geo.offset(text), y: here.y };
  });
  const T = trace.steps.length;
  const plotEl = $('tree');
  plotEl.style.width = `${geo.width}px`;
  const height = Math.max(300, Math.round(L.slots * geo.rowPx + 110));
  treeChart(plotEl, {
    nodes,
    edges: [...greedyEdges, ...edges],
    height,
    xTitle: 'output step (token position)',
    xTickText: ['start', ...trace.steps.map((st) => String(st.step))],
    xRange: [-0.4, T + 0.9],
    yRange: [L.slots - 0.3, -0.7],
    margin: { l: 16, r: 16, t: 12, b: 46 },
    extraShapes: stepBand(s),
    filename: `beam-tree-${state.model}-k${trace.beam_width}`,
    onClick: (pt) => selectNode(pt.customdata),
  });
  // Keep the current step in view when the tree is wider than its pane.
  const pane = $('tree-scroll');
  const bandPx = 16 + (s + 1.4) * geo.unitPx;
  if (bandPx < pane.scrollLeft + 40 || bandPx > pane.scrollLeft + pane.clientWidth - 40) {
    pane.scrollLeft = Math.max(0, bandPx - pane.clientWidth * 0.6);
  }
  plotEl.dataset.visibleNodes = String(nodes.length);
  plotEl.dataset.step = String(s);
  const hidden = mode !== state.pruned ? ` Too many candidates to draw them all; showing the k below the cut.` : '';
  $('tree-note').textContent = `${trace.steps.reduce((a, st) => a + st.candidates.length, 0)} candidates in the whole search; grey nodes are pruned, the side panel lists every candidate of the current step.${hidden}${L.offBeam.length ? ' Greedy\'s path leaves the beam: its prefix was pruned, so its later tokens (orange diamonds) were never considered by the beam.' : ''}`;
}

// Pixel geometry of the tree: a row per leaf, a column per step wide enough for the labels.
function treeGeometry(L) {
  const charPx = fontSize() * 0.62;
  let longest = 8; // characters of the longest label line: " token #r" or " score"
  for (const step of trace.steps) {
    for (const c of step.candidates) {
      if (L.shown(index.nodes.get(c.id))) longest = Math.max(longest, label(c.token).length + 4);
    }
  }
  const colPx = Math.round(Math.min(longest, 24) * charPx + 36); // the label, then at least ~24 px of edge
  const span = trace.steps.length + 1.3; // the x range in step units
  const width = Math.max($('tree-scroll').clientWidth, Math.round(span * colPx + 32));
  const unitPx = (width - 32) / span; // left + right margins are 16 px each
  return {
    width,
    unitPx,
    rowPx: Math.round(fontSize() * 2.45), // two-line labels
    // the label's widest line (labels are "token<br>score"), in step units
    offset: (text) => Math.min(0.85, (Math.max(...String(text).split('<br>').map((l) => l.length)) * charPx + 8) / unitPx),
  };
}

let cachedLayout = null;
function layoutCache(mode) {
  if (!cachedLayout || cachedLayout.trace !== trace || cachedLayout.mode !== mode) cachedLayout = { trace, mode, value: layout(mode) };
  return cachedLayout.value;
}

function cumulative(values, i) {
  let total = 0;
  for (let j = 0; j <= i; j++) total += values[j];
  return total;
}

function stepBand(s) {
  return [{ type: 'rect', xref: 'x', yref: 'paper', x0: s + 0.5, x1: s + 1.5, y0: 0, y1: 1, fillcolor: 'rgba(11, 99, 182, 0.07)', line: { width: 0 }, layer: 'below' }];
}

function renderCandidates() {
  const s = currentStep();
  const step = trace.steps[s];
  const k = trace.beam_width;
  const cands = step.candidates;
  const beams = new Set(cands.map((c) => c.parent)).size;
  const perBeam = Math.round(cands.length / Math.max(1, beams));
  const finished = cands.filter((c) => c.finished).length;
  $('cand-title').textContent = `Step ${s}: ${cands.length} candidates`;
  const kept = Math.min(k, cands.length);
  const how = `Each live beam (${beams} now) proposes its ${perBeam} best next tokens, out of ${beams} × V = ${beams * trace.vocab_size} possible continuations. `
    + 'At most k of one beam can be among the best k, so its top k hold every candidate that can be kept, and the other k per beam are the near misses below the cut.';
  const cut = finished
    ? `Ranked by score, the top k = ${kept} are kept, and ${finished} of them end with <eos>: finished hypotheses, which keep their places among the k.`
    : `Ranked by score, the top k = ${kept} are kept.`;
  $('cand-explain').textContent = `${how} ${cut}`;
  const greedyId = index.greedyNodes[s];
  const rows = [];
  cands.forEach((c, j) => {
    const fate = c.finished ? 'finished' : c.kept ? 'kept' : 'pruned';
    const prefix = c.parent === null ? '(start)' : joinTokens(pathTo(c.parent).map((p) => p.token)) || '(start)';
    const title = fate === 'pruned' ? `pruned: rank ${c.pruned_rank} > k = ${k}` : fate === 'finished' ? 'kept and ends with <eos>: a finished hypothesis' : 'kept: a beam of the next step';
    rows.push(el('tr', { class: `${fate}${c.id === greedyId ? ' greedy' : ''}${c.id === state.node ? ' selected' : ''}`, title, dataset: { id: c.id } },
      el('td', { class: 'num' }, String(j + 1)),
      el('td', { class: 'prefix', title: prefix }, el('bdi', {}, prefix)),
      el('td', { class: 'token' }, label(c.token)),
      el('td', { class: 'num' }, fmt(c.token_logprob)),
      el('td', { class: 'num' }, fmt(c.logprob)),
      el('td', { class: 'num' }, fmt(c.score))));
    if (j + 1 === k && cands.length > k) {
      rows.push(el('tr', { class: 'cut' }, el('td', { colspan: 6 }, `▲ kept: the best k = ${k} · ▼ pruned: the other ${cands.length - k}`)));
    }
  });
  $('cand-table').tBodies[0].replaceChildren(...rows);
}

function renderNBest() {
  const hasTrue = Boolean(trace.grammar);
  document.querySelectorAll('#nbest-table .true-col').forEach((th) => { th.hidden = !hasTrue; });
  const row = (cls, rank, text, tokens, logprob, score, trueProb, note, node) => el('tr', { class: cls, dataset: node === null || node === undefined ? {} : { node } },
    el('td', { class: 'num' }, rank),
    el('td', { class: 'out' }, text || '(empty)'),
    el('td', { class: 'num' }, String(tokens.length)),
    el('td', { class: 'num' }, fmt(logprob)),
    el('td', { class: 'num' }, fmt(prob(logprob))),
    el('td', { class: 'num' }, score === null ? '–' : fmt(score)),
    hasTrue ? el('td', { class: 'num' }, trueProb === null || trueProb === undefined ? '–' : fmt(trueProb)) : null,
    el('td', {}, note));
  const rows = trace.hypotheses.map((h, r) => row(`hyp${h.node === state.node ? ' selected' : ''}`, String(r + 1), h.text, h.tokens, h.logprob, h.score, h.true_prob,
    h.finished ? (h.text === trace.greedy.text ? el('span', { class: 'hint' }, '= greedy') : '') : el('span', { class: 'badge off' }, 'unfinished (max length)'), h.node));
  const g = trace.greedy;
  rows.push(row('ref greedy', 'greedy', g.text, g.tokens, g.logprob, g.score, g.true_prob, el('span', { class: 'hint' }, g.nodes.includes(null) ? 'left the beam (pruned)' : 'inside the beam'), null));
  if (trace.true_best) {
    const tb = trace.true_best;
    const found = trace.hypotheses.some((h) => h.text === tb.text);
    rows.push(el('tr', { class: 'ref truth' },
      el('td', { class: 'num' }, 'true best'), el('td', { class: 'out' }, tb.text), el('td', { class: 'num' }, String(tb.tokens.length)),
      el('td', { class: 'num' }, '–'), el('td', { class: 'num' }, '–'), el('td', { class: 'num' }, '–'),
      el('td', { class: 'num' }, fmt(tb.prob)), el('td', {}, el('span', { class: `badge ${found ? 'ok' : 'off'}` }, found ? 'in the n-best' : 'not in the n-best'))));
  }
  $('nbest-table').tBodies[0].replaceChildren(...rows);
  $('nbest-note').textContent = `score = log P / ((5 + |Y|) / 6)^${trace.length_penalty}${trace.length_penalty ? '' : ' = log P'} · click a row to highlight its path`;
}

function renderGrammar() {
  const g = trace.grammar;
  $('grammar-card').hidden = !g;
  if (!g) return;
  $('lexicon').tBodies[0].replaceChildren(...g.lexicon.map((e) => el('tr', {},
    el('td', {}, e.source), el('td', {}, e.literal), el('td', {}, e.endings.map((x) => `${e.head} ${x}`).join(' · ')))));
}

function renderSnapshotSelect() {
  const snaps = trace.snapshots;
  $('snapshot-label').hidden = !snaps.length;
  const select = $('snapshot');
  const opts = [el('option', { value: '-1' }, `final (step ${trace.training_steps ?? '?'})`)];
  snaps.forEach((s, i) => {
    const m = s.metrics || {};
    const metric = typeof m.exact === 'number' ? ` · exact ${fmt(m.exact, 3)}` : typeof m.beam5_more_probable === 'number' ? ` · beam>greedy ${fmt(m.beam5_more_probable, 3)}` : '';
    opts.push(el('option', { value: String(i) }, `step ${s.step}${metric}`));
  });
  select.replaceChildren(...opts);
  select.value = String(state.snap);
}

// --- interaction

function setStep(t) {
  const n = trace ? trace.steps.length : 1;
  const clamped = Math.min(Math.max(0, t), n - 1);
  state.t = clamped === n - 1 ? -1 : clamped;
  stepper.set(clamped, { silent: true });
  saveState();
  renderTree();
  renderCandidates();
}

function selectNode(id) {
  if (typeof id !== 'number' || !index.nodes.has(id)) return;
  state.node = state.node === id ? -1 : id;
  const node = index.nodes.get(id);
  if (node.step > currentStep()) state.t = node.step === lastStep() ? -1 : node.step;
  stepper.set(currentStep(), { silent: true });
  saveState();
  renderTree();
  renderCandidates();
  renderNBest();
}

function renderExamples() {
  const task = taskOf(state.model);
  const steps = (models[state.model] && models[state.model].snapshots) || [];
  const chips = (EXAMPLES[task] || []).filter((ex) => !ex.snapStep || steps.includes(ex.snapStep));
  $('examples').replaceChildren(el('span', { class: 'hint' }, 'Try:'), ...chips.map((ex) => el('button', {
    type: 'button',
    class: 'ghost chip',
    onclick: () => {
      state.text = ex.text;
      $('text').value = ex.text;
      state.snap = ex.snapStep ? steps.indexOf(ex.snapStep) : -1;
      Object.assign(state, { t: -1, node: -1 });
      saveState();
      decode();
    },
  }, ex.label || ex.text)));
  $('text-hint').textContent = task === 'idioms'
    ? '(Spanish verbs separated by spaces: mirar, pasear, hablar, comer, … see the grammar below; typing re-decodes)'
    : `(1–${$('text').getAttribute('maxlength') / 2} characters; typing re-decodes)`;
}

function syncControls() {
  $('width').value = state.k;
  $('width-range').value = state.k;
  $('alpha').value = state.alpha;
  $('maxlen').value = state.maxlen;
  $('nbest').value = state.n > 0 ? Math.min(state.n, state.k) : state.k;
  $('nbest').max = String(state.k);
  $('pruned').value = state.pruned;
}

async function loadModels() {
  try {
    models = (await loadModelPicker({
      kinds: KINDS,
      select: $('model'),
      state,
      errorEl: $('error'),
      emptyMessage: 'No seq2seq model is loaded on this server. Rebuild one with `recurrent-lens train idioms`.',
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

function numberControl(id, key, { integer = true, onSet = null } = {}) {
  const input = $(id);
  const rerun = debounce(() => decode(), 150);
  input.addEventListener('input', () => {
    if (input.value.trim() === '') return;
    const v = Number(input.value);
    if (!Number.isFinite(v)) return;
    state[key] = integer ? Math.round(v) : v;
    if (onSet) onSet();
    saveState();
    rerun();
  });
}

async function main() {
  initChrome();
  setExportContext(() => ({ model: state.model, input: state.text, step: trace ? currentStep() : null }));
  stepper = createStepper($('steps'), {
    count: 1,
    onChange: (t) => setStep(t),
    format: (i, n) => (trace ? `step ${i} / ${n - 1}: ${trace.steps[i].candidates.length} candidates, ${Math.min(trace.beam_width, trace.steps[i].candidates.length)} kept` : `step ${i}`),
  });
  const ok = await loadModels();
  const textBox = $('text');
  textBox.value = state.text;
  syncControls();
  renderExamples();
  const decodeSoon = debounce(() => decode(), 150);
  textBox.addEventListener('input', () => { state.text = textBox.value; Object.assign(state, { t: -1, node: -1 }); saveState(); decodeSoon(); });
  $('model').addEventListener('change', (ev) => {
    const before = taskOf(state.model);
    state.model = ev.target.value;
    const after = taskOf(state.model);
    if (before !== after) {
      state.text = DEFAULT_TEXT[after] || state.text;
      textBox.value = state.text;
    }
    Object.assign(state, { snap: -1, t: -1, node: -1 });
    saveState();
    renderExamples();
    decode();
  });
  $('snapshot').addEventListener('change', (ev) => { state.snap = Number(ev.target.value); Object.assign(state, { t: -1, node: -1 }); saveState(); decode(); });
  const widthChanged = () => {
    $('width').value = state.k;
    $('width-range').value = state.k;
    if (state.n > state.k) state.n = state.k;
    $('nbest').max = String(Math.max(1, state.k));
    $('nbest').value = state.n > 0 ? state.n : state.k;
    Object.assign(state, { t: -1, node: -1 });
  };
  numberControl('width', 'k', { onSet: widthChanged });
  numberControl('width-range', 'k', { onSet: widthChanged });
  numberControl('alpha', 'alpha', { integer: false, onSet: () => Object.assign(state, { t: -1, node: -1 }) });
  numberControl('maxlen', 'maxlen', { onSet: () => Object.assign(state, { t: -1, node: -1 }) });
  numberControl('nbest', 'n', { onSet: () => { if (state.n === state.k) state.n = 0; } });
  $('pruned').addEventListener('change', (ev) => { state.pruned = ev.target.value; saveState(); if (trace) renderTree(); });
  $('cand-table').addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-id]');
    if (tr) selectNode(Number(tr.dataset.id));
  });
  $('nbest-table').addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-node]');
    if (tr) {
      const id = Number(tr.dataset.node);
      if (state.node !== id) selectNode(id);
    }
  });
  $('download-json').addEventListener('click', () => trace && downloadJSON(`beam-trace-${state.model}-k${trace.beam_width}.json`, { request: { ...state }, ...trace }));
  $('download-csv').addEventListener('click', () => {
    if (!trace) return;
    const rows = [['rank', 'output', 'tokens', 'logprob', 'prob', 'score', 'finished', 'true_prob']];
    trace.hypotheses.forEach((h, r) => rows.push([r + 1, h.text, h.tokens.length, h.logprob, prob(h.logprob), h.score, h.finished, h.true_prob ?? '']));
    const g = trace.greedy;
    rows.push(['greedy', g.text, g.tokens.length, g.logprob, prob(g.logprob), g.score, g.finished, g.true_prob ?? '']);
    downloadCSV(`beam-nbest-${state.model}-k${trace.beam_width}.csv`, rows);
  });
  $('tree-png').addEventListener('click', () => downloadPlot($('tree'), 'png'));
  $('tree-svg').addEventListener('click', () => downloadPlot($('tree'), 'svg'));
  window.addEventListener('fontsizechange', () => { if (trace) renderTree(); });
  if (ok) await decode();
}

main();
