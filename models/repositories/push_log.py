"""The live-push message log: every state change's message, in commit order (`seq`), which websocket clients
resume from; and its pruning.

Messages are appended only inside a `Database.writing()` transaction that also writes the change they announce
(an incident's by the hook `models.push` wires, a camera status's by `CameraStatusRepository`), so a message is
never visible before its change, nor a change without its message.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from models.database import Database
from models.db import CameraStatusRow, PushMessageRow, PushRetentionRow
from models.incident import PushMessage
from models.repositories.statements import check_page, in_grid_subtree

PRUNE_BATCH = 5000  # push messages removed per write transaction (pipelines wait for one batch at most)


def json_safe(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as it will read back (tuples become lists, ...); refuses what JSON cannot carry, NaN included."""
    try:
        safe = json.loads(json.dumps(payload, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"message payload is not JSON-safe: {exc}") from exc
    if not isinstance(safe, dict):
        raise ValueError("message payload must be a JSON object")
    return safe


def _message_from_row(row: PushMessageRow) -> PushMessage:
    return PushMessage(
        seq=row.seq,
        type=row.type,
        at=row.at,
        camera_id=row.camera_id,
        grid_code=row.grid_code,
        category_code=row.category_code,
        data=row.data,
    )


class PushLog:
    def __init__(self, database: Database) -> None:
        self._database = database

    # ------------------------------------------------------------------------------------------------- writes

    @staticmethod
    def append(
        session: Session,
        message_type: str,
        at: datetime,
        camera_id: str | None,
        grid_code: str | None,
        category_code: str | None,
        data: dict[str, Any],
    ) -> PushMessage:
        """Append one message in `session` (a write transaction that writes the change it announces); its seq is
        allocated here."""
        row = PushMessageRow(
            type=message_type,
            at=at,
            camera_id=camera_id,
            grid_code=grid_code,
            category_code=category_code,
            data=data,
        )
        session.add(row)
        session.flush()  # allocates seq
        return _message_from_row(row)

    def prune(self, before: datetime, *, batch: int = PRUNE_BATCH) -> int:
        """Remove the live-push messages dated before `before`; returns how many were removed.

        What goes is the log's oldest stretch, up to its first message dated `before` or later (a message dated out
        of order waits for the ones before it). Kept however old: the newest message (so `last_seq()` stays what it
        was) and each camera's latest camera.status (a fresh websocket client's first view). `pruned_through_seq()`
        rises to the highest seq removed, in the transaction that removes it. In batches of `batch`, each its own
        write transaction, so writers wait for one batch at most. Running it twice (several API replicas) is
        harmless.
        """
        with self._database.reading() as session:
            newest = session.scalar(select(func.max(PushMessageRow.seq)))
            first_recent = session.scalar(
                select(PushMessageRow.seq).where(PushMessageRow.at >= before).order_by(PushMessageRow.seq).limit(1)
            )
        if newest is None:
            return 0
        bound = newest if first_recent is None else min(first_recent, newest)  # remove seqs below it only
        latest_statuses = select(CameraStatusRow.last_message_seq)
        removed = 0
        while True:
            with self._database.writing() as session:
                seqs = session.scalars(
                    select(PushMessageRow.seq)
                    .where(PushMessageRow.seq < bound, PushMessageRow.seq.not_in(latest_statuses))
                    .order_by(PushMessageRow.seq)
                    .limit(batch)
                ).all()
                if not seqs:
                    return removed
                session.execute(
                    delete(PushMessageRow)
                    .where(
                        PushMessageRow.seq >= seqs[0],
                        PushMessageRow.seq <= seqs[-1],
                        PushMessageRow.seq.not_in(latest_statuses),
                    )
                    .execution_options(synchronize_session=False)
                )
                session.execute(
                    update(PushRetentionRow)
                    .where(PushRetentionRow.id == 1, PushRetentionRow.pruned_through_seq < seqs[-1])
                    .values(pruned_through_seq=seqs[-1])
                    .execution_options(synchronize_session=False)
                )
            removed += len(seqs)
            if len(seqs) < batch:
                return removed

    # -------------------------------------------------------------------------------------------------- reads

    def since(
        self,
        seq: int,
        limit: int = 1000,
        *,
        grid_code: str | None = None,
        category_code: str | None = None,
    ) -> list[PushMessage]:
        """Messages with a seq above `seq`, oldest first, at most `limit`. Gapless only from
        `pruned_through_seq()` on: below it, pruned messages are missing.

        `grid_code` keeps the messages located in that cell's subtree; `category_code` keeps the messages of that
        category (so it leaves out camera.status messages, which have none).
        """
        check_page(limit)
        query = select(PushMessageRow).where(PushMessageRow.seq > seq)
        if grid_code is not None:
            query = query.where(in_grid_subtree(PushMessageRow.grid_code, grid_code))
        if category_code is not None:
            query = query.where(PushMessageRow.category_code == category_code)
        query = query.order_by(PushMessageRow.seq).limit(limit)
        with self._database.reading() as session:
            return [_message_from_row(row) for row in session.scalars(query)]

    def latest_camera_messages(self) -> list[PushMessage]:
        """The newest camera.status message of each camera, by seq ascending (a new subscriber's first view)."""
        query = (
            select(PushMessageRow)
            .join(CameraStatusRow, CameraStatusRow.last_message_seq == PushMessageRow.seq)
            .order_by(PushMessageRow.seq)
        )
        with self._database.reading() as session:
            return [_message_from_row(row) for row in session.scalars(query)]

    def last_seq(self) -> int:
        """The highest seq committed so far; 0 for an empty log (pruning never removes the newest message)."""
        with self._database.reading() as session:
            return session.scalar(select(func.max(PushMessageRow.seq))) or 0

    def pruned_through_seq(self) -> int:
        """The highest seq `prune` has removed (0: none): `since(seq)` is complete from here on."""
        with self._database.reading() as session:
            return session.scalar(select(PushRetentionRow.pruned_through_seq).where(PushRetentionRow.id == 1)) or 0
