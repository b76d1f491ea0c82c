"""A camera's recent encoded stream: a ring of demuxed packets (not decoded frames), for event clips.

    ring = PacketRing(max_seconds=30, max_bytes=32 * 2**20)
    source = PyAVSource(url, on_packet=ring.add)       # every demuxed video packet, as it arrives
    ...
    clip = ring.clip(start=opened_at - 5, end=opened_at + 15)  # from the keyframe at or before `start`
    write_mp4(clip, Path("clip.mp4"))                  # remuxed, never re-encoded; moov first (faststart)

Each packet is stamped with the wall clock when it was demuxed (a live camera's frame is stamped the same way
when it is decoded, right after, so clip times and incident times share one clock), backdated where packets came
in a burst (the probe buffer at a connection) so that stamps never run ahead of the stream's own timing. The ring keeps whole GOPs: it
starts at a keyframe, and evicts from the oldest keyframe to the next, while what it holds spans more than
`max_seconds` or weighs more than `max_bytes`. Packets of a GOP whose keyframe was never seen (the start of a
connection) are dropped: they cannot be decoded.

A reconnect may change the stream's parameters (size, SPS/PPS), so packets carry the `StreamFormat` of their
connection and a clip never spans two: it ends where its connection ended. A `StreamFormat` copies the codec
parameters into a stream of a small in-memory container, so it outlives the input container that the decode thread
closes at a reconnect (a PyAV input stream does not).
"""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from models.clock import SYSTEM_CLOCK, Clock

# Per packet beyond its payload: the bytes object, the dataclass and the deque slot (bench/clips: ~350 bytes).
PACKET_OVERHEAD_BYTES = 350


class StreamFormat:
    """The codec parameters of one connection's video stream, kept alive apart from its input container."""

    def __init__(self, stream: av.VideoStream) -> None:
        self._holder = av.open(io.BytesIO(), "w", format="mp4")
        self.template = self._holder.add_stream_from_template(stream)
        self.width = stream.width
        self.height = stream.height


@dataclass(frozen=True, slots=True)
class RingPacket:
    """One demuxed packet. `at`: wall-clock seconds when it arrived; pts/dts in `time_base` units."""

    data: bytes
    pts: int | None
    dts: int | None
    duration: int | None
    time_base: Fraction
    keyframe: bool
    at: float
    stream_format: StreamFormat


@dataclass(frozen=True, slots=True)
class ClipPackets:
    """The packets of one clip, from a keyframe on, all of one connection. `start`/`end`: their wall-clock span."""

    packets: tuple[RingPacket, ...]
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


class PacketRing:
    """See the module docstring. `add` is called by the decode thread; `clip` and the sizes from any thread."""

    def __init__(self, *, max_seconds: float, max_bytes: int, clock: Clock = SYSTEM_CLOCK) -> None:
        if max_seconds <= 0 or max_bytes <= 0:
            raise ValueError("a packet ring needs a positive max_seconds and max_bytes")
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._packets: deque[RingPacket] = deque()
        self._bytes = 0
        self._format: StreamFormat | None = None
        self._stream: av.VideoStream | None = None  # the input stream `_format` was made from (identity only)
        self._waiting_for_keyframe = True

    def add(self, packet: av.Packet, stream: av.VideoStream) -> None:
        """Keep a demuxed video packet (an empty flush packet is ignored)."""
        if packet.size == 0 or packet.time_base is None:
            return
        if stream is not self._stream:  # a new connection (or a file's next loop): new parameters
            self._stream, self._format = stream, StreamFormat(stream)
            self._waiting_for_keyframe = True
        keyframe = bool(packet.is_keyframe)
        if self._waiting_for_keyframe and not keyframe:
            return
        self._waiting_for_keyframe = False
        assert self._format is not None
        kept = RingPacket(
            data=bytes(packet),
            pts=packet.pts,
            dts=packet.dts,
            duration=packet.duration or None,
            time_base=packet.time_base,
            keyframe=keyframe,
            at=self._clock.time(),
            stream_format=self._format,
        )
        with self._lock:
            self._packets.append(kept)
            self._bytes += len(kept.data) + PACKET_OVERHEAD_BYTES
            self._backdate_locked()
            self._evict_locked()

    def _backdate_locked(self) -> None:
        """Keep arrival times consistent with the stream's own timing: no packet is stamped later than the newest
        one's arrival minus the stream time between them. At a connection, FFmpeg hands over the second of packets it
        buffered while probing all at once; stamped as they came, that second would shrink to nothing and a clip of
        `pre_s` would hold a second more than asked. In steady flow this stops at the packet before."""
        newest = self._packets[-1]
        newest_ts = _stamp(newest)
        if newest_ts is None:
            return
        for index in range(len(self._packets) - 2, -1, -1):
            packet = self._packets[index]
            ts = _stamp(packet)
            if packet.stream_format is not newest.stream_format or ts is None:
                return
            latest = newest.at - float((newest_ts - ts) * newest.time_base)
            if packet.at <= latest:
                return
            self._packets[index] = dataclasses.replace(packet, at=latest)

    def _evict_locked(self) -> None:
        """Drop the oldest GOPs while over a bound; never the GOP that holds the newest packet."""
        while self._packets:
            newest = self._packets[-1]
            over = newest.at - self._packets[0].at > self.max_seconds or self._bytes > self.max_bytes
            if not over:
                return
            next_key = next((i for i, p in enumerate(self._packets) if i > 0 and p.keyframe), None)
            if next_key is None:  # one GOP only: keep it (a GOP longer than the bound still makes a clip)
                return
            for _ in range(next_key):
                dropped = self._packets.popleft()
                self._bytes -= len(dropped.data) + PACKET_OVERHEAD_BYTES

    @property
    def held_bytes(self) -> int:
        """What the ring holds: packet payloads plus a per-packet overhead."""
        with self._lock:
            return self._bytes

    @property
    def held_seconds(self) -> float:
        with self._lock:
            return self._packets[-1].at - self._packets[0].at if self._packets else 0.0

    def clip(self, start: float, end: float) -> ClipPackets | None:
        """The packets from the last keyframe at or before `start` (the oldest one held if none is that old) up to
        `end`, within that keyframe's connection; None when the ring holds nothing before `end`."""
        with self._lock:
            packets = list(self._packets)
        candidates = [i for i, p in enumerate(packets) if p.keyframe and p.at <= end]
        if not candidates:
            return None
        before = [i for i in candidates if packets[i].at <= start]
        first = before[-1] if before else candidates[0]
        stream_format = packets[first].stream_format
        chosen: list[RingPacket] = []
        for packet in packets[first:]:
            if packet.at > end or packet.stream_format is not stream_format:
                break
            chosen.append(packet)
        return ClipPackets(packets=tuple(chosen), start=chosen[0].at, end=chosen[-1].at)


def write_mp4(clip: ClipPackets, path: Path) -> None:
    """Remux the clip's packets into an MP4 at `path` (no re-encoding), moov atom first (`+faststart`, so a browser
    plays it before it has it all). Written to a temporary file and renamed: a reader never sees half a clip.
    Raises OSError (a full disk) or av.FFmpegError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, suffix=".part.mp4")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        output = av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
        try:
            stream = output.add_stream_from_template(clip.packets[0].stream_format.template)
            origin = _origin(clip)
            for kept in clip.packets:
                packet = av.Packet(kept.data)
                packet.time_base = kept.time_base
                packet.pts = None if kept.pts is None else kept.pts - origin
                packet.dts = None if kept.dts is None else kept.dts - origin
                if kept.duration:
                    packet.duration = kept.duration
                packet.is_keyframe = kept.keyframe
                packet.stream = stream
                output.mux(packet)
        finally:
            output.close()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _stamp(packet: RingPacket) -> int | None:
    """The packet's decode timestamp (its order in the stream), else its pts."""
    return packet.dts if packet.dts is not None else packet.pts


def _origin(clip: ClipPackets) -> int:
    """The timestamp that becomes 0: the first packet's dts (or pts), so the clip starts at 0."""
    first = clip.packets[0]
    stamps = [first.dts, first.pts]
    return next((s for s in stamps if s is not None), 0)
