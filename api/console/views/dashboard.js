// Today at a glance (GET /stats from local midnight): incidents by grid cell and category, open and overdue counts,
// the false-alarm rate. Refreshed when an incident changes, and every 10 s.
import { getJson } from "../api.js";
import { FINISHED, h } from "../dom.js";
import { categoryName, t } from "../i18n.js";

export function render(container, ctx) {
  let disposed = false;
  let timer = null;
  const root = h("section", { class: "dashboard-view" }, h("h2", {}, t("dash.title")), h("p", { class: "muted" }, "…"));
  container.append(root);

  async function load() {
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    try {
      const stats = await getJson("/stats", { opened_from: midnight.toISOString() });
      if (!disposed) draw(stats);
    } catch (error) {
      ctx.handleError(error);
    }
  }

  function bars(rows) {
    const max = Math.max(1, ...rows.map((r) => r.value));
    return h("table", { class: "bars" }, ...rows.map((row) =>
      h("tr", { dataset: row.data ?? {} },
        h("th", { style: `padding-left:${0.4 + (row.depth ?? 0) * 1.1}em` }, row.label),
        h("td", { class: "bar-cell" }, h("span", { class: "bar", style: `width:${(100 * row.value) / max}%` })),
        h("td", { class: "num" }, String(row.value)))));
  }

  function draw(stats) {
    const open = Object.entries(stats.by_status).filter(([s]) => !FINISHED.has(s)).reduce((n, [, c]) => n + c, 0);
    const rate = stats.false_alarms.rate;
    const rootDepth = stats.by_grid.length ? stats.by_grid[0].code.length : 0;
    const depthOf = (code) => ctx.state.gridCells.find((c) => c.code === code)?.depth ?? (code.length - rootDepth) / 3;
    const baseDepth = stats.by_grid.length ? depthOf(stats.by_grid[0].code) : 0;
    const categories = new Map(ctx.state.categories.map((c) => [c.code, c]));
    const tile = (key, value, cls) => h("div", { class: `tile ${cls ?? ""}`, dataset: { tile: key } },
      h("div", { class: "tile-value" }, value), h("div", { class: "tile-label" }, t(`dash.${key}`)));
    root.replaceChildren(
      h("h2", {}, t("dash.title")),
      h("div", { class: "tiles" },
        tile("total", String(stats.total)),
        tile("open", String(open), open ? "warn" : ""),
        tile("overdue", String(stats.overdue), stats.overdue ? "bad" : ""),
        tile("false_rate", rate == null ? t("dash.none") : `${Math.round(rate * 100)}%`),
      ),
      h("div", { class: "panels" },
        h("section", { class: "panel", id: "dash-by-grid" }, h("h3", {}, t("dash.by_grid")),
          bars(stats.by_grid.map((g) => ({ label: g.name, value: g.incidents, depth: depthOf(g.code) - baseDepth, data: { code: g.code } })))),
        h("section", { class: "panel", id: "dash-by-category" }, h("h3", {}, t("dash.by_category")),
          bars(ctx.state.categories.map((c) => ({
            label: categoryName({ category_code: c.code, category_name: c.name }),
            value: stats.by_category[c.code] ?? 0,
            data: { category: c.code },
          })).concat(Object.keys(stats.by_category).filter((code) => !categories.has(code))
            .map((code) => ({ label: code, value: stats.by_category[code] }))))),
        h("section", { class: "panel", id: "dash-by-status" }, h("h3", {}, t("dash.by_status")),
          bars(Object.entries(stats.by_status).map(([s, n]) => ({ label: t(`status.${s}`), value: n, data: { status: s } })))),
      ),
    );
  }

  load();
  return {
    onMessage(message) {
      if (!message.type.startsWith("incident.")) return;
      clearTimeout(timer);
      timer = setTimeout(load, 1000);
    },
    onTick: load,
    dispose() {
      disposed = true;
      clearTimeout(timer);
    },
  };
}
