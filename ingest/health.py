"""Camera health: the states a camera's stream goes through, as operators see them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CameraState(StrEnum):
    CONNECTING = "connecting"  # opening the stream (first time or after a failure)
    ONLINE = "online"  # frames are arriving
    STALLED = "stalled"  # connected, but no frame for `stall_timeout_s`
    OFFLINE = "offline"  # the stream failed; a reconnect is scheduled


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """A camera's health at one moment. `last_error` is already redacted: it never holds credentials."""

    camera_id: str
    state: CameraState
    since: float  # epoch seconds when this state began
    last_error: str | None = None
    reconnect_attempt: int = 0  # consecutive failed attempts; 0 once frames flow
    frames_decoded: int = 0
    frames_dropped: int = 0  # sampled frames replaced before analysis took them (newest-frame policy)
    # With a `record_url` (ingest/record_stream.py): the main stream kept for clips; None without one
    record_state: CameraState | None = None
    record_error: str | None = None  # redacted like last_error
