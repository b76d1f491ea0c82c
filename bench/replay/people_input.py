"""How the people model's input size decides the count: each labelled frame of the given clips through the people
model at several input sizes and as tiles, counted as the crowd rule counts (person boxes at or above the rule's
`min_confidence`), against the hand counts in labels.yaml, with the median ms per frame of each choice.

    flock /tmp/xl-heavy.lock .venv/bin/python bench/replay/people_input.py CLIP... \
        --config bench/replay/config.yaml --labels bench/replay/labels.yaml [--out bench/replay/people_input.json]

Timings are medians over every labelled frame (after one warm-up per choice), in one process, so they compare
with each other; absolute values depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from analytics.detector import InputSize, UltralyticsDetector, confidences, with_label
from analytics.ground_truth import load_labels
from analytics.model_files import choose_runtime, resolve_weights
from ingest.sampling import sampled_frames
from models.config import CrowdRuleConfig, load_config


def choices(width: int, height: int, sizes: list[int] | None = None) -> list[InputSize]:
    """The given sizes, or: 640 to 3072 px, the frame's own long side, and 640 px tiles at 640 and at 1024."""
    if sizes:
        return [InputSize(s) for s in sizes]
    found = sorted({640, 960, 1280, 1920, 2560, 3072, min(4096, -(-max(width, height) // 32) * 32)})
    return [InputSize(s) for s in found] + [InputSize(640, tile=640), InputSize(1024, tile=640)]


def frames_at(path: Path, times: list[float]) -> list[tuple[float, np.ndarray]]:
    """The decoded frame nearest each labelled time."""
    wanted = sorted(times)
    best: dict[float, tuple[float, np.ndarray]] = {}
    for pts, image in sampled_frames(path, None):
        for t in wanted:
            if t not in best or abs(pts - t) < abs(best[t][0] - t):
                best[t] = (pts, image)
        if pts > wanted[-1] + 1:
            break
    return [best[t] for t in wanted]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--model", default="people")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--sizes", help="comma-separated input sizes to try instead of the default set")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    labels = load_labels(args.labels)
    model = config.models[args.model]
    detector = UltralyticsDetector(args.model, model)
    min_confidence = CrowdRuleConfig().min_confidence
    rows = []
    for clip in args.clips:
        entry = labels.clips.get(clip.name)
        if entry is None or not entry.people:
            continue
        times = sorted(entry.people)
        frames = frames_at(clip, times)
        height, width = frames[0][1].shape[:2]
        sizes = [int(v) for v in args.sizes.split(",")] if args.sizes else None
        for size in choices(width, height, sizes):
            detector.detect(frames[0][1], size)  # warm-up: the first run at a new shape compiles it
            ms, errors, counted = [], [], []
            for t, (_, image) in zip(times, frames, strict=True):
                start = time.perf_counter()
                found = with_label(detector.detect(image, size), "person")
                ms.append((time.perf_counter() - start) * 1000)
                count = int(np.sum(confidences(found) >= min_confidence))
                counted.append(count)
                errors.append(count - entry.people[t])
            truth = [entry.people[t] for t in times]
            row = {
                "clip": clip.name,
                "frame": f"{width}x{height}",
                "input": size.describe(),
                "long_side": size.long_side,
                "tile": size.tile,
                "labelled": truth,
                "counted": counted,
                "mae": round(statistics.fmean(abs(e) for e in errors), 2),
                "mape_pct": round(100 * statistics.fmean(abs(e) / n for e, n in zip(errors, truth, strict=True) if n), 1),
                "bias_pct": round(100 * sum(errors) / sum(truth), 1),
                "ms_median": round(statistics.median(ms), 1),
            }
            rows.append(row)
            print(f"{row['clip']:40s} {row['frame']:>10s} {row['input']:>16s}  MAE {row['mae']:5.2f}  "
                  f"MAPE {row['mape_pct']:5.1f} %  bias {row['bias_pct']:+6.1f} %  {row['ms_median']:7.1f} ms", flush=True)  # fmt: skip
    result = {
        "command": " ".join(["bench/replay/people_input.py", *(argv if argv is not None else sys.argv[1:])]),
        "model": args.model,
        "runtime": choose_runtime(args.model, model, resolve_weights(args.model, model)) or "as given",
        "min_confidence": min_confidence,
        "rows": rows,
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
