"""The cluster deployment's shared picture: which Ray nodes host cameras (with their load, as each node's host last
reported it) and which node serves each camera. Written by the placement controller (analytics/cluster), read by
any API replica (`GET /cluster`, the camera wall). No live message: placement is not an event of the loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update

from models.database import Database
from models.db import CameraPlacementRow, ClusterNodeRow
from models.repositories.statements import upsert


@dataclass(frozen=True, kw_only=True)
class NodeReport:
    """A node as its camera host sees it now."""

    node_id: str
    address: str
    cpus: float
    cpu_percent: float | None
    rss_mb: float | None
    models: Sequence[str] = ()
    camera_ids: Sequence[str] = ()


@dataclass(frozen=True, kw_only=True)
class NodeRecord:
    node_id: str
    address: str
    alive: bool
    cpus: float
    cpu_percent: float | None
    rss_mb: float | None
    models: list[str] = field(default_factory=list)
    camera_ids: list[str] = field(default_factory=list)
    started_at: datetime
    updated_at: datetime
    lost_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Placement:
    camera_id: str
    node_id: str | None
    reason: str
    assigned_at: datetime


class ClusterRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    def report_node(self, report: NodeReport, at: datetime) -> None:
        """Record a live node's load; the first report of a node (or of one seen lost before) starts it anew."""
        with self._database.writing(seq_lock=False) as session:
            row = session.get(ClusterNodeRow, report.node_id)
            started = row.started_at if row is not None and row.alive else at
            values = {
                "node_id": report.node_id, "address": report.address, "alive": True, "cpus": report.cpus,
                "cpu_percent": report.cpu_percent, "rss_mb": report.rss_mb, "models": sorted(report.models),
                "camera_ids": sorted(report.camera_ids), "started_at": started, "updated_at": at, "lost_at": None,
            }  # fmt: skip
            upsert(session, ClusterNodeRow, "node_id", values)

    def mark_node_lost(self, node_id: str, at: datetime) -> None:
        """The node is gone (its raylet died or it left): kept for the record, no longer alive, serving nothing."""
        with self._database.writing(seq_lock=False) as session:
            session.execute(
                update(ClusterNodeRow)
                .where(ClusterNodeRow.node_id == node_id, ClusterNodeRow.alive.is_(True))
                .values(alive=False, lost_at=at, updated_at=at, camera_ids=[], cpu_percent=None)
            )

    def nodes(self) -> list[NodeRecord]:
        """Every node seen, alive first, then by address."""
        with self._database.reading() as session:
            rows = session.scalars(select(ClusterNodeRow))
            records = [
                NodeRecord(
                    node_id=row.node_id, address=row.address, alive=row.alive, cpus=row.cpus,
                    cpu_percent=row.cpu_percent, rss_mb=row.rss_mb, models=list(row.models),
                    camera_ids=list(row.camera_ids), started_at=row.started_at, updated_at=row.updated_at,
                    lost_at=row.lost_at,
                )  # fmt: skip
                for row in rows
            ]
        return sorted(records, key=lambda node: (not node.alive, node.address, node.node_id))

    def place(self, camera_id: str, node_id: str | None, reason: str, at: datetime) -> None:
        """Record that `camera_id` is now served by `node_id` (None: by no node)."""
        with self._database.writing(seq_lock=False) as session:
            values = {"camera_id": camera_id, "node_id": node_id, "reason": reason, "assigned_at": at}
            upsert(session, CameraPlacementRow, "camera_id", values)

    def placements(self) -> dict[str, Placement]:
        """Each placed camera's placement, by camera id."""
        with self._database.reading() as session:
            rows = session.scalars(select(CameraPlacementRow).order_by(CameraPlacementRow.camera_id))
            return {
                row.camera_id: Placement(
                    camera_id=row.camera_id, node_id=row.node_id, reason=row.reason, assigned_at=row.assigned_at
                )
                for row in rows
            }
