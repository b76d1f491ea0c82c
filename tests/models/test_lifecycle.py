"""The closed loop's state machine: pure, table-driven (models/lifecycle.py)."""

from __future__ import annotations

import pytest

from models.lifecycle import (
    TERMINAL,
    TRANSITIONS,
    WRITING_ROLES,
    IllegalTransition,
    LoopStatus,
    MissingFields,
    Requirement,
    Role,
    RoleNotAllowed,
    next_statuses,
    plan,
)

ADMIN, OPERATOR, SYSTEM, VIEWER = Role.ADMIN, Role.OPERATOR, Role.INCIDENT_SYSTEM, Role.VIEWER
# what each step needs, given
NEEDS = {"reason": "画面中为施工人员, 非聚集", "department": "西湖区公安分局", "note": "已处置完毕"}


@pytest.mark.parametrize(
    ("source", "target", "role", "action"),
    [
        ("reported", "filed", OPERATOR, "file"),
        ("reported", "filed", ADMIN, "file"),
        ("reported", "filed", SYSTEM, "file"),
        ("reported", "rejected", OPERATOR, "reject"),
        ("filed", "dispatched", OPERATOR, "dispatch"),
        ("dispatched", "dispatched", OPERATOR, "redispatch"),
        ("dispatched", "handled", SYSTEM, "handle"),
        ("dispatched", "handled", ADMIN, "handle"),
        ("handled", "checked", OPERATOR, "check"),
        ("handled", "dispatched", OPERATOR, "send_back"),
        ("checked", "closed", OPERATOR, "close"),
        ("closed", "evaluated", SYSTEM, "evaluate"),
        ("closed", "evaluated", ADMIN, "evaluate"),
    ],
)
def test_legal_transitions(source: str, target: str, role: Role, action: str) -> None:
    step = plan(source, target, role, **NEEDS)

    assert (step.action, step.source.value, step.target.value) == (action, source, target)


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        ("reported", "closed", ["filed", "rejected"]),
        ("reported", "reported", ["filed", "rejected"]),
        ("reported", "dispatched", ["filed", "rejected"]),
        ("filed", "rejected", ["dispatched"]),  # once filed, it is no longer a false alarm to reject
        ("filed", "filed", ["dispatched"]),
        ("dispatched", "closed", ["dispatched", "handled"]),
        ("handled", "closed", ["checked", "dispatched"]),
        ("checked", "evaluated", ["closed"]),
        ("closed", "reported", ["evaluated"]),
        ("rejected", "filed", []),  # terminal
        ("evaluated", "closed", []),  # terminal
        ("verified", "filed", []),  # not a status of the loop
        ("", "filed", []),
        ("reported", "", ["filed", "rejected"]),
        ("reported", "nonsense", ["filed", "rejected"]),
    ],
)
def test_illegal_transitions_name_the_allowed_ones(source: str, target: str, allowed: list[str]) -> None:
    with pytest.raises(IllegalTransition) as caught:
        plan(source, target, ADMIN, **NEEDS)

    assert caught.value.current == source
    assert caught.value.allowed == allowed


@pytest.mark.parametrize(
    ("source", "target", "role", "allowed_for_role"),
    [
        ("reported", "filed", VIEWER, []),
        ("reported", "rejected", VIEWER, []),
        ("dispatched", "handled", OPERATOR, ["dispatched"]),  # the department's feedback is not the operator's
        ("closed", "evaluated", OPERATOR, []),
        ("handled", "checked", VIEWER, []),
    ],
)
def test_role_checks(source: str, target: str, role: Role, allowed_for_role: list[str]) -> None:
    with pytest.raises(RoleNotAllowed) as caught:
        plan(source, target, role, **NEEDS)

    assert caught.value.allowed == allowed_for_role


@pytest.mark.parametrize(
    ("source", "target", "given", "missing"),
    [
        ("reported", "rejected", {}, [Requirement.REASON]),
        ("reported", "rejected", {"reason": "   "}, [Requirement.REASON]),
        ("reported", "rejected", {"note": "a note is not a reason"}, [Requirement.REASON]),
        ("filed", "dispatched", {}, [Requirement.TARGET]),
        ("filed", "dispatched", {"department": " "}, [Requirement.TARGET]),
        ("dispatched", "dispatched", {}, [Requirement.TARGET]),
        ("dispatched", "handled", {}, [Requirement.NOTE]),
        ("handled", "dispatched", {"department": "x"}, [Requirement.NOTE]),
    ],
)
def test_steps_need_their_fields(source: str, target: str, given: dict[str, str], missing: list[Requirement]) -> None:
    with pytest.raises(MissingFields) as caught:
        plan(source, target, ADMIN, **given)

    assert caught.value.missing == missing


@pytest.mark.parametrize("given", [{"department": "消防大队"}, {"staff": "王芳"}, {"department": "a", "staff": "b"}])
def test_dispatch_takes_a_department_or_staff(given: dict[str, str]) -> None:
    assert plan("filed", "dispatched", OPERATOR, **given).action == "dispatch"


@pytest.mark.parametrize(
    ("status", "role", "expected"),
    [
        ("reported", None, ["filed", "rejected"]),
        ("reported", VIEWER, []),
        ("dispatched", None, ["dispatched", "handled"]),
        ("dispatched", OPERATOR, ["dispatched"]),
        ("dispatched", SYSTEM, ["dispatched", "handled"]),
        ("closed", OPERATOR, []),
        ("rejected", None, []),
        ("evaluated", ADMIN, []),
        ("", None, []),
        ("unknown", ADMIN, []),
    ],
)
def test_next_statuses(status: str, role: Role | None, expected: list[str]) -> None:
    assert next_statuses(status, role) == expected


def test_table_shape() -> None:
    # rejected and evaluated end the loop; every other status has a way on
    assert {LoopStatus.REJECTED, LoopStatus.EVALUATED} == TERMINAL
    # every status is reachable from reported
    reached, frontier = {LoopStatus.REPORTED}, [LoopStatus.REPORTED]
    while frontier:
        status = frontier.pop()
        for step in TRANSITIONS:
            if step.source is status and step.target not in reached:
                reached.add(step.target)
                frontier.append(step.target)
    assert reached == set(LoopStatus)
    # one step per (source, target), one name per step
    assert len({(t.source, t.target) for t in TRANSITIONS}) == len(TRANSITIONS)
    assert len({t.action for t in TRANSITIONS}) == len(TRANSITIONS)
    # a viewer takes no step; the admin may take every step
    assert VIEWER not in WRITING_ROLES
    assert all(ADMIN in t.roles for t in TRANSITIONS)
