"""The demo configuration pointed at a temporary store, and a stand-in for the camera pipelines that writes incidents
and camera statuses into that store through the real write path (IncidentBuilder, save_snapshot, PushJournal).

No camera, no model: events are built by hand with an explicit clock, everything after the event is the real code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
import yaml

from analytics.events import Event, EventPhase, Evidence
from analytics.evidence import render_snapshot, save_snapshot
from analytics.incident_builder import IncidentBuilder
from api.cli import DEMO_CONFIG
from ingest.frames import VideoFrame
from ingest.health import CameraState
from models.config import ServiceConfig, parse_config
from models.incident import CameraStatusRecord, Incident, MessageType, PushMessage
from models.push import PushJournal
from models.views import camera_status_view, incident_view
from tests.clip_footage import make_event_clip

RTSP_BASE = "rtsp://admin:s3cret@127.0.0.1:9"
RTSP_PASSWORD = "s3cret"

CAM_WALKWAY = "34020000001320000001"  # demo camera, located by lat/lon in 宝石山第一网格; crowd rule
CAM_FIRE_LANE = "34020000001320000002"  # demo camera, 宝石山第二网格; fire/smoke rule
# added by these tests: a camera in the other street (灵隐街道), crowd rule
CAM_YUQUAN = "34020000001320000003"

DISTRICT = "330106"
STREET_BEISHAN = "330106001"
COMMUNITY_BAOSHISHAN = "330106001001"
CELL_WALKWAY = "330106001001001"
CELL_FIRE_LANE = "330106001001002"
STREET_LINGYIN = "330106002"
CELL_YUQUAN = "330106002001001"

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def demo_config(tmp_path: Path, *, websocket_queue: int = 1000) -> ServiceConfig:
    """The shipped demo config, store and snapshots under `tmp_path`, plus one camera in the second street."""
    raw: dict[str, Any] = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw["cameras"][CAM_YUQUAN] = {
        "name": "玉泉路口",
        "url": "${XUELIANG_DEMO_RTSP}/yuquan",
        "record_url": "${XUELIANG_DEMO_RTSP}/yuquan-main",  # a main stream for evidence: as secret as `url`
        "grid_cell": CELL_YUQUAN,
        "rules": {"crowd": {"min_people": 6}},
    }
    raw["store"] = {
        "url": f"sqlite:///{tmp_path / 'store' / 'xueliang.db'}",
        "data_dir": str(tmp_path / "data"),
    }
    raw["server"]["websocket_queue"] = websocket_queue
    raw["auth"]["jwt_secret"] = "tests-only-signing-key-0123456789abcdef"  # tests.api.access.TEST_JWT_SECRET
    raw["auth"]["token_ttl_minutes"] = 7 * 24 * 60  # the tests move the service's clock by hours
    raw["auth"]["session_max_hours"] = 7 * 24  # a token never outlives its login session
    return parse_config(raw, environ={"XUELIANG_DEMO_RTSP": RTSP_BASE})


class CameraFeed:
    """What camera pipelines write: incidents (with evidence snapshots) and camera statuses, journaled and pushed.

    Every message written is kept in `messages`, in seq order.
    """

    def __init__(self, config: ServiceConfig, journal: PushJournal) -> None:
        self.config = config
        self.journal = journal
        self.builders = {False: IncidentBuilder(config), True: IncidentBuilder(config, is_test=True)}
        self.snapshot_dir = config.store.data_dir / "snapshots"
        self.messages: list[PushMessage] = []

    def open_incident(
        self,
        camera_id: str,
        rule: str,
        at: datetime,
        *,
        magnitude: float = 0.0,
        count: int | None = None,
        confidence: float | None = None,
        is_test: bool = False,
        snapshot: bool = False,
        clip: bool = False,
        status: str | None = None,
    ) -> Incident:
        """An `opened` event of `rule` on the camera, turned into an incident by the real builder and recorded.

        `status` stands in for a later step of the closed loop (the pipelines only ever write `reported`).
        """
        category = getattr(self.config.cameras[camera_id].rules, rule).category
        event = Event(
            phase=EventPhase.OPENED, rule=rule, category=category, camera_id=camera_id, timestamp=at.timestamp(),
            magnitude=magnitude, count=count, confidence=confidence,
        )  # fmt: skip
        incident = self.builders[is_test].open(event)
        if snapshot:
            path = self.snapshot_dir / incident.opened_at.strftime("%Y%m%d") / f"{incident.id}.jpg"
            save_snapshot(path, render_snapshot(self._evidence(camera_id, at)))
            incident = incident.model_copy(update={"snapshot_path": str(path)})
        if clip:  # a real 6 s event clip, made the way a camera's is (tests/clip_footage.py)
            clip_path = self.config.store.data_dir / "clips" / incident.opened_at.strftime("%Y%m%d") / f"{incident.id}.mp4"
            incident = incident.model_copy(update={"clip_path": str(make_event_clip(clip_path))})
        if status is not None:
            incident = incident.model_copy(update={"status": status})
        self._record(incident, MessageType.INCIDENT_OPENED)
        return incident

    def close_incident(self, incident: Incident, at: datetime) -> Incident:
        event = Event(
            phase=EventPhase.CLOSED, rule=incident.rule, category=incident.category_code,
            camera_id=incident.camera_id, timestamp=at.timestamp(), magnitude=0.0,
        )  # fmt: skip
        closed = self.builders[incident.is_test].apply(incident, event)
        self._record(closed, MessageType.INCIDENT_CLOSED)
        return closed

    def camera_status(
        self, camera_id: str, state: CameraState, at: datetime, *, last_error: str | None = None
    ) -> PushMessage:
        camera = self.config.cameras[camera_id]
        grid_code = self.config.camera_grid_cell(camera_id)
        record = CameraStatusRecord(
            camera_id=camera_id,
            state=state.value,
            since=at,
            last_error=last_error,
            updated_at=at,
            frames_decoded=120,
            frames_dropped=3,
            analysed_fps=1.0 if state is CameraState.ONLINE else None,
        )
        payload = camera_status_view(record, name=camera.name, grid_code=grid_code)
        message = self.journal.camera_status(record, grid_code, payload)
        self.messages.append(message)
        return message

    @property
    def last_seq(self) -> int:
        return self.messages[-1].seq if self.messages else 0

    def _record(self, incident: Incident, message_type: MessageType) -> None:
        self.messages.append(self.journal.incident(incident, message_type.value, incident_view))

    @staticmethod
    def _evidence(camera_id: str, at: datetime) -> Evidence:
        image = np.full((48, 64, 3), 80, dtype=np.uint8)
        frame = VideoFrame(camera_id=camera_id, frame_id=1, timestamp=at.timestamp(), pts=0.0, image=image)
        return Evidence(frame, sv.Detections.empty())
