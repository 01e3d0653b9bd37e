// Small DOM helpers shared by the page modules. No model maths here, and no Plotly (see plots.js).

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'style' && typeof value === 'object') Object.assign(node.style, value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// debounce(fn, ms): the first call runs at once (an isolated keystroke is answered immediately);
// calls that follow within ms are folded into one trailing call after the typing pauses.
export function debounce(fn, ms) {
  let timer = null;
  let pending = null;
  return (...args) => {
    if (timer === null) fn(...args);
    else pending = args;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      if (pending) {
        const later = pending;
        pending = null;
        fn(...later);
      }
    }, ms);
  };
}

// Characters that would be invisible on screen get a visible stand-in (the data keeps the original).
const VISIBLE = { ' ': '␣', '\n': '↵', '\t': '⇥', '\r': '␍', '\u0000': '␀' };
export function visibleChar(ch) {
  if (ch in VISIBLE) return VISIBLE[ch];
  const code = ch.codePointAt(0);
  if (code !== undefined && (code < 32 || code === 127)) return String.fromCodePoint(0x2400 + (code === 127 ? 33 : code));
  return ch;
}

export function fmt(x, digits = 4) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (x === 0) return '0';
  const abs = Math.abs(x);
  if (abs >= 1e5 || abs < 1e-4) return x.toExponential(digits - 1);
  return Number(x.toPrecision(digits)).toString();
}

export function download(filename, text, type = 'application/json') {
  const blob = new Blob([text], { type });
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function downloadJSON(filename, data) {
  download(filename, JSON.stringify(data, null, 1), 'application/json');
}

export function downloadCSV(filename, rows) {
  const cell = (v) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  download(filename, rows.map((r) => r.map(cell).join(',')).join('\n') + '\n', 'text/csv');
}

// The page chrome shared by every page: the large-font toggle (kept in the URL as big=1,
// so a teacher's link opens in projector mode).
export function initChrome() {
  const button = document.getElementById('large-fonts');
  const params = new URLSearchParams(window.location.search);
  const apply = (on) => {
    document.documentElement.classList.toggle('large', on); // rem sizes follow the root element
    document.body.classList.toggle('large', on);
    if (button) button.setAttribute('aria-pressed', on ? 'true' : 'false');
    window.dispatchEvent(new CustomEvent('fontsizechange', { detail: { large: on } }));
  };
  apply(params.get('big') === '1');
  if (button) {
    button.addEventListener('click', () => {
      const on = !document.body.classList.contains('large');
      const p = new URLSearchParams(window.location.search);
      if (on) p.set('big', '1');
      else p.delete('big');
      const q = p.toString();
      window.history.replaceState(null, '', window.location.pathname + (q ? `?${q}` : ''));
      apply(on);
    });
  }
}
