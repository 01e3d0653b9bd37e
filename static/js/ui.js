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

// Keys typed into a text box are text, not shortcuts.
export function typingTarget(target) {
  if (!target) return false;
  const tag = target.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || target.isContentEditable;
}

function withPresent(href, on) {
  const url = new URL(href, window.location.href);
  if (on) url.searchParams.set('present', '1');
  else url.searchParams.delete('present');
  url.searchParams.delete('big');
  return url.pathname + url.search + url.hash;
}

// The page chrome shared by every page: presentation mode and the lesson shortcuts.
// Presentation mode (present=1 in the URL, so a teacher's link opens on the projector as prepared;
// the older big=1 large-font links open it too) makes the text larger, the layout one column and
// the header one compact row; the server renders its first state (html.present), this toggles it.
// Plots redraw at the new size on 'fontsizechange' (plots.js).
export function initChrome() {
  const button = document.getElementById('present-toggle');
  const root = document.documentElement;
  const apply = (on) => {
    root.classList.toggle('present', on);
    if (button) button.setAttribute('aria-pressed', on ? 'true' : 'false');
    for (const a of document.querySelectorAll('a[data-keep-present]')) a.setAttribute('href', withPresent(a.getAttribute('href'), on));
    window.dispatchEvent(new CustomEvent('fontsizechange', { detail: { present: on } }));
  };
  const toggle = () => {
    const on = !root.classList.contains('present');
    window.history.replaceState(null, '', withPresent(window.location.href, on));
    apply(on);
  };
  const params = new URLSearchParams(window.location.search);
  const wanted = params.get('present') === '1' || params.get('big') === '1';
  if (wanted !== root.classList.contains('present')) apply(wanted);
  if (params.has('big')) window.history.replaceState(null, '', withPresent(window.location.href, wanted)); // big=1 → present=1
  if (button) button.addEventListener('click', toggle);
  document.addEventListener('keydown', (ev) => {
    if (typingTarget(ev.target) || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.key === 'p' || ev.key === 'P') { toggle(); ev.preventDefault(); return; }
    const rel = ev.key === '[' ? 'prev' : ev.key === ']' ? 'next' : null;
    const link = rel && document.querySelector(`.lesson-nav a[rel="${rel}"]`);
    if (link) { window.location.href = link.href; ev.preventDefault(); }
  });
}
