"""The closed loop in the store, on SQLite and PostgreSQL: steps with their history and messages, the pipeline never
undoing a step, overdue notices once, the numbers behind /stats, and the 0002 migration."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select

from models.config import GridConfig
from models.db import IncidentTransitionRow, PushMessageRow, alembic_config
from models.grid import GridTree
from models.incident import IncidentTransition, MessageType
from models.lifecycle import IllegalTransition, MissingFields, Role, RoleNotAllowed
from models.repositories.incidents import UnknownIncident
from models.stats import stats_view
from models.store import Store
from models.views import incident_view, transition_message_view
from tests.conftest import demo_raw_config
from tests.models.test_store import make_incident

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
OPERATOR, SYSTEM, ADMIN = Role.OPERATOR, Role.INCIDENT_SYSTEM, Role.ADMIN


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def step(store: Store, incident_id: str, target: str, role: Role = ADMIN, minutes: float = 1, **fields: Any):  # type: ignore[no-untyped-def]
    return store.incidents.record_transition(
        incident_id, target, actor=f"{role.value}-1", role=role, at=at(minutes), payload=transition_message_view,
        **fields,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tree() -> GridTree:
    """The demo grid: 西湖区 → 北山街道 (宝石山社区: two grids), 灵隐街道 (玉泉社区: one grid)."""
    return GridConfig.model_validate(demo_raw_config()["grid"]).tree()


def counts(store: Store, table: Any) -> int:
    with store.database.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_new_incident_has_an_empty_history(store: Store) -> None:
    incident = make_incident("inc-1")
    store.incidents.record(incident, "incident.opened", incident_view)

    assert store.incidents.transitions("inc-1") == []
    assert store.incidents.transitions("no-such-incident") == []
    stored = store.incidents.get("inc-1")
    assert stored is not None and stored.status == "reported"
    assert (stored.status_changed_at, stored.resolved_at, stored.assignee_department) == (None, None, None)


def test_a_step_updates_the_incident_records_history_and_a_message(store: Store) -> None:
    store.incidents.record(make_incident("inc-1"), "incident.opened", incident_view)

    filed = step(store, "inc-1", "filed", OPERATOR, 3, note="核实属实", attachments=["https://x.example/a.jpg"])
    dispatched = step(store, "inc-1", "dispatched", OPERATOR, 5, department="北山派出所", staff="张警官")

    assert (filed.message.seq, dispatched.message.seq) == (2, 3)
    assert filed.transition == IncidentTransition(
        incident_id="inc-1", seq=2, at=at(3), action="file", from_status="reported", to_status="filed",
        actor="operator-1", actor_role="operator", note="核实属实", attachments=["https://x.example/a.jpg"],
    )  # fmt: skip
    assert store.incidents.transitions("inc-1") == [filed.transition, dispatched.transition]
    stored = store.incidents.get("inc-1")
    assert stored == dispatched.incident
    assert stored is not None
    assert (stored.status, stored.status_changed_at, stored.resolved_at) == ("dispatched", at(5), None)
    assert (stored.assignee_department, stored.assignee_staff) == ("北山派出所", "张警官")
    message = store.push_log.since(2)[0]
    assert (message.type, message.at, message.grid_code) == ("incident.transition", at(5), stored.grid_code)
    assert message.data["status"] == "dispatched"
    assert message.data["transition"]["action"] == "dispatch"
    assert message.data["transition"]["department"] == "北山派出所"


def test_resolved_at_is_the_first_resolution(store: Store) -> None:
    store.incidents.record(make_incident("inc-1"), "incident.opened", {})
    for n, (target, fields) in enumerate(
        [("filed", {}), ("dispatched", {"department": "d"}), ("handled", {"note": "done"}),
         ("dispatched", {"note": "not done", "staff": "s"}), ("handled", {"note": "now done"})]  # fmt: skip
    ):
        step(store, "inc-1", target, ADMIN, n + 1, **fields)

    stored = store.incidents.get("inc-1")
    assert stored is not None
    assert (stored.status, stored.resolved_at) == ("handled", at(3))  # sent back at 4, handled again at 5
    assert (stored.assignee_department, stored.assignee_staff) == (None, "s")  # the latest dispatch target


def test_the_pipeline_never_undoes_a_step(store: Store) -> None:
    """The camera keeps updating the incident (peaks, the situation's end): status and assignee stay the loop's."""
    opened = make_incident("inc-1", peak_count=7)
    store.incidents.record(opened, "incident.opened", incident_view)
    step(store, "inc-1", "filed", OPERATOR, 1)
    step(store, "inc-1", "dispatched", OPERATOR, 2, department="北山派出所")

    # the pipeline's copy still says reported, with no assignee
    updated = opened.model_copy(update={"updated_at": at(4), "peak_count": 15})
    closed = updated.model_copy(update={"updated_at": at(9), "closed_at": at(9)})
    store.incidents.record(updated, "incident.updated", incident_view)
    message = store.incidents.record(closed, "incident.closed", incident_view)

    stored = store.incidents.get("inc-1")
    assert stored is not None
    assert (stored.status, stored.assignee_department, stored.status_changed_at) == ("dispatched", "北山派出所", at(2))
    assert (stored.peak_count, stored.closed_at, stored.updated_at) == (15, at(9), at(9))  # the pipeline's part
    # the message is built from the incident as stored
    assert (message.data["status"], message.data["assignee_department"]) == ("dispatched", "北山派出所")
    assert message.data["closed_at"] == "2025-03-01T08:09:00Z"


def test_a_new_incident_is_inserted_as_given(store: Store) -> None:
    store.incidents.record(make_incident("inc-1", status="filed"), "incident.opened", {})

    stored = store.incidents.get("inc-1")
    assert stored is not None and stored.status == "filed"


@pytest.mark.parametrize(
    ("target", "role", "fields", "error"),
    [
        ("closed", ADMIN, {}, IllegalTransition),
        ("rejected", OPERATOR, {}, MissingFields),
        ("handled", OPERATOR, {"note": "x"}, IllegalTransition),
        ("filed", Role.VIEWER, {}, RoleNotAllowed),
    ],
)
def test_a_refused_step_writes_nothing(
    store: Store, target: str, role: Role, fields: dict[str, Any], error: type[Exception]
) -> None:
    store.incidents.record(make_incident("inc-1"), "incident.opened", {})

    with pytest.raises(error):
        step(store, "inc-1", target, role, **fields)

    assert store.incidents.get("inc-1") == make_incident("inc-1")
    assert store.incidents.transitions("inc-1") == []
    assert store.push_log.last_seq() == 1
    assert step(store, "inc-1", "filed").message.seq == 2  # no seq was used up


def test_a_step_on_an_unknown_incident(store: Store) -> None:
    with pytest.raises(UnknownIncident):
        step(store, "nope", "filed")
    assert store.push_log.last_seq() == 0


def test_two_operators_filing_at_once_one_wins(store: Store) -> None:
    """The step is checked inside the write transaction, so the second finds the incident already filed."""
    store.incidents.record(make_incident("inc-1"), "incident.opened", {})
    results: list[str] = []
    barrier = threading.Barrier(4)

    def operator(n: int) -> None:
        barrier.wait()
        try:
            step(store, "inc-1", "filed", OPERATOR, n)
            results.append("filed")
        except IllegalTransition as refused:
            results.append(f"refused, allowed {refused.allowed}")

    threads = [threading.Thread(target=operator, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == ["filed"] + ["refused, allowed ['dispatched']"] * 3
    assert len(store.incidents.transitions("inc-1")) == 1


# ------------------------------------------------------------------------------------------------ overdue


def overdue_view(now: datetime):  # type: ignore[no-untyped-def]
    return lambda incident: incident_view(incident, now)


def test_overdue_is_flagged_once_and_never_for_resolved_or_test_incidents(store: Store) -> None:
    # deadlines 2 h after opening (make_incident)
    store.incidents.record(make_incident("late", opened_at=at(0)), "incident.opened", {})
    store.incidents.record(make_incident("later", opened_at=at(30)), "incident.opened", {})
    store.incidents.record(make_incident("drill", opened_at=at(0), is_test=True), "incident.opened", {})
    store.incidents.record(make_incident("false-alarm", opened_at=at(0)), "incident.opened", {})
    step(store, "false-alarm", "rejected", OPERATOR, 5, reason="误报")

    assert store.incidents.overdue_ids(at(119)) == []
    assert store.incidents.overdue_ids(at(120)) == ["late"]
    assert store.incidents.overdue_ids(at(200)) == ["late", "later"]

    message = store.incidents.record_overdue("late", at(120), overdue_view(at(120)))
    assert message is not None
    assert (message.type, message.at, message.data["id"]) == ("incident.overdue", at(120), "late")
    assert (message.data["overdue"], message.data["light"]) == (True, "red")
    assert store.incidents.record_overdue("late", at(130), overdue_view(at(130))) is None  # once
    assert store.incidents.record_overdue("later", at(130), overdue_view(at(130))) is None  # not due yet
    assert store.incidents.record_overdue("false-alarm", at(300), overdue_view(at(300))) is None
    assert store.incidents.record_overdue("nope", at(300), overdue_view(at(300))) is None
    assert store.incidents.overdue_ids(at(200)) == ["later"]
    assert [m.type for m in store.push_log.since(0)].count(MessageType.INCIDENT_OVERDUE.value) == 1


# -------------------------------------------------------------------------------------------------- stats

# id: (grid cell, camera, rule, category, steps taken (status, minutes after opening))
STATS_SET: dict[str, tuple[str, str, str, str, list[tuple[str, float]]]] = {
    "a": ("330106001001001", "cam-1", "crowd", "crowd_gathering", [("filed", 10), ("dispatched", 20)]),
    "b": ("330106001001001", "cam-1", "crowd", "crowd_gathering", [("rejected", 4)]),
    "c": ("330106001001002", "cam-2", "fire_smoke", "fire_hazard", [("filed", 2), ("dispatched", 4),
                                                                     ("handled", 30)]),
    "d": ("330106001001002", "cam-2", "fire_smoke", "fire_hazard", []),
    "e": ("330106002001001", "cam-3", "crowd", "crowd_gathering", [("rejected", 6)]),
    "f": ("330106002001001", "cam-3", "crowd", "crowd_gathering", [("filed", 20)]),
}  # fmt: skip
NEEDS = {"filed": {}, "rejected": {"reason": "误报"}, "dispatched": {"department": "d"}, "handled": {"note": "ok"}}


@pytest.fixture
def stats_store(store: Store) -> Store:
    """STATS_SET, each opened at T0 (time limit 2 h), plus a test incident that must never count."""
    for incident_id, (grid_code, camera, rule, category, steps) in STATS_SET.items():
        store.incidents.record(
            make_incident(incident_id, grid_code=grid_code, camera_id=camera, rule=rule, category_code=category),
            "incident.opened",
            {},
        )
        for status, minutes in steps:
            step(store, incident_id, status, ADMIN, minutes, **NEEDS[status])
    drill = make_incident("drill", grid_code="330106001001001", camera_id="cam-1", is_test=True)
    store.incidents.record(drill, "incident.opened", {})
    step(store, "drill", "rejected", ADMIN, 1, reason="演练")
    return store


def test_stats_numbers(stats_store: Store, tree: GridTree) -> None:
    # at 08:30 c is handled (in time), a, d, f are unresolved and overdue; b and e were rejected in time
    counts = stats_store.stats.incident_counts(at(150))
    view = stats_view(counts, tree, "330106")

    assert view["total"] == 6
    assert [(row["code"], row["incidents"]) for row in view["by_grid"]] == [
        ("330106", 6), ("330106001", 4), ("330106001001", 4), ("330106001001001", 2), ("330106001001002", 2),
        ("330106002", 2), ("330106002001", 2), ("330106002001001", 2),
    ]  # fmt: skip
    assert view["by_category"] == {"crowd_gathering": 4, "fire_hazard": 2}
    assert view["by_status"] == {"dispatched": 1, "filed": 1, "handled": 1, "rejected": 2, "reported": 1}
    assert view["overdue"] == 3  # a, d, f
    assert view["false_alarms"] == {"rejected": 2, "decided": 5, "rate": 0.4}
    assert view["false_alarms_by_camera_rule"] == [
        {"camera_id": "cam-1", "rule": "crowd", "rejected": 1, "decided": 2, "rate": 0.5},
        {"camera_id": "cam-2", "rule": "fire_smoke", "rejected": 0, "decided": 1, "rate": 0.0},
        {"camera_id": "cam-3", "rule": "crowd", "rejected": 1, "decided": 2, "rate": 0.5},
    ]
    assert view["mean_seconds_to"] == {
        "filed": (10 + 2 + 20) / 3 * 60,
        "rejected": (4 + 6) / 2 * 60,
        "dispatched": (20 + 4) / 2 * 60,
        "handled": 30 * 60.0,
        "checked": None,
        "closed": None,
        "evaluated": None,
    }


@pytest.mark.parametrize(
    ("grid_code", "opened_to", "total", "rejected", "decided"),
    [
        ("330106001", None, 4, 1, 3),
        ("330106002", None, 2, 1, 2),
        ("330106001001002", None, 2, 0, 1),
        ("330107", None, 0, 0, 0),
        (None, T0, 0, 0, 0),  # opened_to is exclusive: nothing opened before T0
    ],
)
def test_stats_filters(
    stats_store: Store, grid_code: str | None, opened_to: datetime | None, total: int, rejected: int, decided: int
) -> None:
    counts = stats_store.stats.incident_counts(at(150), grid_code=grid_code, opened_to=opened_to)

    assert counts.total == total
    assert sum(one.rejected for one in counts.false_alarms) == rejected
    assert sum(one.decided for one in counts.false_alarms) == decided


def test_stats_on_an_empty_store(store: Store, tree: GridTree) -> None:
    view = stats_view(store.stats.incident_counts(T0), tree, "330106")

    assert view["total"] == 0 and view["overdue"] == 0
    assert view["false_alarms"] == {"rejected": 0, "decided": 0, "rate": None}
    assert view["false_alarms_by_camera_rule"] == []
    assert set(view["mean_seconds_to"].values()) == {None}
    assert {row["incidents"] for row in view["by_grid"]} == {0}


# --------------------------------------------------------------------------------------------- migrations


def test_downgrade_to_0001_and_back_keeps_incidents(store: Store) -> None:
    incident = make_incident("inc-1")
    store.incidents.record(incident, "incident.opened", {})
    step(store, "inc-1", "filed")

    with store.database.engine.begin() as connection:
        command.downgrade(alembic_config(connection=connection), "0001_initial")
    store.migrate()

    stored = store.incidents.get("inc-1")
    assert stored is not None
    assert stored.status == "filed"  # a 0001 column
    assert stored.status_changed_at is None  # 0002's column came back empty
    assert store.incidents.transitions("inc-1") == []
    assert counts(store, PushMessageRow) == 2
    assert counts(store, IncidentTransitionRow) == 0
