// Small helpers shared by the views: building elements, and what an incident's labels and colours are.
import { t } from "./i18n.js";

/** h("div", {class: "x", onclick: fn}, child, "text", ...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    // through the CSSOM: the Content-Security-Policy (style-src 'self') blocks style="" attributes, not this
    else if (name === "style") el.style.cssText = String(value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Statuses whose case is finished: not "open" on the map and the dashboard. */
export const FINISHED = new Set(["rejected", "closed", "evaluated"]);

export function isOpen(incident) {
  return !FINISHED.has(incident.status);
}

/**
 * The traffic light now, by the rule of models/deadlines.py (green while more than half of the time limit is
 * left, yellow with half or less, red once overdue; frozen at resolution), so the feed's lights change colour
 * as time passes without a message from the server.
 */
export function lightNow(incident, now = Date.now()) {
  const deadline = Date.parse(incident.deadline);
  const opened = Date.parse(incident.opened_at);
  const at = incident.resolved_at ? Date.parse(incident.resolved_at) : now;
  const left = deadline - at;
  if (left <= 0) return { light: "red", left };
  return { light: left > 0.5 * (deadline - opened) ? "green" : "yellow", left };
}

export function statusLabel(status) {
  return t(`status.${status}`);
}

export function severityBadge(severity) {
  return h("span", { class: `sev sev-${severity}`, title: t("severity", { s: severity }) }, severity);
}

export function lightDot(incident) {
  const { light } = lightNow(incident);
  return h("span", { class: `light light-${light}`, title: t(`light.${light}`), dataset: { light } });
}

export function gridLeaf(incident) {
  const path = incident.grid_path ?? [];
  return path.length ? path[path.length - 1].name : incident.grid_code;
}

export function gridPathText(path) {
  return (path ?? []).map((cell) => cell.name).join(" › ");
}
