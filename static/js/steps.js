// Step controls, the same on every page: ◀ ▶, a slider, play/pause, and the keys ← → space.
// createStepper(container, {count, value, onChange, format, keys}) returns a small controller.
import { el, typingTarget } from './ui.js';

export function createStepper(container, { count = 1, value = 0, onChange = () => {}, format = null, keys = true, interval = 450 } = {}) {
  let n = Math.max(1, count);
  let index = Math.min(Math.max(0, value), n - 1);
  let timer = null;
  const name = container.dataset.label || 'Step';
  const fmtLabel = format || ((i, total) => `${name} ${i + 1} / ${total}`);

  const prev = el('button', { type: 'button', class: 'ghost', title: 'Previous step (←)', 'aria-label': 'Previous step' }, '◀');
  const next = el('button', { type: 'button', class: 'ghost', title: 'Next step (→)', 'aria-label': 'Next step' }, '▶');
  const play = el('button', { type: 'button', class: 'ghost play', title: 'Play / pause (space)', 'aria-label': 'Play' }, '▶︎ Play');
  const slider = el('input', { type: 'range', min: 0, max: n - 1, value: index, step: 1, 'aria-label': `${name} slider` });
  const label = el('span', { class: 'step-label', 'aria-live': 'polite' });
  const hint = keys ? el('span', { class: 'keys' }, el('kbd', {}, '←'), ' ', el('kbd', {}, '→'), ' ', el('kbd', {}, 'space')) : null;
  container.replaceChildren(prev, play, next, slider, label, ...(hint ? [hint] : []));

  function render() {
    slider.max = String(n - 1);
    slider.value = String(index);
    label.textContent = fmtLabel(index, n);
    prev.disabled = index <= 0;
    next.disabled = index >= n - 1;
  }

  function set(i, { silent = false } = {}) {
    const clamped = Math.min(Math.max(0, Math.round(i)), n - 1);
    const changed = clamped !== index;
    index = clamped;
    render();
    if (changed && !silent) onChange(index);
  }

  function pause() {
    if (timer) clearInterval(timer);
    timer = null;
    play.textContent = '▶︎ Play';
    play.setAttribute('aria-label', 'Play');
  }

  function start() {
    if (index >= n - 1) set(0);
    play.textContent = '❚❚ Pause';
    play.setAttribute('aria-label', 'Pause');
    timer = setInterval(() => {
      if (index >= n - 1) pause();
      else set(index + 1);
    }, interval);
  }

  prev.addEventListener('click', () => { pause(); set(index - 1); });
  next.addEventListener('click', () => { pause(); set(index + 1); });
  play.addEventListener('click', () => (timer ? pause() : start()));
  slider.addEventListener('input', () => { pause(); set(Number(slider.value)); });
  if (keys) {
    document.addEventListener('keydown', (ev) => {
      if (typingTarget(ev.target) || ev.altKey || ev.ctrlKey || ev.metaKey) return;
      if (ev.key === 'ArrowLeft') { pause(); set(index - 1); ev.preventDefault(); }
      else if (ev.key === 'ArrowRight') { pause(); set(index + 1); ev.preventDefault(); }
      else if (ev.key === ' ' && !(ev.target && ev.target.tagName === 'BUTTON')) { timer ? pause() : start(); ev.preventDefault(); }
    });
  }
  render();

  return {
    get value() { return index; },
    get count() { return n; },
    set,
    setCount(count2, { value: v = index, silent = true } = {}) {
      n = Math.max(1, count2);
      index = Math.min(Math.max(0, v), n - 1);
      render();
      if (!silent) onChange(index);
    },
    pause,
    play: start,
  };
}
