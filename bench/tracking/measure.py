"""Trackers at the analysis fps, on recorded detections (bench/tracking/extract_detections.py): line crossings
against a hand count, and how tracks hold up (ids, lifetimes), for each tracker setting and analysis fps.

    .venv/bin/python -m bench.tracking.measure /tmp/vtest_people.jsonl bench/tracking/vtest_line.yaml

No model runs here: each analysis fps takes the recorded frames a FrameSampler would, as the pipeline does.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
import yaml

from analytics.detector import LABEL_KEY
from analytics.tracking import make_tracker
from analytics.zones import Line
from ingest.sampling import FrameSampler
from models.config import TrackingConfig


@dataclass
class Outcome:
    crossings: list[tuple[float, str]]  # (time, "in"/"out")
    ids: int
    mean_life_s: float
    confirmed_share: float  # detections that carried a tracker id


def load(path: Path) -> list[tuple[float, sv.Detections]]:
    frames = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        rows = row["detections"]
        if rows:
            found = sv.Detections(
                xyxy=np.array([r[:4] for r in rows], dtype=float),
                confidence=np.array([r[4] for r in rows], dtype=float),
                class_id=np.zeros(len(rows), dtype=int),
                data={LABEL_KEY: np.array([r[5] for r in rows], dtype=object)},
            )
        else:
            found = sv.Detections.empty()
        frames.append((row["t"], found))
    return frames


def run(frames: list[tuple[float, sv.Detections]], fps: float, tracker: Any, line: Line,
        min_confidence: float) -> Outcome:  # fmt: skip
    sampler = FrameSampler(fps)
    crossings: list[tuple[float, str]] = []
    seen: dict[int, list[float]] = {}
    with_id = total = 0
    for t, found in frames:
        if not sampler.due(t):
            continue
        found = found[found.confidence >= min_confidence] if len(found) else found
        tracked = tracker.update(found, timestamp=t)
        total += len(tracked)
        if len(tracked):
            for tid in tracked.tracker_id[tracked.tracker_id >= 0]:
                seen.setdefault(int(tid), []).append(t)
            with_id += int((tracked.tracker_id >= 0).sum())
        crossed_in, crossed_out = line.trigger(tracked)
        crossings += [(t, "in")] * int(crossed_in.sum()) + [(t, "out")] * int(crossed_out.sum())
    lives = [max(ts) - min(ts) for ts in seen.values()]
    return Outcome(crossings, len(seen), statistics.fmean(lives) if lives else 0.0, with_id / total if total else 0.0)


def matched(found: list[tuple[float, str]], truth: list[tuple[float, str]], tolerance_s: float) -> int:
    """Crossings found that match a hand-counted one (same direction, within tolerance), each used once."""
    free = list(truth)
    hits = 0
    for t, direction in sorted(found):
        best = min((c for c in free if c[1] == direction and abs(c[0] - t) <= tolerance_s),
                   key=lambda c: abs(c[0] - t), default=None)  # fmt: skip
        if best is not None:
            free.remove(best)
            hits += 1
    return hits


def bytetrack(keep_lost_s: float, min_iou: float = 0.1, high: float = 0.6) -> TrackingConfig:
    return TrackingConfig(tracker="bytetrack", keep_lost_s=keep_lost_s, min_iou=min_iou, high_confidence=high)


# name -> the tracker setting at an analysis fps. 0.6 is the trackers' own high-confidence default.
SETTINGS: dict[str, Callable[[float], TrackingConfig]] = {
    "bytetrack as before (lost_track_buffer 3 x fps, high conf 0.6)": lambda fps: bytetrack(3 * fps / 30.0),
    "bytetrack, keep lost 3 s, high conf 0.6": lambda fps: bytetrack(3.0),
    "bytetrack, keep lost 3 s, high conf 0.6, iou 0.05": lambda fps: bytetrack(3.0, min_iou=0.05),
    "**bytetrack, keep lost 3 s, high conf 0.4 (the default now)**": lambda fps: bytetrack(3.0, high=0.4),
    "sort, keep lost 3 s": lambda fps: TrackingConfig(tracker="sort", keep_lost_s=3.0, min_iou=0.1),
    "sort, keep lost 3 s, iou 0.05": lambda fps: TrackingConfig(tracker="sort", keep_lost_s=3.0, min_iou=0.05),
    "sort, keep lost 1.5 s": lambda fps: TrackingConfig(tracker="sort", keep_lost_s=1.5, min_iou=0.1),
    "ocsort, keep lost 3 s, high conf 0.6": lambda fps: TrackingConfig(tracker="ocsort", keep_lost_s=3.0,
                                                                       high_confidence=0.6),
    "ocsort, keep lost 3 s, high conf 0.4": lambda fps: TrackingConfig(tracker="ocsort", keep_lost_s=3.0,
                                                                       high_confidence=0.4),
}


def main(detections: str, truth_file: str) -> None:
    frames = load(Path(detections))
    spec = yaml.safe_load(Path(truth_file).read_text(encoding="utf-8"))
    truth = [(float(c["t"]), str(c["direction"])) for c in spec["crossings"]]
    print(f"hand count: {sum(d == 'in' for _, d in truth)} in, {sum(d == 'out' for _, d in truth)} out")
    print("| setting | fps | in | out | matched | missed | extra | ids | mean track life s | dets with id |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for fps in spec.get("fps", [1, 2, 5, 10]):
        for name, setting in SETTINGS.items():
            line = Line("bench", np.array(spec["line"], dtype=float))
            out = run(frames, fps, make_tracker(setting(fps), fps), line, spec.get("min_confidence", 0.4))
            hits = matched(out.crossings, truth, tolerance_s=max(1.0, 1.5 / fps))
            n_in = sum(d == "in" for _, d in out.crossings)
            print(f"| {name} | {fps:g} | {n_in} | {len(out.crossings) - n_in} | {hits} | {len(truth) - hits} | "
                  f"{len(out.crossings) - hits} | {out.ids} | {out.mean_life_s:.1f} | {out.confirmed_share:.0%} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
