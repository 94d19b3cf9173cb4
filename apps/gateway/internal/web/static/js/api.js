// The API client. The access token lives in memory only; the refresh token
// in the gateway's HttpOnly cookie (X-Harmonia-Session: cookie), so a
// script on this page can never read it. A reload refreshes once to get a
// new access token.

let access = '';
let expiresAt = 0;
let claims = null;
let known = false; // whether we know if there is a session (after a refresh or sign-in)
let refreshing = null;
const watchers = new Set();

export class ApiError extends Error {
  constructor(status, problem, message) {
    super(message || (problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

// session is who is signed in: {userId, roles} or null.
export function session() {
  return claims ? { userId: claims.sub, roles: claims.roles || [] } : null;
}

export function isAdmin() {
  return !!(claims && (claims.roles || []).includes('admin'));
}

export function onSession(f) { watchers.add(f); return () => watchers.delete(f); }

function setTokens(t) {
  known = true;
  if (!t || !t.accessToken) {
    access = ''; expiresAt = 0; claims = null;
  } else {
    access = t.accessToken;
    expiresAt = Date.now() + (t.expiresIn || 900) * 1000;
    try {
      const part = access.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
    } catch {
      claims = { sub: t.userId, roles: [] };
    }
  }
  for (const f of watchers) f(session());
}

async function authCall(path, body) {
  const res = await fetch('/api/v1/auth/' + path, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-Harmonia-Session': 'cookie' },
    body: body ? JSON.stringify(body) : '{}',
  });
  const data = await readBody(res);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export async function signIn(email, password) { setTokens(await authCall('login', { email, password })); }
export async function signUp(input) { setTokens(await authCall('register', input)); }

export async function signOut() {
  try { await authCall('logout'); } catch { /* the session is gone either way */ }
  setTokens(null);
}

// refresh trades the cookie for a new access token (one at a time).
export function refresh() {
  if (!refreshing) {
    refreshing = authCall('refresh')
      .then((t) => { setTokens(t); return true; })
      .catch(() => { setTokens(null); return false; })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function readBody(res) {
  const ct = res.headers.get('Content-Type') || '';
  if (res.status === 204) return null;
  if (ct.includes('json')) { try { return await res.json(); } catch { return null; } }
  return null;
}

// token is a valid access token (refreshed when close to expiry), or ''.
export async function token() {
  if (access && Date.now() < expiresAt - 30000) return access;
  if (access || !known) await refresh(); // expiring, or first use after a reload
  return access;
}

// api calls /api/v1<path>. opts: method, body (JSON), headers, ifMatch,
// raw (return the Response), signal. It throws ApiError on a 4xx/5xx, with
// the problem document (RFC 9457) when there is one.
export async function api(path, opts = {}) {
  const send = async (tok) => {
    const headers = { ...(opts.headers || {}) };
    if (tok) headers.Authorization = 'Bearer ' + tok;
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (opts.ifMatch) headers['If-Match'] = opts.ifMatch;
    if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
    return fetch('/api/v1' + path, {
      method: opts.method || 'GET', headers, signal: opts.signal, credentials: 'same-origin',
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
    });
  };
  let tok = await token();
  let res = await send(tok);
  if (res.status === 401 && tok) { // expired or rotated under us: one refresh, one retry
    if (await refresh()) res = await send(access);
  }
  if (opts.raw) {
    if (!res.ok && !(res.status === 206)) throw new ApiError(res.status, await readBody(res));
    return res;
  }
  const data = await readBody(res);
  if (!res.ok) throw new ApiError(res.status, data);
  if (data && typeof data === 'object' && res.headers.get('ETag')) {
    Object.defineProperty(data, '_etag', { value: res.headers.get('ETag'), enumerable: false });
  }
  return data;
}

// cached GETs of things that rarely change (artists, albums), for labels.
const cache = new Map();
export function cached(path, ttlMs = 5 * 60 * 1000) {
  const hit = cache.get(path);
  if (hit && Date.now() - hit.at < ttlMs) return hit.p;
  const p = api(path).catch((e) => { cache.delete(path); throw e; });
  cache.set(path, { at: Date.now(), p });
  return p;
}

export function forget(prefix) {
  for (const k of cache.keys()) if (k.startsWith(prefix)) cache.delete(k);
}

// trackInfo is a track with its album and artist (for the player and lists).
export async function trackInfo(id) {
  const t = await cached('/tracks/' + id);
  const [album, artist] = await Promise.all([
    cached('/albums/' + t.albumId).catch(() => null),
    cached('/artists/' + t.artistId).catch(() => null),
  ]);
  return { ...t, albumTitle: album ? album.title : '', artistName: artist ? artist.name : '', genre: album ? album.genre : '' };
}

// keepalive sends a write that may outlive the page (its last position), with
// the access token in hand (no refresh: the page is going).
export function keepalive(path, method, body) {
  if (!access || Date.now() >= expiresAt) return;
  fetch('/api/v1' + path, { method, keepalive: true, credentials: 'same-origin',
    headers: { Authorization: 'Bearer ' + access, 'Content-Type': 'application/json' }, body: JSON.stringify(body) }).catch(() => {});
}
