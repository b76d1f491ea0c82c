"""Test helpers for code that uses ingest: an in-memory frame source, fake TCP servers, health recording.

Nothing here needs a camera; `LocalRtspServer` (ingest.rtsp_server) is the real-server counterpart.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Literal, TypeVar

import numpy as np

from ingest.health import CameraHealth, CameraState
from ingest.sources import DecodedFrame, SourceError

T = TypeVar("T")


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll `predicate` until it is true (returns True) or `timeout` s pass (returns False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def wait_for_result(check: Callable[[], T], timeout: float, what: str, interval: float = 0.3) -> T:
    """Poll `check` until it returns something truthy (returned) or `timeout` s pass (AssertionError naming `what`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(interval)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


class HealthLog:
    """Records every `CameraHealth` a camera reports; pass it as `on_health`."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: list[CameraHealth] = []

    def __call__(self, health: CameraHealth) -> None:
        with self._cond:
            self.events.append(health)
            self._cond.notify_all()

    @property
    def states(self) -> list[CameraState]:
        with self._cond:
            return [event.state for event in self.events]

    def wait_for(self, state: CameraState, timeout: float, *, after: int = 0) -> CameraHealth | None:
        """The first event in `state` at index >= `after`, waiting up to `timeout` s; None if none came."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[after:]:
                    if event.state is state:
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def __len__(self) -> int:
        with self._cond:
            return len(self.events)


class MemorySource:
    """A `FrameSource` over in-memory images at a fixed rate: for tests without video.

    `live=False` behaves like a file (ends after the images); `live=True` like a camera whose stream
    ends. `error`, when given, is raised as `SourceError` after the images. `frame_delay_s` sleeps
    before each frame (a slow or stalling camera).
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        *,
        fps: float = 10.0,
        live: bool = False,
        error: str | None = None,
        frame_delay_s: float = 0.0,
    ) -> None:
        self.images = images
        self.fps = fps
        self._live = live
        self.error = error
        self.frame_delay_s = frame_delay_s
        self.opened = 0
        self.closed = 0

    @property
    def live(self) -> bool:
        return self._live

    def open(self) -> None:
        self.opened += 1

    def read(self) -> Iterator[DecodedFrame]:
        for index, image in enumerate(self.images):
            if self.frame_delay_s:
                time.sleep(self.frame_delay_s)
            yield DecodedFrame(pts=index / self.fps, convert=_constant(image))
        if self.error is not None:
            raise SourceError(self.error)

    def close(self) -> None:
        self.closed += 1


def _constant(image: np.ndarray) -> Callable[[], np.ndarray]:
    return lambda: image


class FakeTcpServer:
    """A TCP server on 127.0.0.1 that misbehaves: `silent` accepts and never answers; `garbage` answers
    every connection with bytes that are not RTSP and closes it."""

    def __init__(self, behaviour: Literal["silent", "garbage"]) -> None:
        self.behaviour = behaviour
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"fake-{behaviour}-server", daemon=True)

    def url(self, path: str = "cam", userinfo: str = "") -> str:
        return f"rtsp://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}/{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.behaviour == "garbage":
                with contextlib.suppress(OSError), connection:
                    connection.sendall(bytes(range(256)) * 8 + b"\x00\xffNOT RTSP\r\n\r\n")
                    time.sleep(0.05)
            else:
                self._connections.append(connection)  # held open, never answered

    def __enter__(self) -> FakeTcpServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self._listener.close()
        for connection in self._connections:
            connection.close()
