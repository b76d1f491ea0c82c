"""A real event clip for tests: the repository's fire-stills footage through a packet ring and `write_mp4`, exactly
as a camera's clip is made (keyframe first, remuxed, faststart)."""

from __future__ import annotations

from pathlib import Path

import av

from ingest.demo.footage import fire_clip
from ingest.packet_ring import PacketRing, write_mp4
from models.clock import ManualClock


def make_event_clip(path: Path, *, start_s: float = 2.0, end_s: float = 8.0) -> Path:
    """An MP4 of the fire stills from the keyframe at or before `start_s` to `end_s` (seconds of that footage)."""
    clock = ManualClock(0.0)
    ring = PacketRing(max_seconds=60, max_bytes=2**26, clock=clock)
    with av.open(str(fire_clip())) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.size:
                clock.set(float(packet.pts * packet.time_base))  # arrives at its pts
                ring.add(packet, stream)
    clip = ring.clip(start_s, end_s)
    assert clip is not None
    write_mp4(clip, path)
    return path
