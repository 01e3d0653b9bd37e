// The whole view state lives in the URL query, so a link reopens the view exactly.
// readState(defaults) parses values with the types of the defaults; writeState keeps only
// what differs from the defaults, so links stay short.

function parse(raw, fallback) {
  if (raw === null) return fallback;
  if (typeof fallback === 'number') {
    const n = Number(raw);
    return Number.isFinite(n) ? n : fallback;
  }
  if (typeof fallback === 'boolean') return raw === '1' || raw === 'true';
  return raw;
}

function format(value) {
  if (typeof value === 'boolean') return value ? '1' : '0';
  return String(value);
}

export function readState(defaults) {
  const params = new URLSearchParams(window.location.search);
  const state = {};
  for (const [key, fallback] of Object.entries(defaults)) state[key] = parse(params.get(key), fallback);
  return state;
}

export function writeState(state, defaults) {
  const params = new URLSearchParams(window.location.search);
  for (const [key, value] of Object.entries(state)) {
    if (!(key in defaults)) continue;
    if (value === defaults[key] || value === null || value === undefined) params.delete(key);
    else params.set(key, format(value));
  }
  const query = params.toString();
  const url = window.location.pathname + (query ? `?${query}` : '') + window.location.hash;
  if (url !== window.location.pathname + window.location.search + window.location.hash) {
    window.history.replaceState(null, '', url);
  }
}
