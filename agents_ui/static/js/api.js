// The JSON API, same origin, session cookie. Errors carry the server's shape (agents_ui/errors.py).
import {t, fmtSize} from './i18n.js';

export class ApiError extends Error {
  constructor(status, code, message, reason, params) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.reason = reason || code;
    this.params = params || {};
  }
}

// An error in the console's language: the sentence for its reason (and field), else its code, else
// a generic one around the hub's own (English) words.
export function explain(err) {
  const p = err.params || {};
  for (const key of [`error.${err.reason}.${p.field}`, `error.${err.reason}`, `error.${err.code}`]) {
    if (t(key) !== key) return t(key, {...p, count: p.retry_after || 1, size: fmtSize(p.max_bytes || 0)});
  }
  return t('common.error', {message: err.message || err});
}

let onUnauthorized = () => window.location.assign('/login?expired=1');
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export async function api(method, path, body) {
  const init = {method, credentials: 'same-origin', headers: {Accept: 'application/json'}};
  if (body instanceof FormData) {
    init.body = body;  // multipart: the browser sets the type and its boundary
  } else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'network', String(err && err.message || err));
  }
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (resp.status === 401 && !path.startsWith('/api/v1/auth/')) {
    onUnauthorized();
  }
  if (!resp.ok) {
    const d = data || {};
    throw new ApiError(resp.status, d.error || 'error', d.message || resp.statusText, d.reason, d.params);
  }
  return data;
}
