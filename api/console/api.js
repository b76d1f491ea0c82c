// The console talks to the same API as every other client, with the operator's bearer token. The token lives in
// sessionStorage: it survives a reload, not the closing of the tab.
const TOKEN_KEY = "xueliang.token";

export class Unauthorized extends Error {}

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : (detail?.message ?? JSON.stringify(detail)));
    this.status = status;
    this.detail = detail;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

export async function login(username, password) {
  const body = new URLSearchParams({ username, password });
  const response = await fetch("/auth/token", { method: "POST", body });
  if (response.status === 401 || response.status === 400 || response.status === 422) throw new Unauthorized();
  if (!response.ok) throw new ApiError(response.status, await response.text());
  const token = await response.json();
  session.token = token.access_token;
  return token;
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
  const response = await request(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return response.json();
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
