"""Benchmark 7, a camera's cost at its input size: ms of analysis per analysed frame (CameraPipeline.step: motion
gate, people model, tracker, crowd rule) for a 1080p camera at `image_size: auto` (the default, 3072 px for
1080p) against the same camera held at the old 640 px, and an SD camera (vtest, where auto stays at 640), in one
run, the variants taking turns frame by frame so a shared machine's load falls on all alike.

    .venv/bin/python -m bench.speed.camera_cost [--clip-1080p /tmp/xl-clips/street_1080p_vtest_mosaic.mp4]

The 1080p clip is made by bench/replay/make_street_1080p.py (vtest in a 4 x 3 mosaic; every frame has people
walking, so motion gating skips nothing: the busy case). A still scene costs a detection per `max_interval_s`
whatever the input size (benchmark 4). Writes bench/speed/results/camera_cost.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import yaml

from analytics.detector_backends import load_detectors
from analytics.pipeline import CameraPipeline
from bench.speed.common import DEMO_CONFIG, machine, median, percentile, table, write_results
from ingest.demo.footage import pedestrian_clip
from ingest.frames import VideoFrame
from ingest.health import CameraHealth, CameraState
from ingest.sampling import sampled_frames
from models.config import CameraConfig, UltralyticsModelConfig

FPS = 2.0


def camera(inference: dict[str, Any] | None = None) -> CameraConfig:
    return CameraConfig.model_validate(
        {"name": "bench", "url": "file:///dev/null", "grid_cell": "1", "analysis_fps": FPS,
         "rules": {"crowd": {"min_people": 1000}}, "inference": inference or {}}
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip-1080p", type=Path, default=Path("/tmp/xl-clips/street_1080p_vtest_mosaic.mp4"))
    parser.add_argument("--frames", type=int, default=30, help="analysed frames per variant (at 2 fps)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if not args.clip_1080p.is_file():
        parser.error(f"{args.clip_1080p} not found: make it with bench/replay/make_street_1080p.py")
    info = machine()
    models = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))["models"]
    detectors = load_detectors({"people": UltralyticsModelConfig.model_validate(models["people"])}, {"people"})
    hd = list(sampled_frames(args.clip_1080p, FPS, limit=args.frames))
    sd = list(sampled_frames(pedestrian_clip(), FPS, limit=args.frames))
    variants = {
        "1080p, image_size auto (3072 px)": (camera(), hd),
        "1080p, image_size 640 (before)": (camera({"people": {"image_size": 640}}), hd),
        "1080p, 640 px tiles at 1024": (camera({"people": {"image_size": 1024, "tile": 640}}), hd),
        "SD 768x576, image_size auto (640 px)": (camera(), sd),
    }
    pipelines = {name: CameraPipeline("bench", cam, detectors) for name, (cam, _) in variants.items()}
    ms: dict[str, list[float]] = {name: [] for name in variants}
    counts: dict[str, list[int]] = {name: [] for name in variants}
    health = CameraHealth("bench", CameraState.ONLINE, 0.0)
    for i in range(-1, args.frames):  # frame -1: one warm-up step per variant (the first run at a shape compiles)
        for name, (_, frames) in variants.items():
            t, image = frames[max(i, 0)]
            frame = VideoFrame(camera_id="bench", frame_id=i + 1, timestamp=t, pts=t, image=image)
            started = time.perf_counter()
            pipelines[name].step(frame, health, t)
            if i >= 0:
                ms[name].append((time.perf_counter() - started) * 1000)
                counts[name].append(pipelines[name].rules[0].inner.count)  # type: ignore[attr-defined]
    rows = []
    for name in variants:
        per_frame = median(ms[name]) or 0.0
        rows.append({
            "camera": name, "frames": len(ms[name]), "ms_per_frame_median": round(per_frame, 1),
            "ms_p90": round(percentile(ms[name], 90) or 0.0, 1),
            "cpu_share_at_2fps": round(per_frame * FPS / 1000, 3),
            "people_counted_median": median(counts[name]),
        })  # fmt: skip
    base = next(r for r in rows if "before" in r["camera"])["ms_per_frame_median"]
    for row in rows:
        row["x_640"] = round(row["ms_per_frame_median"] / base, 2) if base else None
    print(table(["camera", "frames", "ms/frame (median)", "p90", "x 640", "CPU share at 2 fps", "people (median)"],
                [[r["camera"], r["frames"], r["ms_per_frame_median"], r["ms_p90"], r["x_640"],
                  r["cpu_share_at_2fps"], r["people_counted_median"]] for r in rows]))  # fmt: skip
    print(write_results("camera_cost", {"machine": info, "rows": rows}, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
