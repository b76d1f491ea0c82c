// The camera wall: every camera of the operator's grid with its health (live from camera.status messages), last
// error, analysed fps and frame counters (refreshed by the service every few seconds, read here every 5 s), and
// its latest analysed frame (GET /cameras/{id}/thumbnail, from the service's memory).
import { getImageUrl, getJson } from "../api.js";
import { gridPathText, h } from "../dom.js";
import { formatTime, t } from "../i18n.js";

const REFRESH_MS = 5000;

export function render(container, ctx) {
  let disposed = false;
  let timer = null;
  const thumbnails = new Map(); // camera id → object URL
  const root = h("section", { class: "cameras-view" }, h("h2", {}, t("cameras.title")));
  const wall = h("div", { class: "camera-wall" });
  root.append(wall);
  container.append(root);

  async function refresh() {
    try {
      const cameras = await getJson("/cameras");
      if (disposed) return;
      for (const camera of cameras) ctx.state.cameras.set(camera.id, camera);
      draw();
      await Promise.all(cameras.map(async (camera) => {
        const url = await getImageUrl(`/cameras/${encodeURIComponent(camera.id)}/thumbnail`);
        if (disposed) {
          if (url) URL.revokeObjectURL(url);
          return;
        }
        const old = thumbnails.get(camera.id);
        if (url) {
          thumbnails.set(camera.id, url);
          if (old) URL.revokeObjectURL(old);
        }
      }));
      if (!disposed) draw();
    } catch (error) {
      if (ctx.handleError(error)) return;
    }
    if (!disposed) timer = setTimeout(refresh, REFRESH_MS);
  }

  function card(camera) {
    const status = camera.status ?? { state: "unknown" };
    const url = thumbnails.get(camera.id);
    const facts = [
      [t("cameras.since"), formatTime(status.since)],
      [t("cameras.fps"), status.analysed_fps != null ? status.analysed_fps.toFixed(2) : "—"],
      [t("cameras.frames"), `${status.frames_decoded ?? 0} / ${status.frames_dropped ?? 0}`],
    ];
    return h("article", { class: `camera-card state-${status.state}`, dataset: { cameraId: camera.id, state: status.state } },
      url
        ? h("img", { class: "thumb", src: url, alt: camera.name })
        : h("div", { class: "thumb no-picture" }, t("cameras.no_thumbnail")),
      h("div", { class: "camera-info" },
        h("div", { class: "camera-title" },
          h("strong", {}, camera.name),
          h("span", { class: `state-badge cam-${status.state}` }, t(`cameras.state.${status.state}`))),
        h("div", { class: "muted small" }, `${camera.id} · ${gridPathText(camera.grid_path.slice(1))}`),
        h("dl", {}, ...facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
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
      for (const url of thumbnails.values()) URL.revokeObjectURL(url);
    },
  };
}
