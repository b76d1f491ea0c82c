"""Benchmarks 2, 3 and 4: throughput of N cameras, frame->websocket latency, a quiet camera vs a busy one.

    .venv/bin/python -m bench.speed.pipeline [--cameras 1,2,4,6,8] [--fps 2] [--measure 30]
    .venv/bin/python -m bench.speed.pipeline --quiet-busy [--gop 0.5]

Throughput: N cameras (alternately the pedestrian clip with the people model and the fire clips with the fire
model), each at --fps, served over a local RTSP server, analysed by the real service with its API and a websocket
client. Per camera: achieved analysed fps, frames dropped (the newest-frame slot replaced a sampled frame that
analysis had not taken: analysis too slow), frames skipped by motion gating (analysed, detections reused). For the
whole run: model calls/s, and the ratio to the inference bound measured in this same process before the ramp
(ratio = sum of calls x bound ms per call / run time: 1.0 means the model never rested at the bound's speed).
A run holds its fps when every camera gets >= 95 % of it. Latency: from a frame's arrival (its decode time,
which is the incident's `updated_at`) to the incident message on the websocket client, p50/p95/p99, reported for
every N (half and full load are read from the ramp). Quiet vs busy: one camera on a still scene with keyframes-only
decoding while still (the default), with every frame decoded (`still_decode: all`), with gating off, and one
camera on the busy walkway; --gop sets the served streams' keyframe interval (cameras: often 1-4 s). Writes bench/speed/results/pipeline.json (or quiet_busy.json).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bench.speed.common import machine, table, write_results
from bench.speed.harness import (
    bound_ms,
    clip_server,
    fire_camera,
    load_timed_detectors,
    people_camera,
    run_cameras,
    stream_clips,
)
from ingest.rtsp_server import DEFAULT_GOP_S, LocalRtspServer

HOLDS = 0.95


def camera_mix(server: LocalRtspServer, n: int, fps: float) -> dict[str, dict[str, Any]]:
    fire_streams = [s for s in server.stream_names if s.startswith("fire")]
    cameras = {}
    for i in range(n):
        if i % 2 == 0:
            stream, camera = "walkway", people_camera(server.url("walkway"), fps)
        else:
            stream = fire_streams[(i // 2) % len(fire_streams)]
            camera = fire_camera(server.url(stream), fps)
        cameras[f"cam-{i:02d}"] = {**camera, "stream": stream}
    return cameras


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    detectors = load_timed_detectors()
    bounds = bound_ms(detectors)
    print("inference bound (ms/frame, median, this process, idle):", {k: round(v, 1) for k, v in bounds.items()})
    runs = []
    with clip_server() as server, tempfile.TemporaryDirectory() as tmp:
        for n in args.cameras:
            cameras = camera_mix(server, n, args.fps)
            result = run_cameras(server, cameras, detectors, bounds, Path(tmp) / f"n{n}",
                                 warmup_s=args.warmup, measure_s=args.measure)  # fmt: skip
            runs.append(result)
            lat = result["latency_s"]
            print(f"N={n}: min fps ratio {result['min_fps_ratio']:.2f}, dropped {result['dropped_total']}, "
                  f"ratio to bound {result['ratio_to_bound']:.2f}, cpu {result['process_cpu_pct']:.0f}%, "
                  f"latency p95 {lat[95]}", flush=True)  # fmt: skip
    holding = [r["cameras"] for r in runs if r["min_fps_ratio"] >= HOLDS]
    return {"bounds_ms": bounds, "fps": args.fps, "runs": runs, "largest_n_holding_fps": max(holding, default=0)}


def quiet_busy(args: argparse.Namespace) -> dict[str, Any]:
    detectors = load_timed_detectors()
    bounds = bound_ms(detectors)
    runs = {}
    with LocalRtspServer(gop_s=args.gop) as server, tempfile.TemporaryDirectory() as tmp:
        clips = stream_clips()
        for name in ("walkway", "quiet"):
            server.add_stream(name, clips[name])
        server.wait_ready(timeout=30)
        for label, stream, motion in (("quiet", "quiet", {"enabled": True}),
                                      ("quiet, still_decode all", "quiet", {"enabled": True, "still_decode": "all"}),
                                      ("quiet, gating off", "quiet", {"enabled": False}),
                                      ("busy", "walkway", {"enabled": True})):  # fmt: skip
            camera = {**people_camera(server.url(stream), args.fps), "motion": motion}
            cameras = {"cam-00": {**camera, "stream": stream}}
            runs[label] = run_cameras(server, cameras, detectors, bounds, Path(tmp) / label.replace(" ", "_"),
                                      warmup_s=args.warmup, measure_s=args.measure, with_api=False)  # fmt: skip
            print(label, f"cpu {runs[label]['process_cpu_pct']:.1f}%", flush=True)
    busy = runs["busy"]["process_cpu_pct"]
    return {"bounds_ms": bounds, "fps": args.fps, "gop_s": args.gop, "runs": runs,
            "quiet_over_busy": runs["quiet"]["process_cpu_pct"] / busy if busy else None}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", default="1,2,4,6,8", help="camera counts to run, comma-separated")
    parser.add_argument("--fps", type=float, default=2.0, help="analysis fps of every camera")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds after all cameras are online")
    parser.add_argument("--measure", type=float, default=30.0, help="seconds measured per run")
    parser.add_argument("--quiet-busy", action="store_true", help="benchmark 4: one quiet camera vs one busy one")
    parser.add_argument("--gop", type=float, default=DEFAULT_GOP_S,
                        help=f"keyframe interval (s) of the served streams (default {DEFAULT_GOP_S})")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="results folder (default bench/speed/results)")
    args = parser.parse_args(argv)
    args.cameras = [int(n) for n in str(args.cameras).split(",")]
    info = machine()
    if args.quiet_busy:
        result = quiet_busy(args)
        print(table(["camera", "scene", "process CPU % (of one core)", "model calls", "motion-skipped", "achieved fps",
                     "decoded fps"],
                    [[label, r["per_camera"]["cam-00"]["clip"], r["process_cpu_pct"], r["per_camera"]["cam-00"]["model_calls"],
                      r["per_camera"]["cam-00"]["motion_skipped"], r["per_camera"]["cam-00"]["achieved_fps"],
                      r["per_camera"]["cam-00"]["decoded_fps"]]
                     for label, r in result["runs"].items()]))  # fmt: skip
        print(f"quiet / busy CPU: {result['quiet_over_busy']:.3f}")
        path = write_results("quiet_busy", {"machine": info, **result}, args.out)
    else:
        result = throughput(args)
        rows = []
        for r in result["runs"]:
            lat = r["latency_s"]
            rows.append([r["cameras"], r["min_fps_ratio"] * args.fps,
                         sum(c["achieved_fps"] for c in r["per_camera"].values()), r["dropped_total"],
                         sum(c["motion_skipped"] for c in r["per_camera"].values()), r["model_frames_per_s"],
                         r["bound_model_frames_per_s"], r["ratio_to_bound"], r["process_cpu_pct"],
                         r["system_cpu_pct"], r["rss_mib"], r["latency_samples"], lat[50], lat[95], lat[99]])  # fmt: skip
        print(table(["N", "min fps/camera", "total fps", "dropped", "motion-skipped", "model frames/s",
                     "bound frames/s", "ratio to bound", "process CPU %", "system CPU %", "RSS MiB",
                     "latency n", "p50 s", "p95 s", "p99 s"], rows))  # fmt: skip
        print(f"largest N holding {args.fps:g} fps per camera: {result['largest_n_holding_fps']}")
        path = write_results("pipeline", {"machine": info, **result}, args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
