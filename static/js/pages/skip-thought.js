// Skip-thought: type a sentence; the server encodes it into the thought vector and both decoders
// write its neighbours. The map, the example stories and the metrics come once per model from
// GET /api/skipthought/map; every keystroke re-runs POST /api/skipthought/neighbours.
import { getJSON, postJSON, latest, showError, clearError, loadModelPicker } from '../api.js';
import { readState, urlState } from '../state.js';
import { heatmap, scatterChart, setExportContext, CATEGORY_COLOURS, COLOURS } from '../plots.js';
import { el, debounce, fmt, downloadJSON, downloadCSV, initChrome } from '../ui.js';

const KINDS = ['skipthought'];
const DEFAULTS = { model: 'stories-skipthought', text: '', beam: 1, colour: 'script', story: '' };
const SIDES = ['previous', 'next'];

const $ = (id) => document.getElementById(id);
let state = readState(DEFAULTS);
let models = {}; // name -> /api/models entry
let map = null; // GET /api/skipthought/map of the current model
let result = null; // the last POST answer
let background = null; // cached map series (the same arrays each time, so Plotly.react skips them)

const request = latest((body, opts) => postJSON('/api/skipthought/neighbours', body, opts));
const mapRequest = latest((model, opts) => getJSON(`/api/skipthought/map?model=${encodeURIComponent(model)}`, opts));

const url = urlState(DEFAULTS, ['model', 'text', 'beam']);

function saveState() {
  url.write(state);
}

// The model's tokens for typed text (as app/tasks/stories.py tokenize): lower case, punctuation apart.
function tokenize(text) {
  return text.toLowerCase().replace(/([.,!?;:])/g, ' $1 ').split(/\s+/).filter(Boolean);
}

const same = (a, b) => tokenize(a).join(' ') === tokenize(b).join(' ');

function escapeHTML(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function scriptTitle(name) {
  const s = map && map.scripts.find((x) => x.name === name);
  return s ? s.title : name;
}

// --- the example stories (held out)

function currentStory() {
  if (!map) return null;
  return map.examples.find((s) => s.script === state.story) || map.examples[0];
}

function renderStorySelect() {
  const select = $('story');
  select.replaceChildren(...map.examples.map((s) => el('option', { value: s.script }, s.title)));
  select.value = currentStory().script;
}

function renderExamples() {
  const story = currentStory();
  $('examples').replaceChildren(...story.sentences.map((text, k) => el('li', {},
    el('button', {
      type: 'button',
      class: `ghost chip${same(text, state.text) ? ' current' : ''}`,
      title: story.forced_next[k] ? 'The next sentence is forced: it follows from this sentence alone' : '',
      onclick: () => useText(text),
    }, text, story.forced_next[k] ? el('span', { class: 'st-forced', 'aria-label': 'next sentence forced' }, ' →') : null))));
}

// Where the typed sentence sits in the selected example story (for the true neighbours), or -1.
function storyIndex() {
  const story = currentStory();
  return story ? story.sentences.findIndex((s) => same(s, state.text)) : -1;
}

function useText(text) {
  state.text = text;
  $('text').value = text;
  saveState();
  renderExamples();
  rerun();
}

// --- fetching

async function rerun() {
  const status = $('status');
  if (!state.text.trim()) {
    showError($('error'), 'Type a sentence (at least one word).');
    return;
  }
  const started = performance.now();
  status.textContent = 'encoding and decoding…';
  const sent = { ...state };
  try {
    const r = await request({ model: sent.model, text: sent.text, beam_width: sent.beam });
    if (r === null) return; // superseded by a newer request
    clearError($('error'));
    url.accept(sent);
    saveState();
    result = r;
    render();
    const how = r.beam_width === 1 ? 'greedy' : `beam width ${r.beam_width}`;
    status.textContent = `${how} · ${Math.round(performance.now() - started)} ms`;
  } catch (err) {
    status.textContent = '';
    showError($('error'), err);
  }
}

async function loadMap() {
  background = null;
  const m = await mapRequest(state.model);
  if (m === null) return false;
  map = m;
  // No story picked (or one this model does not have): the first story is shown, and the URL says nothing.
  if (state.story && !map.examples.some((s) => s.script === state.story)) state.story = '';
  return true;
}

// --- rendering

function render() {
  renderExamples();
  renderTokens();
  for (const side of SIDES) renderSide(side);
  renderThought();
  renderNearest();
  renderMap();
}

function renderTokens() {
  const unknown = new Set(result.unknown);
  $('input-tokens').replaceChildren(...result.tokens.map((w, j) => el('span', {
    class: `tok${unknown.has(j) ? ' unknown' : ''}`,
    title: unknown.has(j) ? `“${w}” is not in the model's vocabulary: read as <unk>` : `word ${j + 1}`,
  }, w)));
  const note = $('unknown-note');
  note.hidden = unknown.size === 0;
  if (unknown.size) {
    const words = [...new Set(result.unknown.map((j) => `“${result.tokens[j]}”`))].slice(0, 8).join(' ');
    note.textContent = `${unknown.size} word${unknown.size > 1 ? 's' : ''} the model never saw in training (${words}) ${unknown.size > 1 ? 'are' : 'is'} read as the unknown token <unk>; marked with a wavy underline.`;
  }
}

function renderSide(side) {
  const n = result[side];
  const box = $(`${side}-text`);
  const edge = side === 'previous' ? 'starts' : 'ends';
  box.replaceChildren(n.empty
    ? el('span', { class: 'muted' }, `(nothing: the model thinks the story ${edge} here)`)
    : el('span', {}, n.text || '(no words)'));
  const words = n.tokens.filter((t) => t !== '<eos>').length;
  const parts = [`log p = ${fmt(n.logprob)} (p = ${fmt(Math.exp(n.logprob), 3)})`, `${words} word${words === 1 ? '' : 's'}${n.finished ? ' + <eos>' : ', stopped at the length limit'}`];
  const info = $(`${side}-info`);
  info.replaceChildren(parts.join(' · '));
  // The true neighbour, when the sentence comes from the selected held-out story.
  const k = storyIndex();
  if (k >= 0) {
    const story = currentStory();
    const j = side === 'previous' ? k - 1 : k + 1;
    const truth = j >= 0 && j < story.sentences.length ? story.sentences[j] : '';
    const right = truth ? (!n.empty && same(truth, n.text)) : n.empty;
    const forced = side === 'previous' ? story.forced_previous[k] : story.forced_next[k];
    info.append(el('div', { class: `st-truth ${right ? 'right' : 'wrong'}` },
      `${right ? '✓' : '✗'} in the held-out story: `,
      el('b', {}, truth || `(nothing: the story ${edge} here)`),
      forced ? ' (forced: it follows from your sentence alone)' : ''));
  }
}

function renderThought() {
  const thought = result.thought;
  const H = thought.length;
  $('thought-size').textContent = `H = ${H} numbers`;
  heatmap($('thought'), {
    z: [thought],
    kind: 'tanh',
    yLabels: ['h_T'],
    xTitle: 'unit of the thought vector',
    height: 150,
    hoverText: [thought.map((v, u) => `unit ${u}: ${fmt(v)}`)],
    colorbarTitle: 'h',
    filename: `skipthought-thought-${state.model}`,
  });
  const states = result.encoder_states;
  const unknown = new Set(result.unknown);
  const labels = result.tokens.map((w, j) => `${escapeHTML(w)}${unknown.has(j) ? ' (unk)' : ''}`);
  labels[labels.length - 1] = `<b>${labels[labels.length - 1]} = h_T</b>`;
  heatmap($('states'), {
    z: states,
    kind: 'tanh',
    yLabels: labels,
    xTitle: 'unit',
    yTitle: 'after reading',
    height: Math.min(620, 110 + 24 * states.length),
    hoverText: states.map((row, t) => row.map((v, u) => `after “${escapeHTML(result.tokens[t])}” (word ${t + 1})<br>unit ${u}: ${fmt(v)}`)),
    colorbarTitle: 'h_t',
    filename: `skipthought-encoder-states-${state.model}`,
    margin: { l: 110 },
  });
}

function renderNearest() {
  $('nearest-hint').textContent = `Cosine similarity between your thought vector and that of each of the ${result.index_size.toLocaleString('en')} distinct training sentences; the 10 closest. 1 = the same direction.`;
  const body = $('nearest').querySelector('tbody');
  body.replaceChildren(...result.nearest.map((n, k) => el('tr', { class: same(n.sentence, state.text) ? 'selected' : '' },
    el('td', { class: 'num' }, String(k + 1)),
    el('td', {}, el('button', { type: 'button', class: 'link st-use', title: 'Use this sentence', onclick: () => useText(n.sentence) }, n.sentence)),
    el('td', {}, el('span', { class: 'legend-swatch', style: { background: scriptColour(n.script) } }), ' ', scriptTitle(n.script)),
    el('td', { class: 'num' }, el('span', { class: 'st-bar', style: { width: `${Math.max(0, n.cosine) * 4}em` } }), ' ', fmt(n.cosine)))));
}

function scriptColour(name) {
  const i = map ? map.scripts.findIndex((s) => s.name === name) : -1;
  return CATEGORY_COLOURS[(i < 0 ? 0 : i) % CATEGORY_COLOURS.length];
}

function backgroundSeries() {
  if (background && background.colour === state.colour) return background.series;
  const p = map.points;
  const hover = p.sentence.map((s, i) => `${escapeHTML(s)}<br>${escapeHTML(map.scripts[p.script[i]].title)}, sentence ${p.position[i] + 1} of ${p.length[i]}`);
  let series;
  if (state.colour === 'position') {
    series = [{
      name: 'training sentences',
      x: p.x,
      y: p.y,
      values: p.position.map((v) => v + 1),
      colorscale: 'Viridis',
      cmin: 1,
      cmax: Math.max(...p.position) + 1,
      colorbarTitle: 'sentence # in story',
      size: 5,
      opacity: 0.75,
      text: hover,
      showlegend: false,
    }];
  } else {
    series = map.scripts.map((s, k) => {
      const rows = p.script.map((v, i) => (v === k ? i : -1)).filter((i) => i >= 0);
      return {
        name: s.title,
        x: rows.map((i) => p.x[i]),
        y: rows.map((i) => p.y[i]),
        colour: CATEGORY_COLOURS[k % CATEGORY_COLOURS.length],
        size: 5,
        opacity: 0.75,
        text: rows.map((i) => hover[i]),
      };
    });
  }
  background = { colour: state.colour, series };
  return series;
}

function renderMap() {
  if (!map) return;
  for (const mode of ['script', 'position']) $(`colour-${mode}`).setAttribute('aria-pressed', String(state.colour === mode));
  const series = [...backgroundSeries()];
  if (result) {
    series.push({
      name: 'your sentence',
      x: [result.projection.x],
      y: [result.projection.y],
      colour: COLOURS.ink,
      symbol: 'star',
      size: 22,
      lineColour: '#ffffff',
      lineWidth: 2,
      text: [`<b>your sentence</b><br>${escapeHTML(state.text)}<br>(${fmt(result.projection.x)}, ${fmt(result.projection.y)})`],
    });
  }
  const [a, b] = map.explained;
  scatterChart($('map'), {
    series,
    xTitle: `principal component 1 (${Math.round(100 * a)} % of the variance)`,
    yTitle: `principal component 2 (${Math.round(100 * b)} %)`,
    height: 520,
    legend: state.colour === 'script',
    annotations: result ? [{
      x: result.projection.x,
      y: result.projection.y,
      text: 'your sentence',
      showarrow: true,
      arrowhead: 2,
      arrowcolor: COLOURS.ink,
      ax: 50,
      ay: -45,
      bgcolor: 'rgba(255,255,255,0.9)',
      bordercolor: COLOURS.ink,
      borderpad: 3,
    }] : [],
    filename: `skipthought-map-${state.model}`,
    margin: { r: 10 },
    onClick: (pt) => {
      const text = pt && pt.hovertext ? String(pt.hovertext).split('<br>')[0] : '';
      if (text && !text.startsWith('<b>')) useText(text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
    },
  });
  $('map-hint').textContent = `Thought vectors of ${map.points.x.length.toLocaleString('en')} training sentences (${Math.round(map.points.x.length / map.scripts.length)} per script), projected on the first two principal components of all training vectors (a fixed projection stored with the model). The black star is your sentence. Hover a point to read it; click it to use it.`;
}

function renderMetrics() {
  const m = map.metrics;
  const body = $('metrics').querySelector('tbody');
  const pct = (x) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(1)} %`);
  const rows = [];
  const GIVEN = {
    own: 'its own',
    same_place: 'same script & position, other story (control)',
    shuffled: 'any other sentence (control)',
  };
  for (const side of SIDES) {
    const s = m[side];
    Object.keys(GIVEN).filter((which) => s[which]).forEach((which, k) => {
      const r = s[which];
      rows.push(el('tr', { class: which === 'own' ? 'st-own' : 'st-control' },
        el('td', {}, k === 0 ? `${side} sentence` : ''),
        el('td', {}, GIVEN[which]),
        el('td', { class: 'num' }, fmt(r.perplexity)),
        el('td', { class: 'num' }, pct(r.token_accuracy)),
        el('td', { class: 'num' }, pct(r.exact)),
        el('td', { class: 'num' }, pct(r.exact_forced)),
        el('td', { class: 'num' }, pct(r.exact_not_forced))));
    });
  }
  body.replaceChildren(...rows);
  const n = m.next;
  const p = m.previous;
  $('metrics-hint').textContent = `${m.held_out_stories.toLocaleString('en')} held-out stories (${m.held_out_sentences.toLocaleString('en')} sentences; each puts a name in a script where training never had it). `
    + `Perplexity with the sentence's own vector is ${fmt(n.perplexity_ratio, 2)}× the shuffled control's for the next decoder and ${fmt(p.perplexity_ratio, 2)}× for the previous one`
    + (n.same_place ? `, and ${fmt(n.same_place_ratio, 2)}× (next) and ${fmt(p.same_place_ratio, 2)}× (previous) that of a sentence at the same place in another story: the content, not just the position, predicts the neighbours. ` : '. ')
    + `Cases with a neighbour: ${n.cases.toLocaleString('en')} per decoder; forced: ${n.forced_cases.toLocaleString('en')} (next), ${p.forced_cases.toLocaleString('en')} (previous). `
    + `At the story's edges the decoders write nothing for ${pct(p.edge_empty)} of first sentences (previous) and ${pct(n.edge_empty)} of last sentences (next).`;
}

async function loadModels() {
  try {
    models = (await loadModelPicker({
      kinds: KINDS,
      select: $('model'),
      state,
      errorEl: $('error'),
      emptyMessage: 'No skip-thought model is loaded on this server. Rebuild one with `recurrent-lens train stories-skipthought`.',
    })) || {};
    if (!Object.keys(models).length) return false;
    return true;
  } catch (err) {
    showError($('error'), err);
    return false;
  }
}

async function openModel() {
  try {
    if (!(await loadMap())) return;
  } catch (err) {
    showError($('error'), err);
    return;
  }
  renderStorySelect();
  renderMetrics();
  if (!state.text) {
    // Show something at once: a held-out sentence whose next sentence is forced.
    const story = currentStory();
    const k = Math.max(0, story.forced_next.findIndex((f, i) => f && i > 0));
    state.text = story.sentences[k];
    $('text').value = state.text;
  }
  saveState();
  renderExamples();
  renderMap();
  await rerun();
}

async function main() {
  initChrome();
  setExportContext(() => ({ model: state.model, input: state.text }));
  const textBox = $('text');
  textBox.value = state.text;
  const beam = $('beam');
  state.beam = Math.max(1, Math.min(Number(beam.max) || 16, Math.floor(state.beam) || 1));
  beam.value = state.beam;
  const rerunSoon = debounce(() => rerun(), 150);
  textBox.addEventListener('input', () => { state.text = textBox.value; saveState(); renderExamples(); rerunSoon(); });
  beam.addEventListener('change', () => {
    const n = Math.floor(Number(beam.value));
    if (!Number.isFinite(n) || n < 1 || n > Number(beam.max)) { beam.value = state.beam; return; }
    state.beam = n;
    saveState();
    rerun();
  });
  $('model').addEventListener('change', (ev) => {
    state.model = ev.target.value;
    saveState();
    openModel();
  });
  $('story').addEventListener('change', (ev) => {
    state.story = ev.target.value;
    saveState();
    renderExamples();
    if (result) for (const side of SIDES) renderSide(side);
  });
  for (const mode of ['script', 'position']) {
    $(`colour-${mode}`).addEventListener('click', () => { state.colour = mode; saveState(); renderMap(); });
  }
  $('download-json').addEventListener('click', () => result && downloadJSON(`skipthought-${state.model}.json`, { request: { model: state.model, text: state.text, beam_width: state.beam }, ...result }));
  $('download-csv').addEventListener('click', () => result && downloadCSV(`skipthought-nearest-${state.model}.csv`, [
    ['rank', 'sentence', 'script', 'cosine'],
    ...result.nearest.map((n, k) => [k + 1, n.sentence, n.script, n.cosine]),
  ]));
  if (await loadModels()) await openModel();
}

main();
