"""One camera's stream, supervised: decode, sample, hand over the newest frame, report health, reconnect.

    camera = CameraStream("gate-3", "rtsp://user:pw@10.0.0.7/live", analysis_fps=5, stream=config.stream,
                          on_health=publish)
    camera.start()
    while not camera.finished:  # a live camera never finishes; a file does at its end
        frame = camera.next_frame(timeout=1.0)  # None: no frame within 1 s (see camera.health)
        ...
    camera.stop()

A decode thread owns the source: it opens it, decodes every frame, samples to `analysis_fps` by frame
timestamp, and puts sampled frames into a one-slot holder (`DropPolicy`). Any failure makes the
camera OFFLINE with a redacted reason and schedules a reconnect after a capped, fully jittered
exponential backoff. A watchdog thread marks a connected camera STALLED when no frame came for
`stall_timeout_s` (the decode thread cannot: it is blocked in a read). A read or open that times out while
the camera's server still accepts TCP connections (a hung server: connections held open, nothing sent) keeps
the camera STALLED through its reconnects; refused, unreachable or erroring servers are OFFLINE. Nothing here raises into the
caller's thread after `start()`: a dead camera is never fatal.

Keyframes only (`decode_keyframes_only()`, called by analysis after each frame while a scene is still):
the source decodes keyframes only, so frames come once a GOP. Liveness then counts packets, not frames
(a 4 s GOP must not look like a stall). After handing over a keyframe in this mode, the decode thread
waits (at most `VERDICT_WAIT_S`) for analysis's verdict on it before it reads on: when that keyframe shows
motion, full decoding resumes with the very next frame (it references the keyframe), so the added delay is
at most one GOP. A verdict that comes later switches at the next keyframe.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from enum import StrEnum

import backoff

from ingest.frames import VideoFrame
from ingest.health import CameraHealth, CameraState
from ingest.packet_ring import PacketRing
from ingest.record_stream import RecordStream
from ingest.redact import redact_text, redact_url, url_secrets
from ingest.sampling import FrameSampler
from ingest.sources import (
    DEFAULT_MAX_KEYFRAME_INTERVAL_S,
    FrameSource,
    PyAVSource,
    SourceError,
    server_accepts_connections,
)
from models.clock import SYSTEM_CLOCK, Clock
from models.config import StreamConfig

logger = logging.getLogger(__name__)
# How long the decode thread waits, after a keyframe handed over while decoding keyframes only, for analysis to
# say whether to go on that way: enough for a detection on a busy machine, short enough for the socket's buffer.
VERDICT_WAIT_S = 1.0
_LOG_LEVELS = {
    CameraState.CONNECTING: logging.DEBUG,  # every reconnect attempt: too chatty for INFO
    CameraState.ONLINE: logging.INFO,
    CameraState.STALLED: logging.WARNING,
    CameraState.OFFLINE: logging.WARNING,
}


HUNG_SERVER = "the server accepts connections but sends nothing (hung)"


class DropPolicy(StrEnum):
    """What happens to a sampled frame analysis has not taken when the next one is ready."""

    KEEP_NEWEST = "keep_newest"  # live: replace it (counted in frames_dropped); analysis sees the present
    BLOCK = "block"  # replay: wait until it is taken; nothing is lost (on a live stream, latency grows)


class NewestFrameSlot:
    """A one-frame holder between the decode thread and analysis."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: VideoFrame | None = None
        self._ended = False

    def put(self, frame: VideoFrame, *, block: bool) -> bool:
        """Store `frame`; True if it replaced an untaken frame. With `block`, wait until the slot is empty."""
        with self._cond:
            while block and self._frame is not None and not self._ended:
                self._cond.wait()
            if self._ended:
                return False
            replaced = self._frame is not None
            self._frame = frame
            self._cond.notify_all()
            return replaced

    def take(self, timeout: float) -> VideoFrame | None:
        """The frame, once one is there; None after `timeout` s, or at once when no more will come."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._frame is None:
                remaining = deadline - time.monotonic()
                if self._ended or remaining <= 0:
                    return None
                self._cond.wait(remaining)
            frame, self._frame = self._frame, None
            self._cond.notify_all()
            return frame

    def end(self, *, discard: bool = False) -> None:
        """No more frames will come: wake every waiter. `discard` also drops a frame not yet taken."""
        with self._cond:
            self._ended = True
            if discard:
                self._frame = None
            self._cond.notify_all()


class CameraStream:
    """The supervisor of one camera: see the module docstring.

    Timestamps: a live stream stamps each frame with `clock.time()` when it is decoded; a file stamps
    it with the clock at `start()` plus its pts, so replays are deterministic. Timeouts and stall
    detection use the real monotonic clock (`time.monotonic`), not `clock`: they time a real socket
    and decoder, which a test clock standing still must not stall or hurry. `on_health` is called
    from ingest threads on every state change (never per frame), one call at a time, in order; keep it
    quick and do not call `stop()` from it.
    `source_factory` replaces the PyAV source (another decoder, or an in-memory source in tests).
    `stream` is the camera's connection and health timing as configured (`CameraConfig.stream`): transport,
    open/read/stall timeouts, reconnect backoff; its defaults when not given.
    """

    def __init__(
        self,
        camera_id: str,
        url: str,
        *,
        analysis_fps: float | None,
        stream: StreamConfig | None = None,
        drop_policy: DropPolicy = DropPolicy.KEEP_NEWEST,
        realtime: bool = True,
        loop: bool = False,
        on_health: Callable[[CameraHealth], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        source_factory: Callable[[], FrameSource] | None = None,
        max_keyframe_interval_s: float = DEFAULT_MAX_KEYFRAME_INTERVAL_S,
        packet_ring: PacketRing | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.packet_ring = packet_ring  # keeps the encoded stream for event clips (ingest/packet_ring.py)
        # A main stream kept for clips instead (ingest/record_stream.py): its state joins this camera's health
        self.record: RecordStream | None = None
        self.url = url
        self.analysis_fps = analysis_fps
        self.stream = stream if stream is not None else StreamConfig()
        self.drop_policy = DropPolicy(drop_policy)
        self.realtime = realtime
        self.loop = loop
        self._on_health = on_health
        self._clock = clock
        self._secrets = url_secrets(url)
        self._sampler = FrameSampler(analysis_fps)  # validates analysis_fps now, not in a thread
        self._stop = threading.Event()
        self._slot = NewestFrameSlot()
        self._source_factory = source_factory or self._pyav_source
        self.max_keyframe_interval_s = max_keyframe_interval_s
        self._keyframes_only = False  # what analysis asked for (read by the source before each packet)
        self._verdict = threading.Condition()  # guards _verdict_frame_id
        self._verdict_frame_id = -1  # the last frame analysis gave its verdict on
        self._decode_thread: threading.Thread | None = None
        self._watchdog_thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards the fields below
        self._notify_lock = threading.RLock()  # one state change (and its callback) at a time
        self._state = CameraState.OFFLINE
        self._since = clock.time()
        self._last_error: str | None = "not started"
        self._reconnect_attempt = 0
        self._frames_decoded = 0
        self._frames_dropped = 0
        self._connected = False
        self._last_progress = time.monotonic()  # when the source last gave a frame (or connected)
        self._waiting_for_consumer = False
        self._finished = False
        self._stopped = False
        self._start_clock = clock.time()  # set again by start(): file timestamps are start clock + pts

    # -- public ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the decode and watchdog threads. Returns at once; watch `health` or `on_health`."""
        if self._decode_thread is not None:
            raise RuntimeError(f"camera {self.camera_id}: already started")
        name = f"ingest-{self.camera_id}"
        self._decode_thread = threading.Thread(target=self._run, name=f"{name}-decode", daemon=True)
        self._watchdog_thread = threading.Thread(target=self._watch, name=f"{name}-watchdog", daemon=True)
        self._start_clock = self._clock.time()
        self._decode_thread.start()
        self._watchdog_thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and join the threads (the decode thread closes the source). Idempotent.

        Returns within `timeout` even if the decode thread is blocked in a read: the threads are
        daemons, and that read ends at the source's read timeout.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stop.set()
        self._slot.end(discard=True)
        deadline = time.monotonic() + timeout
        for thread in (self._decode_thread, self._watchdog_thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        if self._decode_thread is not None and self._decode_thread.is_alive():
            logger.warning(
                "camera %s: decode thread still blocked in a read after %.1f s; it exits when the read times out",
                self.camera_id,
                timeout,
            )
        self._transition(CameraState.OFFLINE, error="stopped", final=True, log_level=logging.INFO)

    def next_frame(self, timeout: float) -> VideoFrame | None:
        """The newest sampled frame; None after `timeout` s, or at once once finished or stopped."""
        return self._slot.take(timeout)

    def decode_keyframes_only(self, enabled: bool, *, after_frame: int | None = None) -> None:
        """Decode keyframes only (a still scene) or every frame; `after_frame`: the frame this verdict is on.

        Call it from analysis after each frame. Full decoding resumes at once when this answers a keyframe the
        decode thread waits on, else after the next keyframe. Thread-safe; a source made by `source_factory`
        ignores it.
        """
        self._keyframes_only = enabled
        if after_frame is not None:
            with self._verdict:
                self._verdict_frame_id = max(self._verdict_frame_id, after_frame)
                self._verdict.notify_all()

    @property
    def keyframes_only(self) -> bool:
        """Whether analysis last asked for keyframes only."""
        return self._keyframes_only

    @property
    def health(self) -> CameraHealth:
        """The camera's health now (thread-safe)."""
        with self._lock:
            return self._health_locked()

    @property
    def finished(self) -> bool:
        """True once a file source is done (end of a non-looping file, or a failed file): files never reconnect."""
        with self._lock:
            return self._finished

    # -- decode thread ----------------------------------------------------------------------------

    def _pyav_source(self) -> FrameSource:
        return PyAVSource(
            self.url,
            open_timeout_s=self.stream.open_timeout_s,
            read_timeout_s=self.stream.read_timeout_s,
            rtsp_transport=self.stream.rtsp_transport,
            realtime=self.realtime,
            loop=self.loop,
            cancel=self._stop,
            keyframes_only=lambda: self._keyframes_only,
            on_skipped=self._packet_skipped,
            max_keyframe_interval_s=self.max_keyframe_interval_s,
            on_packet=self.packet_ring.add if self.packet_ring is not None else None,
        )

    def _packet_skipped(self) -> None:
        """A packet came whose frame keyframes-only decoding skipped: the stream is alive (not a stall)."""
        with self._lock:
            self._last_progress = time.monotonic()

    def _run(self) -> None:
        delays = self._new_backoff()
        while not self._stop.is_set():
            self._transition(CameraState.CONNECTING)
            error: str | None = None
            timed_out = False
            source: FrameSource | None = None
            with self._lock:
                frames_before = self._frames_decoded
            try:
                source = self._source_factory()
                source.open()
                with self._lock:
                    self._connected = True
                    self._last_progress = time.monotonic()
                self._pump(source)
                if not self._stop.is_set():
                    if not source.live:
                        self._finish("end of file")
                        return
                    error = "stream ended (the server closed the connection)"
            except SourceError as exc:
                error = redact_text(exc.reason, self._secrets)
                timed_out = exc.timed_out
            except Exception as exc:  # a bug or an unforeseen library error: report it, keep supervising
                error = redact_text(f"unexpected error: {type(exc).__name__}: {exc}", self._secrets)
                logger.error(
                    "camera %s: unexpected ingest error\n%s",
                    self.camera_id,
                    redact_text(traceback.format_exc(), self._secrets),
                )
            finally:
                with self._lock:
                    self._connected = False
                    got_frames = self._frames_decoded > frames_before
                if source is not None:
                    source.close()
            if self._stop.is_set():
                return
            if source is not None and not source.live:
                self._finish(error or "file source failed")
                return
            if got_frames:
                delays = self._new_backoff()  # frames flowed: the next outage starts from the shortest delay
            with self._lock:
                self._reconnect_attempt += 1
                attempt = self._reconnect_attempt
            delay = backoff.full_jitter(next(delays))
            if timed_out and source is not None and source.live and self._server_is_hung():
                self._transition(CameraState.STALLED, error=f"{error}; {HUNG_SERVER}")
            else:
                self._transition(CameraState.OFFLINE, error=error)
            logger.debug("camera %s: reconnect attempt %d in %.2f s", self.camera_id, attempt, delay)
            self._stop.wait(delay)

    def _server_is_hung(self) -> bool:
        """After a timeout: the camera's server still accepts connections (it holds them and sends nothing, like
        a process stopped with SIGSTOP or a wedged encoder): stalled, not offline."""
        return server_accepts_connections(self.url, timeout_s=min(1.0, self.stream.open_timeout_s))

    def _pump(self, source: FrameSource) -> None:
        """Decode, sample and hand over frames until the source ends, fails or we stop."""
        live = source.live
        block = self.drop_policy is DropPolicy.BLOCK
        for decoded in source.read():
            if self._stop.is_set():
                return
            timestamp = self._clock.time() if live else self._start_clock + (decoded.pts or 0.0)
            with self._lock:
                frame_id = self._frames_decoded
                self._frames_decoded += 1
                self._last_progress = time.monotonic()
                online = self._state is CameraState.ONLINE
            if not online:
                self._transition(CameraState.ONLINE)
            if self._sampler.due(timestamp):
                frame = VideoFrame(
                    camera_id=self.camera_id, frame_id=frame_id, timestamp=timestamp, pts=decoded.pts,
                    image=decoded.to_bgr(),
                )
                self._hand_over(frame, block)
                if decoded.keyframe and self._keyframes_only:
                    self._await_verdict(frame_id)

    def _await_verdict(self, frame_id: int) -> None:
        """Wait (briefly) until analysis said how to go on after this keyframe; see the module docstring."""
        with self._lock:
            self._waiting_for_consumer = True
        try:
            deadline = time.monotonic() + VERDICT_WAIT_S
            with self._verdict:
                while self._verdict_frame_id < frame_id and not self._stop.is_set():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._verdict.wait(min(remaining, 0.1))
        finally:
            with self._lock:
                self._waiting_for_consumer = False
                self._last_progress = time.monotonic()

    def _hand_over(self, frame: VideoFrame, block: bool) -> None:
        if block:
            with self._lock:
                self._waiting_for_consumer = True
        replaced = False
        try:
            replaced = self._slot.put(frame, block=block)
        finally:
            with self._lock:
                self._waiting_for_consumer = False
                self._last_progress = time.monotonic()  # time spent waiting on analysis is not a stall
                if replaced:
                    self._frames_dropped += 1

    def _finish(self, reason: str) -> None:
        with self._lock:
            self._finished = True
        level = logging.INFO if reason == "end of file" else logging.WARNING
        self._transition(CameraState.OFFLINE, error=reason, log_level=level)
        self._slot.end()

    def _new_backoff(self) -> Iterator[float]:
        delays = backoff.expo(
            base=2, factor=self.stream.backoff_initial_s, max_value=self.stream.backoff_max_s
        )
        next(delays)  # backoff's generators are primed with one next() (they expect .send())
        return delays

    # -- watchdog thread --------------------------------------------------------------------------

    def _watch(self) -> None:
        period = min(0.25, max(0.02, self.stream.stall_timeout_s / 5))
        while not self._stop.wait(period):
            with self._lock:
                stalled = (
                    self._connected
                    and not self._waiting_for_consumer
                    and self._state in (CameraState.CONNECTING, CameraState.ONLINE)
                    and time.monotonic() - self._last_progress > self.stream.stall_timeout_s
                )
            if stalled:
                self._transition(
                    CameraState.STALLED,
                    error=f"no frame for {self.stream.stall_timeout_s:g} s (connected, but the stream stalled)",
                    only_if=lambda: (
                        self._connected
                        and time.monotonic() - self._last_progress > self.stream.stall_timeout_s
                    ),
                )

    # -- state ------------------------------------------------------------------------------------

    def _health_locked(self) -> CameraHealth:
        return CameraHealth(
            camera_id=self.camera_id,
            state=self._state,
            since=self._since,
            last_error=self._last_error,
            reconnect_attempt=self._reconnect_attempt,
            frames_decoded=self._frames_decoded,
            frames_dropped=self._frames_dropped,
            record_state=self.record.state if self.record is not None else None,
            record_error=self.record.last_error if self.record is not None else None,
        )

    def republish_health(self) -> None:
        """Tell `on_health` the health now (the record stream changed state; this camera's own did not)."""
        with self._notify_lock:
            with self._lock:
                if self._stopped:
                    return
                health = self._health_locked()
            if self._on_health is not None:
                try:
                    self._on_health(health)
                except Exception:
                    logger.exception("camera %s: on_health callback failed", self.camera_id)

    def _transition(
        self,
        state: CameraState,
        *,
        error: str | None = None,
        final: bool = False,
        only_if: Callable[[], bool] | None = None,
        log_level: int | None = None,
    ) -> None:
        """Change state and tell `on_health`; a no-op if unchanged, or after stop (but the final change)."""
        with self._notify_lock:
            with self._lock:
                if (self._stopped and not final) or (only_if is not None and not only_if()):
                    return
                if state is self._state and error == self._last_error:
                    return
                self._state = state
                self._since = self._clock.time()
                self._last_error = None if state is CameraState.ONLINE else error
                if state is CameraState.ONLINE:
                    self._reconnect_attempt = 0
                health = self._health_locked()
            logger.log(
                _LOG_LEVELS[state] if log_level is None else log_level,
                "camera %s: %s%s",
                self.camera_id,
                state.value,
                f": {health.last_error}" if health.last_error else "",
            )
            if self._on_health is not None:
                try:
                    self._on_health(health)
                except Exception:
                    logger.exception("camera %s: on_health callback failed", self.camera_id)

    def __repr__(self) -> str:
        return f"CameraStream({self.camera_id!r}, {redact_url(self.url)!r}, state={self._state.value})"
