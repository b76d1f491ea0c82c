"""Memory of a camera's packet ring (event clips): what one camera holds for the default clip window.

    python -m bench.clips.ring_memory [--seconds 25] [--out bench/clips/results.json]

For each footage, its H.264 packets go through a `PacketRing` with the default window (clips.pre_s + post_s +
ring_margin_s = 25 s) until it has held a full window for 30 more seconds of stream, with an explicit clock at
each packet's pts (the ring stamps arrival times; pacing in real time would change nothing but the wall time).
Measured: the payload the ring counts (`held_bytes`, what `clips.ring_max_mb` bounds), and the Python heap the
ring really holds (tracemalloc, current after the run minus before: payload + per-packet objects + the deque),
median over 5 runs. Bound in the same run: the stream's own bitrate x the window, the least any ring can hold.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import tracemalloc
from pathlib import Path

import av

from ingest.demo.footage import calm_then_fire_clip, pedestrian_clip
from ingest.packet_ring import PacketRing
from ingest.rtsp_server import prepare_clip
from models.clock import ManualClock

ASSETS = Path(__file__).resolve().parents[3] / "shared" / "assets" / "clips"


def footages() -> dict[str, Path]:
    found = {
        "calm_then_fire 640x360 10fps gop1s": calm_then_fire_clip(),
        "vtest 768x576 10fps gop0.5s (relay's .ts)": prepare_clip(pedestrian_clip()),
        "vtest 768x576 10fps gop2s": prepare_clip(pedestrian_clip(), gop_s=2.0),
    }
    lockers = ASSETS / "fire_indoor_cctv_lockers.mp4"
    if lockers.is_file():
        found["fire lockers 640x360 30fps (as filed)"] = lockers
    return found


def run_once(path: Path, window_s: float, extra_s: float) -> dict[str, float]:
    clock = ManualClock(0.0)  # each packet arrives at its pts
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    ring = PacketRing(max_seconds=window_s, max_bytes=2**31, clock=clock)
    fed_bytes, offset, packets = 0, 0.0, 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        while clock.time() < window_s + extra_s:
            last = 0.0
            for packet in container.demux(stream):
                if not packet.size or packet.pts is None:
                    continue
                last = float(packet.pts * packet.time_base)
                clock.set(offset + last)
                fed_bytes += packet.size
                packets += 1
                ring.add(packet, stream)
            offset += last + 0.1
            container.seek(0)
    held_heap = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    clip = ring.clip(0, float("inf"))
    held_packets = len(clip.packets) if clip else 0
    payload = sum(len(p.data) for p in clip.packets) if clip else 0
    bitrate = fed_bytes / clock.time()
    return {
        "held_bytes": ring.held_bytes,
        "heap_bytes": held_heap,
        "held_seconds": ring.held_seconds,
        "stream_bytes_per_s": bitrate,
        "bound_bytes": bitrate * window_s,
        "packets_fed": packets,
        "packets_held": held_packets,
        "overhead_bytes_per_packet": (held_heap - payload) / held_packets if held_packets else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=25.0, help="ring window (clips.ring_seconds)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/clips/results.json"))
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rows = {}
    for name, path in footages().items():
        runs = [run_once(path, args.seconds, 30.0) for _ in range(args.runs)]
        row = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        row["heap_over_bound"] = row["heap_bytes"] / row["bound_bytes"]
        row["heap_per_s_of_window"] = row["heap_bytes"] / row["held_seconds"]
        rows[name] = row
        print(f"{name}: heap {row['heap_bytes'] / 2**20:.2f} MiB for {row['held_seconds']:.1f} s held "
              f"(counted {row['held_bytes'] / 2**20:.2f} MiB; bitrate x window {row['bound_bytes'] / 2**20:.2f} MiB; "
              f"x{row['heap_over_bound']:.2f}; {row['overhead_bytes_per_packet']:.0f} B/packet over payload)")  # fmt: skip
    result = {
        "command": "python -m bench.clips.ring_memory",
        "started": started,
        "machine": {"python": platform.python_version(), "pyav": av.__version__, "platform": platform.platform()},
        "window_s": args.seconds,
        "runs": args.runs,
        "footage": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
