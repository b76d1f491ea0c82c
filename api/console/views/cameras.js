// The camera wall: every camera of the operator's grid with its health (live from camera.status messages), last
// error, analysed fps and frame counters (refreshed by the service every few seconds, read here every 5 s), and
// its latest analysed frame (GET /cameras/{id}/thumbnail, from the data directory), with the camera's zones and
// lines drawn over it so an operator sees what each camera watches (image pixels, scaled by X-Frame-Size).
// Admins also see which node serves each camera (GET /cluster, admins only; one node in the single-process mode).
import { getImage, getJson } from "../api.js";
import { gridPathText, h, svg } from "../dom.js";
import { formatTime, t } from "../i18n.js";

const REFRESH_MS = 5000;

export function render(container, ctx) {
  let disposed = false;
  let timer = null;
  const thumbnails = new Map(); // camera id → { url: object URL, size: [width, height] of the analysed frame }
  const showNodes = ctx.state.principal?.role === "admin"; // GET /cluster answers admins only
  let cluster = null; // { mode, nodes by id, placements by camera id } once read
  const root = h("section", { class: "cameras-view" }, h("h2", {}, t("cameras.title")));
  const wall = h("div", { class: "camera-wall" });
  root.append(wall);
  container.append(root);

  async function refresh() {
    try {
      const cameras = await getJson("/cameras");
      if (disposed) return;
      for (const camera of cameras) ctx.state.cameras.set(camera.id, camera);
      if (showNodes) cluster = await readCluster();
      if (disposed) return;
      draw();
      await Promise.all(cameras.map(async (camera) => {
        const image = await getImage(`/cameras/${encodeURIComponent(camera.id)}/thumbnail`);
        if (disposed) {
          if (image) URL.revokeObjectURL(image.url);
          return;
        }
        const old = thumbnails.get(camera.id);
        if (image) {
          const size = (image.headers.get("X-Frame-Size") ?? "").split("x").map(Number);
          thumbnails.set(camera.id, { url: image.url, size: size.length === 2 && size.every((n) => n > 0) ? size : null });
          if (old) URL.revokeObjectURL(old.url);
        }
      }));
      if (!disposed) draw();
    } catch (error) {
      if (ctx.handleError(error)) return;
    }
    if (!disposed) timer = setTimeout(refresh, REFRESH_MS);
  }

  async function readCluster() {
    try {
      const answer = await getJson("/cluster");
      return {
        mode: answer.mode,
        nodes: new Map(answer.nodes.map((node) => [node.node_id, node])),
        placements: new Map(answer.placements.map((placement) => [placement.camera_id, placement])),
      };
    } catch {
      return cluster; // the wall works without it; the last picture stays
    }
  }

  /** Which node serves the camera, for admins: 单机 + host name in the single-process mode, else the node's address
   * (未分配节点 when no node serves it now). */
  function nodeBadge(camera) {
    if (!showNodes || !cluster) return null;
    const placement = cluster.placements.get(camera.id);
    const node = placement?.node_id != null ? cluster.nodes.get(placement.node_id) : null;
    const text = !node ? t("cameras.node.none")
      : cluster.mode === "single" ? `${t("cameras.node.single")} · ${node.address}` : node.address;
    return h("p", { class: "camera-node small", dataset: { nodeId: node?.node_id ?? "" } },
      `${t("cameras.node")}: ${text}`);
  }

  /** The camera's zones (polygons) and lines over its picture, in the analysed frame's pixels. The SVG scales
   * like the <img> (object-fit: cover ↔ preserveAspectRatio slice), so the shapes stay on what they mark. */
  function overlay(camera, size) {
    const zones = Object.entries(camera.zones ?? {});
    const lines = Object.entries(camera.lines ?? {});
    if (!size || (!zones.length && !lines.length)) return null;
    const points = (list) => list.map(([x, y]) => `${x},${y}`).join(" ");
    const label = ([x, y], text, cls) => svg("text", { x: x + 6, y: y + 18, class: cls }, text);
    return svg("svg", { class: "overlay", viewBox: `0 0 ${size[0]} ${size[1]}`, preserveAspectRatio: "xMidYMid slice" },
      ...zones.map(([name, polygon]) => svg("g", { class: "zone", "data-name": name },
        svg("title", {}, `${t("cameras.zone")} ${name}`),
        svg("polygon", { points: points(polygon) }),
        label(polygon[0], name, "shape-label"))),
      ...lines.map(([name, line]) => svg("g", { class: "line", "data-name": name },
        svg("title", {}, `${t("cameras.line")} ${name}`),
        svg("polyline", { points: points(line) }),
        svg("circle", { cx: line[0][0], cy: line[0][1], r: 6 }),  // where it starts: `in` is right to left of its way
        label(line[line.length - 1], name, "shape-label"))));
  }

  function card(camera) {
    const status = camera.status ?? { state: "unknown" };
    const thumbnail = thumbnails.get(camera.id);
    const url = thumbnail?.url;
    const facts = [
      [t("cameras.since"), formatTime(status.since)],
      [t("cameras.fps"), status.analysed_fps != null ? status.analysed_fps.toFixed(2) : "—"],
      [t("cameras.frames"), `${status.frames_decoded ?? 0} / ${status.frames_dropped ?? 0}`],
    ];
    return h("article", { class: `camera-card state-${status.state}`, dataset: { cameraId: camera.id, state: status.state } },
      url
        ? h("div", { class: "thumb-wrap" }, h("img", { class: "thumb", src: url, alt: camera.name }),
          overlay(camera, thumbnail.size))
        : h("div", { class: "thumb no-picture" }, t("cameras.no_thumbnail")),
      h("div", { class: "camera-info" },
        h("div", { class: "camera-title" },
          h("strong", {}, camera.name),
          h("span", { class: `state-badge cam-${status.state}` }, t(`cameras.state.${status.state}`))),
        h("div", { class: "muted small" }, `${camera.id} · ${gridPathText(camera.grid_path.slice(1))}`),
        h("dl", {}, ...facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
        nodeBadge(camera),
        status.last_error ? h("p", { class: "last-error" }, `${t("cameras.error")}: ${status.last_error}`) : null));
  }

  function draw() {
    const cameras = [...ctx.state.cameras.values()];
    wall.replaceChildren(...(cameras.length ? cameras.map(card) : [h("p", { class: "muted" }, t("cameras.none"))]));
  }

  draw();
  refresh();
  return {
    onMessage(message) {
      if (message.type === "camera.status") draw();
    },
    dispose() {
      disposed = true;
      clearTimeout(timer);
      for (const { url } of thumbnails.values()) URL.revokeObjectURL(url);
    },
  };
}
