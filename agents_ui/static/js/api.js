// The JSON API, same origin, session cookie. Errors carry the server's shape (agents_ui/errors.py).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
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
    throw new ApiError(resp.status, (data && data.error) || 'error', (data && data.message) || resp.statusText);
  }
  return data;
}
