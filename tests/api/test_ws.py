"""The websocket `/ws`: backlog, live push through the broker, filters, resume, bad subscriptions, slow clients.

The feed writes into the API's store and publishes through the broker the app's hub listens to, as camera
pipelines do; nothing reaches into the app's state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.ws import REPLAY_PAGE
from ingest.health import CameraState
from models.clock import ManualClock
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.api.access import bearer
from tests.api.camera_feed import (
    CAM_FIRE_LANE,
    CAM_WALKWAY,
    CAM_YUQUAN,
    CELL_FIRE_LANE,
    CELL_WALKWAY,
    CELL_YUQUAN,
    DISTRICT,
    STREET_BEISHAN,
    STREET_LINGYIN,
    T0,
    CameraFeed,
    demo_config,
    minutes,
)
from tests.api.live_client import (
    HOLD_HEADER,
    HeldTransport,
    assert_quiet,
    close_code,
    messages,
    next_message,
    seqs,
)

ONLINE, OFFLINE, CONNECTING = CameraState.ONLINE, CameraState.OFFLINE, CameraState.CONNECTING

# One round of what the pipelines write, one message each, labelled camera.what.
ROUND: list[tuple[str, Callable[[CameraFeed, datetime], object]]] = [
    ("walkway.status", lambda feed, at: feed.camera_status(CAM_WALKWAY, ONLINE, at)),
    ("fire_lane.status", lambda feed, at: feed.camera_status(CAM_FIRE_LANE, ONLINE, at)),
    ("yuquan.status", lambda feed, at: feed.camera_status(CAM_YUQUAN, ONLINE, at)),
    ("walkway.crowd", lambda feed, at: feed.open_incident(CAM_WALKWAY, "crowd", at, magnitude=7, count=7)),
    ("fire_lane.fire", lambda feed, at: feed.open_incident(CAM_FIRE_LANE, "fire_smoke", at, magnitude=2)),
    ("yuquan.crowd", lambda feed, at: feed.open_incident(CAM_YUQUAN, "crowd", at, magnitude=30, count=30)),
    ("walkway.fault", lambda feed, at: feed.open_incident(CAM_WALKWAY, "camera_offline", at, magnitude=1)),
]
ALL = [label for label, _ in ROUND]


def write_round(feed: CameraFeed, at: datetime) -> dict[int, str]:
    """Write one ROUND; the label of each new message by seq."""
    labels = {}
    for label, write in ROUND:
        write(feed, at)
        labels[feed.last_seq] = label
    return labels


def ws_path(**query: object) -> str:
    return "/ws" + (f"?{urlencode(query)}" if query else "")


def assert_strictly_increasing(received: list[dict[str, Any]]) -> None:
    numbers = seqs(received)
    assert all(a < b for a, b in zip(numbers, numbers[1:], strict=False)), numbers


# ------------------------------------------------------------------------------------------- fresh clients


@pytest.mark.parametrize(
    ("query", "reports", "expected"),
    [
        ({}, [], []),
        ({}, [(CAM_WALKWAY, CONNECTING)], [(CAM_WALKWAY, "connecting", 1)]),
        # only each camera's latest status, in seq order, with the seq it was recorded under
        (
            {},
            [
                (CAM_WALKWAY, CONNECTING),
                (CAM_FIRE_LANE, OFFLINE),
                (CAM_WALKWAY, ONLINE),
                (CAM_YUQUAN, ONLINE),
            ],
            [(CAM_FIRE_LANE, "offline", 2), (CAM_WALKWAY, "online", 3), (CAM_YUQUAN, "online", 4)],
        ),
        (
            {"grid": STREET_LINGYIN},
            [(CAM_WALKWAY, ONLINE), (CAM_FIRE_LANE, OFFLINE), (CAM_YUQUAN, ONLINE)],
            [(CAM_YUQUAN, "online", 3)],
        ),
        (
            {"grid": STREET_BEISHAN},
            [(CAM_WALKWAY, ONLINE), (CAM_FIRE_LANE, OFFLINE), (CAM_YUQUAN, ONLINE)],
            [(CAM_WALKWAY, "online", 1), (CAM_FIRE_LANE, "offline", 2)],
        ),
        # a category subscription leaves camera.status out
        ({"category": "crowd_gathering"}, [(CAM_WALKWAY, ONLINE), (CAM_YUQUAN, OFFLINE)], []),
    ],
)
def test_fresh_client_gets_latest_camera_statuses_then_live(
    client: TestClient,
    feed: CameraFeed,
    query: dict[str, str],
    reports: list[tuple[str, CameraState]],
    expected: list[tuple[str, str, int]],
) -> None:
    for i, (camera_id, state) in enumerate(reports):
        feed.camera_status(camera_id, state, minutes(i))
    # a crowd in each street before connecting: not sent to a fresh client
    feed.open_incident(CAM_YUQUAN, "crowd", minutes(9), magnitude=9, count=9)
    feed.open_incident(CAM_WALKWAY, "crowd", minutes(9), magnitude=9, count=9)

    with client.websocket_connect(ws_path(**query)) as ws:
        backlog = messages(ws, len(expected))
        camera_id = CAM_YUQUAN if query.get("grid") == STREET_LINGYIN else CAM_WALKWAY
        incident = feed.open_incident(camera_id, "crowd", minutes(10), magnitude=9, count=9)
        live = next_message(ws)
        assert_quiet(ws)

    assert [(m["data"]["camera_id"], m["data"]["state"], m["seq"]) for m in backlog] == expected
    assert all(m["type"] == "camera.status" for m in backlog)
    assert (live["seq"], live["type"], live["data"]["id"]) == (feed.last_seq, "incident.opened", incident.id)
    assert_strictly_increasing(backlog + [live])


def test_message_shape(client: TestClient, feed: CameraFeed) -> None:
    with client.websocket_connect("/ws") as ws:
        status = feed.camera_status(CAM_FIRE_LANE, OFFLINE, minutes(1), last_error="read timed out")
        incident = feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(2), magnitude=6, snapshot=True)
        first, second = messages(ws, 2)

    assert first == {
        "seq": status.seq,
        "type": "camera.status",
        "at": "2026-03-01T08:01:00+00:00",
        "data": {
            "camera_id": CAM_FIRE_LANE,
            "name": "宝石山仓库消防通道",
            "grid_code": CELL_FIRE_LANE,
            "state": "offline",
            "since": "2026-03-01T08:01:00Z",
            "last_error": "read timed out",
            "updated_at": "2026-03-01T08:01:00Z",
            "frames_decoded": 120,
            "frames_dropped": 3,
            "analysed_fps": None,
        },
    }
    assert (second["type"], second["data"]["id"], second["data"]["severity"]) == (
        "incident.opened",
        incident.id,
        "A",
    )
    assert second["data"]["snapshot_url"] == f"/incidents/{incident.id}/snapshot"
    assert "snapshot_path" not in second["data"]


def test_message_committed_right_after_the_accept_is_delivered(tmp_path: Path) -> None:
    """The server is held just after accepting; what the pipelines commit then is still delivered."""
    config = demo_config(tmp_path)
    broker = LocalBroker()
    held = HeldTransport(create_app(config, run_cameras=False, broker=broker, clock=ManualClock(T0)), pause="after_accept")
    with Store(config.store.url.get_secret_value()) as store, TestClient(held, headers=bearer(config, "admin", T0)) as client:
        feed = CameraFeed(config, PushJournal(store, broker))
        with client.websocket_connect("/ws", headers=dict([HOLD_HEADER])) as ws:
            incident = feed.open_incident(CAM_WALKWAY, "crowd", minutes(0), magnitude=7, count=7)
            held.release()
            message = next_message(ws)
            assert_quiet(ws)

    assert (message["seq"], message["data"]["id"]) == (1, incident.id)


# ------------------------------------------------------------------------------------------------ filters

FILTER_CASES = [
    ({}, ALL),
    ({"grid": DISTRICT}, ALL),
    ({"grid": STREET_BEISHAN}, [label for label in ALL if not label.startswith("yuquan.")]),
    ({"grid": CELL_WALKWAY}, ["walkway.status", "walkway.crowd", "walkway.fault"]),
    ({"grid": CELL_FIRE_LANE}, ["fire_lane.status", "fire_lane.fire"]),
    ({"grid": STREET_LINGYIN}, ["yuquan.status", "yuquan.crowd"]),
    ({"grid": CELL_YUQUAN}, ["yuquan.status", "yuquan.crowd"]),
    ({"category": "crowd_gathering"}, ["walkway.crowd", "yuquan.crowd"]),
    ({"category": "fire_hazard"}, ["fire_lane.fire"]),
    ({"category": "camera_fault"}, ["walkway.fault"]),
    ({"grid": STREET_BEISHAN, "category": "crowd_gathering"}, ["walkway.crowd"]),
    ({"grid": CELL_FIRE_LANE, "category": "crowd_gathering"}, []),
]


@pytest.mark.parametrize(("query", "expected"), FILTER_CASES)
def test_filters_apply_to_live_messages(
    client: TestClient, feed: CameraFeed, query: dict[str, str], expected: list[str]
) -> None:
    with client.websocket_connect(ws_path(**query)) as ws:
        labels = write_round(feed, minutes(0))
        received = messages(ws, len(expected))
        assert_quiet(ws)

    assert [labels[m["seq"]] for m in received] == expected
    assert_strictly_increasing(received)


@pytest.mark.parametrize(("query", "expected"), FILTER_CASES)
def test_filters_apply_to_replay_then_live(
    client: TestClient, feed: CameraFeed, query: dict[str, str], expected: list[str]
) -> None:
    labels = write_round(feed, minutes(0))
    with client.websocket_connect(ws_path(after=0, **query)) as ws:
        replayed = messages(ws, len(expected))
        labels |= write_round(feed, minutes(10))
        live = messages(ws, len(expected))
        assert_quiet(ws)

    assert [labels[m["seq"]] for m in replayed] == expected
    assert [labels[m["seq"]] for m in live] == expected
    assert_strictly_increasing(replayed + live)
    assert all(m["seq"] > len(ROUND) for m in live)


# ------------------------------------------------------------------------------------------------- resume


# after beyond the log (10 * len(ROUND)): only seqs above it are sent, as specified; the next round is below it
@pytest.mark.parametrize("after", [0, 1, 4, len(ROUND), 10 * len(ROUND)])
def test_after_replays_every_later_message_then_live(
    client: TestClient, feed: CameraFeed, after: int
) -> None:
    write_round(feed, minutes(0))
    with client.websocket_connect(ws_path(after=after)) as ws:
        replayed = messages(ws, max(0, len(ROUND) - after))
        write_round(feed, minutes(10))
        live = messages(ws, 2 * len(ROUND) - max(after, len(ROUND)))
        assert_quiet(ws)

    assert seqs(replayed + live) == list(range(after + 1, 2 * len(ROUND) + 1))


def test_after_on_an_empty_log(client: TestClient, feed: CameraFeed) -> None:
    with client.websocket_connect(ws_path(after=0)) as ws:
        assert_quiet(ws)
        feed.camera_status(CAM_WALKWAY, ONLINE, minutes(0))
        assert seqs([next_message(ws)]) == [1]


def test_resume_while_pipelines_write_has_no_gap_and_no_duplicate(
    client: TestClient, feed: CameraFeed
) -> None:
    """More than one replay page, while a pipeline keeps writing during the replay."""
    for i in range(REPLAY_PAGE + 20):
        feed.camera_status(CAM_WALKWAY if i % 2 else CAM_FIRE_LANE, ONLINE, minutes(i))
    concurrent = 150

    def pipeline() -> None:
        for i in range(concurrent):
            feed.camera_status(CAM_YUQUAN, ONLINE, minutes(1000 + i))

    writer = threading.Thread(target=pipeline)
    writer.start()
    try:
        with client.websocket_connect(ws_path(after=0)) as ws:
            received = messages(ws, REPLAY_PAGE + 20 + concurrent)
            writer.join()
            assert_quiet(ws)
    finally:
        writer.join()

    assert seqs(received) == list(range(1, REPLAY_PAGE + 20 + concurrent + 1))


# ------------------------------------------------------------------------------------ bad subscriptions


@pytest.mark.parametrize(
    "query",
    [
        {"grid": "abc"},
        {"grid": "999999"},  # digits, no such cell
        {"grid": f"{CELL_YUQUAN}1"},
        {"grid": ""},
        {"after": "x"},
        {"after": ""},
        {"after": "-1"},
        {"after": "1.5"},
        {"after": "²"},  # a digit to str.isdigit(), not to int()
        {"after": str(2**63)},  # beyond any seq the store can hold
        {"after": "9" * 5000},  # more digits than int() converts
        {"category": "arson"},
        {"category": ""},
        {"grid": CELL_WALKWAY, "after": "x"},
        {"grid": "abc", "after": "1"},
    ],
)
def test_bad_subscription_is_closed_1008(client: TestClient, feed: CameraFeed, query: dict[str, str]) -> None:
    feed.camera_status(CAM_WALKWAY, ONLINE, minutes(0))

    with client.websocket_connect(ws_path(**query)) as ws:
        code, received = close_code(ws)

    assert code == 1008
    assert received == []


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"grid": DISTRICT},
        {"grid": CELL_WALKWAY, "category": "crowd_gathering", "after": "0"},
        {"after": str(2**63 - 1)},  # the largest seq: valid, nothing to replay
        {"after": "007"},
    ],
)
def test_good_subscription_stays_open(client: TestClient, query: dict[str, str]) -> None:
    with client.websocket_connect(ws_path(**query)) as ws:
        assert_quiet(ws)


# ------------------------------------------------------------------------------------------ slow clients

QUEUE = 5


@contextmanager
def held_city(tmp_path: Path) -> Iterator[tuple[TestClient, HeldTransport, CameraFeed]]:
    config = demo_config(tmp_path, websocket_queue=QUEUE)
    broker = LocalBroker()
    held = HeldTransport(create_app(config, run_cameras=False, broker=broker, clock=ManualClock(T0)), pause="before_each_send")
    with Store(config.store.url.get_secret_value()) as store, TestClient(held, headers=bearer(config, "admin", T0)) as client:
        try:
            yield client, held, CameraFeed(config, PushJournal(store, broker))
        finally:
            held.release()


def test_slow_client_is_closed_4008_while_others_keep_receiving(tmp_path: Path) -> None:
    published = QUEUE + 3
    with (
        held_city(tmp_path) as (client, held, feed),
        client.websocket_connect("/ws", headers=dict([HOLD_HEADER])) as slow,
        client.websocket_connect("/ws") as fast,
    ):
        fast_received = []
        for i in range(published):  # the fast client reads each message before the next is written
            feed.open_incident(CAM_WALKWAY, "crowd", minutes(i), magnitude=7, count=7)
            fast_received.append(next_message(fast))
        held.release()  # the slow client's first send completes; its queue overflowed meanwhile
        code, slow_received = close_code(slow)
        feed.camera_status(CAM_WALKWAY, ONLINE, minutes(100))
        fast_received.append(next_message(fast))
        assert_quiet(fast)

    assert code == 4008
    assert seqs(fast_received) == list(range(1, published + 2))
    # What the slow client got before the close has no gap, so resuming from its last seq loses nothing.
    assert 1 <= len(slow_received) < published
    assert seqs(slow_received) == list(range(1, len(slow_received) + 1))


def test_slow_client_resumes_after_its_last_seq_with_nothing_lost(tmp_path: Path) -> None:
    with held_city(tmp_path) as (client, held, feed):
        with client.websocket_connect("/ws", headers=dict([HOLD_HEADER])) as slow:
            for i in range(QUEUE + 3):
                feed.open_incident(CAM_FIRE_LANE, "fire_smoke", minutes(i), magnitude=1)
            held.release()
            code, received = close_code(slow)
        assert code == 4008
        with client.websocket_connect(ws_path(after=received[-1]["seq"])) as resumed:
            received += messages(resumed, QUEUE + 3 - len(received))
            assert_quiet(resumed)

    assert seqs(received) == list(range(1, QUEUE + 4))


def test_client_within_its_queue_is_not_closed(tmp_path: Path) -> None:
    with (
        held_city(tmp_path) as (client, held, feed),
        client.websocket_connect("/ws", headers=dict([HOLD_HEADER])) as held_client,
    ):
        for i in range(QUEUE):  # one in the held send, QUEUE - 1 queued
            feed.open_incident(CAM_WALKWAY, "crowd", minutes(i), magnitude=7, count=7)
        held.release()
        received = messages(held_client, QUEUE)
        assert_quiet(held_client)

    assert seqs(received) == list(range(1, QUEUE + 1))
