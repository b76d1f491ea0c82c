"""Issue 13's mixed load: N cameras of which a quarter are busy and the rest quiet, at 2 analysed fps each.

    flock /tmp/xl-heavy.lock .venv/bin/python -m bench.speed.mixed [--cameras 16,32,48] [--measure 15]

Busy cameras are benchmark 2's mix (people on vtest, fire on the fire clips); quiet ones watch the still scene of
benchmark 4 (vtest's first frame held with sensor noise, decoded keyframes-only while still, the default), all
over the local RTSP server into the real service with its API and a websocket client. A run holds when every busy
camera gets >= 95 % of its fps and no quiet camera drops a frame (a quiet camera analyses each keyframe while
still, so its fps is the keyframe rate, by design). Writes bench/speed/results/mixed.json.
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
    load_timed_detectors,
    people_camera,
    run_cameras,
)
from bench.speed.pipeline import HOLDS, camera_mix
from ingest.rtsp_server import LocalRtspServer


def mixed_cameras(server: LocalRtspServer, n: int, fps: float) -> dict[str, dict[str, Any]]:
    busy = max(1, n // 4)
    cameras = camera_mix(server, busy, fps)
    for i in range(busy, n):
        cameras[f"cam-{i:02d}"] = {**people_camera(server.url("quiet"), fps), "stream": "quiet"}
    return cameras


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", default="16,32,48")
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--measure", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    info = machine()
    detectors = load_timed_detectors()
    bounds = bound_ms(detectors)
    runs = []
    with clip_server() as server, tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.cameras.split(",")):
            cameras = mixed_cameras(server, n, args.fps)
            result = run_cameras(server, cameras, detectors, bounds, Path(tmp) / f"n{n}",
                                 warmup_s=args.warmup, measure_s=args.measure)  # fmt: skip
            busy = [c for c in result["per_camera"].values() if c["clip"] != "quiet"]
            quiet = [c for c in result["per_camera"].values() if c["clip"] == "quiet"]
            result["busy_cameras"], result["quiet_cameras"] = len(busy), len(quiet)
            result["busy_min_fps"] = min(c["achieved_fps"] for c in busy)
            result["quiet_dropped"] = sum(c["dropped"] for c in quiet)
            result["holds"] = result["busy_min_fps"] >= HOLDS * args.fps and result["quiet_dropped"] == 0
            runs.append(result)
            print(f"N={n}: busy min fps {result['busy_min_fps']:.2f}, quiet dropped {result['quiet_dropped']}, "
                  f"cpu {result['process_cpu_pct']:.0f} %, p95 {result['latency_s'][95]}", flush=True)
    print(table(["N", "busy", "quiet", "busy min fps", "quiet dropped", "model frames/s", "ratio to bound",
                 "process CPU %", "system CPU %", "RSS MiB", "p95 s", "holds"],
                [[r["cameras"], r["busy_cameras"], r["quiet_cameras"], round(r["busy_min_fps"], 2),
                  r["quiet_dropped"], round(r["model_frames_per_s"], 1), round(r["ratio_to_bound"], 2),
                  round(r["process_cpu_pct"]), round(r["system_cpu_pct"]), round(r["rss_mib"]),
                  r["latency_s"][95], r["holds"]] for r in runs]))  # fmt: skip
    holding = [r["cameras"] for r in runs if r["holds"]]
    print(write_results("mixed", {"machine": info, "bounds_ms": bounds, "fps": args.fps, "runs": runs,
                                  "largest_n_holding": max(holding, default=0)}, args.out))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
