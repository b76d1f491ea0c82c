// The operator console: login, the live incident feed (always on screen), and the views (map, camera wall,
// dashboard, one incident). Plain ES modules served by the app itself: no build step, nothing from the internet.
import { LockedOut, Unauthorized, getJson, lastSeq, login, logout as endSession, scheduleRenewal, session } from "./api.js";
import { Alarm } from "./alarm.js";
import { h, gridLeaf, lightDot, lightNow, severityBadge, statusLabel } from "./dom.js";
import { categoryName, currentLang, formatClock, setLang, t, translatePage } from "./i18n.js";
import { LiveLink } from "./live.js";
import * as camerasView from "./views/cameras.js";
import * as dashboardView from "./views/dashboard.js";
import * as incidentView from "./views/incident.js";
import * as mapView from "./views/map.js";
import * as usersView from "./views/users.js";

const FEED_LIMIT = 200;
const FRESH_MS = 15000;

const state = {
  principal: null,
  incidents: new Map(), // id → the incident as the API shows it (latest version seen)
  cameras: new Map(), // id → the camera as GET /cameras shows it, its status kept current by camera.status
  gridTree: null,
  gridCells: [], // the grid tree flattened: {code, name, depth}
  categories: [], // {code, name, group}
  lifecycle: [], // the closed loop's steps (GET /incidents/lifecycle)
  filters: { grid: "", category: "" },
  fresh: new Map(), // id → when it appeared in the feed (highlighted for a while)
};

let link = null;
let view = null; // the current view: {onMessage?, onTick?, dispose?}
let tick = null;
const alarm = new Alarm();
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------- session

function showLogin(messageKey, params = {}) {
  stopConsole();
  $("console").hidden = true;
  $("login").hidden = false;
  const error = $("login-error");
  error.hidden = !messageKey;
  if (messageKey) error.textContent = t(messageKey, params);
  $("login-username").focus();
}

async function onLogin(event) {
  event.preventDefault();
  alarm.unlock(); // a click: browsers let a page make sound only after one
  const button = $("login-submit");
  button.disabled = true;
  try {
    await login($("login-username").value.trim(), $("login-password").value);
    $("login-password").value = "";
    await startConsole();
  } catch (error) {
    $("login-password").value = "";
    if (error instanceof LockedOut) showLogin("login.locked", { s: error.seconds });
    else showLogin(error instanceof Unauthorized ? "login.failed" : "login.offline");
    $("login-password").focus();
  } finally {
    button.disabled = false;
  }
}

function logout(messageKey) {
  endSession(); // revokes the login on the server
  showLogin(messageKey);
}

function handleError(error) {
  if (error instanceof Unauthorized) {
    logout("login.expired");
    return true;
  }
  console.error(error);
  return false;
}

// ------------------------------------------------------------------------------------------------ start

async function startConsole() {
  const me = await getJson("/auth/me");
  // Resume point first, then the lists: whatever changes after `seq` comes over the websocket, so nothing
  // falls between the lists and the live feed.
  const seq = await lastSeq();
  const [page, cameras, tree, services, lifecycle] = await Promise.all([
    getJson("/incidents", { limit: FEED_LIMIT }),
    getJson("/cameras"),
    getJson("/grids"),
    getJson("/open311/v2/services.json"),
    getJson("/incidents/lifecycle"),
  ]);
  state.principal = me;
  $("users-tab").hidden = me.role !== "admin";
  state.incidents = new Map(page.items.map((incident) => [incident.id, incident]));
  state.cameras = new Map(cameras.map((camera) => [camera.id, camera]));
  state.gridTree = tree;
  state.gridCells = flattenGrid(tree);
  state.categories = services.map((s) => ({ code: s.service_code, name: s.service_name, group: s.group }));
  state.lifecycle = lifecycle;
  state.fresh.clear();

  $("login").hidden = true;
  $("console").hidden = false;
  renderChrome();
  renderFilters();
  renderFeed();
  link = new LiveLink(() => session.token, seq, {
    onMessage,
    onState: renderLinkState,
    onUnauthorized: () => logout("login.expired"),
    onResumeTooOld: restartConsole,
  });
  link.start();
  window.xueliangLink = link; // for the browser tests' network-drop check, and for a look from the devtools
  tick = setInterval(() => {
    renderFeed();
    view?.onTick?.();
  }, 10000);
  route();
}

// The server no longer holds every message since our resume point (close code 4410): load the lists and connect
// afresh, as after login; while the API cannot be reached, try again every few seconds.
async function restartConsole() {
  stopConsole();
  try {
    await startConsole();
  } catch (error) {
    if (!handleError(error) && session.token) setTimeout(restartConsole, 5000);
  }
}

function stopConsole() {
  link?.stop();
  link = null;
  clearInterval(tick);
  view?.dispose?.();
  view = null;
}

function flattenGrid(node, depth = 0, out = []) {
  out.push({ code: node.code, name: node.name, depth });
  for (const child of node.children ?? []) flattenGrid(child, depth + 1, out);
  return out;
}

// ------------------------------------------------------------------------------------------- live feed

function onMessage(message) {
  if (message.type === "camera.status") {
    const camera = state.cameras.get(message.data.camera_id);
    if (camera) {
      const { camera_id, name, grid_code, updated_at, ...status } = message.data;
      camera.status = { ...camera.status, ...status };
    }
  } else if (message.type.startsWith("incident.")) {
    const { transition, ...incident } = message.data;
    if (incident.is_test) return; // replays' virtual cameras: not the operators' business
    const known = state.incidents.has(incident.id);
    state.incidents.set(incident.id, incident);
    if (!known) state.fresh.set(incident.id, Date.now());
    if (message.type === "incident.opened" && incident.severity === "A") {
      alarm.raise(t("alarm.new", { what: categoryName(incident), where: `${incident.camera_name} · ${gridLeaf(incident)}` }),
        () => navigate(`#/incidents/${incident.id}`));
    }
    renderFeed();
  }
  view?.onMessage?.(message);
}

function visibleIncidents() {
  const { grid, category } = state.filters;
  return [...state.incidents.values()]
    .filter((i) => (!grid || i.grid_code.startsWith(grid)) && (!category || i.category_code === category))
    .sort((a, b) => b.opened_at.localeCompare(a.opened_at) || b.id.localeCompare(a.id))
    .slice(0, FEED_LIMIT);
}

// Feed items are kept while they show the same thing: the cameras update incidents often, and an item rebuilt
// under the operator's pointer would swallow the click.
const feedItems = new Map(); // id → its <li>, with the signature of what it shows in data-sig

function renderFeed() {
  const list = $("feed-list");
  const items = visibleIncidents();
  const selected = currentIncidentId();
  const now = Date.now();
  const nodes = items.map((incident) => {
    const fresh = now - (state.fresh.get(incident.id) ?? 0) < FRESH_MS;
    const light = lightNow(incident).light;
    const sig = [incident.status, incident.severity, light, fresh, incident.id === selected, currentLang(),
      incident.camera_name].join("|");
    const known = feedItems.get(incident.id);
    if (known && known.dataset.sig === sig) return known;
    const li = feedItem(incident, fresh, incident.id === selected);
    li.dataset.sig = sig;
    feedItems.set(incident.id, li);
    return li;
  });
  const current = [...list.children];
  if (current.length !== nodes.length || current.some((node, i) => node !== nodes[i])) list.replaceChildren(...nodes);
  for (const id of feedItems.keys()) if (!state.incidents.has(id)) feedItems.delete(id);
  $("feed-empty").hidden = items.length > 0;
  $("feed-count").textContent = t("feed.count", { n: items.length });
}

function feedItem(incident, fresh, selected) {
  return h(
    "li",
    {
      class: `feed-item sev-row-${incident.severity}${fresh ? " fresh" : ""}${selected ? " selected" : ""}`,
      dataset: { incidentId: incident.id, status: incident.status, severity: incident.severity,
        category: incident.category_code, cameraId: incident.camera_id },
    },
    h(
      "a",
      { href: `#/incidents/${incident.id}` },
      h("div", { class: "feed-line" },
        severityBadge(incident.severity),
        h("strong", { class: "feed-category" }, categoryName(incident)),
        h("span", { class: `status status-${incident.status}` }, statusLabel(incident.status)),
        lightDot(incident)),
      h("div", { class: "feed-line muted" },
        h("span", { class: "feed-where" }, `${incident.camera_name} · ${gridLeaf(incident)}`),
        h("time", { datetime: incident.opened_at }, formatClock(incident.opened_at))),
    ),
  );
}

function renderFilters() {
  const grid = $("filter-grid");
  grid.replaceChildren(
    h("option", { value: "" }, t("grid.all")),
    ...state.gridCells.map((cell) =>
      h("option", { value: cell.code, selected: cell.code === state.filters.grid }, `${"\u3000".repeat(cell.depth)}${cell.name}`),
    ),
  );
  const category = $("filter-category");
  category.replaceChildren(
    h("option", { value: "" }, t("feed.all")),
    ...state.categories.map((c) =>
      h("option", { value: c.code, selected: c.code === state.filters.category },
        categoryName({ category_code: c.code, category_name: c.name })),
    ),
  );
}

function setGridFilter(code) {
  state.filters.grid = state.gridCells.some((c) => c.code === code) ? code : "";
  $("filter-grid").value = state.filters.grid;
  renderFeed();
}

function renderLinkState({ state: linkState, seconds }) {
  const el = $("link-state");
  el.dataset.state = linkState;
  el.textContent = linkState === "open" ? t("link.open") : linkState === "retry" ? t("link.retry", { s: seconds }) : t("link.connecting");
}

function renderChrome() {
  translatePage();
  const me = state.principal;
  if (me) {
    const cell = state.gridCells.find((c) => c.code === me.grid);
    $("who").textContent = `${me.name} · ${t(`role.${me.role}`)} · ${cell ? cell.name : t("grid.all")}`;
  }
  $("sound-toggle").textContent = alarm.enabled ? t("sound.on") : t("sound.off");
  $("alarm").querySelector("button")?.replaceChildren(t("alarm.dismiss"));
  if (link) renderLinkState({ state: $("link-state").dataset.state });
}

// -------------------------------------------------------------------------------------------------- views

function currentIncidentId() {
  const match = location.hash.match(/^#\/incidents\/([^/?#]+)/);
  return match ? decodeURIComponent(match[1]) : null;
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function route() {
  if (!state.principal) return;
  view?.dispose?.();
  const container = $("view");
  container.replaceChildren();
  const ctx = { state, navigate, handleError, refreshFeed: renderFeed, setGridFilter };
  const incidentId = currentIncidentId();
  const name = incidentId ? "incident" : (location.hash.replace(/^#\//, "") || "map");
  for (const tab of document.querySelectorAll(".tabs a")) tab.classList.toggle("active", tab.dataset.view === name);
  document.body.dataset.view = name;
  if (incidentId) view = incidentView.render(container, ctx, incidentId);
  else if (name === "cameras") view = camerasView.render(container, ctx);
  else if (name === "dashboard") view = dashboardView.render(container, ctx);
  else if (name === "users" && state.principal.role === "admin") view = usersView.render(container, ctx);
  else view = mapView.render(container, ctx);
  renderFeed();
}

// ------------------------------------------------------------------------------------------------- wiring

function switchLanguage() {
  setLang(currentLang() === "zh" ? "en" : "zh");
  translatePage();
  if (state.principal && !$("console").hidden) {
    renderChrome();
    renderFilters();
    route();
  }
}

function boot() {
  translatePage();
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", () => logout());
  for (const button of document.querySelectorAll(".lang-switch")) button.addEventListener("click", switchLanguage);
  $("sound-toggle").addEventListener("click", () => {
    alarm.unlock();
    alarm.enabled = !alarm.enabled;
    renderChrome();
  });
  $("filter-grid").addEventListener("change", (e) => {
    state.filters.grid = e.target.value;
    renderFeed();
  });
  $("filter-category").addEventListener("change", (e) => {
    state.filters.category = e.target.value;
    renderFeed();
  });
  window.addEventListener("hashchange", route);
  // after a reload the page may not make sound until the operator clicks somewhere
  document.addEventListener("pointerdown", () => alarm.unlock(), { once: true });
  if (session.token) {
    scheduleRenewal();
    startConsole().catch((error) => {
      if (!handleError(error)) showLogin("login.offline");
    });
  } else {
    showLogin();
  }
}

boot();
