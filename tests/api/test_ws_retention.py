"""Resuming the websocket once the store has pruned old messages: from the watermark on, it is gapless as ever;
from before it, the client is told with close code 4410 (reload, then connect afresh) instead of being sent a
backlog with a hole in it. And the service prunes by itself, at start."""

from __future__ import annotations

import time
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from models.clock import ManualClock
from models.config import ServiceConfig
from models.store import Store
from tests.api.access import bearer
from tests.api.camera_feed import CAM_FIRE_LANE, CAM_WALKWAY, CAM_YUQUAN, CameraFeed, minutes
from tests.api.live_client import assert_quiet, close_code, messages, next_message, seqs
from tests.api.test_ws import ALL, CONNECTING, OFFLINE, ONLINE, ROUND, write_round, ws_path

DAYS = 24 * 60  # in minutes


def pruned_log(feed: CameraFeed) -> tuple[dict[int, str], int]:
    """Two rounds ten days apart, the first pruned; the labels by seq, and the watermark."""
    write_round(feed, minutes(0))
    labels = write_round(feed, minutes(10 * DAYS))
    store = feed.journal.store
    assert store.push_log.prune(minutes(5 * DAYS)) == len(ROUND)  # the first round, old statuses included
    return labels, store.push_log.pruned_through_seq()


def test_resume_from_the_watermark_on_is_gapless(client: TestClient, feed: CameraFeed) -> None:
    labels, watermark = pruned_log(feed)
    assert watermark == len(ROUND)

    for after in (watermark + 2, watermark):
        with client.websocket_connect(ws_path(after=after)) as ws:
            replayed = messages(ws, feed.last_seq - after)
            live = feed.camera_status(CAM_WALKWAY, ONLINE, minutes(10 * DAYS + 1))
            assert seqs([next_message(ws)]) == [live.seq]
            assert_quiet(ws)
        assert seqs(replayed) == list(range(after + 1, live.seq))
    assert [labels[m["seq"]] for m in replayed[: len(ROUND)]] == ALL  # the whole second round, from the watermark


def test_resume_from_before_the_watermark_is_closed_4410_and_a_fresh_connection_works(
    client: TestClient, feed: CameraFeed
) -> None:
    labels, watermark = pruned_log(feed)

    for after in (0, watermark - 1):
        with client.websocket_connect(ws_path(after=after)) as ws:
            code, received = close_code(ws)
        assert (code, received) == (4410, [])  # nothing sent: not even what the store still has

    # What the console does then: connect without after (each camera's latest status, then live) ...
    with client.websocket_connect(ws_path()) as ws:
        statuses = messages(ws, 3)
        live = feed.camera_status(CAM_WALKWAY, ONLINE, minutes(10 * DAYS + 1))
        assert seqs([next_message(ws)]) == [live.seq]
    assert [labels[m["seq"]] for m in statuses] == ALL[:3]  # the second round's, kept
    # ... or with after= the newest seq it has loaded.
    with client.websocket_connect(ws_path(after=client.get("/healthz").json()["last_seq"])) as ws:
        assert_quiet(ws)


def test_the_service_prunes_old_messages_at_start(
    app: FastAPI, config: ServiceConfig, clock: ManualClock, feed: CameraFeed
) -> None:
    # camera statuses only: incidents would fall overdue when the clock moves, and be announced anew
    for n, (camera_id, state) in enumerate(
        [(CAM_WALKWAY, CONNECTING), (CAM_FIRE_LANE, ONLINE), (CAM_WALKWAY, ONLINE), (CAM_FIRE_LANE, OFFLINE),
         (CAM_WALKWAY, OFFLINE), (CAM_YUQUAN, ONLINE)]  # fmt: skip
    ):
        feed.camera_status(camera_id, state, minutes(n))
    newest = feed.last_seq
    assert config.server.websocket_resume_days == 7  # the default
    clock.advance(timedelta(days=8))  # the service starts eight days after these were written
    store = Store(config.store.url.get_secret_value())
    try:
        with TestClient(app, headers=bearer(config, "admin", clock.now())) as client:
            deadline = time.monotonic() + 5
            while store.push_log.pruned_through_seq() == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            with client.websocket_connect(ws_path(after=0)) as ws:
                assert close_code(ws) == (4410, [])
            with client.websocket_connect(ws_path(after=3)) as ws:
                assert seqs(messages(ws, 3)) == [4, 5, 6]
                assert_quiet(ws)
            assert client.get("/healthz").json()["last_seq"] == newest
        # each camera's latest status stays
        assert [m.seq for m in store.push_log.since(0)] == [4, 5, 6]
        assert store.push_log.pruned_through_seq() == 3
    finally:
        store.close()
