"""The numbers behind `/stats`, counted by the database; `models.stats` rolls them up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from models import lifecycle
from models.database import Database
from models.db import IncidentRow, IncidentTransitionRow
from models.repositories.statements import in_grid_subtree
from models.stats import FalseAlarms, IncidentCounts, StepTime


class IncidentStats:
    def __init__(self, database: Database) -> None:
        self._database = database

    def incident_counts(
        self,
        now: datetime,
        *,
        grid_code: str | None = None,
        opened_from: datetime | None = None,
        opened_to: datetime | None = None,
    ) -> IncidentCounts:
        """The numbers behind `/stats` over the incidents opened in [opened_from, opened_to) in the grid subtree,
        test incidents left out. Counting is done by the database; `models.stats` rolls them up."""
        conditions: list[ColumnElement[bool]] = [IncidentRow.is_test.is_(False)]
        if grid_code is not None:
            conditions.append(in_grid_subtree(IncidentRow.grid_code, grid_code))
        if opened_from is not None:
            conditions.append(IncidentRow.opened_at >= opened_from)
        if opened_to is not None:
            conditions.append(IncidentRow.opened_at < opened_to)
        overdue = or_(
            and_(IncidentRow.resolved_at.is_(None), IncidentRow.deadline <= now),
            IncidentRow.resolved_at > IncidentRow.deadline,
        )
        rejected = IncidentRow.status == lifecycle.LoopStatus.REJECTED.value
        decided = IncidentRow.status != lifecycle.LoopStatus.REPORTED.value

        def grouped(*columns: Any) -> Any:
            return select(*columns, func.count()).where(*conditions).group_by(*columns)

        first_steps = (
            select(
                IncidentTransitionRow.to_status,
                IncidentRow.opened_at,
                func.min(IncidentTransitionRow.at),
            )
            .join(IncidentRow, IncidentRow.id == IncidentTransitionRow.incident_id)
            .where(*conditions)
            .group_by(IncidentTransitionRow.incident_id, IncidentTransitionRow.to_status, IncidentRow.opened_at)
        )
        false_alarms = (
            select(
                IncidentRow.camera_id,
                IncidentRow.rule,
                func.count().filter(rejected),
                func.count().filter(decided),
            )
            .where(*conditions)
            .group_by(IncidentRow.camera_id, IncidentRow.rule)
            .order_by(IncidentRow.camera_id, IncidentRow.rule)
        )
        with self._database.reading() as session:  # one transaction: every number from one snapshot
            by_grid = {code: n for code, n in session.execute(grouped(IncidentRow.grid_code))}
            by_category = {code: n for code, n in session.execute(grouped(IncidentRow.category_code))}
            by_status = {status: n for status, n in session.execute(grouped(IncidentRow.status))}
            overdue_count = session.scalar(select(func.count()).where(*conditions, overdue)) or 0
            per_camera_rule = [
                FalseAlarms(camera_id=camera, rule=rule, rejected=int(r or 0), decided=int(d or 0))
                for camera, rule, r, d in session.execute(false_alarms)
            ]
            steps = [StepTime(status, opened, first) for status, opened, first in session.execute(first_steps)]
        return IncidentCounts(
            by_grid=by_grid,
            by_category=by_category,
            by_status=by_status,
            overdue=overdue_count,
            false_alarms=per_camera_rule,
            steps=steps,
        )
