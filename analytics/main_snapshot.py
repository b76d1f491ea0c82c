"""Evidence snapshots at the main stream's resolution for a camera analysed on its sub-stream (`record_url`).

    image = main_frame_at(ring, evidence.frame.timestamp)      # decoded from the keyframe before it, or None
    if image is not None:
        evidence, geometry = at_main_resolution(evidence, geometry, image)
    render_snapshot(evidence, geometry=geometry)

The sink writes the snapshot on the analysed frame at once and hands it to `MainSnapshots`, whose thread redraws it
at main resolution in the same file (decoding takes a few hundred ms at 1080p: benchmark 12), unless a better
frame was drawn meanwhile. The camera's packet ring holds the main stream (ingest/record_stream.py). The frame nearest the event time (the
last one demuxed at or before it) is decoded from the keyframe before it: up to one GOP of main-stream frames, only
when a snapshot is (re)drawn, never per analysed frame. Detections and the rule's zones/lines, found in the
sub-stream's pixels, are scaled by the resolution ratio (both renditions show the same field of view).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import supervision as sv

from analytics.events import Evidence
from analytics.evidence import RuleGeometry, render_snapshot, save_snapshot
from ingest.packet_ring import PacketRing

log = logging.getLogger(__name__)


def legible(
    ring: PacketRing, evidence: Evidence, geometry: RuleGeometry | None
) -> tuple[Evidence, RuleGeometry | None]:
    """The evidence on the main stream's frame nearest it, or as it is when the ring has none (logged)."""
    try:
        image = main_frame_at(ring, evidence.frame.timestamp)
    except Exception:
        log.exception("camera %s: could not decode the main stream for a snapshot", evidence.frame.camera_id)
        image = None
    if image is None:
        return evidence, geometry
    return at_main_resolution(evidence, geometry, image)


def main_frame_at(ring: PacketRing, at: float) -> np.ndarray | None:
    """The BGR image of the main-stream frame demuxed last at or before `at` (wall clock); None when the ring holds
    nothing up to then or the packets do not decode."""
    clip = ring.clip(at, at)
    if clip is None or not clip.packets:
        return None
    template = clip.packets[0].stream_format.template.codec_context
    decoder = av.CodecContext.create(template.codec.canonical_name, "r")
    assert isinstance(decoder, av.VideoCodecContext)  # the template holds an encoder
    if template.extradata:
        decoder.extradata = template.extradata
    last: av.VideoFrame | None = None
    try:
        for kept in clip.packets:
            packet = av.Packet(kept.data)
            packet.pts, packet.dts, packet.time_base = kept.pts, kept.dts, kept.time_base
            for frame in decoder.decode(packet):
                last = frame
        for frame in decoder.decode(None):  # flush: the last packet's frame
            last = frame
    except av.error.FFmpegError:
        return None if last is None else last.to_ndarray(format="bgr24")
    return None if last is None else last.to_ndarray(format="bgr24")


def at_main_resolution(
    evidence: Evidence, geometry: RuleGeometry | None, image: np.ndarray
) -> tuple[Evidence, RuleGeometry | None]:
    """The evidence redrawn on `image` (the main stream's frame): boxes and geometry scaled by the size ratio."""
    frame = evidence.frame
    sx, sy = image.shape[1] / frame.width, image.shape[0] / frame.height
    factor = np.array([sx, sy, sx, sy])
    detections = evidence.detections
    scaled = sv.Detections(
        xyxy=detections.xyxy * factor if len(detections) else detections.xyxy,
        confidence=detections.confidence,
        class_id=detections.class_id,
        tracker_id=detections.tracker_id,
        data=dict(detections.data),
    )
    main_evidence = Evidence(frame=dataclasses.replace(frame, image=image), detections=scaled)
    if geometry is None:
        return main_evidence, None
    point = np.array([sx, sy])
    return main_evidence, RuleGeometry(
        zones=tuple(z * point for z in geometry.zones), lines=tuple(li * point for li in geometry.lines)
    )


class MainSnapshots:
    """One thread redrawing snapshots at main resolution, in place (see the module docstring)."""

    def __init__(self, max_pending: int = 64) -> None:
        self._queue: queue.Queue[tuple[Path, PacketRing, Evidence, RuleGeometry | None, threading.Lock,
                                       Callable[[], bool]]] = queue.Queue(max_pending)  # fmt: skip
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(
        self, path: Path, ring: PacketRing, evidence: Evidence, geometry: RuleGeometry | None, lock: threading.Lock,
        *, still_current: Callable[[], bool],
    ) -> None:  # fmt: skip
        """Redraw `path` from the main stream; it is written under `lock` only while `still_current()`."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="main-snapshots", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait((path, ring, evidence, geometry, lock, still_current))
        except queue.Full:  # the analysed frame's snapshot stays: legible enough, and analysis never waits
            log.warning("main-resolution snapshots are behind; %s stays at the analysed resolution", path.name)

    def _run(self) -> None:
        while True:
            path, ring, evidence, geometry, lock, still_current = self._queue.get()
            try:
                if not still_current():
                    continue
                main_evidence, main_geometry = legible(ring, evidence, geometry)
                if main_evidence is evidence:
                    continue
                jpeg = render_snapshot(main_evidence, geometry=main_geometry)
                with lock:
                    if still_current():
                        save_snapshot(path, jpeg)
            except Exception:
                log.exception("could not redraw snapshot %s at main resolution; it stays as analysed", path.name)
