"""A camera's main stream kept for evidence only: received and demuxed into the packet ring, never decoded.

    record = RecordStream("gate-3", "rtsp://user:pw@10.0.0.7/main", ring, stream=config.stream,
                          on_change=camera.republish_health)
    record.start()          # the analysed sub-stream (CameraStream) runs beside it, on its own connection
    record.state, record.last_error   # CameraState.ONLINE / CONNECTING / OFFLINE; the error already redacted
    record.stop()

Real cameras serve a low-resolution sub-stream beside the main one (Frigate's `detect` / `record` roles). The
camera's CameraStream decodes the sub-stream for analysis; this reader only demuxes the main stream's packets into
the camera's PacketRing, so event clips (analytics/clips.py, remuxed, not re-encoded) come at full resolution for
the cost of receiving them (bench/speed/substream.py measures it). It has its own connection, reconnect and capped,
fully jittered backoff (the camera's `stream` settings); its failure never touches analysis: it is only reported
(`state`, `last_error`, through `on_change`) and logged without credentials.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator

import av
import backoff

from ingest.health import CameraState
from ingest.packet_ring import PacketRing
from ingest.redact import redact_text, redact_url, url_secrets
from ingest.sources import _NETWORK_ANALYZE_DURATION_US, local_path
from models.config import StreamConfig

logger = logging.getLogger(__name__)


class RecordStream:
    """See the module docstring. `on_change()` is called from the reader thread at each state change."""

    def __init__(
        self,
        camera_id: str,
        url: str,
        ring: PacketRing,
        *,
        stream: StreamConfig | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.url = url
        self.ring = ring
        self.stream = stream if stream is not None else StreamConfig()
        self._on_change = on_change
        self._secrets = url_secrets(url)
        self._path = local_path(url)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._state = CameraState.OFFLINE
        self._last_error: str | None = "not started"
        self.packets = 0  # demuxed video packets handed to the ring (since start)
        self.reconnects = 0

    @property
    def state(self) -> CameraState:
        with self._lock:
            return self._state

    @property
    def last_error(self) -> str | None:
        with self._lock:
            return self._last_error

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"camera {self.camera_id}: record stream already started")
        self._thread = threading.Thread(target=self._run, name=f"record-{self.camera_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and join the reader (it ends at its read timeout at the latest). Idempotent."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._set(CameraState.OFFLINE, "stopped", level=logging.INFO)

    # -- reader thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        delays = self._new_backoff()
        while not self._stop.is_set():
            self._set(CameraState.CONNECTING, None, level=logging.DEBUG)
            got_packets = False
            error = "main stream ended (the server closed the connection)"
            try:
                for _ in self._demux():
                    if not got_packets:
                        got_packets = True
                        self._set(CameraState.ONLINE, None, level=logging.INFO)
            except Exception as exc:
                error = redact_text(f"{type(exc).__name__}: {exc}", self._secrets)
                logger.debug("camera %s: record stream error\n%s", self.camera_id,
                             redact_text(traceback.format_exc(), self._secrets))  # fmt: skip
            if self._stop.is_set():
                return
            self._set(CameraState.OFFLINE, error, level=logging.WARNING)
            if got_packets:
                delays = self._new_backoff()
            self.reconnects += 1
            self._stop.wait(backoff.full_jitter(next(delays)))

    def _demux(self) -> Iterator[None]:
        """Open the main stream and hand every video packet to the ring; yields after each one."""
        if self._path is not None:
            container = av.open(str(self._path))
        else:
            options = {"analyzeduration": _NETWORK_ANALYZE_DURATION_US}
            if self.url.lower().startswith(("rtsp://", "rtsps://")):
                options["rtsp_transport"] = self.stream.rtsp_transport
            container = av.open(
                self.url, options=options, timeout=(self.stream.open_timeout_s, self.stream.read_timeout_s)
            )
        try:
            if not container.streams.video:
                raise ValueError("not a video stream (no video track found)")
            video = container.streams.video[0]
            origin: float | None = None
            for packet in container.demux(video):
                if self._stop.is_set():
                    return
                if not packet.size:
                    continue
                if self._path is not None and packet.pts is not None and packet.time_base is not None:
                    # a file (tests, demos): paced like a live camera, or the ring's arrival stamps would collapse
                    at = float(packet.pts * packet.time_base)
                    origin = time.monotonic() - at if origin is None else origin
                    if self._stop.wait(max(0.0, origin + at - time.monotonic())):
                        return
                self.ring.add(packet, video)
                self.packets += 1
                yield
        finally:
            with contextlib.suppress(Exception):
                container.close()

    def _new_backoff(self) -> Iterator[float]:
        delays = backoff.expo(base=2, factor=self.stream.backoff_initial_s, max_value=self.stream.backoff_max_s)
        next(delays)  # backoff's generators are primed with one next()
        return delays

    def _set(self, state: CameraState, error: str | None, *, level: int) -> None:
        with self._lock:
            if (state, error) == (self._state, self._last_error):
                return
            if self._stop.is_set() and error != "stopped":
                return
            self._state, self._last_error = state, error
        logger.log(level, "camera %s: record stream %s%s", self.camera_id, state.value, f": {error}" if error else "")
        if self._on_change is not None:
            try:
                self._on_change()
            except Exception:
                logger.exception("camera %s: record stream on_change failed", self.camera_id)

    def __repr__(self) -> str:
        return f"RecordStream({self.camera_id!r}, {redact_url(self.url)!r}, state={self.state.value})"
