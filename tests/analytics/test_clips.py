"""Event clips end to end without a camera: real H.264 packets into a ring, the recorder writes each clip when due,
the sink records it on the incident (store, push, outbox); retention by age and quota keeps open incidents' clips."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from analytics.clips import ClipRecorder, prune_clips
from analytics.events import Event, EventPhase, Evidence
from analytics.incident_builder import IncidentBuilder
from analytics.incident_sink import IncidentSink
from api.delivery import outbox
from api.delivery.wire_format import cloud_event
from ingest.demo.footage import fire_clip
from ingest.frames import VideoFrame
from ingest.packet_ring import PacketRing
from models.config import ClipsConfig, parse_config
from models.incident import PushMessage
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.analytics.helpers import detections
from tests.conftest import demo_raw_config
from tests.ingest.test_packet_ring import T0, PtsClock, decoded, feed

CAM = "34020000001320000001"
CLIPS = ClipsConfig(pre_s=2.0, post_s=3.0)


@pytest.fixture
def world(tmp_path):
    config = parse_config(demo_raw_config(), environ={"XUELIANG_DEMO_RTSP": "rtsp://h"})
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    store.migrate()
    broker = LocalBroker()
    pushed: list[PushMessage] = []
    broker.subscribe(pushed.append)
    sink = IncidentSink(IncidentBuilder(config), PushJournal(store, broker), tmp_path / "data" / "snapshots")
    clock = PtsClock()
    ring = PacketRing(max_seconds=CLIPS.ring_seconds, max_bytes=2**26, clock=clock)
    recorder = ClipRecorder(
        CLIPS, tmp_path / "data", {CAM: ring}, on_written=sink.attach_clip, is_open=lambda _id: False, clock=clock
    )
    sink.clips = recorder
    yield sink, store, pushed, ring, clock, recorder
    store.close()


def fire(phase: EventPhase, t: float) -> Event:
    image = np.full((360, 640, 3), 60, dtype=np.uint8)
    frame = VideoFrame(camera_id=CAM, frame_id=1, timestamp=t, pts=None, image=image)
    evidence = Evidence(frame, detections([(100, 100, 200, 200)], "fire", 0.8))
    return Event(
        phase=phase, rule="fire_smoke", category="fire_hazard", camera_id=CAM, timestamp=t, magnitude=0.8, count=1,
        confidence=0.8, evidence=evidence,
    )  # fmt: skip


def test_an_incident_gets_its_clip_once_post_s_passed_in_store_push_and_outbox(world):
    sink, store, pushed, ring, clock, recorder = world
    feed(ring, clock, fire_clip())  # ~10 s of packets, T0 .. T0 + 9.9
    incident = sink.handle(fire(EventPhase.OPENED, T0 + 4.5))
    assert incident is not None and recorder.pending == 1
    assert recorder.write_due(T0 + 4.5 + 2.9) == []  # post_s not passed yet
    [path] = recorder.write_due(T0 + 4.5 + 3.0)
    assert path.name == f"{incident.id}.mp4"
    frames, duration, starts_on_key = decoded(path)
    assert starts_on_key and duration == pytest.approx(2.5 + 3.0 + 0.1, abs=0.15)  # from the keyframe at 2 s
    stored = store.incidents.get(incident.id)
    assert stored is not None and stored.clip_path == str(path)
    assert pushed[-1].type == "incident.updated" and pushed[-1].data["clip_url"] == f"/incidents/{incident.id}/clip.mp4"
    assert "clip_path" not in pushed[-1].data
    with store.database.engine.connect() as connection:  # what delivery sends: a CloudEvent whose data is this view
        last = outbox.list_events(connection, limit=1000)[-1]
    envelope = cloud_event(last, "test")
    assert envelope["type"] == "cn.xueliang.incident.updated"
    assert envelope["data"]["clip_url"] == f"/incidents/{incident.id}/clip.mp4"
    # an update after the clip keeps it
    sink.handle(fire(EventPhase.UPDATED, T0 + 9))
    assert store.incidents.get(incident.id).clip_path == str(path)


def test_a_clip_is_as_long_as_the_stream_when_the_camera_stops_early(world):
    sink, store, _, ring, clock, recorder = world
    feed(ring, clock, fire_clip())
    incident = sink.handle(fire(EventPhase.OPENED, T0 + 8.0))  # post_s would reach 11 s; the stream ends at 9.9
    recorder.stop()  # the service stops: pending clips are written with what there is
    stored = store.incidents.get(incident.id)
    assert stored.clip_path is not None
    assert decoded(Path(stored.clip_path))[1] == pytest.approx(9.9 - 6.0 + 0.1, abs=0.15)  # keyframe at 6 s


def test_a_camera_that_cannot_write_clips_still_raises_incidents_and_logs_once(world, tmp_path, caplog):
    sink, store, pushed, ring, clock, recorder = world
    feed(ring, clock, fire_clip())
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "clips").write_text("the disk is full")  # no directory can be made there
    caplog.set_level(logging.WARNING, logger="analytics.clips")
    first = sink.handle(fire(EventPhase.OPENED, T0 + 3))
    sink.handle(fire(EventPhase.CLOSED, T0 + 4))
    second = sink.handle(fire(EventPhase.OPENED, T0 + 5))
    assert recorder.write_due(T0 + 20) == []
    assert first is not None and second is not None and store.incidents.search()[1] == 2
    assert all(store.incidents.get(i.id).clip_path is None for i in (first, second))
    warnings = [r for r in caplog.records if "could not write the clip" in r.getMessage()]
    assert len(warnings) == 1 and CAM in warnings[0].getMessage()


def test_no_clip_without_packets(world):
    sink, store, _, ring, clock, recorder = world
    incident = sink.handle(fire(EventPhase.OPENED, T0))
    assert recorder.write_due(T0 + 10) == [] and store.incidents.get(incident.id).clip_path is None


def write_clip(path: Path, size: int, age_days: float, now: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    os.utime(path, (now - age_days * 86400, now - age_days * 86400))
    return path


def test_retention_by_age_and_quota_oldest_first_never_an_open_incidents_clip(tmp_path):
    data, now = tmp_path / "data", T0
    clips = data / "clips"
    old_open = write_clip(clips / "20260101" / "open-old.mp4", 100_000, 40, now)
    old_done = write_clip(clips / "20260101" / "done-old.mp4", 100_000, 40, now)
    mid_done = write_clip(clips / "20261120" / "done-mid.mp4", 300_000, 10, now)
    new_done = write_clip(clips / "20261130" / "done-new.mp4", 300_000, 1, now)
    new_open = write_clip(clips / "20261130" / "open-new.mp4", 300_000, 1, now)
    (data / "snapshots").mkdir(parents=True)
    (data / "snapshots" / "s.jpg").write_bytes(b"\0" * 100_000)
    config = ClipsConfig(retention_days=30, data_dir_quota_mb=800_000 / 2**20)

    result = prune_clips(clips, data, config, lambda incident_id: incident_id.startswith("open"), now)

    # age: the 40-day-old finished clip goes, the open one stays; quota (1.2 MB → 0.8 MB): the oldest finished
    # clip goes next (mid), then the data directory fits and the newest finished one is kept
    assert result.deleted == [old_done, mid_done]
    assert old_open in result.kept_open
    assert all(p.exists() for p in (old_open, new_done, new_open))
    assert result.data_dir_bytes == 800_000


def test_retention_of_an_empty_data_directory(tmp_path):
    result = prune_clips(tmp_path / "clips", tmp_path, ClipsConfig(data_dir_quota_mb=1), lambda _id: False, T0)
    assert result.deleted == [] and result.data_dir_bytes == 0


@pytest.mark.parametrize(
    ("raw", "field"),
    [({"pre_s": -1}, "pre_s"), ({"post_s": 500}, "post_s"), ({"ring_max_mb": 0}, "ring_max_mb"), ({"prer_s": 1}, "prer_s")],
)
def test_a_wrong_clips_config_names_its_field(raw, field):
    raw_config = demo_raw_config()
    raw_config["clips"] = raw
    with pytest.raises(Exception, match=field):
        parse_config(raw_config, environ={"XUELIANG_DEMO_RTSP": "rtsp://h"})


def test_a_clip_written_after_its_incident_ended_is_recorded_on_the_stored_incident(world):
    sink, store, pushed, ring, clock, recorder = world
    feed(ring, clock, fire_clip())
    incident = sink.handle(fire(EventPhase.OPENED, T0 + 3))
    sink.handle(fire(EventPhase.CLOSED, T0 + 4))  # over before post_s passed
    [path] = recorder.write_due(T0 + 6)
    stored = store.incidents.get(incident.id)
    assert stored.closed_at is not None and stored.clip_path == str(path)  # still ended, now with its clip
    assert pushed[-1].type == "incident.updated" and pushed[-1].data["closed_at"] is not None
