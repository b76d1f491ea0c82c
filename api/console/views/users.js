// Users and API keys (admins only): the store's accounts can be created, bound to a role and grid subtree, have
// their password reset, be disabled; keys are created (shown once) and revoked. The config's accounts are listed
// read-only. Everything goes through the same admin routes as any client: /users, /api-keys.
import { ApiError, getJson, sendJson } from "../api.js";
import { h } from "../dom.js";
import { formatTime, t } from "../i18n.js";

const ROLES = ["operator", "viewer", "admin", "incident-system"];

export function render(container, ctx) {
  let disposed = false;
  const message = h("p", { class: "users-message", role: "status", hidden: true });
  const newKey = h("div", { class: "new-key", hidden: true });
  const usersBody = h("tbody", { id: "users-rows" });
  const keysBody = h("tbody", { id: "keys-rows" });

  const gridOptions = (selected) => [
    h("option", { value: "", selected: !selected }, t("grid.all")),
    ...ctx.state.gridCells.map((cell) =>
      h("option", { value: cell.code, selected: cell.code === selected }, `${"\u3000".repeat(cell.depth)}${cell.name}`)),
  ];
  const roleOptions = (selected) =>
    ROLES.map((role) => h("option", { value: role, selected: role === selected }, t(`role.${role}`)));
  const gridName = (code) => (code ? (ctx.state.gridCells.find((c) => c.code === code)?.name ?? code) : t("grid.all"));

  function say(key, params = {}, isError = false) {
    message.textContent = t(key, params);
    message.classList.toggle("error", isError);
    message.hidden = false;
  }

  async function act(work, doneKey, params) {
    try {
      await work();
      say(doneKey, params);
      await load();
    } catch (error) {
      if (ctx.handleError(error)) return;
      say("users.failed", { why: error instanceof ApiError ? error.message : String(error) }, true);
    }
  }

  function userRow(user) {
    const fromConfig = user.source === "config";
    const role = h("select", { class: "user-role", disabled: fromConfig }, ...roleOptions(user.role));
    const grid = h("select", { class: "user-grid", disabled: fromConfig }, ...gridOptions(user.grid));
    const password = h("input", { class: "user-password", type: "password", autocomplete: "new-password",
      placeholder: t("users.new_password"), minlength: 10 });
    const actions = fromConfig
      ? [h("span", { class: "muted small" }, t("users.from_config"))]
      : [
          h("button", { type: "button", class: "user-save", onclick: () => act(
            () => sendJson("PATCH", `/users/${encodeURIComponent(user.name)}`, { role: role.value, grid: grid.value || null }),
            "users.saved", { name: user.name }) }, t("users.save")),
          h("button", { type: "button", class: "user-disable", onclick: () => act(
            () => sendJson("PATCH", `/users/${encodeURIComponent(user.name)}`, { disabled: !user.disabled }),
            user.disabled ? "users.enabled" : "users.disabled", { name: user.name }) },
            user.disabled ? t("users.enable") : t("users.disable")),
          password,
          h("button", { type: "button", class: "user-reset", onclick: () => act(
            () => sendJson("PUT", `/users/${encodeURIComponent(user.name)}/password`, { password: password.value }),
            "users.reset_done", { name: user.name }) }, t("users.reset")),
        ];
    return h("tr", { dataset: { user: user.name, source: user.source, disabled: String(user.disabled) } },
      h("td", {}, h("strong", {}, user.name), user.disabled ? h("span", { class: "badge-off" }, t("users.is_disabled")) : null),
      h("td", {}, role),
      h("td", {}, grid),
      h("td", { class: "small muted" }, user.created_by ? `${user.created_by} · ${formatTime(user.created_at)}` : "—"),
      h("td", { class: "row-actions" }, ...actions));
  }

  function keyRow(key) {
    const fromConfig = key.source === "config";
    return h("tr", { dataset: { key: key.name, revoked: String(Boolean(key.revoked_at)) } },
      h("td", {}, h("strong", {}, key.name)),
      h("td", {}, t(`role.${key.role}`)),
      h("td", {}, gridName(key.grid)),
      h("td", { class: "small muted" }, key.revoked_at ? `${t("keys.revoked")} ${formatTime(key.revoked_at)} (${key.revoked_by})`
        : key.created_by ? `${key.created_by} · ${formatTime(key.created_at)}` : "—"),
      h("td", { class: "row-actions" },
        fromConfig ? h("span", { class: "muted small" }, t("users.from_config"))
          : key.revoked_at ? null
          : h("button", { type: "button", class: "key-revoke", onclick: () => act(
              () => sendJson("DELETE", `/api-keys/${encodeURIComponent(key.name)}`), "keys.revoke_done", { name: key.name }) },
              t("keys.revoke"))));
  }

  // the forms to create a user and a key
  const userName = h("input", { id: "new-user-name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}" });
  const userPassword = h("input", { id: "new-user-password", type: "password", required: true, minlength: 10,
    autocomplete: "new-password" });
  const userRole = h("select", { id: "new-user-role" }, ...roleOptions("operator"));
  const userGrid = h("select", { id: "new-user-grid" }, ...gridOptions(ctx.state.principal.grid));
  const userForm = h("form", { id: "new-user", class: "inline-form", onsubmit: (event) => {
    event.preventDefault();
    const body = { name: userName.value.trim(), password: userPassword.value, role: userRole.value, grid: userGrid.value || null };
    act(async () => {
      await sendJson("POST", "/users", body);
      userName.value = "";
      userPassword.value = "";
    }, "users.created", { name: body.name });
  } },
  h("label", {}, t("users.name"), userName), h("label", {}, t("login.password"), userPassword),
  h("label", {}, t("users.role"), userRole), h("label", {}, t("users.grid"), userGrid),
  h("button", { type: "submit", class: "primary" }, t("users.create")));

  const keyName = h("input", { id: "new-key-name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}" });
  const keyRole = h("select", { id: "new-key-role" }, ...roleOptions("incident-system"));
  const keyGrid = h("select", { id: "new-key-grid" }, ...gridOptions(ctx.state.principal.grid));
  const keyForm = h("form", { id: "new-key", class: "inline-form", onsubmit: (event) => {
    event.preventDefault();
    const body = { name: keyName.value.trim(), role: keyRole.value, grid: keyGrid.value || null };
    act(async () => {
      const created = await sendJson("POST", "/api-keys", body);
      keyName.value = "";
      // shown this once: the service keeps only its sha256
      newKey.replaceChildren(h("strong", {}, t("keys.shown_once", { name: created.name })),
        h("code", { id: "new-key-value" }, created.key));
      newKey.hidden = false;
    }, "keys.created", { name: body.name });
  } },
  h("label", {}, t("users.name"), keyName), h("label", {}, t("users.role"), keyRole),
  h("label", {}, t("users.grid"), keyGrid), h("button", { type: "submit", class: "primary" }, t("keys.create")));

  const head = (...names) => h("thead", {}, h("tr", {}, ...names.map((n) => h("th", {}, t(n)))));
  container.append(h("section", { class: "users-view" },
    h("h2", {}, t("users.title")), message,
    h("h3", {}, t("users.users")),
    h("table", { class: "accounts" }, head("users.name", "users.role", "users.grid", "users.created_col", "users.actions"), usersBody),
    userForm,
    h("h3", {}, t("keys.title")), newKey,
    h("table", { class: "accounts" }, head("users.name", "users.role", "users.grid", "users.created_col", "users.actions"), keysBody),
    keyForm));

  async function load() {
    try {
      const [users, keys] = await Promise.all([getJson("/users"), getJson("/api-keys")]);
      if (disposed) return;
      usersBody.replaceChildren(...users.map(userRow));
      keysBody.replaceChildren(...keys.map(keyRow));
    } catch (error) {
      if (!ctx.handleError(error)) say("users.failed", { why: String(error) }, true);
    }
  }

  load();
  return {
    dispose() {
      disposed = true;
    },
  };
}
