"""Benchmark 12, analyse the sub-stream and keep the main stream for evidence (issue 13 lever 5): per camera, the
CPU of ingest for a 1080p 25 fps camera decoded in full (today: one stream, decoded, its packets kept for clips)
against the same camera analysed on its 640x360 sub-stream while its 1080p main stream is only received and demuxed
into the clip ring (`record_url`, ingest/record_stream.py), for N = 1 and 4 cameras, in one run.

    flock /tmp/xl-heavy.lock .venv/bin/python -m bench.speed.substream [--clip-1080p PATH] [--seconds 10] [--repeats 2]

Footage: the 1080p vtest mosaic (bench/replay/make_street_1080p.py; every frame a distinct real frame) restamped to
25 fps, and the same frames scaled to 640x360 for the sub-stream; both served by the real local RTSP server (H.264,
no B-frames, a 2 s GOP like a camera's). Each variant runs in its own worker process (the CPU counted is the
worker's own, getrusage user+sys, over a steady `--seconds` window after every camera is online); the variants take
turns, `--repeats` times, and the medians are reported. The server's CPU is not counted (it is the cameras' side).
Writes bench/speed/results/substream.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.speed.common import machine, median, table, write_results

FPS = 25
SUB_SIZE = "640:360"
DEFAULT_CLIP = Path("/tmp/xl-clips/street_1080p_vtest_mosaic.mp4")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(mode: str, n: int, seconds: float, main_url: str, sub_url: str) -> dict[str, Any]:
    """Run `n` cameras in this process; the CPU they use over `seconds` once online."""
    from ingest.camera_stream import CameraStream
    from ingest.health import CameraState
    from ingest.packet_ring import PacketRing
    from ingest.record_stream import RecordStream

    cameras, records, rings = [], [], []
    stop = threading.Event()
    for i in range(n):
        ring = PacketRing(max_seconds=30, max_bytes=64 * 2**20)
        rings.append(ring)
        if mode == "main":  # today: decode the 1080p stream, its packets into the ring
            camera = CameraStream(f"c{i}", main_url, analysis_fps=5, packet_ring=ring)
        else:  # decode the sub-stream, demux the main stream into the ring
            camera = CameraStream(f"c{i}", sub_url, analysis_fps=5)
            camera.record = RecordStream(f"c{i}", main_url, ring)
            records.append(camera.record)
        cameras.append(camera)

    def drain(camera: CameraStream) -> None:  # analysis takes the sampled frames (and does nothing with them)
        while not stop.is_set():
            camera.next_frame(timeout=0.5)

    for camera in cameras:
        camera.start()
        if camera.record is not None:
            camera.record.start()
        threading.Thread(target=drain, args=(camera,), daemon=True).start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        online = all(c.health.state is CameraState.ONLINE for c in cameras)
        if online and all(r.state is CameraState.ONLINE for r in records):
            break
        time.sleep(0.2)
    else:
        raise RuntimeError(f"cameras not online: {[c.health for c in cameras]}")
    time.sleep(3)  # past the connection's probe burst
    frames0 = sum(c.health.frames_decoded for c in cameras)
    packets0 = sum(r.packets for r in records)
    cpu0, wall0 = _cpu_s(), time.monotonic()
    time.sleep(seconds)
    cpu1, wall1 = _cpu_s(), time.monotonic()
    frames1 = sum(c.health.frames_decoded for c in cameras)
    packets1 = sum(r.packets for r in records)
    snapshot_ms = []  # a main-resolution snapshot's decode (analytics/main_snapshot.py): up to a GOP at 1080p
    if records:
        from analytics.main_snapshot import main_frame_at

        for _ in range(5):
            started = time.perf_counter()
            image = main_frame_at(rings[0], time.time())
            snapshot_ms.append(1000 * (time.perf_counter() - started))
            assert image is not None and image.shape[1] == 1920
            time.sleep(0.37)  # another point in the GOP
    stop.set()
    for camera in cameras:
        camera.stop()
        if camera.record is not None:
            camera.record.stop()
    wall = wall1 - wall0
    return {
        "mode": mode, "n": n, "cpu_s": cpu1 - cpu0, "wall_s": wall,
        "cpu_per_camera_pct": 100 * (cpu1 - cpu0) / wall / n,
        "decoded_fps_per_camera": (frames1 - frames0) / wall / n,
        "record_packets_per_s_per_camera": (packets1 - packets0) / wall / n if records else None,
        "ring_seconds": min(r.held_seconds for r in rings),
        "snapshot_decode_ms": snapshot_ms or None,
    }  # fmt: skip


def _render(clip: Path, out: Path, scale: str | None) -> Path:
    filters = f"setpts=N/{FPS}/TB" + (f",scale={scale}" if scale else "")
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(clip), "-vf", filters,
         "-r", str(FPS), "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", str(out)],
        check=True,
    )  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip-1080p", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", nargs=4, metavar=("MODE", "N", "MAIN_URL", "SUB_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        mode, n, main_url, sub_url = args.worker
        print(json.dumps(worker(mode, int(n), args.seconds, main_url, sub_url)))
        return

    from ingest.rtsp_server import LocalRtspServer

    if not args.clip_1080p.is_file():
        sys.exit(f"{args.clip_1080p} not found: make it with bench/replay/make_street_1080p.py")
    info = machine()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="xl-substream-") as tmp:
        folder = Path(tmp)
        main_clip = _render(args.clip_1080p, folder / "main.mp4", None)
        sub_clip = _render(args.clip_1080p, folder / "sub.mp4", SUB_SIZE)
        server = LocalRtspServer(cache_dir=folder / "cache", gop_s=2.0)
        server.add_stream("main", main_clip)
        server.add_stream("sub", sub_clip)
        with server:
            server.wait_ready()
            main_url, sub_url = server.url("main"), server.url("sub")  # the port is known once started
            for _ in range(args.repeats):
                for n in (1, 4):
                    for mode in ("main", "sub"):
                        command = [sys.executable, "-m", "bench.speed.substream", "--seconds", str(args.seconds),
                                   "--worker", mode, str(n), main_url, sub_url]  # fmt: skip
                        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
                        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
                        print(runs[-1], flush=True)
    snapshot_ms = [ms for r in runs for ms in (r["snapshot_decode_ms"] or [])]
    rows = []
    summary: dict[str, Any] = {"snapshot_decode_ms_median": median(snapshot_ms), "snapshot_decode_ms_max": max(snapshot_ms)}
    for n in (1, 4):
        cell = {}
        for mode in ("main", "sub"):
            mine = [r for r in runs if r["n"] == n and r["mode"] == mode]
            cell[mode] = {
                "cpu_per_camera_pct": median([r["cpu_per_camera_pct"] for r in mine]),
                "decoded_fps_per_camera": median([r["decoded_fps_per_camera"] for r in mine]),
            }
        saving = cell["main"]["cpu_per_camera_pct"] - cell["sub"]["cpu_per_camera_pct"]
        ratio = cell["sub"]["cpu_per_camera_pct"] / cell["main"]["cpu_per_camera_pct"]
        summary[str(n)] = {**cell, "saving_pct_of_a_core_per_camera": saving, "sub_over_main": ratio,
                           "saving_cores_at_16_cameras": 16 * saving / 100}  # fmt: skip
        rows.append([n, f"{cell['main']['cpu_per_camera_pct']:.1f}", f"{cell['main']['decoded_fps_per_camera']:.1f}",
                     f"{cell['sub']['cpu_per_camera_pct']:.1f}", f"{cell['sub']['decoded_fps_per_camera']:.1f}",
                     f"{ratio:.2f}", f"{saving:.1f}", f"{16 * saving / 100:.2f}"])  # fmt: skip
    print(f"main-resolution snapshot decode: median {median(snapshot_ms):.0f} ms, max {max(snapshot_ms):.0f} ms")
    print(table(["cameras", "1080p decode: CPU %/cam", "fps/cam", "sub decode + main demux: CPU %/cam", "fps/cam",
                 "ratio", "saving % core/cam", "cores saved at 16"], rows))  # fmt: skip
    command = "flock /tmp/xl-heavy.lock .venv/bin/python -m bench.speed.substream " + " ".join(sys.argv[1:])
    print(write_results("substream", {"machine": info, "command": command, "runs": runs, "summary": summary},
                        args.out))  # fmt: skip


if __name__ == "__main__":
    main()
