// The whole view state lives in the URL query, so a link reopens the view exactly.
// readState(defaults, rules) parses each key with the type of its default and checks it against
// its rule; any value that is not of that type, out of range or not one of the allowed values
// falls back to that key's default, so no URL (hand-edited, truncated, hostile) can break a page.
// writeState keeps only what differs from the defaults, so links stay short.
//
// Rules, per key (all optional):
//   numbers: { int: true, min, max }  (int: a safe integer; NaN and ±Infinity are never accepted)
//   strings: { enum: [...], maxLength, pattern: /re/ }
//   booleans take '1'/'true' and '0'/'false'.

// A model name as the server makes them (shakespeare-char, copy-tf-1.0, upload-3f2a…): never a
// key of Object.prototype such as __proto__, which a lookup table would answer.
export const MODEL_NAME = { pattern: /^[A-Za-z0-9][\w.-]{0,127}$/ };

function parseNumber(raw, fallback, rule) {
  if (raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) return fallback;
  if (rule.int && !Number.isSafeInteger(n)) return fallback;
  if (rule.min !== undefined && n < rule.min) return fallback;
  if (rule.max !== undefined && n > rule.max) return fallback;
  return n;
}

function parseString(raw, fallback, rule) {
  if (rule.enum && !rule.enum.includes(raw)) return fallback;
  if (rule.maxLength !== undefined && raw.length > rule.maxLength) return fallback;
  if (rule.pattern && !rule.pattern.test(raw)) return fallback;
  return raw;
}

export function parse(raw, fallback, rule = {}) {
  if (raw === null || raw === undefined) return fallback;
  if (typeof fallback === 'number') return parseNumber(raw, fallback, rule);
  if (typeof fallback === 'boolean') {
    if (raw === '1' || raw === 'true') return true;
    if (raw === '0' || raw === 'false') return false;
    return fallback;
  }
  return parseString(raw, fallback, rule);
}

function format(value) {
  if (typeof value === 'boolean') return value ? '1' : '0';
  return String(value);
}

export function readState(defaults, rules = {}) {
  const params = new URLSearchParams(window.location.search);
  const state = {};
  for (const [key, fallback] of Object.entries(defaults)) {
    const rule = Object.prototype.hasOwnProperty.call(rules, key) ? rules[key] : {};
    state[key] = parse(params.get(key), fallback, rule);
  }
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
//   const url = urlState(DEFAULTS, ['text', 'model'], RULES);   (RULES: as for readState)
//   url.write(state);                 // instead of writeState(state, DEFAULTS)
//   const sent = { ...state }; const r = await request(...); if (r) { url.accept(sent); url.write(state); }
// accept(values, keys) takes only those keys (a page with two requests accepts each one's inputs).
export function urlState(defaults, inputKeys, rules = {}) {
  const opened = readState(defaults, rules); // the link the page was opened with counts as accepted
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
