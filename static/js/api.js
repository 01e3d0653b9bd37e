// Fetch wrappers for the JSON API. Errors become ApiError with the server's readable message,
// and latest() aborts a stale request when a newer one starts (typing fast never piles up work).

import { el } from './ui.js';

export class ApiError extends Error {
  constructor(status, message, body = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

async function request(method, path, body, signal) {
  let response;
  const form = body instanceof FormData;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined || form ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : form ? body : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'Cannot reach the Recurrent Lens server. Is it still running?');
  }
  let data = null;
  const text = await response.text();
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = (data && (data.message || data.detail)) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, typeof message === 'string' ? message : JSON.stringify(message), data);
  }
  return data;
}

export function getJSON(path, { signal } = {}) {
  return request('GET', path, undefined, signal);
}

export function postJSON(path, body, { signal } = {}) {
  return request('POST', path, body, signal);
}

// Multipart upload (FormData); the answer is JSON like every other route.
export function postForm(path, formData, { signal } = {}) {
  return request('POST', path, formData, signal);
}

// latest(fn): wraps fn(args, {signal}) so that each call aborts the previous one still running.
// The returned promise resolves to null when the call was superseded.
export function latest(fn) {
  let controller = null;
  return async (...args) => {
    if (controller) controller.abort();
    const mine = new AbortController();
    controller = mine;
    try {
      return await fn(...args, { signal: mine.signal });
    } catch (err) {
      if (err.name === 'AbortError' || mine.signal.aborted) return null;
      throw err;
    } finally {
      if (controller === mine) controller = null;
    }
  };
}

export function showError(el, err) {
  if (!el) return;
  el.textContent = err instanceof Error ? err.message : String(err);
  el.hidden = false;
}

export function clearError(el) {
  if (!el) return;
  el.textContent = '';
  el.hidden = true;
}

// The model picker of a page: the available models of `kinds` (sorted by `compare`, if given) fill
// `select`, and `state.model` stays when it is one of them, else becomes the first. Returns the
// models by name, or null with `emptyMessage` shown in `errorEl` when the server has none.
export async function loadModelPicker({ kinds, select, state, errorEl, emptyMessage, compare = null }) {
  const { models: list } = await getJSON('/api/models');
  const usable = list.filter((m) => m.available && kinds.includes(m.kind));
  if (compare) usable.sort(compare);
  select.replaceChildren(...usable.map((m) => el('option', { value: m.name }, m.name)));
  if (!usable.length) {
    showError(errorEl, emptyMessage);
    return null;
  }
  if (!usable.some((m) => m.name === state.model)) state.model = usable[0].name;
  select.value = state.model;
  return Object.fromEntries(usable.map((m) => [m.name, m]));
}
