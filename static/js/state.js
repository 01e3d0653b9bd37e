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

// The URL holds only states that reopen a working view. A page's inputs (the text, the model, …: what
// a request sends and the server validates) reach the URL once the server has accepted them; until
// then, and after a rejection, the URL keeps the inputs last accepted, so a link never reopens on an
// error while the page shows the answer to other inputs. View keys (step, unit, …) are written at once.
//   const url = urlState(DEFAULTS, ['text', 'model']);
//   url.write(state);                 // instead of writeState(state, DEFAULTS)
//   const sent = { ...state }; const r = await request(...); if (r) { url.accept(sent); url.write(state); }
// accept(values, keys) takes only those keys (a page with two requests accepts each one's inputs).
export function urlState(defaults, inputKeys) {
  const opened = readState(defaults); // the link the page was opened with counts as accepted
  const accepted = {};
  for (const key of inputKeys) accepted[key] = opened[key];
  return {
    accept(values, keys = inputKeys) {
      for (const key of keys) if (key in values) accepted[key] = values[key];
    },
    write(state) {
      writeState({ ...state, ...accepted }, defaults);
    },
  };
}
