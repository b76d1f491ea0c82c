"""Where a busy box's CPU goes (issue 13, lever 6): CPU-seconds per thread group over an N-camera run.

    flock /tmp/xl-heavy.lock .venv/bin/python -m bench.speed.profile [--cameras 8] [--measure 20]

The same N-camera mix as bench.speed.pipeline (people cameras on vtest, fire cameras on the fire clips, 2 analysed
fps, the real service with its API and a websocket client, over the local RTSP server). Over the measurement window
every thread of the process is read from /proc/self/task (user + system ticks) and grouped: Python threads by their
name (`<camera>-decode`: receiving RTSP, demuxing, decoding and converting frames; `analysis-<camera>`: the camera's
step, including the part of each inference that runs on the calling thread; the API's event loop; the store's
writers), threads Python does not know (OpenVINO's inference pool, FFmpeg's decoder threads) by their kernel name.
Writes bench/speed/results/profile.json.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from bench.speed.common import machine, table, write_results
from bench.speed.harness import bound_ms, clip_server, load_timed_detectors, run_cameras
from bench.speed.pipeline import camera_mix

TICK_S = 1 / os.sysconf("SC_CLK_TCK")
CAMERA_NAME = re.compile(r"cam-\d+")


def thread_ticks() -> dict[int, tuple[str, int]]:
    """Every thread of this process: native id -> (kernel name, user + system ticks)."""
    out = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(task.name)] = (comm, int(fields[11]) + int(fields[12]))
    return out


def group_of(native_id: int, comm: str, python_names: dict[int, str]) -> str:
    name = python_names.get(native_id)
    if name is None:
        return f"native: {re.sub(r'[0-9]+$', '', comm) or comm}"
    if name.endswith("-decode"):
        return "camera decode threads (RTSP receive, demux, decode, convert)"
    if name.startswith("analysis-"):
        return "camera analysis threads (step; inference's calling thread)"
    if name.endswith("-watchdog"):
        return "camera watchdogs"
    return "other Python: " + CAMERA_NAME.sub("cam", re.sub(r"[-_][0-9]+$", "", name))


class Sampler:
    """Per-thread CPU ticks at two moments, with the Python names of threads alive at either."""

    def __init__(self) -> None:
        self.snapshots: list[tuple[float, dict[int, tuple[str, int]]]] = []
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="profile-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.names.update({t.native_id: t.name for t in threading.enumerate() if t.native_id is not None})
            self.snapshots.append((time.monotonic(), thread_ticks()))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def window(self, start: float, end: float) -> tuple[float, dict[str, float]]:
        """CPU-seconds per group between the snapshots nearest `start` and `end`."""
        first = min(self.snapshots, key=lambda s: abs(s[0] - start))
        last = min(self.snapshots, key=lambda s: abs(s[0] - end))
        groups: dict[str, float] = defaultdict(float)
        for native_id, (comm, ticks) in last[1].items():
            before = first[1].get(native_id, (comm, 0))[1]
            groups[group_of(native_id, comm, self.names)] += (ticks - before) * TICK_S
        return last[0] - first[0], dict(groups)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--measure", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    info = machine()
    detectors = load_timed_detectors()
    bounds = bound_ms(detectors)
    with clip_server() as server, tempfile.TemporaryDirectory() as tmp, Sampler() as sampler:
        cameras = camera_mix(server, args.cameras, args.fps)
        marks: list[float] = []
        result = run_cameras(server, cameras, detectors, bounds, Path(tmp) / "profile",
                             warmup_s=args.warmup, measure_s=args.measure, marks=marks)  # fmt: skip
    span, groups = sampler.window(marks[0], marks[1])
    total = sum(groups.values())
    analysed = sum(c["achieved_fps"] for c in result["per_camera"].values()) * result["measure_s"]
    rows = sorted(({"group": g, "cpu_s": round(s, 2), "cores": round(s / span, 3), "share": round(s / total, 3),
                    "cpu_ms_per_analysed_frame": round(1000 * s / analysed, 1) if analysed else None}
                   for g, s in groups.items() if s > 0), key=lambda r: -r["cpu_s"])  # fmt: skip
    print(table(["thread group", "CPU-s", "cores", "share", "CPU-ms per analysed frame"],
                [[r["group"], r["cpu_s"], r["cores"], r["share"], r["cpu_ms_per_analysed_frame"]] for r in rows]))
    print(f"N={args.cameras}: min fps ratio {result['min_fps_ratio']:.2f}, process CPU {result['process_cpu_pct']:.0f} %")
    summary = {k: result[k] for k in ("cameras", "measure_s", "min_fps_ratio", "dropped_total", "model_frames_per_s",
                                      "ratio_to_bound", "process_cpu_pct", "system_cpu_pct", "rss_mib")}  # fmt: skip
    print(write_results("profile", {"machine": info, "bounds_ms": bounds, "window_s": span, "run": summary,
                                    "rows": rows}, args.out))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
