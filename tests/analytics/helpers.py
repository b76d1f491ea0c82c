"""Synthetic observations for rule tests: no camera, no model, an explicit clock."""

from __future__ import annotations

import numpy as np
import supervision as sv

from analytics.detector import LABEL_KEY
from analytics.events import Event, Observation
from ingest.frames import VideoFrame
from ingest.health import CameraHealth, CameraState

WIDTH, HEIGHT = 640, 480


def detections(boxes: list[tuple[float, float, float, float]], label: str, confidence: float = 0.9) -> sv.Detections:
    if not boxes:
        found = sv.Detections.empty()
        found.data[LABEL_KEY] = np.array([], dtype=object)
        return found
    return sv.Detections(
        xyxy=np.array(boxes, dtype=float),
        confidence=np.full(len(boxes), confidence),
        class_id=np.zeros(len(boxes), dtype=int),
        data={LABEL_KEY: np.array([label] * len(boxes), dtype=object)},
    )


def people(count: int, confidence: float = 0.9, y: float = 300) -> sv.Detections:
    return detections([(10 + 30 * i, y - 60, 30 + 30 * i, y) for i in range(count)], "person", confidence)


def online(camera_id: str = "cam-1", since: float = 0.0) -> CameraHealth:
    return CameraHealth(camera_id, CameraState.ONLINE, since)


def observe(t: float, found: dict[str, sv.Detections] | None = None, health: CameraHealth | None = None,
            with_frame: bool = True, camera_id: str = "cam-1") -> Observation:  # fmt: skip
    if not with_frame:
        frame = None
    else:
        image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        frame = VideoFrame(camera_id=camera_id, frame_id=int(t * 10), timestamp=t, pts=t, image=image)
    return Observation(
        camera_id=camera_id, timestamp=t, frame=frame, detections=found or {}, health=health or online(camera_id)
    )


class ListSink:
    """An incident sink for CameraRunner tests: keeps the events it is handed."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def settle_adopted(self, *args: object) -> None:
        pass

    def line_count(self, *args: object) -> None:
        pass


def tracked(objects: list[tuple[int, float]], label: str = "person", confidence: float = 0.9,
            y: float = 300) -> sv.Detections:  # fmt: skip
    """Detections with tracker ids: (tracker id, bottom-centre x) each, a 20x60 box standing on `y`."""
    found = detections([(x - 10, y - 60, x + 10, y) for _, x in objects], label, confidence)
    found.tracker_id = np.array([tracker_id for tracker_id, _ in objects], dtype=int)
    return found
