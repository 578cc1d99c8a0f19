// The REST API (/api/v1), same origin. The session secret lives only in the
// HttpOnly cookie; the CSRF token only in this module's memory (never in
// localStorage or sessionStorage), so a reloaded page has none.

export const session = { user: null, homes: [], csrf: null, expires: 0 };

export class ApiError extends Error {
  constructor(status, message, data) {
    super(message);
    this.status = status;
    this.data = data || {};
    this.code = this.data.error || '';
  }
}

/** Fired (on window) when the server says the session is gone. */
export const SESSION_EXPIRED = 'camvault:session-expired';
export const NEED_LOGIN_FOR_CHANGE = 'camvault:need-login';

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

// Server error strings → what a person should read.
function humanize(status, data, path) {
  const e = (data && data.error) || '';
  if (status === 429) {
    const n = data && data.retry_after;
    return n ? `Too many failed attempts. Try again in ${n} seconds.` : 'Too many attempts. Try again in a moment.';
  }
  if (e === 'invalid login or password') return 'Wrong login or password.';
  if (e === 'one-time code required') return 'Enter the 6-digit code from your authenticator app.';
  if (e === 'old: wrong password') return 'Your current password is wrong.';
  if (e === 'missing or bad CSRF token') return 'For your security, sign in again to make changes.';
  if (status === 401) return 'Your session expired. Please sign in again.';
  if (e === 'forbidden') return "You don't have access to that (or it no longer exists).";
  if (e === 'camera offline') return 'Camera offline.';
  if (/stream unavailable/.test(e)) return 'Stream unavailable: the integration was switched off.';
  if (status === 0) return 'camvault cannot be reached. Check your connection.';
  if (status >= 500 && !e) return 'Something went wrong on the server. Try again.';
  if (e) return e.charAt(0).toUpperCase() + e.slice(1) + (/[.!?]$/.test(e) ? '' : '.');
  return `Request failed (HTTP ${status}).`;
}

/** api('GET', 'cameras') → parsed JSON (or null for 204). Throws ApiError. */
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (UNSAFE.has(method)) {
    if (!session.csrf && !opts.noCsrf) {
      window.dispatchEvent(new CustomEvent(NEED_LOGIN_FOR_CHANGE));
      throw new ApiError(403, 'For your security, sign in again to make changes.', { error: 'no csrf' });
    }
    if (session.csrf) headers['X-CSRF-Token'] = session.csrf;
  }
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch('/api/v1/' + path, init);
  } catch (e) {
    throw new ApiError(0, humanize(0));
  }
  let data = null;
  const text = await r.text();
  if (text) { try { data = JSON.parse(text); } catch (e) { data = null; } }
  if (r.ok) return data;
  if (r.status === 429 && data && !data.retry_after) {
    const ra = Number(r.headers.get('Retry-After'));
    if (ra) data.retry_after = ra;
  }
  const err = new ApiError(r.status, humanize(r.status, data, path), data);
  if (r.status === 401 && !opts.noExpire) {
    session.user = null;
    session.csrf = null;
    window.dispatchEvent(new CustomEvent(SESSION_EXPIRED));
  }
  throw err;
}

export async function login(loginName, password, totp) {
  const body = { login: loginName, password };
  if (totp) body.totp = totp;
  const a = await api('POST', 'login', body, { noCsrf: true, noExpire: true });
  session.csrf = a.csrf;
  session.expires = a.expires;
  await loadMe();
  return a;
}

export async function loadMe() {
  const me = await api('GET', 'me', undefined, { noExpire: true });
  session.user = me.user;
  session.homes = me.homes || [];
  if (me.csrf) session.csrf = me.csrf; // if the server answers it (see the report)
  return me;
}

export async function logout() {
  try { if (session.csrf) await api('POST', 'logout', undefined, { noExpire: true }); } finally {
    session.user = null; session.csrf = null; session.homes = [];
  }
}

// Capability tokens for media, reused until shortly before they expire.
const tokens = new Map();
export async function mediaToken(cameraId, scopes = ['live', 'snapshot'], fresh = false) {
  const key = cameraId + ':' + scopes.join(',');
  const now = Date.now() / 1000;
  const t = tokens.get(key);
  if (!fresh && t && t.pending) return t.pending;
  if (!fresh && t && t.expires - now > 30) return t;
  const p = api('POST', `cameras/${cameraId}/tokens`, { scope: scopes, ttl: 900 }).then(a => {
    // Same origin: keep only path + query of the returned URLs.
    const urls = {};
    for (const [k, u] of Object.entries(a.urls || {})) {
      try { const x = new URL(u, location.href); urls[k] = x.protocol.startsWith('http') ? x.pathname + x.search : u; } catch (e) { urls[k] = u; }
    }
    const v = { token: a.token, expires: a.expires, urls };
    tokens.set(key, v);
    return v;
  });
  tokens.set(key, { expires: 0, pending: p });
  try { return await p; } catch (e) { tokens.delete(key); throw e; }
}
export function forgetTokens(cameraId) {
  for (const k of [...tokens.keys()]) if (!cameraId || k.startsWith(cameraId + ':')) tokens.delete(k);
}

/** Cameras in homes where the caller may manage (owner/member), by home id. */
export function homeRole(homeId) {
  const home = session.homes.find(x => x.id === homeId);
  return home ? home.role : (session.user && session.user.admin ? 'admin' : 'none');
}
