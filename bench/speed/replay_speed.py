"""Benchmark 6, replay speed: seconds of footage analysed per second at max speed (`xueliang replay --speed max`).

    .venv/bin/python -m bench.speed.replay_speed

Runs the replay code the CLI runs (analytics.replay_report.run_replays, speed max: the decoder waits for
analysis, nothing is dropped) over real clips with bench/replay/config.yaml's cameras, the models loaded once
beforehand (the CLI also loads them: a few seconds, not counted). Per clip: footage seconds, wall seconds,
footage/wall, model calls, and the ratio of model time at the bound's speed (measured in this process) to wall time.
Writes bench/speed/results/replay.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from analytics.replay_report import plan_replays, run_replays
from bench.speed.common import CLIPS, REPO, machine, table, write_results
from bench.speed.harness import FIRE_CLIPS, bound_ms, load_timed_detectors
from ingest.demo.footage import fire_clip, pedestrian_clip
from models.config import load_config

BENCH_CONFIG = REPO / "bench" / "replay" / "config.yaml"


def clips() -> list[tuple[Path, str]]:
    found = [(pedestrian_clip(), "bench-walkway"), (fire_clip(), "bench-indoor")]
    found += [(CLIPS / name, "bench-indoor") for name in FIRE_CLIPS if (CLIPS / name).is_file()]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="results folder (default bench/speed/results)")
    args = parser.parse_args(argv)
    info = machine()
    config = load_config(BENCH_CONFIG)
    detectors = load_timed_detectors()
    bounds = bound_ms(detectors)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (clip, camera) in enumerate(clips()):
            plans = plan_replays(config, [clip], None, camera=camera, speed=None)
            calls_before = {m: sum(d.calls.values()) for m, d in detectors.items()}
            started = time.perf_counter()
            (result,) = run_replays(config, plans, detectors, Path(tmp) / f"r{i}", None, progress=False)  # type: ignore[arg-type]
            wall = time.perf_counter() - started
            calls = {m: sum(d.calls.values()) - calls_before[m] for m, d in detectors.items()}
            model_s = sum(calls[m] * bounds[m] / 1000 for m in detectors)
            replay = result.replay
            rows.append({
                "clip": clip.name, "camera": camera, "analysis_fps": replay.camera.analysis_fps,
                "footage_s": replay.info.duration_s, "wall_s": wall, "x_realtime": replay.info.duration_s / wall,
                "analysed_frames": len(replay.frames), "frames_dropped": replay.frames_dropped,
                "model_calls": calls, "ratio_to_bound": model_s / wall,
            })  # fmt: skip
    total_footage = sum(r["footage_s"] for r in rows)
    total_wall = sum(r["wall_s"] for r in rows)
    print(table(["clip", "camera (rules)", "fps", "footage s", "wall s", "x real time", "frames", "model calls",
                 "ratio to bound"],
                [[r["clip"], r["camera"], r["analysis_fps"], r["footage_s"], r["wall_s"], r["x_realtime"],
                  r["analysed_frames"], sum(r["model_calls"].values()), r["ratio_to_bound"]] for r in rows]))  # fmt: skip
    print(f"all clips: {total_footage:.1f} s of footage in {total_wall:.1f} s = {total_footage / total_wall:.1f}x")
    path = write_results("replay", {"machine": info, "bounds_ms": bounds, "clips": rows,
                                    "x_realtime_total": total_footage / total_wall}, args.out)  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
