// Home page: the models table from /api/models.
import { getJSON, showError } from '../api.js';
import { el, fmt, initChrome } from '../ui.js';

function metricList(summary) {
  const entries = Object.entries(summary || {});
  if (!entries.length) return el('span', { class: 'muted' }, '–');
  return el('span', {}, entries.map(([label, value]) => el('span', { class: 'metric' }, `${label}: `, el('b', {}, typeof value === 'number' ? fmt(value) : String(value)))));
}

async function main() {
  initChrome();
  const body = document.querySelector('#models-table tbody');
  try {
    const { models } = await getJSON('/api/models');
    if (!models.length) {
      body.replaceChildren(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No models are loaded. Run `recurrent-lens train NAME` or check --models-dir.')));
      return;
    }
    body.replaceChildren(...models.map((m) => el('tr', { dataset: { model: m.name } },
      el('td', {}, el('code', {}, m.name), m.description ? el('div', { class: 'hint' }, m.description) : null),
      el('td', {}, m.task),
      el('td', {}, m.kind),
      el('td', {}, m.available ? el('span', { class: 'badge ok' }, 'available') : el('span', {}, el('span', { class: 'badge off' }, 'unavailable'), el('div', { class: 'hint' }, m.reason || ''))),
      el('td', {}, metricList(m.summary)),
    )));
  } catch (err) {
    body.replaceChildren();
    showError(document.getElementById('error'), err);
  }
}

main();
