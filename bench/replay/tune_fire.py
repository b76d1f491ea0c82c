"""Grid-search the fire/smoke rule's thresholds on the detections a replay recorded (no model is run).

    .venv/bin/xueliang replay CLIPS --config bench/replay/config.yaml --labels bench/replay/labels.yaml --out OUT
    .venv/bin/python bench/replay/tune_fire.py OUT/frames.jsonl bench/replay/labels.yaml

Each candidate is the real `FireSmokeRule` run over the recorded fire/smoke detections of every analysed frame
(so it is exact for the analysis fps the replay used), scored with `analytics.scoring` against the labels.
`margin` is how many more hits the worst window of the fire-free footage would have needed to open an incident:
the smaller, the closer the candidate came to a false alarm (0 or less: it raised one).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from analytics.events import EventPhase
from analytics.ground_truth import LabelSet, load_labels
from analytics.replay import FrameRecord, RecordedDetection, observation_of
from analytics.rules.fire_smoke_rule import FireSmokeRule
from analytics.scoring import DetectedEvent, EventScore, combine_event_scores, score_events
from models.config import FireSmokeRuleConfig

MODEL = "fire_smoke"


def load_frames(path: Path) -> dict[str, list[FrameRecord]]:
    clips: dict[str, list[FrameRecord]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if MODEL not in row["detections"]:
            continue
        clips[row["clip"]].append(
            FrameRecord(
                t=row["t"], frame_id=row["frame_id"], width=row["width"], height=row["height"],
                detections={MODEL: [RecordedDetection.from_list(d) for d in row["detections"][MODEL]]},
            )
        )  # fmt: skip
    return clips


def run_rule(config: FireSmokeRuleConfig, frames: list[FrameRecord], duration_s: float) -> tuple[list[DetectedEvent], int]:
    """The incidents the rule opens on these frames, and the most hits any window of n frames held."""
    rule = FireSmokeRule(config)
    events: list[DetectedEvent] = []
    opened: float | None = None
    most_hits = 0
    for record in frames:
        event = rule.observe(observation_of(record, "tune", MODEL))
        most_hits = max(most_hits, sum(rule._window))  # the k-of-n window: what the margin measures
        if event is not None and event.phase is EventPhase.OPENED:
            opened = record.t
        elif event is not None and event.phase is EventPhase.CLOSED and opened is not None:
            events.append(DetectedEvent(MODEL, opened, record.t))
            opened = None
    if opened is not None:
        events.append(DetectedEvent(MODEL, opened, duration_s))
    return events, most_hits


def evaluate(
    config: FireSmokeRuleConfig, clips: dict[str, list[FrameRecord]], labels: LabelSet
) -> tuple[EventScore, int | None]:
    """Pooled score over the labelled clips, and the margin on the fire-free ones (None: there are none)."""
    scores = []
    margin: int | None = None
    for clip, frames in clips.items():
        clip_labels = labels.for_clip(clip)
        if clip_labels is None or not frames:
            continue
        step = frames[1].t - frames[0].t if len(frames) > 1 else 1.0
        duration = frames[-1].t + step
        detected, most_hits = run_rule(config, frames, duration)
        scores.append(score_events(clip_labels.event_labels(), detected, duration, type=MODEL))
        if not any(label.type == MODEL for label in clip_labels.events):
            gap = config.min_hits - most_hits
            margin = gap if margin is None else min(margin, gap)
    return combine_event_scores(scores, type=MODEL), margin


def table(rows: list[tuple[FireSmokeRuleConfig, EventScore, int | None]]) -> str:
    def cell(value: float | None, spec: str = ".2f") -> str:
        return "—" if value is None else f"{value:{spec}}"

    lines = [
        "| min_confidence | min_box_area | k/n | clear_frames | recall | false | precision | mean delay s | margin |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for config, total, margin in rows:
        default = " (default)" if config == FireSmokeRuleConfig() else ""
        lines.append(
            f"| {config.min_confidence}{default} | {config.min_box_area} | {config.min_hits}/{config.window_frames} | "
            f"{config.clear_frames} | {cell(total.recall)} | {total.false_positives} | {cell(total.precision)} | "
            f"{cell(total.mean_delay_s)} | {cell(margin, 'd')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("frames", type=Path, help="frames.jsonl written by `xueliang replay`")
    parser.add_argument("labels", type=Path)
    args = parser.parse_args()
    labels = load_labels(args.labels)
    clips = load_frames(args.frames)
    default = FireSmokeRuleConfig()
    # Persistence (k of n) against the confidence threshold, at the default box area and clear_frames.
    first = [
        FireSmokeRuleConfig(min_confidence=conf, min_hits=k, window_frames=n)
        for conf in (0.3, 0.35, 0.4, 0.45, 0.5)
        for k, n in ((2, 3), (3, 4), (3, 5), (4, 5), (4, 6), (5, 8))
    ]
    print(table([(c, *evaluate(c, clips, labels)) for c in first]))
    print()
    # Box area and clear_frames, at the default confidence and k of n.
    second = [
        default.model_copy(update={"min_box_area": area, "clear_frames": clear})
        for area in (0.0, 0.001, 0.005, 0.01, 0.05)
        for clear in (4, 6, 10, 16)
    ]
    print(table([(c, *evaluate(c, clips, labels)) for c in second]))


if __name__ == "__main__":
    main()
