"""Benchmark 11, detect where it moves (issue 13 lever 2): ms of detection per analysed frame with the whole frame
against a crop around the motion (`cameras.<id>.motion.crop`), and what the crop-merged detections lose.

    flock /tmp/xl-heavy.lock .venv/bin/python -m bench.speed.motion_crop [--frames 40]

Two CameraPipelines per scene, on the same frames, taking turns frame by frame (the order alternating): "full"
detects every frame whole (motion gating off: the reference), "crop" has gating on with `crop: true` (a still frame
reuses, a small moving region is cropped, the rest whole). Scenes, all real footage:
  (a) vtest 768x576 at 5 fps (busy: people all over), people model at 640 (the SD default);
  (b) a wide 1920x1080 view: vtest in a 4 x 3 mosaic scaled by 0.625 (as bench/replay/make_street_1080p.py), where
      11 tiles are still frames of vtest (5 s apart: people standing) and one tile (row 2, column 2) plays vtest:
      real walkers in 1/12 of the frame, people model at 3072 px (the HD default);
  (c) the fire clips (../shared/assets/clips/fire_*.mp4) at 5 fps, fire/smoke model at 640.
Accuracy: per frame, persons counted by crop vs full (MAE, bias); fire: frames with a fire box, full vs crop, and
frames where full has one and crop not. Tolerance, stated before the run: count MAE <= 0.3 per frame, |bias| <= 0.2,
no fire frame lost. Writes bench/speed/results/motion_crop.json.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from analytics.detector import LABEL_KEY
from analytics.detector_backends import load_detectors
from analytics.pipeline import CameraPipeline
from bench.speed.common import CLIPS, DEMO_CONFIG, machine, median, table, write_results
from ingest.demo.footage import pedestrian_clip
from ingest.frames import VideoFrame
from ingest.sampling import sampled_frames
from models.config import CameraConfig, UltralyticsModelConfig

FPS = 5.0
TOLERANCE = {"count_mae_max": 0.3, "count_abs_bias_max": 0.2, "fire_frames_lost_max": 0}


def camera(rules: dict[str, Any], crop: bool) -> CameraConfig:
    motion = {"crop": True} if crop else {"enabled": False}
    return CameraConfig.model_validate(
        {"name": "bench", "url": "file:///dev/null", "grid_cell": "1", "analysis_fps": FPS, "rules": rules,
         "motion": motion}
    )  # fmt: skip


def wide_view(frames: int) -> Iterator[tuple[float, np.ndarray]]:
    still = [image for _, image in sampled_frames(pedestrian_clip(), 0.2, limit=12)]  # 5 s apart
    tile_w, tile_h = 480, 360
    import cv2

    canvas = np.zeros((1080, 1920, 3), np.uint8)
    for i, image in enumerate(still):
        r, c = divmod(i, 4)
        canvas[r * tile_h : (r + 1) * tile_h, c * tile_w : (c + 1) * tile_w] = cv2.resize(
            image, (tile_w, tile_h), interpolation=cv2.INTER_AREA
        )
    for t, image in sampled_frames(pedestrian_clip(), FPS, limit=frames):
        frame = canvas.copy()
        frame[tile_h : 2 * tile_h, tile_w : 2 * tile_w] = cv2.resize(image, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
        yield t, frame


def run_scene(name: str, frames: list[tuple[float, np.ndarray]], detectors: dict, rules: dict[str, Any],
              model: str, label: str) -> dict[str, Any]:  # fmt: skip
    variants = {"full": CameraPipeline("bench", camera(rules, False), detectors),
                "crop": CameraPipeline("bench", camera(rules, True), detectors)}  # fmt: skip
    ms: dict[str, list[float]] = {"full": [], "crop": []}
    found: dict[str, list[int]] = {"full": [], "crop": []}
    cropped: list[bool] = []
    areas: list[float] = []
    for i, (t, image) in enumerate(frames):
        order = ["full", "crop"] if i % 2 == 0 else ["crop", "full"]
        for variant in order:
            pipeline = variants[variant]
            before = pipeline.crop.frames_cropped
            frame = VideoFrame(camera_id="bench", frame_id=i, timestamp=t, pts=t, image=image)
            started = time.perf_counter()
            detections = pipeline.detect(frame)[model]
            elapsed = (time.perf_counter() - started) * 1000
            if variant == "crop":
                cropped.append(pipeline.crop.frames_cropped > before)
                region = pipeline.crop.last_region
                if cropped[-1] and region is not None:
                    areas.append(region.area_fraction(image.shape[1], image.shape[0]))
            if i > 0:  # frame 0: the first run at a shape compiles
                ms[variant].append(elapsed)
            labels = detections.data.get(LABEL_KEY, np.array([], dtype=object))
            found[variant].append(int(np.count_nonzero(labels == label)))
    full, crop = np.array(found["full"]), np.array(found["crop"])
    crop_ms = [m for m, c in zip(ms["crop"], cropped[1:], strict=True) if c]
    full_on_cropped = [m for m, c in zip(ms["full"], cropped[1:], strict=True) if c]
    gate = variants["crop"].motion
    row: dict[str, Any] = {
        "scene": name, "frames": len(frames), "label": label,
        "full_ms_median": median(ms["full"]), "crop_variant_ms_median": median(ms["crop"]),
        "cropped_fraction": round(float(np.mean(cropped)), 3),
        "crop_area_median": round(median(areas) or 0.0, 3),
        "skipped_still_fraction": round(gate.frames_skipped / len(frames), 3),
        "ms_on_cropped_frames_full": median(full_on_cropped), "ms_on_cropped_frames_crop": median(crop_ms),
        "full_found_mean": round(float(full.mean()), 2), "crop_found_mean": round(float(crop.mean()), 2),
        "mae": round(float(np.abs(crop - full).mean()), 3), "bias": round(float((crop - full).mean()), 3),
        "hit_frames_full": int((full > 0).sum()), "hit_frames_crop": int((crop > 0).sum()),
        "hit_frames_lost": int(((full > 0) & (crop == 0)).sum()),
    }  # fmt: skip
    for key in ("full_ms_median", "crop_variant_ms_median", "ms_on_cropped_frames_full", "ms_on_cropped_frames_crop"):
        row[key] = round(row[key], 1) if row[key] is not None else None
    print(row, flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=40, help="analysed frames per scene (at 5 fps)")
    parser.add_argument("--clips", type=Path, default=CLIPS if CLIPS.is_dir() else Path("/work/shared/assets/clips"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    info = machine()
    models = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))["models"]
    detectors = load_detectors(
        {name: UltralyticsModelConfig.model_validate(models[name]) for name in ("people", "fire_smoke")},
        {"people", "fire_smoke"},
    )
    crowd = {"crowd": {"min_people": 1000}}
    fire = {"fire_smoke": {"min_confidence": 0.4}}
    rows = [
        run_scene("(a) vtest 768x576", list(sampled_frames(pedestrian_clip(), FPS, limit=args.frames)), detectors,
                  crowd, "people", "person"),
        run_scene("(b) 1080p, one live tile of 12", list(wide_view(args.frames)), detectors, crowd, "people",
                  "person"),
    ]  # fmt: skip
    for clip in sorted(args.clips.glob("fire_*.mp4")):
        frames = list(sampled_frames(clip, FPS, limit=args.frames))
        rows.append(run_scene(f"(c) {clip.stem}", frames, detectors, fire, "fire_smoke", "fire"))
    people_rows = [r for r in rows if r["label"] == "person"]
    verdict = {
        "count_within": all(r["mae"] <= TOLERANCE["count_mae_max"] and abs(r["bias"]) <= TOLERANCE["count_abs_bias_max"]
                            for r in people_rows),
        "fire_within": all(r["hit_frames_lost"] <= TOLERANCE["fire_frames_lost_max"] for r in rows if r["label"] == "fire"),
    }  # fmt: skip
    print(table(
        ["scene", "frames", "cropped", "crop area", "still (reused)", "full ms", "crop-variant ms", "on cropped: full / crop ms",
         "found full / crop", "MAE", "bias", "hit frames full / crop / lost"],
        [[r["scene"], r["frames"], r["cropped_fraction"], r["crop_area_median"], r["skipped_still_fraction"], r["full_ms_median"],
          r["crop_variant_ms_median"], f"{r['ms_on_cropped_frames_full']} / {r['ms_on_cropped_frames_crop']}",
          f"{r['full_found_mean']} / {r['crop_found_mean']}", r["mae"], r["bias"],
          f"{r['hit_frames_full']} / {r['hit_frames_crop']} / {r['hit_frames_lost']}"] for r in rows],
    ))  # fmt: skip
    print(verdict)
    print(write_results("motion_crop", {"machine": info, "fps": FPS, "tolerance": TOLERANCE, "rows": rows,
                                        "verdict": verdict}, args.out))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
