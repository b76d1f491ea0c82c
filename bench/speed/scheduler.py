"""Benchmark 10: one inference queue per model (`scheduling: queue`) against the per-call lock (`lock`).

    flock /tmp/xl-heavy.lock .venv/bin/python -m bench.speed.scheduler [--cameras 8,16] [--measure 20] [--modes lock,queue]

N cameras (the pipeline bench's mix: the pedestrian clip with the people model, the fire clips with the fire
model, each at --fps) over a local RTSP server, the real service, API and websocket client (bench.speed.harness),
run with `lock` and with `queue` one after the other in the same process. Per run: per-camera min fps, total fps,
frames dropped at the stream slot, frames late-dropped by the queue, model frames/s against the bound measured in
this process before the runs, p95 frame->websocket latency, CPU. Also measured: ultralytics predict on a list of
two frames vs two single calls (does batching two pending same-shape requests pay?). Writes
bench/speed/results/scheduler.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.speed.common import machine, table, write_results
from bench.speed.harness import (
    bound_ms,
    clip_server,
    load_timed_detectors,
    pedestrian_clip,
    run_cameras,
)
from bench.speed.pipeline import camera_mix
from ingest.sampling import sampled_frames

MODES: dict[str, dict[str, Any]] = {
    "lock": {"mode": "lock"},
    "queue": {"mode": "queue"},
    "queue-no-deadline": {"mode": "queue", "deadline_factor": None},
}


def batching(detectors: dict[str, Any], rounds: int = 10) -> dict[str, float]:
    """Median ms for two vtest frames: two predict calls vs one predict on a list of both (people model, 640)."""
    model = detectors["people"].real._model
    frames = [i for _, i in sampled_frames(pedestrian_clip(), fps=2, limit=2)]
    single, batch = [], []
    for r in range(rounds + 2):
        t0 = time.perf_counter()
        for image in frames:
            model.predict(image, imgsz=640, verbose=False)
        t1 = time.perf_counter()
        model.predict(frames, imgsz=640, verbose=False)
        t2 = time.perf_counter()
        if r >= 2:
            single.append((t1 - t0) * 1000)
            batch.append((t2 - t1) * 1000)
    two_calls, one_batch = float(np.median(single)), float(np.median(batch))
    return {"two_calls_ms": two_calls, "batch_of_two_ms": one_batch, "speedup": two_calls / one_batch}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", default="8,16", help="camera counts to run, comma-separated")
    parser.add_argument("--fps", type=float, default=2.0, help="analysis fps of every camera")
    parser.add_argument("--warmup", type=float, default=6.0, help="seconds after all cameras are online")
    parser.add_argument("--measure", type=float, default=20.0, help="seconds measured per run")
    parser.add_argument("--modes", default="lock,queue",
                        help="modes to run per N: lock, queue, queue-no-deadline (queue, deadline_factor null)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default bench/speed/results)")
    args = parser.parse_args(argv)
    info = machine()
    detectors = load_timed_detectors()
    bounds = bound_ms(detectors)
    batch = batching(detectors)
    print("bound ms:", {k: round(v, 1) for k, v in bounds.items()}, "batching:", batch, flush=True)
    runs = []
    with clip_server() as server, tempfile.TemporaryDirectory() as tmp:
        for n in [int(x) for x in args.cameras.split(",")]:
            for mode in args.modes.split(","):
                cameras = camera_mix(server, n, args.fps)
                result = run_cameras(server, cameras, detectors, bounds, Path(tmp) / f"{mode}{n}",
                                     warmup_s=args.warmup, measure_s=args.measure,
                                     overrides={"scheduling": MODES[mode]})  # fmt: skip
                result["mode"] = mode
                fps = [c["achieved_fps"] for c in result["per_camera"].values()]
                result["min_fps"], result["total_fps"] = min(fps), sum(fps)
                runs.append(result)
                print(f"N={n} {mode}: min fps {min(fps):.2f} total {sum(fps):.1f} dropped {result['dropped_total']} "
                      f"late {result['late_dropped_total']} p95 {result['latency_s'][95]}", flush=True)  # fmt: skip
    rows = [[r["cameras"], r["mode"], r["min_fps"], r["total_fps"], r["dropped_total"], r["late_dropped_total"],
             r["model_frames_per_s"], r["bound_model_frames_per_s"], r["ratio_to_bound"], r["latency_samples"],
             r["latency_s"][50], r["latency_s"][95], r["process_cpu_pct"], r["system_cpu_pct"]] for r in runs]  # fmt: skip
    print(table(["N", "mode", "min fps/camera", "total fps", "dropped (slot)", "late-dropped", "model frames/s",
                 "bound frames/s", "ratio to bound", "latency n", "p50 s", "p95 s", "process CPU %",
                 "system CPU %"], rows))  # fmt: skip
    path = write_results("scheduler", {"machine": info, "bounds_ms": bounds, "batching": batch, "fps": args.fps,
                                       "runs": runs}, args.out)  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
