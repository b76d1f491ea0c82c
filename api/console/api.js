// The console talks to the same API as every other client, with the operator's bearer token. The token lives in
// sessionStorage: it survives a reload, not the closing of the tab. It is renewed (POST /auth/refresh) a few
// minutes before it expires, so an operator on a long shift is not logged out mid-incident; logging out revokes it.
const TOKEN_KEY = "xueliang.token";
const EXPIRES_KEY = "xueliang.token_expires"; // ms since the epoch
const RENEW_BEFORE_MS = 5 * 60 * 1000; // renew this long before expiry (or at 4/5 of a shorter lifetime)
const RETRY_RENEW_MS = 30 * 1000;

export class Unauthorized extends Error {}

/** Too many failed logins: the user name or this address is locked out for `seconds`. */
export class LockedOut extends Error {
  constructor(seconds) {
    super(`locked out for ${seconds} s`);
    this.seconds = seconds;
  }
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : (detail?.message ?? JSON.stringify(detail)));
    this.status = status;
    this.detail = detail;
  }
}

let renewTimer = null;

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else {
      sessionStorage.removeItem(TOKEN_KEY);
      sessionStorage.removeItem(EXPIRES_KEY);
      clearTimeout(renewTimer);
    }
  },
  get expiresAt() {
    return Number(sessionStorage.getItem(EXPIRES_KEY) ?? 0);
  },
};

function keep(token) {
  session.token = token.access_token;
  sessionStorage.setItem(EXPIRES_KEY, String(Date.now() + token.expires_in * 1000));
  scheduleRenewal();
}

/** Renew the token before it expires (also after a reload, from the stored expiry). */
export function scheduleRenewal() {
  clearTimeout(renewTimer);
  if (!session.token || !session.expiresAt) return;
  const left = session.expiresAt - Date.now();
  // RENEW_BEFORE_MS ahead of expiry; a token that lives less than twice that: at 4/5 of what is left
  const wait = Math.max(1000, left > 2 * RENEW_BEFORE_MS ? left - RENEW_BEFORE_MS : left * 0.8);
  renewTimer = setTimeout(renew, wait);
}

async function renew() {
  try {
    const response = await fetch("/auth/refresh", { method: "POST", headers: { Authorization: `Bearer ${session.token}` } });
    if (response.ok) {
      keep(await response.json());
      return;
    }
    if (response.status === 401) return; // the session is over: the next request shows the login again
  } catch {
    /* offline: try again soon */
  }
  if (session.expiresAt > Date.now()) renewTimer = setTimeout(renew, RETRY_RENEW_MS);
}

export async function login(username, password) {
  const body = new URLSearchParams({ username, password });
  const response = await fetch("/auth/token", { method: "POST", body });
  if (response.status === 401 || response.status === 400 || response.status === 422) throw new Unauthorized();
  if (response.status === 429) throw new LockedOut(Number(response.headers.get("Retry-After") ?? 60));
  if (!response.ok) throw new ApiError(response.status, await response.text());
  const token = await response.json();
  keep(token);
  return token;
}

/** End the login on the server (its tokens are refused from now on), then forget the token here. */
export async function logout() {
  const token = session.token;
  session.token = null;
  if (!token) return;
  try {
    await fetch("/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  } catch {
    /* offline: the token still expires on its own */
  }
}

async function request(path, options = {}) {
  const headers = { ...(options.headers ?? {}), Authorization: `Bearer ${session.token}` };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) throw new Unauthorized();
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail ?? detail;
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, detail);
  }
  return response;
}

export async function getJson(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null));
  const url = query.toString() ? `${path}?${query}` : path;
  return (await request(url)).json();
}

export async function postJson(path, body) {
  return sendJson("POST", path, body);
}

/** POST, PATCH, PUT or DELETE with a JSON body (or none); the JSON answer, or null for 204. */
export async function sendJson(method, path, body) {
  const response = await request(path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return response.status === 204 ? null : response.json();
}

/** An image the API serves behind credentials (an <img src> cannot send them): an object URL, or null on 404. */
export async function getImageUrl(path) {
  return (await getImage(path))?.url ?? null;
}

/** getImageUrl, with the response's headers (a thumbnail's X-Frame-Size); null on 404. */
export async function getImage(path) {
  try {
    const response = await request(path);
    return { url: URL.createObjectURL(await response.blob()), headers: response.headers };
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

/** The open health check: the newest message seq, where the live feed resumes from after the first load. */
export async function lastSeq() {
  const response = await fetch("/healthz");
  if (!response.ok) throw new ApiError(response.status, response.statusText);
  return (await response.json()).last_seq;
}
