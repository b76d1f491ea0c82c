"""The packet ring and its MP4 remux over real H.264 (the repository's fire-stills clip, 10 fps, a keyframe a second);
an explicit clock stamps each packet with its pts, as a live camera's would be stamped as it arrives."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from ingest.demo.footage import fire_clip
from ingest.packet_ring import PacketRing, write_mp4
from models.clock import ManualClock

T0 = 1_790_000_000.0


class PtsClock(ManualClock):
    """The service's clock stepped to each packet's arrival (T0 + its pts, as a live camera's would arrive)."""

    def __init__(self) -> None:
        super().__init__(T0)


def feed(ring: PacketRing, clock: PtsClock, path: Path, *, offset: float = 0.0, skip: int = 0) -> int:
    """Demux `path` into the ring (after `skip` packets), the clock at T0 + offset + pts; packets fed."""
    fed = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for i, packet in enumerate(container.demux(stream)):
            if packet.size == 0 or i < skip:
                continue
            clock.set(T0 + offset + float(packet.pts * packet.time_base))
            ring.add(packet, stream)
            fed += 1
    return fed


def decoded(path: Path) -> tuple[int, float, bool]:
    """(frames decoded, duration in s, first frame is a keyframe) of an MP4, read back with PyAV."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
        stream = container.streams.video[0]
        duration = float((frames[-1].pts - frames[0].pts) * stream.time_base) + 0.1
        return len(frames), duration, frames[0].key_frame


@pytest.fixture(scope="module")
def clip_file() -> Path:
    return fire_clip()


def test_an_empty_ring_gives_no_clip():
    ring = PacketRing(max_seconds=10, max_bytes=2**20)
    assert ring.clip(T0, T0 + 5) is None and ring.held_bytes == 0 and ring.held_seconds == 0


@pytest.mark.parametrize(("max_seconds", "max_bytes"), [(0, 1), (1, 0)])
def test_a_ring_needs_positive_bounds(max_seconds, max_bytes):
    with pytest.raises(ValueError, match="positive"):
        PacketRing(max_seconds=max_seconds, max_bytes=max_bytes)


def test_the_ring_starts_at_a_keyframe_and_keeps_whole_gops_within_its_bounds(clip_file):
    clock = PtsClock()
    ring = PacketRing(max_seconds=3.0, max_bytes=2**30, clock=clock)
    feed(ring, clock, clip_file, skip=3)  # joined mid-GOP: those packets cannot be decoded
    clip = ring.clip(0, float("inf"))
    assert clip is not None and clip.packets[0].keyframe
    # bounded by seconds: at most max_seconds plus the GOP being filled (1 s here)
    assert 2.0 <= ring.held_seconds <= 3.0 + 1.0
    everything = PacketRing(max_seconds=1000, max_bytes=2**30, clock=clock)
    feed(everything, clock, clip_file)
    by_bytes = PacketRing(max_seconds=1000, max_bytes=everything.held_bytes // 2, clock=clock)
    feed(by_bytes, clock, clip_file)
    assert everything.held_bytes // 4 < by_bytes.held_bytes <= everything.held_bytes // 2
    assert by_bytes.clip(0, float("inf")).packets[0].keyframe


def test_a_clip_starts_at_the_keyframe_before_pre_and_plays_back_whole(tmp_path, clip_file):
    clock = PtsClock()
    ring = PacketRing(max_seconds=60, max_bytes=2**30, clock=clock)
    fed = feed(ring, clock, clip_file)
    opened = T0 + 4.5  # the opening frame; pre 2 s, post 3 s
    clip = ring.clip(opened - 2.0, opened + 3.0)
    assert clip is not None
    assert clip.start == pytest.approx(T0 + 2.0)  # the keyframe at 2.0 s (at or before 2.5 s)
    assert clip.end == pytest.approx(T0 + 7.5)
    out = tmp_path / "clips" / "a.mp4"
    write_mp4(clip, out)
    frames, duration, starts_on_key = decoded(out)
    assert starts_on_key and frames == len(clip.packets) < fed
    assert duration == pytest.approx(clip.seconds + 0.1, abs=0.11)
    head = out.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))
    assert not list(out.parent.glob("*.part.mp4"))  # no temporary file left


def test_a_clip_never_spans_a_reconnect(tmp_path, clip_file):
    clock = PtsClock()
    ring = PacketRing(max_seconds=60, max_bytes=2**30, clock=clock)
    feed(ring, clock, clip_file)
    length = clock.time() - T0
    feed(ring, clock, clip_file, offset=length + 2)  # the camera came back 2 s later: a new stream
    clip = ring.clip(T0 + length - 3, T0 + length + 10)
    assert clip is not None and clip.end <= T0 + length + 0.01  # ends with the first connection
    write_mp4(clip, tmp_path / "b.mp4")
    assert decoded(tmp_path / "b.mp4")[0] == len(clip.packets)


@pytest.mark.parametrize(
    "where",
    [
        "under_a_file",  # the folder cannot be made: a file has its name
        "onto_a_folder",  # the clip is written, but cannot take its name: a non-empty folder has it
    ],
)
def test_a_clip_that_cannot_be_written_leaves_nothing_behind(tmp_path, clip_file, where):
    clock = PtsClock()
    ring = PacketRing(max_seconds=60, max_bytes=2**30, clock=clock)
    feed(ring, clock, clip_file)
    clip = ring.clip(T0, T0 + 3)
    assert clip is not None and clip.packets[0].keyframe  # a clip starts on a keyframe
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    taken = tmp_path / "clips" / "c.mp4"
    (taken / "inside").mkdir(parents=True)
    target = blocked / "c.mp4" if where == "under_a_file" else taken
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    with pytest.raises(OSError):
        write_mp4(clip, target)

    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # no half-written .part.mp4
    assert blocked.read_text() == "not a directory"


def test_a_camera_stream_fills_its_ring_with_the_packets_it_demuxes(clip_file):
    from ingest.camera_stream import CameraStream

    ring = PacketRing(max_seconds=60, max_bytes=2**30)
    camera = CameraStream("cam", str(clip_file), analysis_fps=2, realtime=False, packet_ring=ring)
    camera.start()
    while not camera.finished:
        camera.next_frame(timeout=1.0)
    camera.stop()
    clip = ring.clip(0, float("inf"))
    with av.open(str(clip_file)) as container:
        packets = sum(1 for p in container.demux(video=0) if p.size)
    assert clip is not None and len(clip.packets) == packets and clip.packets[0].keyframe


def test_packets_that_came_in_a_burst_are_stamped_by_their_stream_timing(tmp_path, clip_file):
    """A connection's probe buffer (a second of packets handed over at once) keeps its real length in a clip."""
    clock = PtsClock()
    ring = PacketRing(max_seconds=60, max_bytes=2**30, clock=clock)
    with av.open(str(clip_file)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.size:
                pts_s = float(packet.pts * packet.time_base)
                clock.set(T0 + max(pts_s, 1.0))  # the first second arrives at once, at 1.0 s; then in real time
                ring.add(packet, stream)
    clip = ring.clip(T0, T0 + 3.0)
    assert clip is not None and clip.start == pytest.approx(T0, abs=1e-6) and clip.end == pytest.approx(T0 + 3.0)
    ats = [p.at for p in clip.packets]
    assert ats == sorted(ats) and len(set(ats)) == len(ats)  # spread over the stream's time, in order
