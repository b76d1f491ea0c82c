"""Frame sources: a small producer interface, and its PyAV implementation for RTSP (and other URLs) and files.

A source decodes every packet but converts nothing: it yields `DecodedFrame`s whose pixels are only
turned into a BGR array when someone calls `to_bgr()` (conversion costs far more than decoding, and
analysis wants only a few frames a second).

Keyframes only: while its `keyframes_only` callable says so, a PyAV source tells the decoder to skip every
frame but keyframes (`skip_frame = NONKEY`), which costs a fraction of full decoding; a still scene needs no
more. Going back to full decoding is clean only right after a keyframe (the next frames reference it), so a
source switches back just after it decoded a keyframe: at once when the caller decided while holding that
keyframe (CameraStream waits for analysis's verdict on it), else after the next keyframe.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import av
import av.error
import cv2
import numpy as np

from ingest.redact import redact_text, redact_url, url_secrets

logger = logging.getLogger(__name__)

# FFmpeg's default probe (analyzeduration 5 s) held RTSP opens for 2.8 s against the local relay;
# 1 s opens in about 1 s and still finds H.264 parameters with keyframes up to 1 s apart (the decoder
# learns the size from the first keyframe anyway).
_NETWORK_ANALYZE_DURATION_US = "1000000"
# A few undecodable packets (missing references after a join) are normal; this many in a row is not video.
_MAX_CONSECUTIVE_DECODE_ERRORS = 50
# A paced file that falls this far behind real time (slow consumer) re-anchors instead of bursting.
_PACING_MAX_LAG_S = 1.0
_DEFAULT_FRAME_INTERVAL_S = 1 / 25
# PyAV's timeout surfaces as several FFmpeg errors; a call that took this share of its timeout timed out.
_TIMED_OUT_FRACTION = 0.9
# Keyframes only: a stream whose keyframes are further apart than this is decoded in full for the rest of the
# connection (the wait for a keyframe is the added detection delay: it must stay short).
DEFAULT_MAX_KEYFRAME_INTERVAL_S = 4.0


class SourceError(Exception):
    """A source failed. `reason` is human-readable and redacted: safe for logs and health. `timed_out`: the
    source waited out its open or read timeout (no answer, no data), as opposed to an error it was given."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443, "rtmp": 1935}


def server_accepts_connections(url: str, timeout_s: float) -> bool:
    """Whether the host and port of a network URL accept a TCP connection now. After a timeout this tells a hung
    camera (its server keeps accepting and holding connections but sends nothing: stalled) from one that is gone
    (refused, unreachable, no answer to the connection itself: offline). False for files and unknown schemes."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
        host = parts.hostname
    except ValueError:
        return False
    if not host or port is None:
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass(frozen=True, slots=True, eq=False)
class DecodedFrame:
    """A decoded frame whose pixels are converted only on demand.

    `pts` is seconds from the start of the stream (continuous across the loops of a looping file);
    None when a live stream gives none. `keyframe`: the frame was coded on its own (an IDR / I frame).
    """

    pts: float | None
    convert: Callable[[], np.ndarray]
    keyframe: bool = False

    def to_bgr(self) -> np.ndarray:
        """HxWx3 uint8 BGR pixels (the expensive part: call it only for frames you keep)."""
        return self.convert()


class FrameSource(Protocol):
    """A producer of decoded frames. Call `open()`, iterate `read()`, then `close()`, all from one thread.

    `open()` and `read()` raise `SourceError` on failure. `read()` ends when the stream ends.
    """

    @property
    def live(self) -> bool:
        """True for a camera or other network stream; False for a file (which may end)."""
        ...

    def open(self) -> None: ...

    def read(self) -> Iterator[DecodedFrame]: ...

    def close(self) -> None: ...


def local_path(url: str) -> Path | None:
    """The local file `url` names (a plain path or file://...), or None for a network URL."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(url2pathname(unquote(parts.path)))
    if parts.scheme == "" or (len(parts.scheme) == 1 and url[1:2] == ":"):  # "clip.mp4", "C:\\clip.mp4"
        return Path(url)
    return None


def frame_to_bgr(frame: av.VideoFrame) -> np.ndarray:
    """Convert a decoded frame to BGR. yuv420p goes through OpenCV: about 3x faster than swscale's bgr24."""
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
    return frame.to_ndarray(format="bgr24")


class PyAVSource:
    """Decode an RTSP/network URL or a local file with PyAV.

    Network streams: RTSP over `rtsp_transport` (TCP by default); `open_timeout_s` bounds the
    connection and handshake, `read_timeout_s` a read that gets no data (a hung server fails after
    about `read_timeout_s`). Files: `realtime=True` paces frames at their pts, so a file behaves like a
    live camera; `realtime=False` reads as fast as decoding allows (replays). `loop=True` plays a file
    forever with continuous pts. `cancel`, when set, ends pacing waits early (set it to stop a paced file).

    `keyframes_only`, polled before each packet: True decodes keyframes only (see the module docstring);
    `on_skipped` is called for each packet read whose frame that skipped (the stream is alive, though no frame
    comes). A stream with no keyframe for `max_keyframe_interval_s` is decoded in full for the rest of the
    connection (logged once).

    `on_packet(packet, stream)`, when given, is told of every demuxed video packet before it is decoded (a camera's
    packet ring for event clips, ingest/packet_ring.py); it must be quick and must not keep the packet object.
    """

    def __init__(
        self,
        url: str,
        *,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        rtsp_transport: str = "tcp",
        realtime: bool = True,
        loop: bool = False,
        cancel: threading.Event | None = None,
        options: Mapping[str, str] | None = None,
        keyframes_only: Callable[[], bool] | None = None,
        on_skipped: Callable[[], None] | None = None,
        max_keyframe_interval_s: float = DEFAULT_MAX_KEYFRAME_INTERVAL_S,
        on_packet: Callable[[av.Packet, av.VideoStream], None] | None = None,
    ) -> None:
        self.url = url
        self._on_packet = on_packet
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.rtsp_transport = rtsp_transport
        self.realtime = realtime
        self.loop = loop
        self._cancel = cancel or threading.Event()
        self._extra_options = dict(options or {})
        self._path = local_path(url)
        self._secrets = url_secrets(url)
        self._container: av.container.InputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._pts_origin: int | None = None  # stream time (time_base units) that counts as pts 0
        self._keyframes_only = keyframes_only
        self._on_skipped = on_skipped
        self.max_keyframe_interval_s = max_keyframe_interval_s
        self.skipping = False  # the decoder skips non-key frames now
        self.keyframes_refused: str | None = None  # why this connection decodes in full whatever is asked

    @property
    def live(self) -> bool:
        return self._path is None

    def _options(self) -> dict[str, str]:
        if self._path is not None:
            return dict(self._extra_options)
        options = {"analyzeduration": _NETWORK_ANALYZE_DURATION_US}
        if urlsplit(self.url).scheme.lower() in ("rtsp", "rtsps"):
            options["rtsp_transport"] = self.rtsp_transport
        options.update(self._extra_options)
        return options

    def open(self) -> None:
        """Connect (or open the file) and find the video stream. Raises `SourceError`."""
        self.close()
        started = time.monotonic()
        try:
            if self._path is not None:
                if not self._path.is_file():
                    raise SourceError(f"file not found: {redact_text(str(self._path), self._secrets)}")
                container = av.open(str(self._path), options=self._options())
            else:
                container = av.open(
                    self.url, options=self._options(), timeout=(self.open_timeout_s, self.read_timeout_s)
                )
        except SourceError:
            raise
        except Exception as exc:
            raise self._failure(exc, opening=True, waited_s=time.monotonic() - started) from None
        if not container.streams.video:
            container.close()
            raise SourceError("invalid data: not a video stream (no video track found)")
        stream = container.streams.video[0]
        if self._path is not None and not self.realtime and self._keyframes_only is None:
            # Replays: throughput over latency. Not where keyframes-only may be asked for: frame threads delay
            # the decoder's output by a few packets, and the clean switch back to full relies on no delay.
            stream.codec_context.thread_type = "AUTO"
        self._container, self._stream = container, stream
        self.skipping, self.keyframes_refused = False, None  # a new connection or loop starts in full
        if self._pts_origin is None and stream.start_time is not None:
            self._pts_origin = stream.start_time

    def read(self) -> Iterator[DecodedFrame]:
        """Decoded frames in order, each with pts in seconds. Raises `SourceError`; ends at end of stream."""
        pts_offset = 0.0  # added per loop of a looping file, so pts keeps increasing
        pacing_origin: float | None = None  # monotonic time that pts 0 maps to
        while self._container is not None and self._stream is not None:
            last_pts: float | None = None
            for frame in self._decode(self._container, self._stream):
                pts = self._pts_seconds(frame, last_pts, self._stream)
                if pts is not None:
                    last_pts = pts
                    pts += pts_offset
                if self._path is not None and self.realtime and pts is not None:
                    now = time.monotonic()
                    if pacing_origin is None or now - (pacing_origin + pts) > _PACING_MAX_LAG_S:
                        pacing_origin = now - pts
                    if self._cancel.wait(max(0.0, pacing_origin + pts - now)):
                        return
                yield DecodedFrame(pts=pts, convert=_converter(frame), keyframe=bool(frame.key_frame))
            if self._path is None or not self.loop or self._cancel.is_set():
                return
            if last_pts is None:
                raise SourceError("invalid data: the file holds no decodable video frame")
            pts_offset += last_pts + self._frame_interval(self._stream)
            self.open()

    def close(self) -> None:
        """Close the container; safe to call more than once."""
        container, self._container, self._stream = self._container, None, None
        if container is not None:
            with contextlib.suppress(Exception):  # closing a broken stream must not hide the real error
                container.close()

    def _decode(
        self, container: av.container.InputContainer, stream: av.VideoStream
    ) -> Iterator[av.VideoFrame]:
        consecutive_errors = 0
        packets = container.demux(stream)
        at_keyframe = False  # the last packet decoded (while skipping) gave a keyframe: a clean point to go full
        skip_since = 0.0  # monotonic time of the last keyframe while skipping (or when skipping began)
        while True:
            started = time.monotonic()
            try:
                packet = next(packets)
            except StopIteration:
                return
            except Exception as exc:
                raise self._failure(exc, opening=False, waited_s=time.monotonic() - started) from None
            waited_s = time.monotonic() - started
            if self._on_packet is not None and packet.size:
                self._on_packet(packet, stream)
            if self._path is None and waited_s >= _TIMED_OUT_FRACTION * self.read_timeout_s:
                # FFmpeg's RTSP demuxer answers a timed-out read with a packet it still held, and only the
                # next read fails: a hung camera would flicker back online and be noticed after 2x the
                # timeout. A read that waited out (nearly) the whole timeout is a timeout.
                raise SourceError(f"no data for {waited_s:.1f} s (read timed out)", timed_out=True)
            if self._keyframes_only is not None:
                want = self._keyframes_only() and self.keyframes_refused is None
                if want and not self.skipping:
                    if stream.codec_context.has_b_frames:  # reordering would hold each keyframe back a GOP
                        self._refuse_keyframes("the stream has B-frames")
                    else:
                        stream.codec_context.skip_frame = "NONKEY"
                        self.skipping, at_keyframe, skip_since = True, False, time.monotonic()
                elif self.skipping and not want and at_keyframe:
                    stream.codec_context.skip_frame = "DEFAULT"
                    self.skipping = False
                elif self.skipping and time.monotonic() - skip_since > self.max_keyframe_interval_s:
                    # Too long without a keyframe: full decoding from the next keyframe on (a clean switch), or
                    # at once after twice as long (the decoder may not count this stream's I frames as keys).
                    self._refuse_keyframes(f"no keyframe for {self.max_keyframe_interval_s:g} s")
                    if time.monotonic() - skip_since > 2 * self.max_keyframe_interval_s:
                        stream.codec_context.skip_frame = "DEFAULT"
                        self.skipping = False
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                consecutive_errors += 1
                if consecutive_errors >= _MAX_CONSECUTIVE_DECODE_ERRORS:
                    raise SourceError(
                        f"invalid data: {consecutive_errors} video packets in a row could not be decoded"
                    ) from None
                continue
            if self.skipping:
                # Clean point: the decoder just took a keyframe and nothing after it (no output delay here).
                at_keyframe = bool(frames) or packet.is_keyframe
                if frames:
                    skip_since = time.monotonic()
                elif self._on_skipped is not None and packet.size:  # (not the flush packet at the end)
                    self._on_skipped()
            for frame in frames:
                consecutive_errors = 0
                yield frame

    def _refuse_keyframes(self, why: str) -> None:
        """Keyframes only does not suit this stream: decode everything for the rest of this connection."""
        if self.keyframes_refused is not None:
            return
        self.keyframes_refused = f"{why}: decoding every frame (keyframes-only decoding does not suit this stream)"
        logger.warning("%s: %s", redact_url(self.url), self.keyframes_refused)

    def _pts_seconds(
        self, frame: av.VideoFrame, last_pts: float | None, stream: av.VideoStream
    ) -> float | None:
        """Frame pts in seconds from the stream start; estimated from the frame rate when missing."""
        if frame.pts is not None and frame.time_base is not None:
            if self._pts_origin is None:
                self._pts_origin = frame.pts
            return float((frame.pts - self._pts_origin) * frame.time_base)
        if last_pts is not None:
            return last_pts + self._frame_interval(stream)
        return 0.0 if self._path is not None else None

    @staticmethod
    def _frame_interval(stream: av.VideoStream) -> float:
        rate = stream.average_rate or stream.guessed_rate
        if isinstance(rate, Fraction) and rate > 0:
            return float(1 / rate)
        return _DEFAULT_FRAME_INTERVAL_S

    def _failure(self, exc: Exception, *, opening: bool, waited_s: float) -> SourceError:
        return SourceError(
            self._describe(exc, opening=opening, waited_s=waited_s),
            timed_out=self._is_timeout(exc, opening=opening, waited_s=waited_s),
        )

    def _is_timeout(self, exc: Exception, *, opening: bool, waited_s: float) -> bool:
        timeout_s = self.open_timeout_s if opening else self.read_timeout_s
        timed_out = waited_s >= _TIMED_OUT_FRACTION * timeout_s
        return isinstance(exc, av.error.ExitError | av.error.TimeoutError) or (
            timed_out and isinstance(exc, av.error.InvalidDataError)
        )

    def _describe(self, exc: Exception, *, opening: bool, waited_s: float) -> str:
        """A short, redacted, human-readable reason for a PyAV/FFmpeg failure."""
        if self._is_timeout(exc, opening=opening, waited_s=waited_s):
            # PyAV's timeout interrupts FFmpeg, which reports "Immediate exit requested" or, in the RTSP
            # handshake, "Invalid data found when processing input".
            if opening:
                return f"no answer within {self.open_timeout_s:g} s (connection or handshake timed out)"
            return f"no data for {waited_s:.1f} s (read timed out)"
        reason = _KNOWN_ERRORS.get(type(exc))
        if reason is not None:
            return reason
        if isinstance(exc, av.error.InvalidDataError):
            return "invalid data: not a video stream (the server or file sent something FFmpeg cannot read)"
        if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
            if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return f"host unreachable ({exc.strerror})"
            return redact_text(exc.strerror, self._secrets).lower()
        return redact_text(f"{type(exc).__name__}: {exc}", self._secrets)


_KNOWN_ERRORS: dict[type[BaseException], str] = {
    av.error.ConnectionRefusedError: "connection refused (nothing listens at that host and port)",
    av.error.ConnectionResetError: "connection reset by the server",
    av.error.HTTPUnauthorizedError: "authentication failed (401 Unauthorized): check the user and password",
    av.error.HTTPForbiddenError: "access denied (403 Forbidden)",
    av.error.HTTPNotFoundError: "stream not found (404 Not Found): check the path in the URL",
    av.error.HTTPServerError: "the server failed to serve the stream (5xx server error)",
    av.error.HTTPBadRequestError: "the server rejected the request (400 Bad Request)",
    av.error.ProtocolNotFoundError: "unsupported URL scheme",
    av.error.FileNotFoundError: "file not found",
    av.error.PermissionError: "permission denied",
}


def _converter(frame: av.VideoFrame) -> Callable[[], np.ndarray]:
    return lambda: frame_to_bgr(frame)
