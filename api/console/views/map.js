// The grid map, drawn as SVG from GeoJSON without any tile server (camera networks are offline): the grid cells
// the operator may see, the cameras as points coloured by health, and the cells with open incidents tinted by
// their worst severity with a count. A simple projection is enough at city scale: x = lon · cos(mid latitude),
// y = -lat. Clicking a cell filters the feed to it; clicking a camera opens the camera wall.
import { getJson } from "../api.js";
import { gridPathText, h, isOpen, svg } from "../dom.js";
import { t } from "../i18n.js";

const WIDTH = 1000;
const PAD = 48;
const SEVERITY_RANK = { A: 3, B: 2, C: 1 };

export function render(container, ctx) {
  let disposed = false;
  let grids = null;
  let timer = null;
  const root = h("section", { class: "map-view" }, h("h2", {}, t("map.title")), h("p", { class: "muted" }, "…"));
  container.append(root);

  async function load() {
    try {
      const [collection, incidents] = await Promise.all([
        getJson("/grids/geojson"),
        getJson("/incidents/geojson", { limit: 500 }),
      ]);
      if (disposed) return;
      grids = collection;
      for (const feature of incidents.features) {
        const known = ctx.state.incidents.get(feature.properties.id);
        if (!known || known.updated_at <= feature.properties.updated_at) ctx.state.incidents.set(feature.properties.id, feature.properties);
      }
      draw();
    } catch (error) {
      if (!ctx.handleError(error)) root.append(h("p", { class: "error" }, String(error.message)));
    }
  }

  function draw() {
    const features = grids.features.filter((f) => f.geometry && f.geometry.type === "Polygon");
    const cameras = [...ctx.state.cameras.values()].filter((c) => c.lat != null && c.lon != null);
    // fit the map to what is inside the operator's subtree root (its own boundary would leave them small),
    // or to the root when nothing inside it has a boundary; what lies outside the frame is clipped
    const inner = features.length > 1 ? features.slice(1) : features;
    const points = [
      ...inner.flatMap((f) => f.geometry.coordinates[0]),
      ...cameras.map((c) => [c.lon, c.lat]),
    ];
    const open = [...ctx.state.incidents.values()].filter(isOpen);
    // each open incident shows on the deepest drawn cell that contains its own (a cell may have no boundary)
    const drawn = new Set(features.map((f) => f.properties.code));
    const openByCell = new Map();
    for (const incident of open) {
      let code = incident.grid_code;
      while (code && !drawn.has(code)) code = code.slice(0, -1);
      if (code) openByCell.set(code, [...(openByCell.get(code) ?? []), incident]);
    }
    const lengths = [...new Set(features.map((f) => f.properties.code.length))].sort((a, b) => a - b);
    const SHADES = ["#eef3f9", "#e1eaf5", "#d3e1f0", "#c5d7ea"];

    const body = [];
    if (points.length) {
      const lons = points.map((p) => p[0]);
      const lats = points.map((p) => p[1]);
      const [minLon, maxLon, minLat, maxLat] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
      const k = Math.cos(((minLat + maxLat) / 2) * (Math.PI / 180));
      const spanX = Math.max((maxLon - minLon) * k, 1e-6);
      const spanY = Math.max(maxLat - minLat, 1e-6);
      const scale = (WIDTH - 2 * PAD) / spanX;
      const height = Math.min(Math.max(spanY * scale + 2 * PAD, 300), 640);
      const scaleY = Math.min(scale, (height - 2 * PAD) / spanY);
      const s = Math.min(scale, scaleY);
      const offsetX = (WIDTH - spanX * s) / 2; // centred when the height limits the scale
      const project = ([lon, lat]) => [offsetX + (lon - minLon) * k * s, PAD + (maxLat - lat) * s];

      const depth = (f) => f.properties.code.length;
      const layers = [...features].sort((a, b) => depth(a) - depth(b));
      const parents = new Set(features.map((f) => f.properties.parent_code));
      const cells = layers.map((feature) => {
        const { code, name } = feature.properties;
        const ring = feature.geometry.coordinates[0].map(project);
        const xs = ring.map((p) => p[0]);
        const ys = ring.map((p) => p[1]);
        const box = { x0: Math.min(...xs), x1: Math.max(...xs), y0: Math.min(...ys), y1: Math.max(...ys) };
        const own = openByCell.get(code) ?? [];
        const worst = own.reduce((w, i) => Math.max(w, SEVERITY_RANK[i.severity] ?? 0), 0);
        const leaf = !parents.has(code);
        const shade = SHADES[Math.min(lengths.indexOf(code.length), SHADES.length - 1)];
        const fill = worst ? { 3: "#f4aca7", 2: "#f9cf9c", 1: "#f8e59c" }[worst] : shade;
        const cx = (box.x0 + box.x1) / 2;
        const cy = (box.y0 + box.y1) / 2;
        return svg("g", { class: `cell${own.length ? " has-open" : ""}${code === ctx.state.filters.grid ? " selected" : ""}`, "data-code": code, "data-open": own.length,
          onclick: (event) => { event.stopPropagation(); ctx.setGridFilter(code); draw(); } },
          svg("title", {}, `${name} (${code})`),
          svg("polygon", { points: ring.map((p) => p.join(",")).join(" "), fill, stroke: worst ? "#b3261e" : "#5b7593",
            "stroke-width": worst ? 2.5 : 1.2 }),
          leaf
            ? svg("text", { x: cx, y: Math.max(box.y0, 0) + 28, class: "cell-label", "text-anchor": "middle" }, name)
            : svg("text", { x: Math.max(box.x0, 0) + 10, y: Math.max(box.y0, 0) + 24, class: "cell-label parent" }, name),
          own.length
            ? svg("g", { class: "open-badge" },
                svg("rect", { x: cx - 45, y: Math.min(box.y1, height) - 42, width: 90, height: 28, rx: 14, fill: "#b3261e" }),
                svg("text", { x: cx, y: Math.min(box.y1, height) - 22, "text-anchor": "middle", fill: "#fff" },
                  t("map.open", { n: own.length })))
            : null);
      });
      const marks = cameras.map((camera) => {
        const [x, y] = project([camera.lon, camera.lat]);
        const stateName = camera.status?.state ?? "unknown";
        return svg("g", { class: "camera-point", "data-camera-id": camera.id, "data-state": stateName,
          onclick: () => ctx.navigate("#/cameras") },
          svg("title", {}, `${camera.name} · ${t(`cameras.state.${stateName}`)}`),
          svg("circle", { cx: x, cy: y, r: 9, class: `cam-${stateName}` }),
          svg("text", { x: x + 12, y: y + 5, class: "camera-label" }, camera.name));
      });
      body.push(svg("svg", { viewBox: `0 0 ${WIDTH} ${height}`, class: "grid-map", role: "img", "aria-label": t("map.title") },
        ...cells, ...marks));
    }
    const unmapped = grids.features.filter((f) => !f.geometry);
    const legend = h("div", { class: "legend" },
      ...["online", "connecting", "stalled", "offline", "unknown"].map((s) =>
        h("span", {}, h("i", { class: `dot cam-${s}` }), t(`cameras.state.${s}`))),
      h("span", {}, h("i", { class: "swatch open" }), t("map.legend.open")));
    const notes = unmapped.length
      ? h("p", { class: "muted" }, t("map.no_geometry", { names: unmapped.map((f) => {
          const n = open.filter((i) => i.grid_code === f.properties.code).length;
          return n ? `${f.properties.name} (${t("map.open", { n })})` : f.properties.name;
        }).join("、") }))
      : null;
    const me = ctx.state.principal;
    const scope = ctx.state.gridCells.length ? gridPathText([ctx.state.gridCells[0]]) : "";
    root.replaceChildren(...[h("h2", {}, `${t("map.title")} · ${scope}`), ...body, legend, notes].filter(Boolean));
    root.dataset.scope = me?.grid ?? "";
  }

  load();
  return {
    onMessage(message) {
      if (!grids) return;
      if (message.type === "camera.status" || message.type.startsWith("incident.")) {
        clearTimeout(timer);
        timer = setTimeout(draw, 300);
      }
    },
    dispose() {
      disposed = true;
      clearTimeout(timer);
    },
  };
}
