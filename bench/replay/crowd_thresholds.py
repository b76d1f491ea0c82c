"""Does the crowd rule open when it should and stay shut when it should not, on real counts? For every clip with
people labels, the real CrowdRule (the bench camera's crowd config, the shipped defaults otherwise) is re-run over
the replay's recorded detections (`frames.jsonl`) with its threshold N at 60 % and at 150 % of the clip's true
count (the median of its hand counts). At 60 % the crowd is there from the first frame: a labelled crowd over the
whole clip, to be opened within `open_after_s` + 3 s (also reported at 90 %, near the true count, where the
per-frame count crosses N back and forth). At 150 % nothing should open. Each threshold runs twice on
the same detections: with the steady count (the defaults) and on each frame's own count (`count_window_s: 0,
dip_tolerance_s: 0`, the rule before). Clips shorter than `open_after_s` + 3 s are left out.

    .venv/bin/python bench/replay/crowd_thresholds.py replay-out/bench/frames.jsonl \
        --config bench/replay/config.yaml --labels bench/replay/labels.yaml
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from analytics.events import EventPhase
from analytics.ground_truth import load_labels
from analytics.replay import FrameRecord, RecordedDetection, observation_of
from analytics.rules.crowd_rule import CrowdRule
from analytics.scoring import DetectedEvent, LabelledEvent, score_events
from models.config import CrowdRuleConfig, load_config

FRACTIONS = (0.6, 0.9, 1.5)  # 90 %: near the true count, where per-frame jitter crosses N
MODES = {"steady": {}, "per-frame": {"count_window_s": 0.0, "dip_tolerance_s": 0.0}}
GRACE_S = 3.0  # the target: open within open_after_s + this


def load_frames(path: Path, model: str, camera: str) -> dict[str, list[FrameRecord]]:
    """The recorded frames of each clip as `camera` analysed them (a clip may be replayed as several cameras)."""
    clips: dict[str, list[FrameRecord]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row.get("camera") != camera or model not in row["detections"]:
            continue
        clips[row["clip"]].append(
            FrameRecord(
                t=row["t"], frame_id=row["frame_id"], width=row["width"], height=row["height"],
                detections={model: [RecordedDetection.from_list(d) for d in row["detections"][model]]},
            )
        )  # fmt: skip
    return clips


def run_rule(config: CrowdRuleConfig, frames: list[FrameRecord], duration_s: float) -> list[DetectedEvent]:
    rule = CrowdRule(config)
    events: list[DetectedEvent] = []
    opened: float | None = None
    for record in frames:
        event = rule.observe(observation_of(record, "crowd", config.model))
        if event is not None and event.phase is EventPhase.OPENED:
            opened = record.t
        elif event is not None and event.phase is EventPhase.CLOSED and opened is not None:
            events.append(DetectedEvent("crowd", opened, record.t))
            opened = None
    if opened is not None:
        events.append(DetectedEvent("crowd", opened, duration_s))
    return events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("frames", type=Path, help="a replay's frames.jsonl")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    labels = load_labels(args.labels)
    rows = []
    print("| clip | true count | N | count | expected | opened at | meets the target | precision | recall |")
    print("|---|---|---|---|---|---|---|---|---|")
    for clip, entry in labels.clips.items():
        if not entry.people or entry.camera is None:
            continue
        camera = config.cameras[entry.camera]
        base = camera.rules.crowd or CrowdRuleConfig()
        frames = load_frames(args.frames, base.model, entry.camera).get(clip)
        if not frames:
            continue
        step = frames[1].t - frames[0].t if len(frames) > 1 else 1.0
        duration = frames[-1].t + step
        if duration < base.open_after_s + GRACE_S:
            continue
        true = statistics.median(entry.people.values())
        for fraction, (mode, update) in ((f, m) for f in FRACTIONS for m in MODES.items()):
            n = max(1, round(fraction * true))
            rule_config = base.model_copy(update={"min_people": n, **update})
            detected = run_rule(rule_config, frames, duration)
            should_open = fraction < 1
            truth = [LabelledEvent("crowd", 0.0, duration)] if should_open else []
            score = score_events(truth, detected, duration, type="crowd")
            opened = min((e.start for e in detected), default=None)
            within = (opened is not None and opened <= rule_config.open_after_s + GRACE_S) if should_open else (
                not detected)  # fmt: skip
            row = {"clip": clip, "true": true, "fraction": fraction, "min_people": n, "count": mode,
                   "open_after_s": rule_config.open_after_s, "expected": "opens" if should_open else "never opens",
                   "opened_s": opened, "incidents": len(detected), "meets_target": within,
                   "precision": score.precision, "recall": score.recall}  # fmt: skip
            rows.append(row)
            fmt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
            print(f"| {clip} | {true:g} | {n} ({fraction:.0%}) | {mode} | {row['expected']} | "
                  f"{'—' if opened is None else f'{opened:.1f} s'} | {'yes' if within else '**no**'} | "
                  f"{fmt(score.precision)} | {fmt(score.recall)} |")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
