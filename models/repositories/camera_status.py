"""Each camera's latest status (health, counters), written with the `camera.status` message that announces it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from models.database import Database
from models.db import CameraStatusRow
from models.incident import CameraStatusRecord, MessageType, PushMessage
from models.repositories.push_log import PushLog, json_safe
from models.repositories.statements import upsert


@dataclass(frozen=True)
class CameraCounters:
    """How much of a camera's stream has been decoded, dropped and analysed, refreshed while its health holds."""

    camera_id: str
    frames_decoded: int
    frames_dropped: int
    analysed_fps: float | None


def _camera_status_from_row(row: CameraStatusRow) -> CameraStatusRecord:
    return CameraStatusRecord.model_validate(
        {name: getattr(row, name) for name in CameraStatusRecord.model_fields}
    )


class CameraStatusRepository:
    def __init__(self, database: Database, push_log: PushLog) -> None:
        self._database = database
        self._push_log = push_log

    def record(self, status: CameraStatusRecord, grid_code: str | None, payload: dict[str, Any]) -> PushMessage:
        """Replace the camera's latest status and append a `camera.status` message, atomically."""
        data = json_safe(payload)
        with self._database.writing() as session:
            message = self._push_log.append(
                session,
                MessageType.CAMERA_STATUS.value,
                at=status.updated_at,
                camera_id=status.camera_id,
                grid_code=grid_code,
                category_code=None,
                data=data,
            )
            values = status.model_dump()
            values.update(grid_code=grid_code, last_message_seq=message.seq)
            upsert(session, CameraStatusRow, "camera_id", values)
            return message

    def refresh_counters(self, counters: Sequence[CameraCounters], at: datetime) -> None:
        """Refresh the frame counters and analysed fps of cameras that have a status, in one transaction, without
        a live message: health changes are news (`record`), counters ticking over are not.
        A camera without a status row yet is left alone (its first health report creates it).
        It appends no message, so it does not take the seq lock: seq order is unaffected, and the counters (most of
        the store's writes) neither wait for nor hold up messages on PostgreSQL. Rows in camera id order (no
        deadlock between two refreshes)."""
        if not counters:
            return
        with self._database.writing(seq_lock=False) as session:
            for item in sorted(counters, key=lambda counted: counted.camera_id):
                session.execute(
                    update(CameraStatusRow)
                    .where(CameraStatusRow.camera_id == item.camera_id)
                    .values(
                        frames_decoded=item.frames_decoded,
                        frames_dropped=item.frames_dropped,
                        analysed_fps=item.analysed_fps,
                        updated_at=at,
                    )
                )

    def statuses(self) -> list[CameraStatusRecord]:
        """Every camera's latest status, by camera id."""
        with self._database.reading() as session:
            rows = session.scalars(select(CameraStatusRow).order_by(CameraStatusRow.camera_id))
            return [_camera_status_from_row(row) for row in rows]
