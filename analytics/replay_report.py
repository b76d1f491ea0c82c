"""Replays of a set of clips, scored against labels, written out: the engine behind `xueliang replay`.

    out/
      incidents.jsonl    one line per incident (final state), clip-relative times; identical on every run
      frames.jsonl       one line per analysed frame: counts, fire confidence, every detection
      scores.json        scores per type over all labelled clips, and per clip
      report.md          the scores table, then per clip: labels vs incidents, counts, timeline plot, snapshots
      snapshots/         evidence JPEGs, named <clip>-<n>-<rule>.jpg; thumbs/: the same, 320 px wide
      plots/             one timeline PNG per clip
      replay.db, store/  the dedicated SQLite store the replays wrote through (incidents there have uuid ids)

Clips without labels are replayed and listed, not scored. The scoring arithmetic is `analytics.scoring`.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from analytics.detector import Detector
from analytics.ground_truth import ClipLabels, LabelSet
from analytics.replay import (
    ClipReplay,
    ClipReplayer,
    ReplayInputError,
    ReplayPlan,
    models_for,
    probe_clip,
    replay_camera,
)
from analytics.replay_baseline import HEADER as BASELINE_HEADER
from analytics.replay_baseline import compare, markdown_mark, rows, text_mark, worse
from analytics.scoring import (
    CountScore,
    EventScore,
    combine_count_scores,
    combine_event_scores,
    matches,
    score_counts,
    score_events,
)
from models.config import ServiceConfig
from models.push import LocalBroker, PushJournal
from models.store import Store

log = logging.getLogger(__name__)

THUMB_WIDTH = 320
STORE_FILE = "replay.db"
OUT_MARKER = ".xueliang-replay"


# --------------------------------------------------------------------------------------------------------------
# Scores of one clip
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineCountScore:
    """A camera line's crossings over a clip: hand-counted and what the line-crossing rule counted."""

    line: str
    labelled_in: int
    labelled_out: int
    counted_in: int
    counted_out: int

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "labelled_in": self.labelled_in, "labelled_out": self.labelled_out,
                "counted_in": self.counted_in, "counted_out": self.counted_out}  # fmt: skip


@dataclass(frozen=True)
class ClipResult:
    replay: ClipReplay
    labels: ClipLabels | None
    events: dict[str, EventScore]  # by type; empty when unlabelled
    counts: CountScore | None  # None when the clip has no count labels or no rule of the camera counts people
    also: bool = False  # a replay of the clip as one of its labels' `also_as` cameras
    line_counts: tuple[LineCountScore, ...] = ()

    @property
    def name(self) -> str:
        return self.replay.plan.clip.name

    @property
    def tag(self) -> str:
        """Names this replay's files: the clip's stem, with the camera for an `also_as` replay."""
        stem = Path(self.name).stem
        return f"{stem}.{self.replay.plan.camera_id}" if self.also else stem


def rule_types(replay: ClipReplay) -> set[str]:
    return {name for name, _ in replay.camera.rules.enabled()}


def scored_types(replay: ClipReplay, labels: ClipLabels | None, elsewhere: set[str] | None = None) -> list[str]:
    """The event types a replay is scored on: its camera's rules, and its labels' types that no other camera the
    clip is replayed as (`elsewhere`: their rules) runs."""
    types = rule_types(replay)
    if labels is not None:
        types |= {event.type for event in labels.events} - (elsewhere or set())
    return sorted(types)


def count_tolerance_s(analysis_fps: float) -> float:
    """A labelled count is compared with the analysed frame at most half a frame interval away."""
    return 0.5 / analysis_fps


def score_clip(
    replay: ClipReplay, labels: ClipLabels | None, *, elsewhere: set[str] | None = None, also: bool = False
) -> ClipResult:
    if labels is None:
        return ClipResult(replay, None, {}, None, also=also)
    detected = replay.detected_events()
    events = {
        kind: score_events(labels.event_labels(), detected, replay.info.duration_s, type=kind)
        for kind in scored_types(replay, labels, elsewhere)
    }
    counts = None
    samples = replay.count_samples()
    if labels.people and samples:
        counts = score_counts(labels.count_labels(), samples, count_tolerance_s(replay.camera.analysis_fps))
    return ClipResult(replay, labels, events, counts, also=also, line_counts=score_line_counts(replay, labels))


def score_line_counts(replay: ClipReplay, labels: ClipLabels) -> tuple[LineCountScore, ...]:
    """Each labelled line that a rule of the camera counts: its totals at the clip's last analysed frame."""
    counted_lines = {line for _, rule in replay.camera.rules.enabled() for line in rule.line_refs().values()}
    last = replay.frames[-1].values if replay.frames else {}
    return tuple(
        LineCountScore(line, label.crossed_in, label.crossed_out, int(last.get("crossed_in") or 0),
                       int(last.get("crossed_out") or 0))  # fmt: skip
        for line, label in sorted(labels.crossings.items())
        if line in counted_lines
    )


def totals(results: Sequence[ClipResult]) -> tuple[dict[str, EventScore], CountScore]:
    """Scores pooled over every labelled clip, by type (and 'all'), and the pooled counts."""
    by_type: dict[str, list[EventScore]] = {}
    for result in results:
        for kind, score in result.events.items():
            by_type.setdefault(kind, []).append(score)
    combined = {kind: combine_event_scores(scores, type=kind) for kind, scores in sorted(by_type.items())}
    everything = []
    for r in results:
        if r.labels is None:
            continue
        kinds = set(r.events)
        labels = [label for label in r.labels.event_labels() if label.type in kinds]
        detected = [event for event in r.replay.detected_events() if event.type in kinds]
        everything.append(score_events(labels, detected, r.replay.info.duration_s))
    combined["all"] = combine_event_scores(everything)
    counts = combine_count_scores(r.counts for r in results if r.counts is not None)
    return combined, counts


# --------------------------------------------------------------------------------------------------------------
# Running the replays
# --------------------------------------------------------------------------------------------------------------


def choose_cameras(config: ServiceConfig, clip: Path, labels: LabelSet | None, camera: str | None) -> list[str]:
    """--camera, else the camera the labels name for the clip and its `also_as` cameras, else the first
    configured camera."""
    if camera is not None:
        return [camera]
    clip_labels = labels.for_clip(clip) if labels is not None else None
    if clip_labels is not None and clip_labels.camera is not None:
        return [clip_labels.camera, *clip_labels.also_as]
    if not config.cameras:
        raise ReplayInputError("the configuration has no cameras to replay a clip as")
    return [next(iter(config.cameras)), *(clip_labels.also_as if clip_labels is not None else [])]


def plan_replays(
    config: ServiceConfig,
    clips: Sequence[Path],
    labels: LabelSet | None,
    *,
    camera: str | None = None,
    speed: float | None = None,
    rtsp: bool = False,
) -> list[ReplayPlan]:
    plans = []
    for clip in clips:
        for camera_id in choose_cameras(config, clip, labels, camera):
            plans.append(
                ReplayPlan(clip=clip, camera_id=camera_id, replay_camera_id=camera_id, speed=speed, rtsp=rtsp)
            )
    return plans


def check_plans(config: ServiceConfig, plans: Sequence[ReplayPlan]) -> set[str]:
    """Check every clip and camera (ReplayInputError) before any model loads; the models the replays need."""
    needed: set[str] = set()
    for plan in plans:
        camera = replay_camera(config, plan)
        probe_clip(plan.clip, camera.analysis_fps, plan.epoch)
        needed |= models_for(camera)
    return needed


def prepare_out_dir(out: Path) -> None:
    """Make `out` ready: new or empty, or a previous replay's output (marked), whose files are removed. A folder
    holding anything else is refused (ReplayInputError) rather than cleaned."""
    marker = out / OUT_MARKER
    if out.exists() and not out.is_dir():
        raise ReplayInputError(f"--out {out} is a file")
    if out.is_dir() and any(out.iterdir()) and not marker.is_file():
        raise ReplayInputError(f"--out {out} is not empty and holds no earlier replay: give a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text("written by `xueliang replay`; its next run into this folder replaces what is here\n")
    for name in (STORE_FILE, f"{STORE_FILE}-wal", f"{STORE_FILE}-shm", "incidents.jsonl", "frames.jsonl",
                 "scores.json", "report.md"):  # fmt: skip
        (out / name).unlink(missing_ok=True)
    for name in ("store", "snapshots", "thumbs", "plots"):
        shutil.rmtree(out / name, ignore_errors=True)


def run_replays(
    config: ServiceConfig,
    plans: Sequence[ReplayPlan],
    detectors: Mapping[str, Detector],
    out: Path,
    labels: LabelSet | None,
    *,
    progress: bool = True,
    on_clip: Callable[[ClipResult], None] | None = None,
) -> list[ClipResult]:
    """Replay each plan into a dedicated store in `out`, score it, return the results (outputs not yet written)."""
    from tqdm import tqdm

    prepare_out_dir(out)
    store = Store(f"sqlite:///{(out / STORE_FILE).resolve()}")
    store.migrate()
    results: list[ClipResult] = []
    try:
        replayer = ClipReplayer(config, detectors, PushJournal(store, LocalBroker()), out / "store" / "snapshots")
        prepared = [replayer.prepare(plan) for plan in plans]  # every clip and camera checked before any runs
        cameras_of = {plan.clip: [p.camera_id for p in plans if p.clip == plan.clip] for plan in plans}
        for plan, ready in zip(plans, prepared, strict=True):
            with tqdm(total=ready.info.analysed_frames, desc=plan.clip.name, unit="frame", disable=not progress,
                      leave=True, dynamic_ncols=True) as bar:  # fmt: skip
                replay = replayer.run(plan, on_frame=lambda _record, bar=bar: bar.update(1))  # type: ignore[misc]
            others = [c for c in cameras_of[plan.clip] if c != plan.camera_id]
            elsewhere = {name for c in others for name, _ in config.cameras[c].rules.enabled()}
            also = cameras_of[plan.clip][0] != plan.camera_id
            clip_labels = labels.for_clip(plan.clip) if labels is not None else None
            result = score_clip(replay, clip_labels, elsewhere=elsewhere, also=also)
            results.append(result)
            if on_clip is not None:
                on_clip(result)
    finally:
        store.close()
    return results


# --------------------------------------------------------------------------------------------------------------
# Writing the outputs
# --------------------------------------------------------------------------------------------------------------


def snapshot_name(result: ClipResult, n: int, rule: str) -> str:
    return f"{result.tag}-{n}-{rule}.jpg"


def incident_records(result: ClipResult) -> list[dict[str, Any]]:
    """The clip's incidents as JSON lines: no uuid, no wall time, no absolute path: the same on every run."""
    replay = result.replay
    labels = result.labels.event_labels() if result.labels is not None else None
    records = []
    for n, (incident, event) in enumerate(zip(replay.incidents, replay.detected_events(), strict=True), start=1):
        verdict = None
        if labels is not None:
            verdict = "match" if any(matches(label, event) for label in labels) else "false"
        records.append(
            {
                "clip": result.name,
                "n": n,
                "camera_id": replay.plan.replay_camera_id,
                "rule": incident.rule,
                "category_code": incident.category_code,
                "severity": str(incident.severity),
                "grid_code": incident.grid_code,
                "opened_at": incident.opened_at.isoformat(),
                "closed_at": incident.closed_at.isoformat() if incident.closed_at else None,
                "opened_s": event.start,
                "closed_s": replay.clip_seconds(incident.closed_at) if incident.closed_at else None,
                "ended_with_clip": incident.id in replay.ended_with_clip,
                "peak_count": incident.peak_count,
                "peak_confidence": incident.peak_confidence,
                "is_test": incident.is_test,
                "snapshot": f"snapshots/{snapshot_name(result, n, incident.rule)}" if incident.snapshot_path else None,
                "verdict": verdict,
            }
        )
    return records


def write_outputs(
    out: Path, results: Sequence[ClipResult], *, command: str, plots: bool = True,
    baseline: Mapping[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Write incidents.jsonl, frames.jsonl, snapshots, plots, scores.json and report.md (with each score beside
    `baseline`'s, an earlier scores.json, when given); returns the scores."""
    out.mkdir(parents=True, exist_ok=True)
    for folder in ("snapshots", "thumbs", "plots"):
        (out / folder).mkdir(exist_ok=True)
    incident_lines: list[str] = []
    frame_lines: list[str] = []
    for result in results:
        for record, incident in zip(incident_records(result), result.replay.incidents, strict=True):
            incident_lines.append(json.dumps(record, ensure_ascii=False, sort_keys=True))
            if record["snapshot"] is not None and incident.snapshot_path is not None:
                _copy_snapshot(Path(incident.snapshot_path), out / record["snapshot"], out / "thumbs")
        for frame in result.replay.frames:
            frame_lines.append(
                json.dumps({"clip": result.name, "camera": result.replay.plan.camera_id, **frame.as_dict()},
                           sort_keys=True)  # fmt: skip
            )
        if plots:
            plot_timeline(result, out / "plots" / f"{result.tag}.png")
    (out / "incidents.jsonl").write_text("".join(line + "\n" for line in incident_lines), encoding="utf-8")
    (out / "frames.jsonl").write_text("".join(line + "\n" for line in frame_lines), encoding="utf-8")
    scores = scores_json(results, command=command)
    (out / "scores.json").write_text(json.dumps(scores, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    report = report_markdown(results, scores, command=command, plots=plots, baseline=baseline)
    (out / "report.md").write_text(report, encoding="utf-8")
    return scores


def _copy_snapshot(source: Path, target: Path, thumbs: Path) -> None:
    if not source.is_file():
        return
    shutil.copyfile(source, target)
    image = cv2.imread(str(target))
    if image is None:
        return
    height = max(1, round(image.shape[0] * THUMB_WIDTH / image.shape[1]))
    thumb = cv2.resize(image, (THUMB_WIDTH, height), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(thumbs / target.name), thumb, [cv2.IMWRITE_JPEG_QUALITY, 80])


def scores_json(results: Sequence[ClipResult], *, command: str) -> dict[str, Any]:
    by_type, counts = totals(results)
    return {
        "command": command,
        "clips_replayed": len(results),
        "clips_labelled": sum(1 for r in results if r.labels is not None),
        "footage_s": round(sum(r.replay.info.duration_s for r in results), 3),
        "totals": {kind: score.as_dict() for kind, score in by_type.items()},
        "counts": counts.as_dict(),
        "clips": [
            {
                "clip": r.name,
                "camera": r.replay.plan.camera_id,
                "analysis_fps": r.replay.camera.analysis_fps,
                "duration_s": r.replay.info.duration_s,
                "frames_analysed": len(r.replay.frames),
                "frames_dropped": r.replay.frames_dropped,
                "wall_s": r.replay.wall_s,
                "labelled": r.labels is not None,
                "incidents": len(r.replay.incidents),
                "events": {kind: score.as_dict() for kind, score in r.events.items()},
                "counts": r.counts.as_dict() if r.counts is not None else None,
                "line_counts": [score.as_dict() for score in r.line_counts],
                "notes": r.replay.notes,
            }
            for r in results
        ],
    }


# --------------------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


def _delays(score: EventScore) -> str:
    if not score.delays:
        return "—"
    return f"{_fmt(score.mean_delay_s, '.1f')} s (max {_fmt(score.max_delay_s, '.1f')})"


EVENT_HEADER = ["type", "labelled", "incidents", "true", "false", "missed", "precision", "recall",
                "delay (mean)", "false / hour"]  # fmt: skip


def event_row(name: str, score: EventScore) -> list[str]:
    return [
        name, str(score.labelled), str(score.detected), str(score.true_positives), str(score.false_positives),
        str(score.misses), _fmt(score.precision), _fmt(score.recall), _delays(score),
        _fmt(score.false_per_hour, ".1f"),
    ]  # fmt: skip


def count_row(name: str, score: CountScore) -> list[str]:
    return [name, str(len(score.compared)), _fmt(score.mae), _fmt(score.mape, ".1f", " %"), _fmt(score.bias, "+.2f")]


COUNT_HEADER = ["people counts", "compared", "MAE", "MAPE", "bias"]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


LINE_HEADER = ["line counts", "labelled in", "counted in", "labelled out", "counted out"]


def summary_tables(results: Sequence[ClipResult], table: Callable[[list[str], list[list[str]]], str]) -> str:
    by_type, counts = totals(results)
    parts = [table(EVENT_HEADER, [event_row(kind, score) for kind, score in by_type.items()])]
    if counts.pairs:
        parts.append(table(COUNT_HEADER, [count_row("all clips", counts)]))
    lines = [[f"{r.name} / {c.line}", str(c.labelled_in), str(c.counted_in), str(c.labelled_out), str(c.counted_out)]
             for r in results for c in r.line_counts]  # fmt: skip
    if lines:
        parts.append(table(LINE_HEADER, lines))
    return "\n\n".join(parts)


def per_clip_table(results: Sequence[ClipResult], table: Callable[[list[str], list[list[str]]], str]) -> str:
    header = ["clip", "camera", "s", "frames", "labelled", "incidents", "true", "false", "missed", "delay",
              "count MAE"]  # fmt: skip
    rows = []
    for r in results:
        if r.labels is None:
            rows.append([r.name, r.replay.plan.camera_id, f"{r.replay.info.duration_s:.1f}", str(len(r.replay.frames)),
                         "—", str(len(r.replay.incidents)), "—", "—", "—", "—", "—"])  # fmt: skip
            continue
        score = combine_event_scores(r.events.values())
        rows.append([
            r.name, r.replay.plan.camera_id, f"{r.replay.info.duration_s:.1f}", str(len(r.replay.frames)),
            str(score.labelled), str(score.detected), str(score.true_positives), str(score.false_positives),
            str(score.misses), _delays(score), _fmt(r.counts.mae if r.counts else None),
        ])  # fmt: skip
    return table(header, rows)


def baseline_table(
    scores: Mapping[str, Any], baseline: Mapping[str, Any], table: Callable[[list[str], list[list[str]]], str]
) -> str:
    """Each score beside the baseline's, with the change; worse ones marked (WORSE / **worse**)."""
    mark = markdown_mark if table is markdown_table else text_mark
    return table(BASELINE_HEADER, rows(compare(scores, baseline), mark))


def baseline_section(scores: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[str]:
    got_worse = worse(compare(scores, baseline))
    summary = (
        f"**{len(got_worse)} scores got worse**: "
        + ", ".join(f"{c.scope} {c.metric}" for c in got_worse)
        + "."
        if got_worse
        else "Nothing got worse."
    )
    now_clips = {clip["clip"] for clip in scores.get("clips", [])}
    old_clips = {clip["clip"] for clip in baseline.get("clips", [])}
    if now_clips != old_clips:
        new, gone = sorted(now_clips - old_clips), sorted(old_clips - now_clips)
        summary += (
            " The clip sets differ (" + "; ".join(part for part in (
                f"new: {', '.join(new)}" if new else "", f"not replayed now: {', '.join(gone)}" if gone else "")
                if part) + "): the pooled totals are over different footage, compare the clips' own rows."
        )  # fmt: skip
    return [
        "## Against the baseline",
        "",
        f"Baseline: `{baseline.get('command', '?')}`. {summary} Better is higher for precision and recall, lower "
        "for false incidents, misses, delays, MAE and MAPE, nearer zero for bias.",
        "",
        baseline_table(scores, baseline, markdown_table),
        "",
    ]


def report_markdown(
    results: Sequence[ClipResult], scores: dict[str, Any], *, command: str, plots: bool,
    baseline: Mapping[str, Any] | None = None,
) -> str:  # fmt: skip
    lines = [
        "# Replay report",
        "",
        f"Reproduce: `{command}`",
        "",
        f"{scores['clips_replayed']} clips replayed ({scores['clips_labelled']} labelled), "
        f"{scores['footage_s']:.1f} s of footage. An incident is *true* when it overlaps a labelled event of its "
        "type; delay = incident opened − labelled onset; counts compare the crowd rule's count on the analysed "
        "frame nearest each labelled time.",
        "",
        "## Scores (all labelled clips)",
        "",
        summary_tables(results, markdown_table),
        "",
        "## Per clip",
        "",
        per_clip_table(results, markdown_table),
        "",
    ]
    if baseline is not None:
        lines[lines.index("## Per clip"):lines.index("## Per clip")] = baseline_section(scores, baseline)
    for result in results:
        lines += _clip_section(result, plots)
    return "\n".join(lines) + "\n"


def _clip_section(result: ClipResult, plots: bool) -> list[str]:
    replay = result.replay
    camera = replay.camera
    rules = ", ".join(name for name, _ in camera.rules.enabled())
    lines = [
        f"### {result.name}",
        "",
        f"Camera `{replay.plan.camera_id}` ({rules}; {camera.analysis_fps:g} analysed fps): "
        f"{replay.info.duration_s:.1f} s, {len(replay.frames)} frames analysed in {replay.wall_s:.1f} s"
        + (f", {replay.frames_dropped} dropped" if replay.frames_dropped else "")
        + ".",
        "",
    ]
    lines += [f"- {note}" for note in replay.notes]
    if result.labels is None:
        lines += ["No labels for this clip: not scored.", ""]
    else:
        if result.labels.note:
            lines += [f"Labels: {result.labels.note}", ""]
        detected = replay.detected_events()
        label_rows = []
        for label in result.labels.events:
            found = [e for e in detected if matches(label.as_scoring(), e)]
            outcome = f"found, delay {min(e.start for e in found) - label.start:+.1f} s" if found else "**missed**"
            label_rows.append([label.type, f"{label.start:g}–{label.end:g} s", label.zone or "", outcome])
        if label_rows:
            lines += [markdown_table(["labelled", "when", "zone", "outcome"], label_rows), ""]
        else:
            lines += ["Labelled: nothing should raise an incident.", ""]
    records = incident_records(result)
    if records:
        rows = []
        for record in records:
            closed = "end of clip" if record["ended_with_clip"] else _fmt(record["closed_s"], ".1f", " s")
            thumb = ""
            if record["snapshot"]:
                name = Path(record["snapshot"]).name
                thumb = f"[![{name}](thumbs/{name})]({record['snapshot']})"
            verdict = {"match": "true", "false": "**false**", None: ""}[record["verdict"]]
            rows.append([str(record["n"]), record["rule"], f"{record['opened_s']:.1f} s", closed,
                         _fmt(record["peak_confidence"]), str(record["peak_count"] or ""), record["severity"],
                         verdict, thumb])  # fmt: skip
        header = ["#", "rule", "opened", "closed", "peak conf", "peak count", "severity", "verdict", "evidence"]
        lines += [markdown_table(header, rows), ""]
    else:
        lines += ["No incidents.", ""]
    if result.counts is not None and result.counts.pairs:
        rows = [[f"{p.t:g} s", str(p.labelled), "—" if p.counted is None else str(p.counted),
                 "—" if p.error is None else f"{p.error:+d}"] for p in result.counts.pairs]  # fmt: skip
        lines += [
            f"People counts: MAE {_fmt(result.counts.mae)}, MAPE {_fmt(result.counts.mape, '.1f', ' %')}.",
            "",
            markdown_table(["time", "labelled", "counted", "error"], rows),
            "",
        ]
    if plots:
        lines += [f"![timeline of {result.name}](plots/{result.tag}.png)", ""]
    return lines


# --------------------------------------------------------------------------------------------------------------
# Timeline plot
# --------------------------------------------------------------------------------------------------------------


def plot_timeline(result: ClipResult, path: Path) -> None:
    """Per rule that declares a timeline panel (Rule.replay_series): its per-frame value against the labels and the
    incidents of that rule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    replay = result.replay
    panels = list(replay.series.items())
    if not panels:
        return
    labels = result.labels.events if result.labels is not None else []
    detected = list(zip(replay.incidents, replay.detected_events(), strict=True))
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.6 * len(panels)), sharex=True, squeeze=False)
    for ax, (rule, series) in zip(axes[:, 0], panels, strict=True):
        for label in labels:
            if label.type == rule:
                ax.axvspan(label.start, label.end, color="tab:green", alpha=0.15, lw=0)
        frames = [f for f in replay.frames if f.values.get(series.key) is not None]
        times = [f.t for f in frames]
        values = [float(f.values[series.key] or 0) for f in frames]
        if series.step:
            ax.step(times, values, where="post", color="tab:blue", lw=1.2, label=series.key)
        else:
            ax.plot(times, values, ".-", color="tab:orange", lw=1, ms=4, label=series.key)
        if series.hit_key is not None:
            hits = [f for f in frames if f.values.get(series.hit_key)]
            ax.plot([f.t for f in hits], [float(f.values[series.key] or 0) for f in hits], "o", mfc="none",
                    color="tab:red", ms=7, label="hit")  # fmt: skip
        if series.key == "people" and result.labels is not None and result.labels.people:  # the count labels
            ts, ns = zip(*sorted(result.labels.people.items()), strict=True)
            ax.plot(ts, ns, "kx", ms=8, mew=2, label="labelled")
            values += list(ns)
        if series.threshold is not None:
            ax.axhline(series.threshold, color="tab:red", ls="--", lw=0.8, label=series.threshold_label)
        top = series.top or max([series.threshold or 0, *values, 1]) * 1.3 + 1
        ax.set_ylim(0, top)
        ax.set_ylabel(series.label)
        bar_y = (top * 0.86, top * 0.1)
        spans = [(e.start, max(e.end - e.start, 0.05)) for incident, e in detected if incident.rule == rule]
        if spans:
            ax.broken_barh(spans, bar_y, color="tab:red", alpha=0.7, label="incident")
        ax.set_xlim(0, replay.info.duration_s)
        ax.set_title(f"{rule} — green: labelled, red bar: incident", fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel(f"{result.name}: seconds from the clip's start")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
