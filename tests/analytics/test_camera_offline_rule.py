import pytest

from analytics.events import EventPhase
from analytics.rules.camera_offline_rule import CameraOfflineRule
from ingest.health import CameraHealth, CameraState
from models.config import CameraOfflineRuleConfig
from tests.analytics.helpers import observe

ON, OFF, STALL, CONN = CameraState.ONLINE, CameraState.OFFLINE, CameraState.STALLED, CameraState.CONNECTING


def run(states, open_after_s=3.0):
    rule = CameraOfflineRule(CameraOfflineRuleConfig(open_after_s=open_after_s))
    out = []
    for t, state in enumerate(states):
        health = CameraHealth("cam-1", state, since=float(t))
        event = rule.observe(observe(float(t), health=health, with_frame=state is ON))
        if event is not None:
            out.append((t, event.phase))
    return out


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([], []),
        ([ON, ON, ON], []),
        ([ON, OFF, OFF, OFF], []),  # down 2 s < 3 s
        ([ON, OFF, OFF, OFF, OFF], [(4, EventPhase.OPENED)]),
        ([ON, STALL, STALL, STALL, STALL, ON], [(4, EventPhase.OPENED), (5, EventPhase.CLOSED)]),
        # Reconnect attempts (connecting/offline flapping) do not restart the clock.
        ([ON, OFF, CONN, OFF, CONN, OFF], [(4, EventPhase.OPENED)]),
        ([CONN, CONN, CONN, CONN], [(3, EventPhase.OPENED)]),  # never came up
        ([ON, OFF, OFF, ON, OFF, OFF, ON], []),  # short blips never open
    ],
)
def test_offline_rule(states, expected):
    assert run(states) == expected


def test_magnitude_is_minutes_down():
    rule = CameraOfflineRule(CameraOfflineRuleConfig(open_after_s=120))
    rule.observe(observe(0.0, health=CameraHealth("cam-1", OFF, 0.0), with_frame=False))
    event = rule.observe(observe(180.0, health=CameraHealth("cam-1", OFF, 0.0), with_frame=False))
    assert event is not None and event.magnitude == pytest.approx(3.0)
