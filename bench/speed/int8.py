"""int8 vs fp32, side by side in one run: model ms per frame and accuracy, for the people and fire models.

    .venv/bin/python -m bench.speed.int8 [--rounds 25]

Each model is loaded twice from the demo config, `runtime: openvino` at its `image_size`: fp32 (OpenVINO's default
precision: bf16 on CPUs with native bf16, else f32) and `precision: int8` (analytics/quantize.py; quantized once on
first use and cached, the time it took is in its sidecar). Calibration frames, the cameras' own kind of footage:

- people: vtest.avi, 40 frames at 1 fps from its start (0-39 s; vtest is this bench's only pedestrian footage, so
  the accuracy frames below overlap the calibration ones: 5 of the 11 hand-labelled times are in 0-39 s);
- fire_smoke: the demo fire stills (ingest/demo/fire_stills) and the fire and no-fire clips, 40 frames; never
  the fire8 test stills it is scored on.

Speed: ms per frame at the detector's edge (letterbox + inference + NMS + Detections), fp32 and int8 alternating on
the same frames, median over `rounds` after 3 warm-ups; and model-only (one compiled forward pass at the service's
letterboxed shape). Accuracy:

- people: person count per analysed frame of vtest at 2 fps, int8 against fp32 (MAE) and both against the hand
  counts of bench/replay/labels.yaml (MAE over the 11 labelled times);
- fire: the 35 labelled fire8 test stills at the fire rule's min_confidence (0.4): box recall and precision (IoU >=
  0.5, same label: Fire -> fire, smoke -> smoke) and stills with any fire/smoke hit; the two no-fire clips at 2 fps:
  fire/smoke boxes at >= 0.4 (false ones).

Tolerance (stated before the run): people count MAE against the hand counts within +0.3 of fp32's and int8-vs-fp32
MAE <= 0.5; fire still-level recall unchanged, box recall within -0.05, no new false boxes on the no-fire clips.
Writes bench/speed/results/int8.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from analytics.detector import UltralyticsDetector, with_label
from bench.speed.common import ASSETS, DEMO_CONFIG, REPO, machine, median, table, write_results
from ingest.demo.footage import FIRE_STILLS, pedestrian_clip
from ingest.sampling import sampled_frames
from models.config import UltralyticsModelConfig

# the shared footage beside the checkout, or beside the main checkout when this is a git worktree under it
SHARED_ASSETS = ASSETS if ASSETS.is_dir() else REPO.parents[1] / "shared" / "assets"
FIRE_CLIPS_DIR = SHARED_ASSETS / "clips"
FIRE8 = SHARED_ASSETS / "images" / "fire8_test"
FIRE8_LABELS = {0: "fire", 2: "smoke"}  # data.yaml: 0 Fire, 1 default (no label of ours), 2 smoke
RULE_CONFIDENCE = 0.4  # rules.fire_smoke.min_confidence in models/demo_config.yaml
NOFIRE_CLIPS = ("nofire_night_cctv_floodlight.mp4", "nofire_sunset_water_reflection.mp4")
FIRE_CLIPS = ("fire_indoor_cctv_lockers.mp4", "fire_indoor_cctv_home_battery.mp4", "fire_outdoor_grass_burn.mp4")
CALIBRATION_FRAMES = 40


def configs(name: str) -> tuple[UltralyticsModelConfig, UltralyticsModelConfig]:
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))["models"][name] | {"runtime": "openvino"}
    if name == "people":
        paths = [str(pedestrian_clip())]
    else:
        paths = [str(FIRE_STILLS), *(str(FIRE_CLIPS_DIR / c) for c in FIRE_CLIPS + NOFIRE_CLIPS)]
    fp32 = UltralyticsModelConfig.model_validate(raw)
    int8 = UltralyticsModelConfig.model_validate(
        raw | {"precision": "int8", "calibration": {"paths": paths, "frames": CALIBRATION_FRAMES}}
    )
    return fp32, int8


def timed_detect(detectors: dict[str, UltralyticsDetector], frames: list[np.ndarray], rounds: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {key: [] for key in detectors}
    for r in range(rounds + 3):
        image = frames[r % len(frames)]
        for key, detector in detectors.items():
            t0 = time.perf_counter()
            detector.detect(image)
            if r >= 3:
                times[key].append((time.perf_counter() - t0) * 1000)
    return {key: median(values) for key, values in times.items()}


def model_only(detectors: dict[str, UltralyticsDetector], shape: tuple[int, int], rounds: int) -> dict[str, Any]:
    import openvino as ov

    core = ov.Core()
    one = np.random.default_rng(0).random((1, 3, *shape), dtype=np.float32)
    compiled = {
        key: core.compile_model(next(d.model_path.glob("*.xml")), "CPU", {"PERFORMANCE_HINT": "LATENCY"})
        for key, d in detectors.items()
    }
    times: dict[str, list[float]] = {key: [] for key in compiled}
    for r in range(rounds + 3):
        for key, model in compiled.items():
            t0 = time.perf_counter()
            model(one)
            if r >= 3:
                times[key].append((time.perf_counter() - t0) * 1000)
    return {key: median(values) for key, values in times.items()} | {
        "precision_hint": {key: str(m.get_property("INFERENCE_PRECISION_HINT")) for key, m in compiled.items()}
    }


def people_accuracy(detectors: dict[str, UltralyticsDetector]) -> dict[str, Any]:
    clip = pedestrian_clip()
    hand: dict[float, int] = yaml.safe_load((REPO / "bench/replay/labels.yaml").read_text(encoding="utf-8"))[
        "clips"]["crowd_elevated_opencv_vtest.avi"]["people"]  # fmt: skip
    counts: dict[str, list[int]] = {key: [] for key in detectors}
    times: list[float] = []
    for t, image in sampled_frames(clip, fps=2):
        times.append(t)
        for key, detector in detectors.items():
            counts[key].append(len(with_label(detector.detect(image), "person")))
    at = {label_t: min(range(len(times)), key=lambda i, lt=label_t: abs(times[i] - lt)) for label_t in hand}
    out: dict[str, Any] = {"frames": len(times), "hand_labelled_times": len(hand)}
    for key, values in counts.items():
        out[key] = {
            "mean_count": float(np.mean(values)),
            "mae_vs_hand": float(np.mean([abs(values[i] - hand[lt]) for lt, i in at.items()])),
            "bias_vs_hand": float(np.mean([values[i] - hand[lt] for lt, i in at.items()])),
        }
    out["int8_vs_fp32_mae"] = float(np.mean(np.abs(np.array(counts["int8"]) - np.array(counts["fp32"]))))
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def fire8_truth(image_path: Path, width: int, height: int) -> list[tuple[str, np.ndarray]]:
    label_path = FIRE8 / "labels" / f"{image_path.stem}.txt"
    boxes = []
    for line in label_path.read_text().splitlines() if label_path.is_file() else []:
        cls, cx, cy, w, h = line.split()[:5]
        if int(cls) in FIRE8_LABELS:
            x, y, bw, bh = float(cx) * width, float(cy) * height, float(w) * width, float(h) * height
            boxes.append((FIRE8_LABELS[int(cls)], np.array([x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2])))
    return boxes


def fire_accuracy(detectors: dict[str, UltralyticsDetector]) -> dict[str, Any]:
    stills = sorted((FIRE8 / "images").glob("*.jpg"))
    out: dict[str, Any] = {"stills": len(stills), "rule_confidence": RULE_CONFIDENCE}
    score = {key: {"true_boxes": 0, "found": 0, "predicted": 0, "correct": 0, "stills_with_fire": 0, "stills_hit": 0}
             for key in detectors}  # fmt: skip
    for path in stills:
        image = cv2.imread(str(path))
        truth = fire8_truth(path, image.shape[1], image.shape[0])
        for key, detector in detectors.items():
            found = detector.detect(image)
            keep = (found.confidence if found.confidence is not None else np.ones(len(found))) >= RULE_CONFIDENCE
            boxes = [(str(label), box) for label, box, k in zip(found.data["label"], found.xyxy, keep, strict=True)
                     if k and label in ("fire", "smoke")]  # fmt: skip
            s = score[key]
            s["true_boxes"] += len(truth)
            s["predicted"] += len(boxes)
            s["found"] += sum(any(lb == lt and _iou(b, t) >= 0.5 for lb, b in boxes) for lt, t in truth)
            s["correct"] += sum(any(lb == lt and _iou(b, t) >= 0.5 for lt, t in truth) for lb, b in boxes)
            if truth:
                s["stills_with_fire"] += 1
                s["stills_hit"] += bool(boxes)
    for key, s in score.items():
        out[key] = s | {
            "box_recall": s["found"] / s["true_boxes"] if s["true_boxes"] else None,
            "box_precision": s["correct"] / s["predicted"] if s["predicted"] else None,
            "still_recall": s["stills_hit"] / s["stills_with_fire"] if s["stills_with_fire"] else None,
        }
    false: dict[str, dict[str, int]] = {key: {} for key in detectors}
    for clip in NOFIRE_CLIPS:
        for key in detectors:
            false[key][clip] = 0
        for _, image in sampled_frames(FIRE_CLIPS_DIR / clip, fps=2):
            for key, detector in detectors.items():
                found = with_label(detector.detect(image), "fire", "smoke")
                conf = found.confidence if found.confidence is not None else np.ones(len(found))
                false[key][clip] += int((conf >= RULE_CONFIDENCE).sum())
    out["nofire_false_boxes"] = false
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=25, help="measured rounds after warm-up (>= 20)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default bench/speed/results)")
    args = parser.parse_args(argv)
    info = machine()
    results: dict[str, Any] = {"machine": info, "calibration_frames": CALIBRATION_FRAMES, "models": {}}
    rows = []
    for name in ("people", "fire_smoke"):
        fp32_config, int8_config = configs(name)
        started = time.perf_counter()
        int8 = UltralyticsDetector(name, int8_config)
        int8_load_s = time.perf_counter() - started
        detectors = {"fp32": UltralyticsDetector(name, fp32_config), "int8": int8}
        sidecar = yaml.safe_load((int8.model_path.parent / "export.json").read_text(encoding="utf-8"))
        if name == "people":
            frames = [image for _, image in sampled_frames(pedestrian_clip(), fps=2, limit=args.rounds)]
        else:
            frames = [cv2.imread(str(p)) for p in sorted((FIRE8 / "images").glob("*.jpg"))]
        edge = timed_detect(detectors, frames, args.rounds)
        h, w = frames[0].shape[:2]
        scale = int8_config.image_size / max(h, w)
        shape = (-(-round(h * scale) // 32) * 32, -(-round(w * scale) // 32) * 32)
        raw = model_only(detectors, shape, args.rounds)
        accuracy = people_accuracy(detectors) if name == "people" else fire_accuracy(detectors)
        results["models"][name] = {
            "image_size": int8_config.image_size, "detect_ms": edge, "detect_ratio": edge["fp32"] / edge["int8"],
            "model_only_input": f"1x3x{shape[0]}x{shape[1]}", "model_only_ms": raw,
            "model_only_ratio": raw["fp32"] / raw["int8"], "accuracy": accuracy,
            "quantize_s": sidecar.get("quantize_s"), "int8_load_s": int8_load_s,
            "calibration": sidecar.get("calibration"), "int8_path": str(int8.model_path),
        }  # fmt: skip
        rows.append([name, f"{raw['precision_hint']['fp32']} / int8", edge["fp32"], edge["int8"],
                     edge["fp32"] / edge["int8"], raw["fp32"], raw["int8"], raw["fp32"] / raw["int8"]])  # fmt: skip
    print(table(["model", "precision", "detect ms fp32", "int8", "ratio", "model-only ms fp32", "int8", "ratio"], rows))
    people = results["models"]["people"]["accuracy"]
    fire = results["models"]["fire_smoke"]["accuracy"]
    print(table(
        ["people (vtest 2 fps)", "mean count", "MAE vs hand", "bias vs hand"],
        [[k, people[k]["mean_count"], people[k]["mae_vs_hand"], people[k]["bias_vs_hand"]] for k in ("fp32", "int8")],
    ))  # fmt: skip
    print(f"int8 vs fp32 count MAE: {people['int8_vs_fp32_mae']:.3f}")
    print(table(
        ["fire8 stills", "box recall", "box precision", "stills hit", "no-fire false boxes"],
        [[k, fire[k]["box_recall"], fire[k]["box_precision"], f"{fire[k]['stills_hit']}/{fire[k]['stills_with_fire']}",
          sum(fire["nofire_false_boxes"][k].values())] for k in ("fp32", "int8")],
    ))  # fmt: skip
    verdict = {
        "people": people["int8"]["mae_vs_hand"] <= people["fp32"]["mae_vs_hand"] + 0.3
        and people["int8_vs_fp32_mae"] <= 0.5,
        "fire_smoke": (
            fire["int8"]["stills_hit"] >= fire["fp32"]["stills_hit"]
            and (fire["int8"]["box_recall"] or 0) >= (fire["fp32"]["box_recall"] or 0) - 0.05
            and all(fire["nofire_false_boxes"]["int8"][c] <= fire["nofire_false_boxes"]["fp32"][c] for c in NOFIRE_CLIPS)
        ),
    }  # fmt: skip
    results["meets_tolerance"] = verdict
    print(f"meets tolerance: {verdict}")
    path = write_results("int8", results, args.out)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
