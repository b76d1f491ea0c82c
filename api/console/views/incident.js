// One incident: the evidence with its boxes, where and when, the owner, the deadline's light, the history, and
// the steps the operator's role may take now (the API says which: `next_statuses`).
import { ApiError, getImageUrl, getJson, postJson } from "../api.js";
import { gridPathText, h, lightNow, severityBadge, statusLabel } from "../dom.js";
import { categoryGroup, categoryName, formatDuration, formatTime, t } from "../i18n.js";

const REASONS_ZH = ["灯光或反光误识别", "炊烟、蒸汽等非火情", "演练或测试", "画面遮挡、误检"];
const REASONS_EN = ["Lights or reflections", "Cooking smoke or steam", "A drill or a test", "Obstructed view"];

export function render(container, ctx, incidentId) {
  let disposed = false;
  let snapshotUrl = null;
  let clipUrl = null; // the event clip, fetched with the login's credentials into a blob URL (a <video> sends none)
  let after = null; // the latest video check's after snapshot and clip, as blob URLs: {id, snapshot, clip}
  let reloadTimer = null;
  let flash = null; // {kind: "done" | "error", text}
  let openForm = null; // {incidentStatus, target, element}: the step form being filled in

  const root = h("section", { class: "incident-view", dataset: { incidentId } }, h("p", { class: "muted" }, "…"));
  container.append(root);

  async function load() {
    let detail;
    let history;
    let checks;
    let seenBy;
    try {
      [detail, history, checks, seenBy] = await Promise.all([
        getJson(`/incidents/${encodeURIComponent(incidentId)}`),
        getJson(`/incidents/${encodeURIComponent(incidentId)}/transitions`),
        getJson(`/incidents/${encodeURIComponent(incidentId)}/video-checks`),
        getJson(`/incidents/${encodeURIComponent(incidentId)}/sightings`),
      ]);
    } catch (error) {
      if (disposed) return;
      if (error instanceof ApiError && error.status === 404) {
        root.replaceChildren(h("p", { class: "notice", id: "incident-not-found" }, t("incident.not_found")),
          h("a", { href: "#/map" }, t("incident.back")));
        return;
      }
      if (!ctx.handleError(error)) root.replaceChildren(h("p", { class: "error" }, String(error.message)));
      return;
    }
    if (disposed) return;
    ctx.state.incidents.set(detail.id, detail);
    ctx.refreshFeed();
    if (detail.snapshot_url && !snapshotUrl) {
      try {
        snapshotUrl = await getImageUrl(detail.snapshot_url);
      } catch (error) {
        ctx.handleError(error);
      }
    }
    if (detail.clip_url && !clipUrl) {
      try {
        clipUrl = await getImageUrl(detail.clip_url); // any blob: the MP4 as a whole (a few MB at most)
      } catch (error) {
        ctx.handleError(error);
      }
    }
    const check = checks.length ? checks[checks.length - 1] : null;
    if (check && after?.id !== check.id) {
      releaseAfter();
      after = { id: check.id, snapshot: null, clip: null };
      try {
        if (check.snapshot_url) after.snapshot = await getImageUrl(check.snapshot_url);
        if (check.clip_url) after.clip = await getImageUrl(check.clip_url);
      } catch (error) {
        ctx.handleError(error);
      }
    }
    if (disposed) return;
    show(page(detail, history, check, seenBy));
  }

  function releaseAfter() {
    if (after?.snapshot) URL.revokeObjectURL(after.snapshot);
    if (after?.clip) URL.revokeObjectURL(after.clip);
    after = null;
  }

  // Re-render only the parts that changed: the camera keeps updating an incident, and a button that is
  // replaced under the operator's pointer would swallow the click.
  let shown = null;
  function show(parts) {
    if (!shown || !root.contains(shown.dl)) {
      shown = {};
      for (const [name, [sig, build]] of Object.entries(parts)) {
        shown[name] = build();
        shown[name].dataset.sig = sig;
      }
      root.replaceChildren(shown.header,
        h("div", { class: "incident-body" }, shown.figure,
          h("div", { class: "facts" }, shown.check, shown.dl, shown.steps)),
        shown.history);
      return;
    }
    for (const [name, [sig, build]] of Object.entries(parts)) {
      if (shown[name].dataset.sig === sig) continue; // unchanged: not even built (the step form lives on)
      const el = build();
      el.dataset.sig = sig;
      shown[name].replaceWith(el);
      shown[name] = el;
    }
  }

  function deadline(incident) {
    const { light, left } = lightNow(incident);
    const seconds = formatDuration(left / 1000);
    const leftText = left > 0 ? t("incident.left", { t: seconds }) : t("incident.over", { t: seconds });
    return h("span", { class: `deadline deadline-${light}`, id: "incident-deadline", dataset: { light } },
      h("span", { class: `light light-${light}` }), `${t(`light.${light}`)} · ${leftText}`,
      h("span", { class: "muted" }, ` (${formatTime(incident.deadline)})`));
  }

  function page(incident, history, check, seenBy) {
    const facts = [
      [t("incident.status"), h("span", { class: `status status-${incident.status}`, id: "incident-status" }, statusLabel(incident.status))],
      [t("incident.deadline"), deadline(incident)],
      [t("incident.camera"), `${incident.camera_name} (${incident.camera_id})`],
      [t("incident.grid"), gridPathText(incident.grid_path)],
      [t("incident.owner"), incident.owner_department],
      incident.assignee_department || incident.assignee_staff
        ? [t("incident.assignee"), [incident.assignee_department, incident.assignee_staff].filter(Boolean).join(" · ")]
        : null,
      [t("incident.opened"), formatTime(incident.opened_at)],
      [t("incident.updated"), formatTime(incident.updated_at)],
      [t("incident.ended"), incident.closed_at ? formatTime(incident.closed_at) : t("incident.ongoing")],
      incident.peak_count != null ? [t("incident.peak_count"), String(incident.peak_count)] : null,
      incident.peak_confidence != null ? [t("incident.confidence"), incident.peak_confidence.toFixed(2)] : null,
      // one case per situation: the other cameras that saw it (their evidence is GET .../sightings/{id}/snapshot)
      seenBy.length
        ? [t("incident.also_seen_by"), h("ul", { id: "incident-sightings", class: "plain" }, ...seenBy.map((s) =>
          h("li", { dataset: { cameraId: s.camera_id } },
            `${s.camera_name} (${s.camera_id}) · ${formatTime(s.opened_at)}`
            + (s.closed_at ? ` – ${formatTime(s.closed_at)}` : ` · ${t("incident.ongoing")}`))))]
        : null,
    ].filter(Boolean);
    const header = () => h("header", { class: "incident-head" },
      severityBadge(incident.severity),
      h("h2", {}, `${categoryGroup(incident)} / ${categoryName(incident)}`),
      h("span", { class: "muted mono" }, incident.id));
    const figure = () => h("figure", { class: "evidence" },
      snapshotUrl
        ? h("img", { src: snapshotUrl, alt: t("incident.snapshot"), id: "incident-snapshot" })
        : h("div", { class: "no-picture" }, t("incident.no_snapshot")),
      h("figcaption", { class: "muted" }, t("incident.snapshot")),
      clipUrl
        ? h("video", { src: clipUrl, id: "incident-clip", controls: true, muted: true, playsinline: true,
          preload: "auto", title: t("incident.clip") })
        : h("div", { class: "no-picture muted", id: "incident-no-clip" }, t("incident.no_clip")),
      h("figcaption", { class: "muted" }, t("incident.clip")));
    const dl = h("dl", {}, ...facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
    const historyBox = () => h("section", { class: "history" },
      h("h3", {}, t("incident.history")),
      history.length
        ? h("ol", { id: "incident-history" }, ...history.map(historyItem))
        : h("p", { class: "muted" }, t("incident.no_history")));
    return {
      header: [`${incident.severity}|${incident.category_code}`, header],
      figure: [`${snapshotUrl ?? ""}|${clipUrl ?? ""}`, figure],
      dl: [dl.textContent, () => dl],
      steps: [`${incident.status}|${(incident.next_statuses ?? []).join()}|${flash?.text ?? ""}`, () => steps(incident)],
      check: [`${check?.id ?? ""}|${after?.snapshot ?? ""}|${snapshotUrl ?? ""}|${incident.status}|${(incident.next_statuses ?? []).join()}`,
        () => videoCheck(incident, check)],
      history: [String(history.length), historyBox],
    };
  }

  // The latest video check (视频核查): before and after side by side; after a pass, the case closes with one click.
  function videoCheck(incident, check) {
    if (!check) return h("div", { hidden: true, id: "incident-video-check" });
    const picture = (url, id, label) => url
      ? h("img", { src: url, alt: label, id })
      : h("div", { class: "no-picture muted" }, t("incident.no_snapshot"));
    const box = h("section", { class: "video-check", id: "incident-video-check", dataset: { outcome: check.outcome } },
      h("h3", {}, t("check.title")),
      h("p", { class: "check-verdict" }, t(`check.${check.outcome}`)),
      h("p", { class: "muted" }, `${formatTime(check.decided_at)} · ${check.note}`),
      h("div", { class: "before-after" },
        h("figure", {}, picture(snapshotUrl, "check-before", t("check.before")),
          h("figcaption", { class: "muted" }, t("check.before"))),
        h("figure", {}, picture(after?.snapshot, "check-after", t("check.after")),
          h("figcaption", { class: "muted" }, t("check.after")))),
      after?.clip
        ? h("video", { src: after.clip, id: "check-after-clip", controls: true, muted: true, playsinline: true,
          preload: "metadata", title: t("check.after_clip") })
        : null);
    if (check.outcome === "passed" && incident.status === "checked" && (incident.next_statuses ?? []).includes("closed")) {
      const close = h("button", { type: "button", class: "primary", id: "check-close" }, t("check.close"));
      close.onclick = async () => {
        close.disabled = true;
        try {
          await postJson(`/incidents/${encodeURIComponent(incident.id)}/transitions`, { to: "closed" });
          flash = { kind: "done", text: t("form.done", { step: t("step.close") }) };
          await load();
        } catch (failure) {
          if (ctx.handleError(failure)) return;
          flash = { kind: "error", text: t("form.failed", { m: failure.message }) };
          close.disabled = false;
          await load();
        }
      };
      box.append(h("div", { class: "form-actions" }, close));
    }
    return box;
  }

  function steps(incident) {
    const box = h("section", { class: "steps" }, h("h3", {}, t("incident.steps")));
    if (flash) box.append(h("p", { class: flash.kind === "error" ? "error" : "ok", role: "status" }, flash.text));
    const allowed = incident.next_statuses ?? [];
    if (!allowed.length) {
      box.append(h("p", { class: "muted" }, t("incident.no_steps")));
      return box;
    }
    const form = h("div", { class: "step-form" });
    // a form the operator is filling in survives the incident's updates (the camera keeps updating it)
    if (openForm && openForm.incidentStatus === incident.status && allowed.includes(openForm.target)) {
      form.append(openForm.element);
    } else {
      openForm = null;
    }
    const buttons = allowed.map((target) => {
      const step = ctx.state.lifecycle.find((s) => s.source === incident.status && s.target === target);
      const action = step?.action ?? target;
      return h("button", {
        type: "button",
        class: `step step-${action}${action === "reject" || action === "send_back" ? " danger" : " primary"}`,
        dataset: { action, target },
        onclick: () => showForm(form, incident, step ?? { action, target, requires: [] }),
      }, t(`step.${action}`));
    });
    box.append(h("div", { class: "step-buttons" }, ...buttons), form);
    return box;
  }

  function showForm(form, incident, step) {
    const requires = new Set(step.requires);
    const fields = [];
    const field = (name, label, input) => {
      fields.push(h("label", { class: "field" }, h("span", {}, label + (requires.has(name) || (name === "department" && requires.has("target")) ? " *" : "")), input));
      return input;
    };
    const inputs = {};
    if (step.action === "reject") {
      const reasons = document.documentElement.lang === "en" ? REASONS_EN : REASONS_ZH;
      inputs.reason = field("reason", t("form.reason"), h("input", { name: "reason", list: "reject-reasons", required: true }));
      fields.push(h("datalist", { id: "reject-reasons" }, ...reasons.map((r) => h("option", { value: r }))));
    }
    if (requires.has("target")) {
      inputs.department = field("department", t("form.department"), h("input", { name: "department", value: incident.assignee_department ?? incident.owner_department }));
      inputs.staff = field("staff", t("form.staff"), h("input", { name: "staff", value: incident.assignee_staff ?? "" }));
    }
    if (step.action === "evaluate") {
      inputs.rating = field("rating", t("form.rating"), h("input", { name: "rating", type: "number", min: 1, max: 5, value: 5 }));
    }
    inputs.note = field("note", t("form.note"), h("textarea", { name: "note", rows: 2, required: requires.has("note") }));
    const error = h("p", { class: "error", hidden: true });
    const confirm = h("button", { type: "submit", class: "primary", id: "step-confirm" }, `${t("form.confirm")}: ${t(`step.${step.action}`)}`);
    const formEl = h("form", { class: "step-fields", dataset: { action: step.action } },
      ...fields, error,
      h("div", { class: "form-actions" }, confirm,
        h("button", { type: "button", onclick: (event) => { openForm = null; event.target.closest("form").remove(); } }, t("form.cancel"))));
    formEl.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { to: step.target };
      for (const [name, input] of Object.entries(inputs)) {
        const value = input.value.trim();
        if (!value) continue;
        body[name] = name === "rating" ? Number(value) : value;
      }
      confirm.disabled = true;
      try {
        await postJson(`/incidents/${encodeURIComponent(incident.id)}/transitions`, body);
        flash = { kind: "done", text: t("form.done", { step: t(`step.${step.action}`) }) };
        openForm = null;
        await load();
      } catch (failure) {
        if (ctx.handleError(failure)) return;
        error.hidden = false;
        error.textContent = t("form.failed", { m: failure.message });
        confirm.disabled = false;
      }
    });
    openForm = { incidentStatus: incident.status, target: step.target, element: formEl };
    form.replaceChildren(formEl);
    (inputs.reason ?? inputs.department ?? inputs.note).focus();
  }

  function historyItem(step) {
    const details = [
      step.reason && `${t("form.reason")}: ${step.reason}`,
      step.department && `${t("form.department")}: ${step.department}`,
      step.staff && `${t("form.staff")}: ${step.staff}`,
      step.note && `${t("form.note")}: ${step.note}`,
      step.rating != null && `${t("form.rating")}: ${step.rating}`,
    ].filter(Boolean);
    return h("li", { dataset: { action: step.action } },
      h("time", { datetime: step.at }, formatTime(step.at)),
      h("strong", {}, t(`step.${step.action}`)),
      h("span", {}, `${statusLabel(step.from_status)} → ${statusLabel(step.to_status)}`),
      h("span", { class: "muted" }, `${step.actor} (${t(`role.${step.actor_role}`)})`),
      details.length ? h("div", { class: "muted" }, details.join(" · ")) : null);
  }

  load();
  return {
    onMessage(message) {
      if (message.data?.id !== incidentId || !message.type.startsWith("incident.")) return;
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => {
        if (message.type === "incident.updated") {
          if (snapshotUrl) URL.revokeObjectURL(snapshotUrl);
          snapshotUrl = null; // a better frame may have replaced the evidence
        }
        load();
      }, 300);
    },
    onTick() {
      // the deadline's light and time left move with the clock
      const incident = ctx.state.incidents.get(incidentId);
      const shown = root.querySelector("#incident-deadline");
      if (incident && shown) shown.replaceWith(deadline(incident));
    },
    dispose() {
      disposed = true;
      clearTimeout(reloadTimer);
      if (snapshotUrl) URL.revokeObjectURL(snapshotUrl);
      if (clipUrl) URL.revokeObjectURL(clipUrl);
      releaseAfter();
    },
  };
}
