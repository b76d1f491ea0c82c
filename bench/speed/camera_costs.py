"""The per-camera cost table (issue 13): CPU-seconds per analysed frame per model, per decoded frame per resolution,
and per analysis step besides the models, plus memory per camera, written to one JSON file that the capacity model
(bench/scale/capacity.py) reads.

    flock /tmp/xl-heavy.lock .venv/bin/python -m bench.speed.camera_costs [--rounds 20]

CPU-seconds are the process's user + system CPU time (every thread: OpenVINO runs its own) around each call, in a
process that runs nothing else, the variants taking turns call by call on the same real frames, so that a shared
machine's load falls on all alike; medians over `rounds` after 2 warm-up calls. Wall ms is given beside them: on
2 cores OpenVINO spreads one inference over both, so CPU-seconds > wall seconds.

- models: people (vtest 768x576 at 640 px, fp32 = OpenVINO's default, bf16 on this CPU, and `precision: int8`),
  people on the 1080p street at `image_size: auto` (3072 px), fire_smoke (the lockers fire clip 640x360 at 640 px);
- decoding: every frame of the 1080p street clip and of its renditions at 720p, D1 (704x576) and 640x360 (a
  camera's sub-stream sizes), decoded with PyAV as ingest does (threading: AUTO), CPU-seconds per frame;
- the analysis step besides the models (motion gate, tracker, rules, evidence of no incident): CameraPipeline.step
  of the demo's walkway camera fed the detections its model found on the same frame beforehand;
- memory: RSS per camera and the node's base from the newest pipeline run in bench/speed/results (N cameras less
  one, over N - 1).

Writes bench/speed/results/camera_costs.json: `rows` (the measurements) and `per_camera_cores` (what one camera
costs in cores at its analysed fps and its stream's frame rate, for the capacity model).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import supervision as sv
import yaml

from analytics.detector import InputSize, UltralyticsDetector
from analytics.pipeline import CameraPipeline
from bench.speed.common import HERE, machine, median, table, write_results
from bench.speed.int8 import FIRE_CLIPS_DIR, configs
from ingest.demo.footage import cache_dir, pedestrian_clip
from ingest.frames import VideoFrame
from ingest.health import CameraHealth, CameraState
from ingest.sampling import sampled_frames
from models.config import CameraConfig

FPS = 2.0  # analysed frames a second: the service's default sampling
SD_SOURCE_FPS = 10.0  # vtest's frame rate (the bench's SD cameras)
HD_SOURCE_FPS = 25.0  # the street clips' frame rate (a 1080p camera's usual main stream)
RENDITIONS = {"1280x720": (1280, 720), "704x576 (D1)": (704, 576), "640x360": (640, 360)}
PIPELINE_RESULTS = ("pipeline.json", "scheduler.json", "rerun-2026-11-29/pipeline.json")


def cpu_seconds() -> float:
    """CPU time of every thread of this process, at nanosecond resolution (CLOCK_PROCESS_CPUTIME_ID; /proc's
    ticks are 10 ms, the size of a whole inference)."""
    return time.process_time()


def measure(calls: dict[str, Callable[[int], object]], rounds: int) -> dict[str, dict[str, float]]:
    """Each call in turn, `rounds` times after 2 warm-ups: median CPU-seconds and wall ms per call."""
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    wall: dict[str, list[float]] = {name: [] for name in calls}
    for r in range(rounds + 2):
        for name, call in calls.items():
            c0, t0 = cpu_seconds(), time.perf_counter()
            call(r)
            if r >= 2:
                wall[name].append((time.perf_counter() - t0) * 1000)
                cpu[name].append(cpu_seconds() - c0)
    return {name: {"cpu_s_per_frame": round(median(cpu[name]) or 0.0, 5),
                   "wall_ms_median": round(median(wall[name]) or 0.0, 1), "calls": len(cpu[name])}
            for name in calls}  # fmt: skip


def rendition(source: Path, size: tuple[int, int]) -> Path:
    """`source` scaled to `size` (ffmpeg, H.264, same frame rate), cached: a camera's sub-stream of the same scene."""
    out = cache_dir() / f"{source.stem}_{size[0]}x{size[1]}.mp4"
    if not out.is_file():
        tmp = out.with_suffix(".part.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-vf", f"scale={size[0]}:{size[1]}",
                        "-c:v", "libx264", "-preset", "veryfast", "-g", "12", "-an", str(tmp)], check=True)  # fmt: skip
        tmp.rename(out)
    return out


def decode_cpu(path: Path, frames: int = 250) -> dict[str, Any]:
    """CPU-seconds per frame decoding `path` to BGR arrays as ingest does (PyAV, threading AUTO)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        c0, t0, n = cpu_seconds(), time.perf_counter(), 0
        for frame in container.decode(stream):
            frame.to_ndarray(format="bgr24")
            n += 1
            if n >= frames:
                break
        width, height = stream.codec_context.width, stream.codec_context.height
    return {"clip": path.name, "width": width, "height": height, "frames": n,
            "cpu_s_per_frame": round((cpu_seconds() - c0) / n, 5),
            "wall_ms_per_frame": round((time.perf_counter() - t0) * 1000 / n, 2)}  # fmt: skip


class ReplayedDetections:
    """The people model's own detections on each frame, found beforehand: the step is timed without the model."""

    name = "people"

    def __init__(self, found: list[sv.Detections]) -> None:
        self.found, self.index = found, 0

    def detect(self, image: np.ndarray, input_size: InputSize | None = None) -> sv.Detections:
        detections = self.found[self.index % len(self.found)]
        self.index += 1
        return detections


def newest_pipeline_memory() -> dict[str, Any]:
    """RSS per camera and the node's base from the newest committed pipeline run that has two camera counts."""
    for name in PIPELINE_RESULTS:
        path = HERE / "results" / name
        if not path.is_file():
            continue
        runs = [run for run in json.loads(path.read_text()).get("runs", []) if "rss_mib" in run and "cameras" in run]
        runs = [run for run in runs if run.get("variant", "lock") in ("lock", None)] or runs
        if len({run["cameras"] for run in runs}) < 2:
            continue
        low = min(runs, key=lambda run: run["cameras"])
        high = max(runs, key=lambda run: run["cameras"])
        per_camera = (high["rss_mib"] - low["rss_mib"]) / (high["cameras"] - low["cameras"])
        return {"rss_per_camera_mib": round(per_camera, 1),
                "rss_node_base_mib": round(low["rss_mib"] - per_camera * low["cameras"], 1),
                "source": f"bench/speed/results/{name}: RSS at {high['cameras']} cameras less at {low['cameras']}"}
    return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--clip-1080p", type=Path, default=Path("/tmp/xl-clips/street_1080p_vtest_mosaic.mp4"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if not args.clip_1080p.is_file():
        parser.error(f"{args.clip_1080p} not found: make it with `bash bench/replay/extra_clips.sh /tmp/xl-clips`")
    info = machine()
    people_fp32_cfg, people_int8_cfg = configs("people")
    fire_cfg, _ = configs("fire_smoke")
    people = UltralyticsDetector("people", people_fp32_cfg)
    people_int8 = UltralyticsDetector("people", people_int8_cfg)
    fire = UltralyticsDetector("fire_smoke", fire_cfg)
    sd = [image for _, image in sampled_frames(pedestrian_clip(), FPS, limit=args.rounds + 2)]
    hd = [image for _, image in sampled_frames(args.clip_1080p, FPS, limit=args.rounds + 2)]
    flames = [image for _, image in sampled_frames(FIRE_CLIPS_DIR / "fire_indoor_cctv_lockers.mp4", FPS,
                                                   limit=args.rounds + 2)]  # fmt: skip
    hd_input = InputSize(3072)
    models = measure({
        "people fp32, SD 768x576 at 640": lambda r: people.detect(sd[r % len(sd)]),
        "people int8, SD 768x576 at 640": lambda r: people_int8.detect(sd[r % len(sd)]),
        "people fp32, 1080p at 3072 (auto)": lambda r: people.detect(hd[r % len(hd)], hd_input),
        "people int8, 1080p at 3072 (auto)": lambda r: people_int8.detect(hd[r % len(hd)], hd_input),
        "fire_smoke fp32, 640x360 at 640": lambda r: fire.detect(flames[r % len(flames)]),
    }, args.rounds)  # fmt: skip

    # The step besides the models: the walkway camera of the demo (crowd, intrusion, line crossing, tamper rules)
    demo = yaml.safe_load((HERE.parents[1] / "models" / "demo_config.yaml").read_text(encoding="utf-8"))
    walkway_raw = next(iter(demo["cameras"].values())) | {"url": "file:///dev/null"}
    walkway = CameraConfig.model_validate(walkway_raw)
    found = [people.detect(image) for image in sd]
    replayed = ReplayedDetections(found)
    pipeline = CameraPipeline("bench", walkway, {"people": replayed})
    health = CameraHealth("bench", CameraState.ONLINE, 0.0)

    def step(r: int) -> None:
        t = r / FPS
        pipeline.step(VideoFrame(camera_id="bench", frame_id=r, timestamp=t, pts=t, image=sd[r % len(sd)]), health, t)

    steps = measure({"analysis step besides the models (SD walkway camera, 5 rules)": step}, args.rounds)

    clips = {"1920x1080": args.clip_1080p} | {name: rendition(args.clip_1080p, size) for name, size in
                                               RENDITIONS.items()} | {"768x576 (vtest)": pedestrian_clip()}  # fmt: skip
    decode = {name: decode_cpu(path) for name, path in clips.items()}
    memory = newest_pipeline_memory()

    rows = [{"kind": "model", "what": name, **value} for name, value in models.items()]
    rows += [{"kind": "step", "what": name, **value} for name, value in steps.items()]
    rows += [{"kind": "decode", "what": name, **value} for name, value in decode.items()]
    print(table(["kind", "what", "CPU-s per frame", "wall ms", "frames"],
                [[r["kind"], r["what"], r["cpu_s_per_frame"], r.get("wall_ms_median", r.get("wall_ms_per_frame")),
                  r.get("calls", r.get("frames"))] for r in rows]))  # fmt: skip

    def cpu(what: str) -> float:
        return float(next(r["cpu_s_per_frame"] for r in rows if r["what"] == what))

    step_cpu = cpu("analysis step besides the models (SD walkway camera, 5 rules)")
    sd_decode = cpu("768x576 (vtest)") * SD_SOURCE_FPS
    hd_decode = cpu("1920x1080") * HD_SOURCE_FPS
    sub_decode = cpu("640x360") * HD_SOURCE_FPS
    per_camera = {
        "busy_sd_people_fp32": FPS * (cpu("people fp32, SD 768x576 at 640") + step_cpu) + sd_decode,
        "busy_sd_people_int8": FPS * (cpu("people int8, SD 768x576 at 640") + step_cpu) + sd_decode,
        "busy_sd_fire_fp32": FPS * (cpu("fire_smoke fp32, 640x360 at 640") + step_cpu) + sd_decode,
        "busy_1080p_auto_fp32": FPS * (cpu("people fp32, 1080p at 3072 (auto)") + step_cpu) + hd_decode,
        "busy_1080p_auto_int8": FPS * (cpu("people int8, 1080p at 3072 (auto)") + step_cpu) + hd_decode,
        "decode_1080p_25fps": hd_decode,
        "decode_640x360_substream_25fps": sub_decode,
    }
    per_camera = {key: round(value, 4) for key, value in per_camera.items()}
    print(table(["camera", "cores at 2 analysed fps"], list(per_camera.items())))
    notes = {
        "per_camera_cores": f"cores = {FPS:g} analysed fps x (model + step CPU-s) + source fps x decode CPU-s per "
        f"frame (SD {SD_SOURCE_FPS:g} fps, HD {HD_SOURCE_FPS:g} fps); receiving RTSP, thumbnails, the store and "
        "the API are not in it (bench/speed/pipeline.py's process CPU has them)",
    }
    print(write_results("camera_costs", {"machine": info, "rows": rows, "per_camera_cores": per_camera,
                                         "memory": memory, "notes": notes}, args.out))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
