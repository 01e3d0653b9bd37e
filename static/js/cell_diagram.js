// The classic LSTM cell diagram (cell-state line on top, the gates below), drawn as SVG with the
// live values of one unit at one step. Pure DOM: no model maths here, the values come from the trace.
import { fmt } from './ui.js';

const NS = 'http://www.w3.org/2000/svg';
const ACCENT = {
  forget: 'var(--forget)', input: 'var(--input)', candidate: 'var(--candidate)', output: 'var(--output)',
  cell: 'var(--cell)', hidden: 'var(--hidden)',
};

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

// A colour for a gate value in [0, 1] (light → strong), so open and closed gates read at a glance.
function gateFill(v) {
  const a = Math.max(0, Math.min(1, v));
  return `rgba(11, 99, 182, ${0.08 + 0.55 * a})`;
}

export function drawCellDiagram(container, v) {
  // v: {x, hPrev, cPrev, forget, input, candidate, output, cell, hidden, tanhCell}
  const root = svg('svg', { viewBox: '0 0 680 340', width: '100%', role: 'img', class: 'cell-diagram' });
  root.append(svg('title', {}, 'LSTM cell with the values of the selected unit at the current step'));
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#444' }));
  defs.append(marker);
  root.append(defs);
  root.append(svg('rect', { x: 60, y: 22, width: 540, height: 290, rx: 18, fill: '#f7f9fc', stroke: '#c9d2dd' }));

  const line = (d, colour = '#444', width = 2, arrow = true) => root.append(svg('path', {
    d, fill: 'none', stroke: colour, 'stroke-width': width, ...(arrow ? { 'marker-end': 'url(#arrow)' } : {}),
  }));
  const op = (x, y, sym) => {
    root.append(svg('circle', { cx: x, cy: y, r: 14, fill: '#fff', stroke: '#444', 'stroke-width': 2 }));
    root.append(svg('text', { x, y: y + 6, 'text-anchor': 'middle', 'font-size': 20, 'font-weight': 700 }, sym));
  };
  const gate = (x, y, label, name, value) => {
    root.append(svg('rect', { x: x - 34, y: y - 20, width: 68, height: 40, rx: 6, fill: name === 'candidate' ? '#fff' : gateFill(value), stroke: ACCENT[name], 'stroke-width': 3 }));
    root.append(svg('text', { x, y: y + 6, 'text-anchor': 'middle', 'font-size': 17, 'font-weight': 700 }, label));
  };
  const value = (x, y, text, colour = '#111', anchor = 'middle', size = 14) => root.append(svg('text', {
    x, y, 'text-anchor': anchor, 'font-size': size, fill: colour, 'font-family': 'ui-monospace, DejaVu Sans Mono, monospace', 'font-weight': 600,
  }, text));

  // the cell-state line on top: × forget, + the gated candidate
  line('M 8 60 L 134 60', ACCENT.cell, 4);
  line('M 164 60 L 304 60', ACCENT.cell, 4);
  line('M 334 60 L 672 60', ACCENT.cell, 4);
  op(150, 60, '×');
  op(320, 60, '+');
  value(8, 42, `cₜ₋₁ = ${fmt(v.cPrev)}`, '#7a5200', 'start');
  value(672, 42, `cₜ = ${fmt(v.cell)}`, '#7a5200', 'end');

  // h_{t−1} and x_t feed every gate from the bottom bus
  line('M 8 290 L 500 290', ACCENT.hidden, 3, false);
  value(8, 280, `hₜ₋₁ = ${fmt(v.hPrev)}`, '#1d5f8a', 'start');
  line('M 100 338 L 100 290', '#444', 2, false);
  value(108, 330, `xₜ = ${v.x}`, '#333', 'start');

  // forget gate
  line('M 150 290 L 150 260', ACCENT.hidden, 2, false);
  gate(150, 240, 'σ', 'forget', v.forget);
  line('M 150 220 L 150 76', ACCENT.forget, 2.5);
  value(142, 160, `f = ${fmt(v.forget)}`, 'var(--forget)', 'end');

  // input gate × candidate → added to the cell
  line('M 260 290 L 260 260', ACCENT.hidden, 2, false);
  gate(260, 240, 'σ', 'input', v.input);
  line('M 380 290 L 380 260', ACCENT.hidden, 2, false);
  gate(380, 240, 'tanh', 'candidate', v.candidate);
  op(320, 160, '×');
  line('M 260 220 L 260 160 L 304 160', ACCENT.input, 2.5);
  line('M 380 220 L 380 160 L 336 160', ACCENT.candidate, 2.5);
  line('M 320 146 L 320 76', '#444', 2.5);
  value(252, 200, `i = ${fmt(v.input)}`, 'var(--input)', 'end');
  value(388, 200, `g̃ = ${fmt(v.candidate)}`, 'var(--candidate)', 'start');
  value(312, 112, `i·g̃ = ${fmt(v.input * v.candidate)}`, '#333', 'end', 13);

  // output gate × tanh(c) → h_t
  line('M 500 290 L 500 260', ACCENT.hidden, 2, false);
  gate(500, 240, 'σ', 'output', v.output);
  line('M 560 60 L 560 88', ACCENT.cell, 2.5);
  root.append(svg('rect', { x: 530, y: 90, width: 60, height: 30, rx: 15, fill: '#fff', stroke: '#444', 'stroke-width': 2 }));
  root.append(svg('text', { x: 560, y: 110, 'text-anchor': 'middle', 'font-size': 15, 'font-weight': 700 }, 'tanh'));
  line('M 560 120 L 560 154', '#444', 2.5);
  op(560, 170, '×');
  line('M 500 220 L 500 170 L 544 170', ACCENT.output, 2.5);
  line('M 576 170 L 672 170', ACCENT.hidden, 3.5);
  line('M 640 170 L 640 336', ACCENT.hidden, 2);
  value(522, 110, `tanh(c) = ${fmt(v.tanhCell)}`, '#333', 'end', 13);
  value(508, 212, `o = ${fmt(v.output)}`, 'var(--output)', 'start');
  value(672, 158, `hₜ = ${fmt(v.hidden)}`, '#1d5f8a', 'end');

  container.replaceChildren(root);
}
