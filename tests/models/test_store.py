"""The store against real databases: a fresh SQLite file and PostgreSQL (see conftest.py)."""

from __future__ import annotations

import math
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from models.database import Database, UnannouncedChange
from models.db import Base, alembic_config
from models.incident import CameraStatusRecord, GridRef, Incident, MessageType, PushMessage, Severity
from models.outbox_tables import outbox_events
from models.repositories.incidents import IncidentChange, IncidentRepository
from models.repositories.push_log import PushLog
from models.store import Store

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=8), "CST")


def grid_path_for(grid_code: str) -> list[GridRef]:
    """A plausible root..cell path: the code's prefixes at 6, 9, 12 digits, then the cell itself."""
    prefixes = [grid_code[:n] for n in (6, 9, 12) if n < len(grid_code)]
    return [GridRef(code=code, name=f"网格{code}") for code in [*prefixes, grid_code]]


def make_incident(
    incident_id: str | None = None,
    *,
    grid_code: str = "330106001001",
    opened_at: datetime = T0,
    **fields: Any,
) -> Incident:
    values: dict[str, Any] = {
        "id": incident_id or uuid.uuid4().hex,
        "rule": "crowd",
        "category_code": "0101",
        "category_name": "人员聚集",
        "category_group": "社会治安",
        "severity": Severity.B,
        "grid_code": grid_code,
        "grid_path": grid_path_for(grid_code),
        "camera_id": "34020000001320000001",
        "camera_name": "北山街口",
        "lat": 30.2592,
        "lon": 120.1302,
        "opened_at": opened_at,
        "updated_at": opened_at,
        "owner_department": "区公安分局",
        "deadline": opened_at + timedelta(hours=2),
    }
    values.update(fields)
    return Incident(**values)


def make_camera_status(
    camera_id: str = "cam-a", state: str = "online", at: datetime = T0
) -> CameraStatusRecord:
    return CameraStatusRecord(
        camera_id=camera_id,
        state=state,
        since=at,
        last_error=None if state == "online" else "connection refused",
        updated_at=at,
        frames_decoded=1200,
        frames_dropped=3,
        analysed_fps=4.5 if state == "online" else None,
    )


def is_postgres(store: Store) -> bool:
    return store.database.engine.dialect.name == "postgresql"


# ------------------------------------------------------------------------------------------------------ schema


def test_migrate_on_empty_database_gives_empty_store(store: Store) -> None:
    tables = set(inspect(store.database.engine).get_table_names())
    assert {"incidents", "push_messages", "camera_statuses", "alembic_version"} <= tables
    assert store.push_log.last_seq() == 0
    assert store.incidents.search() == ([], 0)
    assert store.incidents.unclosed() == []
    assert store.cameras.statuses() == []
    assert store.push_log.since(0) == []
    assert store.push_log.latest_camera_messages() == []
    assert store.incidents.get("nope") is None

    store.migrate()  # idempotent: every start calls it
    assert store.push_log.last_seq() == 0


def test_migrations_match_orm(store: Store) -> None:
    with store.database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_downgrade_to_base_and_back(store: Store) -> None:
    with store.database.engine.begin() as connection:
        command.downgrade(alembic_config(connection=connection), "base")
    assert "incidents" not in inspect(store.database.engine).get_table_names()
    store.migrate()
    assert store.incidents.search() == ([], 0)


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'data' / 'xueliang.db'}"
    with Store(db_url) as store:
        store.migrate()
        with store.database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    # WAL is a property of the file: a plain connection sees it too.
    plain = sqlite3.connect(make_url(db_url).database or "")
    try:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        plain.close()


# ------------------------------------------------------------------------------------------------------ writes


def test_record_and_get_keep_every_field(store: Store) -> None:
    opened = datetime(2025, 3, 1, 16, 30, 15, 123456, tzinfo=CST)  # a non-UTC zone and microseconds
    incident = make_incident(
        severity=Severity.A,
        rule="fire_smoke",
        category_code="0302",
        category_name="火灾隐患",
        category_group="安全生产",
        opened_at=opened,
        updated_at=opened + timedelta(seconds=30),
        closed_at=opened + timedelta(minutes=5),
        peak_count=17,
        peak_confidence=0.875,
        deadline=opened + timedelta(hours=1),
        snapshot_path="/var/lib/xueliang/snapshots/a b/帧.jpg",
        clip_path="/var/lib/xueliang/clips/20250301/视频.mp4",  # 0006_event_clips
        is_test=True,
        lat=None,
        lon=None,
    )
    payload = {
        "incident": {"id": incident.id},
        "names": ["北山", "西湖"],
        "score": 0.5,
        "nested": {"x": None},
    }

    message = store.incidents.record(incident, MessageType.INCIDENT_OPENED, payload)

    assert message == PushMessage(
        seq=1,
        type="incident.opened",
        at=incident.updated_at,
        camera_id=incident.camera_id,
        grid_code=incident.grid_code,
        category_code="0302",
        data=payload,
    )
    stored = store.incidents.get(incident.id)
    assert stored == incident
    assert stored is not None
    for moment in (stored.opened_at, stored.updated_at, stored.closed_at, stored.deadline, message.at):
        assert moment is not None and moment.utcoffset() == timedelta(0)
    assert stored.opened_at == opened and stored.opened_at.microsecond == 123456
    assert store.push_log.since(0) == [message]


def test_record_again_updates_the_row_and_appends_a_message(store: Store) -> None:
    opened = make_incident("inc-1", peak_count=3, peak_confidence=0.6)
    updated = opened.model_copy(update={"updated_at": T0 + timedelta(seconds=40), "peak_count": 12})
    closed = make_incident(
        "inc-1",
        updated_at=T0 + timedelta(minutes=3),
        closed_at=T0 + timedelta(minutes=3),
        peak_count=12,
        peak_confidence=0.91,
    )

    first = store.incidents.record(opened, MessageType.INCIDENT_OPENED, {"peak_count": 3})
    assert [i.id for i in store.incidents.unclosed()] == ["inc-1"]
    second = store.incidents.record(updated, MessageType.INCIDENT_UPDATED, {"peak_count": 12})
    assert store.incidents.get("inc-1") == updated
    third = store.incidents.record(closed, MessageType.INCIDENT_CLOSED, {"peak_count": 12})

    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert store.incidents.get("inc-1") == closed
    assert store.incidents.search() == ([closed], 1)
    assert store.incidents.unclosed() == []
    assert [(m.seq, m.type, m.data) for m in store.push_log.since(0)] == [
        (1, "incident.opened", {"peak_count": 3}),
        (2, "incident.updated", {"peak_count": 12}),
        (3, "incident.closed", {"peak_count": 12}),
    ]
    assert [m.at for m in store.push_log.since(0)] == [
        T0,
        T0 + timedelta(seconds=40),
        T0 + timedelta(minutes=3),
    ]


def test_seq_is_gapless_and_increasing_from_one_process(store: Store) -> None:
    seqs = []
    for n in range(20):
        if n % 3 == 0:
            message = store.cameras.record(make_camera_status(f"cam-{n % 2}"), "330106001", {"n": n})
        else:
            message = store.incidents.record(make_incident(f"inc-{n % 4}"), "incident.updated", {"n": n})
        seqs.append(message.seq)
    assert seqs == list(range(1, 21))
    assert [m.seq for m in store.push_log.since(0)] == seqs
    assert [m.data["n"] for m in store.push_log.since(0)] == list(range(20))
    assert store.push_log.last_seq() == 20


def test_seq_is_gapless_with_four_threads_writing_at_once(store: Store) -> None:
    per_thread = 25

    def write(worker: int) -> list[PushMessage]:
        messages = []
        for n in range(per_thread):
            payload = {"worker": worker, "n": n}
            if n % 5 == 0:
                status = make_camera_status(f"cam-{worker}", at=T0 + timedelta(seconds=n))
                messages.append(store.cameras.record(status, "330106001", payload))
            else:
                incident = make_incident(f"inc-{worker}-{n % 3}", updated_at=T0 + timedelta(seconds=n))
                messages.append(store.incidents.record(incident, "incident.updated", payload))
        return messages

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(write, range(4)))

    returned = {m.seq: m for messages in results for m in messages}
    assert sorted(returned) == list(range(1, 4 * per_thread + 1))
    for messages in results:  # each writer sees its own messages in the order it wrote them
        assert [m.seq for m in messages] == sorted(m.seq for m in messages)
    assert store.push_log.since(0) == [returned[seq] for seq in sorted(returned)]
    assert store.push_log.last_seq() == 4 * per_thread
    assert store.incidents.search()[1] == 4 * 3
    assert [s.camera_id for s in store.cameras.statuses()] == ["cam-0", "cam-1", "cam-2", "cam-3"]


@pytest.mark.parametrize(
    ("message_type", "payload", "error"),
    [
        ("camera.status", {}, "not an incident message type"),
        ("incident.opened", {"at": T0}, "not JSON-safe"),
        ("incident.opened", {"score": math.nan}, "not JSON-safe"),
    ],
)
def test_rejected_records_write_nothing(
    store: Store, message_type: str, payload: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        store.incidents.record(make_incident("inc-1"), message_type, payload)
    assert store.incidents.get("inc-1") is None
    assert store.incidents.record(make_incident("inc-2"), "incident.opened", {}).seq == 1


def test_payload_comes_back_as_json(store: Store) -> None:
    message = store.incidents.record(make_incident(), "incident.opened", {"box": (1, 2, 3, 4)})
    assert message.data == {"box": [1, 2, 3, 4]}
    assert store.push_log.since(0) == [message]


def test_naive_datetimes_never_reach_the_store() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        make_incident(opened_at=datetime(2025, 3, 1, 8, 0))
    incident = make_incident(opened_at=datetime(2025, 3, 1, 16, 0, tzinfo=CST))
    assert incident.opened_at.tzinfo is UTC and incident.opened_at == T0
    with pytest.raises(ValidationError, match="grid_path must end"):
        make_incident(grid_code="330106001", grid_path=grid_path_for("330106002"))


# ------------------------------------------------------------------------------------------------------- lists

# id: (grid_code, hours after T0, category, status, camera, is_test)
LISTED: dict[str, tuple[str, int, str, str, str, bool]] = {
    "district": ("330106", 0, "0101", "reported", "cam-1", False),
    "street": ("330106001", 1, "0101", "verified", "cam-1", False),
    "community": ("330106001001", 2, "0202", "reported", "cam-2", False),
    "sibling": ("330106002", 3, "0202", "reported", "cam-3", False),
    "other": ("330107", 4, "0101", "reported", "cam-4", False),
    "underscore": ("33_106", 5, "0101", "reported", "cam-5", False),
    "percent": ("33%1", 6, "0101", "reported", "cam-5", False),
    "lower": ("ab1", 7, "0101", "reported", "cam-5", False),
    "test": ("330106001", 8, "0101", "reported", "cam-1", True),
}
ALL_REAL = ["lower", "percent", "underscore", "other", "sibling", "community", "street", "district"]


@pytest.fixture
def listed_store(store: Store) -> Store:
    for incident_id, (grid_code, hours, category, status, camera, is_test) in LISTED.items():
        incident = make_incident(
            incident_id,
            grid_code=grid_code,
            opened_at=T0 + timedelta(hours=hours),
            category_code=category,
            status=status,
            camera_id=camera,
            is_test=is_test,
        )
        store.incidents.record(incident, "incident.opened", {})
    return store


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ALL_REAL),
        ({"include_tests": True}, ["test", *ALL_REAL]),
        ({"grid_code": "330106"}, ["sibling", "community", "street", "district"]),
        (
            {"grid_code": "330106", "include_tests": True},
            ["test", "sibling", "community", "street", "district"],
        ),
        ({"grid_code": "330106001"}, ["community", "street"]),
        ({"grid_code": "330106001001"}, ["community"]),
        ({"grid_code": "33_"}, ["underscore"]),  # `_` is a literal, not "any one character"
        ({"grid_code": "33%"}, ["percent"]),  # `%` is a literal, not "anything"
        ({"grid_code": "AB"}, []),  # case-sensitive on both backends
        ({"grid_code": "9"}, []),
        ({"category_code": "0202"}, ["sibling", "community"]),
        ({"status": "verified"}, ["street"]),
        ({"camera_id": "cam-1"}, ["street", "district"]),
        (
            {"opened_from": T0 + timedelta(hours=1), "opened_to": T0 + timedelta(hours=3)},
            ["community", "street"],
        ),
        ({"opened_from": datetime(2025, 3, 1, 21, 0, tzinfo=CST)}, ["lower", "percent", "underscore"]),
        ({"opened_to": T0 + timedelta(minutes=1)}, ["district"]),
        ({"grid_code": "330106", "category_code": "0101"}, ["street", "district"]),
        ({"grid_code": "330106", "status": "closed"}, []),
    ],
)
def test_list_filters(listed_store: Store, filters: dict[str, Any], expected: list[str]) -> None:
    page, total = listed_store.incidents.search(**filters)
    assert [incident.id for incident in page] == expected
    assert total == len(expected)


def test_list_pages_newest_first_with_total(store: Store) -> None:
    # Two pairs share an opened_at, so paging must not depend on an unstable order.
    moments = [
        T0,
        T0,
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=2),
        T0 + timedelta(minutes=2),
        T0 + timedelta(minutes=3),
        T0 + timedelta(minutes=4),
    ]
    for n, moment in enumerate(moments):
        store.incidents.record(make_incident(f"inc-{n}", opened_at=moment), "incident.opened", {})
    everything, total = store.incidents.search(limit=100)
    assert total == 7
    assert [i.opened_at for i in everything] == sorted(moments, reverse=True)

    pages = [store.incidents.search(limit=3, offset=offset) for offset in (0, 3, 6, 9)]
    assert [len(page) for page, _ in pages] == [3, 3, 1, 0]
    assert {total for _, total in pages} == {7}
    assert [i.id for page, _ in pages for i in page] == [i.id for i in everything]


@pytest.mark.parametrize(
    "filters",
    [{}, {"grid_code": "330106"}, {"category_code": "0101", "include_tests": True}, {"offset": 10}],
)
def test_list_on_empty_store(store: Store, filters: dict[str, Any]) -> None:
    assert store.incidents.search(**filters) == ([], 0)


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (-1, 0), (10, -1)])
def test_list_rejects_bad_pages(store: Store, limit: int, offset: int) -> None:
    with pytest.raises(ValueError):
        store.incidents.search(limit=limit, offset=offset)


def test_open_incidents_by_camera_oldest_first(store: Store) -> None:
    store.incidents.record(make_incident("late", opened_at=T0 + timedelta(hours=1)), "incident.opened", {})
    store.incidents.record(make_incident("early", opened_at=T0), "incident.opened", {})
    store.incidents.record(make_incident("elsewhere", camera_id="cam-9"), "incident.opened", {})
    closed = make_incident("closed", closed_at=T0 + timedelta(minutes=1))
    store.incidents.record(closed, "incident.closed", {})

    assert [i.id for i in store.incidents.unclosed()] == ["early", "elsewhere", "late"]
    assert [i.id for i in store.incidents.unclosed("34020000001320000001")] == ["early", "late"]
    assert store.incidents.unclosed("cam-unknown") == []
    assert all(i.is_open for i in store.incidents.unclosed()) and not closed.is_open


# ---------------------------------------------------------------------------------------------------- messages


@pytest.fixture
def message_store(store: Store) -> Store:
    street = make_incident("inc-street", grid_code="330106001", category_code="0101")
    store.incidents.record(street, "incident.opened", {"n": 1})
    store.cameras.record(make_camera_status("cam-a"), "330106001", {"n": 2})
    store.incidents.record(
        make_incident("inc-other", grid_code="330107", category_code="0202"), "incident.opened", {"n": 3}
    )
    updated = street.model_copy(update={"updated_at": T0 + timedelta(seconds=5)})
    store.incidents.record(updated, "incident.updated", {"n": 4})
    store.cameras.record(make_camera_status("cam-unplaced"), None, {"n": 5})
    return store


@pytest.mark.parametrize(
    ("since", "options", "expected"),
    [
        (0, {}, [1, 2, 3, 4, 5]),
        (2, {}, [3, 4, 5]),
        (5, {}, []),
        (99, {}, []),
        (0, {"limit": 2}, [1, 2]),
        (0, {"grid_code": "330106"}, [1, 2, 4]),
        (2, {"grid_code": "330106"}, [4]),
        (0, {"grid_code": "33010"}, [1, 2, 3, 4]),
        (0, {"category_code": "0101"}, [1, 4]),
        (0, {"grid_code": "330106", "category_code": "0202"}, []),
        (0, {"grid_code": "3301_"}, []),
    ],
)
def test_messages_since(
    message_store: Store, since: int, options: dict[str, Any], expected: list[int]
) -> None:
    messages = message_store.push_log.since(since, **options)
    assert [m.seq for m in messages] == expected
    assert [m.data["n"] for m in messages] == expected


def test_messages_carry_what_subscribers_filter_on(message_store: Store) -> None:
    messages = message_store.push_log.since(0)
    assert [(m.type, m.camera_id, m.grid_code, m.category_code) for m in messages] == [
        ("incident.opened", "34020000001320000001", "330106001", "0101"),
        ("camera.status", "cam-a", "330106001", None),
        ("incident.opened", "34020000001320000001", "330107", "0202"),
        ("incident.updated", "34020000001320000001", "330106001", "0101"),
        ("camera.status", "cam-unplaced", None, None),
    ]


def test_messages_since_rejects_bad_limit(store: Store) -> None:
    with pytest.raises(ValueError):
        store.push_log.since(0, limit=0)


def test_latest_camera_messages_and_statuses(store: Store) -> None:
    store.cameras.record(make_camera_status("cam-b", "online", T0), "330106001", {"n": 1})
    store.cameras.record(make_camera_status("cam-a", "online", T0), "330106002", {"n": 2})
    store.incidents.record(make_incident(), "incident.opened", {"n": 3})
    latest_b = make_camera_status("cam-b", "offline", T0 + timedelta(minutes=1))
    store.cameras.record(latest_b, "330106001", {"n": 4})

    latest = store.push_log.latest_camera_messages()
    assert [(m.seq, m.camera_id, m.data["n"]) for m in latest] == [(2, "cam-a", 2), (4, "cam-b", 4)]
    assert all(m.type == "camera.status" for m in latest)
    assert store.cameras.statuses() == [make_camera_status("cam-a", "online", T0), latest_b]


# ----------------------------------------------------------------------------------------------------- restart


def test_new_store_on_same_url_sees_everything(db_url: str) -> None:
    first = Store(db_url)
    first.migrate()
    incidents = [make_incident(f"inc-{n}", opened_at=T0 + timedelta(minutes=n)) for n in range(3)]
    for incident in incidents:
        first.incidents.record(incident, "incident.opened", {"id": incident.id})
    first.cameras.record(make_camera_status("cam-a"), "330106001", {})
    messages = first.push_log.since(0)
    first.close()

    with Store(db_url) as second:
        second.migrate()
        assert second.incidents.search() == (incidents[::-1], 3)
        assert second.incidents.get("inc-1") == incidents[1]
        assert second.push_log.since(0) == messages
        assert second.cameras.statuses() == [make_camera_status("cam-a")]
        assert second.push_log.latest_camera_messages() == messages[-1:]
        assert second.push_log.last_seq() == 4
        assert second.incidents.record(make_incident(), "incident.opened", {}).seq == 5


def test_seq_never_reuses_a_deleted_key(db_url: str) -> None:
    """AUTOINCREMENT: even if the newest messages were deleted, a seq already handed out is never handed out again."""
    with Store(db_url) as store:
        store.migrate()
        for _ in range(3):
            store.incidents.record(make_incident(), "incident.opened", {})
        with store.database.engine.begin() as connection:
            connection.execute(text("DELETE FROM push_messages WHERE seq >= 2"))
        assert store.incidents.record(make_incident(), "incident.opened", {}).seq == 4


def test_an_incident_change_never_commits_unannounced(db_url: str) -> None:
    """A repository over a database nobody wired refuses the change; a hook that forgets the outbox row rolls it
    back. Either way the incident, its message and its outbox row are all absent."""
    with Store(db_url) as store:
        store.migrate()
        bare = Database(db_url)
        try:
            with pytest.raises(UnannouncedChange, match="no hook announces IncidentChange"):
                IncidentRepository(bare).record(make_incident("inc-bare"), "incident.opened", {})

            def message_only(session: Session, change: IncidentChange) -> None:
                change.message = PushLog.append(
                    session, change.message_type, change.at, None, None, None, change.message_data()
                )

            bare.on_change(IncidentChange, message_only)
            with pytest.raises(UnannouncedChange, match="got no outbox row"):
                IncidentRepository(bare).record(make_incident("inc-half"), "incident.opened", {"n": 1})
        finally:
            bare.close()
        assert store.incidents.get("inc-bare") is None and store.incidents.get("inc-half") is None
        assert store.push_log.last_seq() == 0
        with store.database.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(outbox_events)).scalar_one() == 0
        wired = store.incidents.record(make_incident("inc-wired"), "incident.opened", {})
        assert store.push_log.since(0) == [wired]  # (on PostgreSQL the rolled-back seq is not reused)
