"""Benchmark 1, the inference bound: ms per frame for each configured model on each runtime, on real frames.

    .venv/bin/python -m bench.speed.inference [--rounds 25]

Every candidate (model x input size x runtime) runs once per round on the same real frame, round-robin, so the
load of a shared machine falls on all of them alike: compare the ratios within one run. ms per frame is the median
over the rounds after 3 warm-up rounds, measured at the detector's edge (ultralytics letterbox + inference + NMS +
conversion to supervision Detections), which is what a camera pays. Also measured: model-only time (OpenVINO at its
default precision, bf16 on CPUs with native bf16, vs f32; ONNX Runtime), and whether batching two frames pays.
Writes bench/speed/results/inference.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from analytics.detector import UltralyticsDetector
from analytics.model_files import runtime_installed
from bench.speed.common import (
    ASSETS,
    CLIPS,
    DEMO_CONFIG,
    machine,
    median,
    percentile,
    table,
    write_results,
)
from ingest.demo.footage import fire_clip, pedestrian_clip
from ingest.sampling import sampled_frames
from models.config import UltralyticsModelConfig

RUNTIMES = ("torch", "onnx", "openvino")
SIZES = {"people": (640, 416, 320), "fire_smoke": (640,)}
COCO_TFLITE = ASSETS / "models" / "yolov8n_int8.tflite"


def candidates() -> list[tuple[str, UltralyticsModelConfig, str]]:
    models = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))["models"]
    found = []
    for name, sizes in SIZES.items():
        for size in sizes:
            for runtime in RUNTIMES:
                if runtime_installed(runtime):
                    config = UltralyticsModelConfig.model_validate(models[name] | {"image_size": size, "runtime": runtime})
                    found.append((name, config, runtime))
    if COCO_TFLITE.is_file() and importlib.util.find_spec("ai_edge_litert") is not None:
        from analytics.model_files import file_sha256

        config = UltralyticsModelConfig.model_validate(
            {"type": "ultralytics", "path": str(COCO_TFLITE), "sha256": file_sha256(COCO_TFLITE),
             "labels": {"person": "person"}, "image_size": 640}
        )  # fmt: skip
        found.append(("coco_yolov8n_int8", config, "tflite"))
    return found


def frames_for(model: str, count: int) -> list[np.ndarray]:
    if model == "fire_smoke":
        clip = CLIPS / "fire_indoor_cctv_lockers.mp4"
        path = clip if clip.is_file() else fire_clip()
    else:
        path = pedestrian_clip()
    return [image for _, image in sampled_frames(path, fps=2, limit=count)]


def bench_detectors(rounds: int, warmup: int = 3) -> list[dict[str, Any]]:
    loaded = []
    for name, config, runtime in candidates():
        started = time.perf_counter()
        detector = UltralyticsDetector(name, config)
        loaded.append((name, config, runtime, detector, time.perf_counter() - started))
    frames = {name: frames_for(name, rounds + warmup) for name in {c[0] for c in loaded}}
    times: dict[int, list[float]] = {i: [] for i in range(len(loaded))}
    counts: dict[int, list[int]] = {i: [] for i in range(len(loaded))}
    for r in range(rounds + warmup):
        for i, (name, _, _, detector, _) in enumerate(loaded):
            image = frames[name][r % len(frames[name])]
            t0 = time.perf_counter()
            found = detector.detect(image)
            elapsed = time.perf_counter() - t0
            if r >= warmup:
                times[i].append(elapsed * 1000)
                counts[i].append(len(found))
    rows = []
    for i, (name, config, runtime, detector, load_s) in enumerate(loaded):
        torch_i = next((j for j, c in enumerate(loaded) if c[0] == name and c[1].image_size == config.image_size
                        and c[2] == "torch"), None)  # fmt: skip
        torch_ms = median(times[torch_i]) if torch_i is not None else None
        ms = median(times[i])
        rows.append({
            "model": name, "image_size": config.image_size, "runtime": runtime,
            "frame_shape": list(frames[name][0].shape), "ms_median": ms, "ms_p90": percentile(times[i], 90),
            "frames_per_s": 1000 / ms if ms else None, "speedup_vs_torch": (torch_ms / ms) if torch_ms and ms else None,
            "mean_detections": float(np.mean(counts[i])),
            "mean_abs_count_diff_vs_torch": float(np.mean(np.abs(np.array(counts[i]) - np.array(counts[torch_i]))))
            if torch_i is not None else None,
            "load_s": load_s, "rounds": len(times[i]), "model_path": str(detector.model_path),
        })  # fmt: skip
    return rows


def _timed(fn, rounds: int) -> float:
    for _ in range(2):
        fn()
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return float(np.median(samples))


def bench_model_only(rows: list[dict[str, Any]], rounds: int) -> list[dict[str, Any]]:
    """Raw forward passes at the letterboxed shape the service uses (1x3x480x640 for 768x576 people frames):
    OpenVINO default precision vs f32, ONNX Runtime, batch 1 twice vs batch 2. Interleaved per round."""
    out: list[dict[str, Any]] = []
    shape = (3, 480, 640)
    one = np.random.default_rng(0).random((1, *shape), dtype=np.float32)
    two = np.concatenate([one, one])
    fns: dict[str, Any] = {}
    for row in rows:
        if row["image_size"] != 640 or row["model"] not in SIZES:
            continue
        path = Path(row["model_path"])
        if row["runtime"] == "openvino":
            import openvino as ov

            core = ov.Core()
            xml = next(path.glob("*.xml"))
            for precision in ("default", "f32"):
                config = {"PERFORMANCE_HINT": "LATENCY"}
                if precision == "f32":
                    config["INFERENCE_PRECISION_HINT"] = "f32"
                compiled = core.compile_model(xml, "CPU", config)
                actual = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
                fns[f"{row['model']}|openvino {precision} ({actual})|b1"] = lambda c=compiled: c(one)
                fns[f"{row['model']}|openvino {precision} ({actual})|b2"] = lambda c=compiled: c(two)
        elif row["runtime"] == "onnx":
            import onnxruntime as ort

            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            fns[f"{row['model']}|onnxruntime|b1"] = lambda s=session: s.run(None, {"images": one})
            fns[f"{row['model']}|onnxruntime|b2"] = lambda s=session: s.run(None, {"images": two})
    samples: dict[str, list[float]] = {key: [] for key in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[key].append((time.perf_counter() - t0) * 1000)
    for key in fns:
        model, runtime, batch = key.split("|")
        if batch == "b2":
            continue
        b1, b2 = float(np.median(samples[key])), float(np.median(samples[key[:-2] + "b2"]))
        out.append({"model": model, "runtime": runtime, "input": "1x3x480x640", "ms_batch1": b1,
                    "ms_batch2_per_frame": b2 / 2, "batch2_gain": (2 * b1) / b2})  # fmt: skip
    return out


def bench_batched_detect(rounds: int) -> list[dict[str, Any]]:
    """At the detector's edge (ultralytics pre/post included): two same-shape frames in one predict() call vs two
    calls, on the runtime `auto` picks. Interleaved per round."""
    models = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))["models"]
    out = []
    for name in SIZES:
        detector = UltralyticsDetector(name, UltralyticsModelConfig.model_validate(models[name]))
        frames = frames_for(name, rounds + 4)
        predict = detector._model.predict  # the batched call the service would make
        size = detector.config.image_size
        singles, pairs = [], []
        for i in range(rounds + 2):
            pair = [frames[i % len(frames)], frames[(i + 1) % len(frames)]]
            t0 = time.perf_counter()
            for image in pair:
                predict(image, imgsz=size, verbose=False)
            t1 = time.perf_counter()
            predict(pair, imgsz=size, verbose=False)
            t2 = time.perf_counter()
            if i >= 2:
                singles.append((t1 - t0) * 1000)
                pairs.append((t2 - t1) * 1000)
        one, two = float(np.median(singles)), float(np.median(pairs))
        out.append({"model": name, "runtime": detector.runtime, "ms_two_calls": one, "ms_one_batch_of_two": two,
                    "batch2_gain": one / two})  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=25, help="measured rounds after warm-up (>= 20)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default bench/speed/results)")
    args = parser.parse_args(argv)
    info = machine()
    rows = bench_detectors(args.rounds)
    raw = bench_model_only(rows, args.rounds)
    batched = bench_batched_detect(args.rounds)
    print(table(
        ["model", "size", "runtime", "ms/frame (median)", "p90", "frames/s", "x torch", "dets/frame", "|Δcount| vs torch"],
        [[r["model"], r["image_size"], r["runtime"], r["ms_median"], r["ms_p90"], r["frames_per_s"],
          r["speedup_vs_torch"], r["mean_detections"], r["mean_abs_count_diff_vs_torch"]] for r in rows],
    ))  # fmt: skip
    print()
    print(table(["model", "runtime (precision)", "input", "ms batch 1", "ms/frame batch 2", "batch-2 gain"],
                [[r["model"], r["runtime"], r["input"], r["ms_batch1"], r["ms_batch2_per_frame"], r["batch2_gain"]]
                 for r in raw]))  # fmt: skip
    print()
    print(table(["model", "runtime", "ms two calls", "ms one batch of two", "batch-2 gain"],
                [[r["model"], r["runtime"], r["ms_two_calls"], r["ms_one_batch_of_two"], r["batch2_gain"]]
                 for r in batched]))  # fmt: skip
    results = {"machine": info, "detectors": rows, "model_only": raw, "batched_detect": batched}
    path = write_results("inference", results, args.out)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
