"""The grid closed loop (采集上报 → 核实立案 → 指挥派遣 → 处置反馈 → 核查结案 → 考核评价) as a table-driven state machine.

Pure: no I/O, no clock. `TRANSITIONS` is the whole machine; everything else reads it.

```
reported ──file──────► filed ──dispatch──► dispatched ──handle──► handled ──check──► checked ──close──► closed
    │                                       ▲    │  ▲                 │                                   │
    └──reject (reason)──► rejected          │    └──┘ redispatch      │ send_back (note)                  evaluate
                                            └─────────────────────────┘                                   ▼
                                                                                                       evaluated
```

Who may take each step (`roles`): operators verify, reject, dispatch and check what their cameras see; the
department's feedback (`handle`) comes through the incident system (or an admin); evaluation (考核评价) is the
incident system's or an admin's. Viewers take no step. Each step also names the fields it needs: a rejection needs
its reason, a dispatch its target department or staff, a handling report or a send-back a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    INCIDENT_SYSTEM = "incident-system"
    VIEWER = "viewer"


class LoopStatus(StrEnum):
    REPORTED = "reported"  # 采集上报: raised by a camera, not yet looked at
    FILED = "filed"  # 核实立案: verified by an operator, a case is filed
    REJECTED = "rejected"  # a false alarm (误报), with its reason; terminal
    DISPATCHED = "dispatched"  # 指挥派遣: sent to a department or staff member
    HANDLED = "handled"  # 处置反馈: the department reports back
    CHECKED = "checked"  # 核查: the handling was verified on site / on camera
    CLOSED = "closed"  # 结案
    EVALUATED = "evaluated"  # 考核评价; terminal


class Requirement(StrEnum):
    """A field a step cannot be taken without."""

    REASON = "reason"
    TARGET = "target"  # a department or a staff member (or both)
    NOTE = "note"


@dataclass(frozen=True)
class Transition:
    action: str
    source: LoopStatus
    target: LoopStatus
    roles: frozenset[Role]
    requires: frozenset[Requirement] = frozenset()
    label: str = ""


_ANYONE_WHO_WRITES = frozenset({Role.ADMIN, Role.OPERATOR, Role.INCIDENT_SYSTEM})
_SYSTEM = frozenset({Role.ADMIN, Role.INCIDENT_SYSTEM})

TRANSITIONS: tuple[Transition, ...] = (
    Transition("file", LoopStatus.REPORTED, LoopStatus.FILED, _ANYONE_WHO_WRITES, label="核实立案"),
    Transition(
        "reject",
        LoopStatus.REPORTED,
        LoopStatus.REJECTED,
        _ANYONE_WHO_WRITES,
        frozenset({Requirement.REASON}),
        label="误报驳回",
    ),
    Transition(
        "dispatch",
        LoopStatus.FILED,
        LoopStatus.DISPATCHED,
        _ANYONE_WHO_WRITES,
        frozenset({Requirement.TARGET}),
        label="指挥派遣",
    ),
    Transition(
        "redispatch",
        LoopStatus.DISPATCHED,
        LoopStatus.DISPATCHED,
        _ANYONE_WHO_WRITES,
        frozenset({Requirement.TARGET}),
        label="改派",
    ),
    Transition(
        "handle", LoopStatus.DISPATCHED, LoopStatus.HANDLED, _SYSTEM, frozenset({Requirement.NOTE}), label="处置反馈"
    ),
    Transition("check", LoopStatus.HANDLED, LoopStatus.CHECKED, _ANYONE_WHO_WRITES, label="核查"),
    Transition(
        "send_back",
        LoopStatus.HANDLED,
        LoopStatus.DISPATCHED,
        _ANYONE_WHO_WRITES,
        frozenset({Requirement.NOTE}),
        label="核查不通过, 退回重办",
    ),
    Transition("close", LoopStatus.CHECKED, LoopStatus.CLOSED, _ANYONE_WHO_WRITES, label="结案"),
    Transition("evaluate", LoopStatus.CLOSED, LoopStatus.EVALUATED, _SYSTEM, label="考核评价"),
)

_BY_STEP: Mapping[tuple[LoopStatus, LoopStatus], Transition] = {(t.source, t.target): t for t in TRANSITIONS}

TERMINAL: frozenset[LoopStatus] = frozenset(
    s for s in LoopStatus if not any(t.source is s for t in TRANSITIONS)
)
RESOLVED: frozenset[LoopStatus] = frozenset(
    {LoopStatus.REJECTED, LoopStatus.HANDLED, LoopStatus.CHECKED, LoopStatus.CLOSED, LoopStatus.EVALUATED}
)
"""Statuses past the handling deadline's reach: the department reported back, or the alarm was false.
The deadline clock (and so the traffic light) stops when an incident first reaches one of them."""

OPEN311_CLOSED: frozenset[LoopStatus] = frozenset({LoopStatus.REJECTED, LoopStatus.CLOSED, LoopStatus.EVALUATED})
"""Statuses an outside system sees as `closed` (Open311): the case is finished."""

WRITING_ROLES: frozenset[Role] = frozenset(role for t in TRANSITIONS for role in t.roles)


class TransitionError(Exception):
    """A step that cannot be taken; `allowed` lists the statuses reachable from `current`."""

    def __init__(self, message: str, current: str, allowed: list[str]) -> None:
        super().__init__(message)
        self.current = current
        self.allowed = allowed


class IllegalTransition(TransitionError):
    """No such step from the current status (HTTP 409)."""


class RoleNotAllowed(TransitionError):
    """The step exists but this role may not take it (HTTP 403)."""


class MissingFields(ValueError):
    """The step needs fields that were not given (HTTP 422)."""

    def __init__(self, transition: Transition, missing: list[Requirement]) -> None:
        names = ", ".join(m.value for m in missing)
        super().__init__(f"{transition.action} ({transition.source} → {transition.target}) needs: {names}")
        self.missing = missing


def parse_status(value: str) -> LoopStatus | None:
    try:
        return LoopStatus(value)
    except ValueError:
        return None


def next_statuses(current: str, role: Role | None = None) -> list[str]:
    """The statuses reachable from `current` in one step (by `role`, when given), in table order."""
    status = parse_status(current)
    return [
        t.target.value
        for t in TRANSITIONS
        if t.source is status and (role is None or role in t.roles)
    ]


def plan(
    current: str,
    target: str,
    role: Role,
    *,
    reason: str | None = None,
    department: str | None = None,
    staff: str | None = None,
    note: str | None = None,
) -> Transition:
    """The transition `current → target` by `role`, with what it needs given; otherwise the reason it is refused.

    Raises IllegalTransition (no such step), RoleNotAllowed (not this role's step), MissingFields.
    """
    allowed = next_statuses(current)
    source, goal = parse_status(current), parse_status(target)
    transition = _BY_STEP.get((source, goal)) if source is not None and goal is not None else None
    if transition is None:
        raise IllegalTransition(f"no step from {current!r} to {target!r}", current, allowed)
    if role not in transition.roles:
        raise RoleNotAllowed(
            f"a {role.value} may not {transition.action} ({current} → {target})",
            current,
            next_statuses(current, role),
        )
    given = {
        Requirement.REASON: bool(reason and reason.strip()),
        Requirement.TARGET: bool((department and department.strip()) or (staff and staff.strip())),
        Requirement.NOTE: bool(note and note.strip()),
    }
    missing = sorted((r for r in transition.requires if not given[r]), key=lambda r: r.value)
    if missing:
        raise MissingFields(transition, missing)
    return transition
