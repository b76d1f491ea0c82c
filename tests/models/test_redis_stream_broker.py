"""The Redis stream broker against a real redis-server the test owns: several publishers (threads and processes)
with interleaved seqs reach a subscriber in strictly increasing seq order with no gap; the broker killed
mid-stream and restarted loses no message for the subscriber (it catches up from the store) and never blocks a
pipeline's commit; an unreachable broker at start is a clear error naming its URL without the password. Real
store: SQLite file and PostgreSQL."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

import pytest

from models.brokers import BrokerUnreachable, LocalBroker, RedisStreamBroker, broker_from_url
from models.incident import PushMessage
from models.push import PushJournal
from models.store import Store
from tests.models.broker_support import RedisProcess, commit_status, free_port, publisher_process


class Received:
    """A subscriber that records what it is given, in order, from the broker's thread."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self._changed = threading.Condition()

    def __call__(self, message: PushMessage) -> None:
        with self._changed:
            self.seqs.append(message.seq)
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[list[int]], bool], timeout_s: float = 20.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: condition(self.seqs), timeout=timeout_s)


def all_seqs(store: Store) -> list[int]:
    seqs: list[int] = []
    while page := store.push_log.since(seqs[-1] if seqs else 0):
        seqs.extend(message.seq for message in page)
    return seqs


def assert_each_committed_seq_once_in_order(received: Received, store: Store) -> None:
    expected = all_seqs(store)
    assert received.wait_for(lambda seqs: len(seqs) >= len(expected) and seqs[-1] >= expected[-1]), (
        f"received {len(received.seqs)} of {len(expected)}")
    assert received.seqs == expected  # strictly increasing, no gap, no repeat


def test_publishers_in_threads_and_processes_reach_a_subscriber_in_seq_order(
    store: Store, db_url: str, redis_server: RedisProcess
) -> None:
    received = Received()
    with RedisStreamBroker(redis_server.url, message_log=store.push_log) as subscriber_side:
        subscriber_side.subscribe(received)
        assert subscriber_side.wait_connected(10)

        def publish_from_thread(camera_id: str) -> None:
            with RedisStreamBroker(redis_server.url) as broker:
                journal = PushJournal(store, broker)  # a journal each: commits and publishes interleave freely
                for index in range(60):
                    commit_status(journal, camera_id, index)

        processes = [publisher_process(redis_server.url, db_url, f"node-{n}", 60) for n in range(2)]
        threads = [threading.Thread(target=publish_from_thread, args=(f"cam-{n}",)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for process in processes:
            assert process.wait(60) == 0

        assert len(all_seqs(store)) == 240
        assert_each_committed_seq_once_in_order(received, store)
        cameras = {message.camera_id for message in store.push_log.since(0)}
        assert cameras == {"cam-0", "cam-1", "node-0", "node-1"}


def test_broker_killed_mid_stream_loses_nothing_for_the_subscriber_and_never_blocks_a_commit(
    store: Store, redis_server: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="models.brokers")
    received = Received()
    publish_times: list[float] = []
    with RedisStreamBroker(redis_server.url, message_log=store.push_log) as subscriber_side, \
            RedisStreamBroker(redis_server.url) as publisher_side:
        subscriber_side.subscribe(received)
        assert subscriber_side.wait_connected(10)

        class TimedPublisher:
            def publish(self, message: PushMessage) -> None:
                started = time.perf_counter()
                publisher_side.publish(message)
                publish_times.append(time.perf_counter() - started)

        journal = PushJournal(store, TimedPublisher())

        for index in range(30):
            commit_status(journal, "cam-a", index)
        assert received.wait_for(lambda seqs: len(seqs) == 30)

        redis_server.kill()
        for index in range(30, 60):  # committed while the broker is gone
            commit_status(journal, "cam-a", index)
            time.sleep(0.01)
        assert not subscriber_side.reader_connected.is_set()
        assert len(received.seqs) < 60  # nothing can arrive live without the broker
        assert publisher_side.publish_counts.dropped > 0
        assert publisher_side.publish_counts.outages == 1

        redis_server.start()  # an empty broker on the same port
        assert subscriber_side.wait_connected(15)
        for index in range(60, 90):
            commit_status(journal, "cam-a", index)

        assert_each_committed_seq_once_in_order(received, store)
        assert len(received.seqs) == 90
        assert subscriber_side.reader_outages == 1
        feed = subscriber_side.feed
        assert feed is not None and feed.counts.from_store >= 30  # the outage's commits came from the store
    unreachable = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) == 2, unreachable  # one line per outage: the publisher's and the subscriber's
    assert all(redis_server.url in line for line in unreachable)
    assert max(publish_times) < 0.5  # publish only queues (a hanging broker: the next test)


def test_a_broker_that_hangs_never_holds_a_commit(store: Store) -> None:
    """A broker that accepts connections and never answers (a frozen server, a black-holed route): every call to it
    would wait for the socket timeout; the pipeline's commits do not."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # connections complete in the backlog and are never served
        port = silent.getsockname()[1]
        with RedisStreamBroker(f"redis://127.0.0.1:{port}/0", connect_timeout_s=1.0) as broker:
            journal = PushJournal(store, broker)
            commit_times = []
            for index in range(20):
                started = time.perf_counter()
                commit_status(journal, "cam-a", index)
                commit_times.append(time.perf_counter() - started)
                time.sleep(0.05)
            deadline = time.monotonic() + 10
            while broker.publish_counts.dropped == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert broker.publish_counts.dropped > 0 and broker.publish_counts.sent == 0
    assert max(commit_times) < 0.9  # a commit that waited for the broker would take its 1 s timeout
    assert [m.seq for m in store.push_log.since(0)] == list(range(1, 21))  # all committed


def test_a_subscriber_that_starts_late_gets_only_new_messages_the_store_has_the_backlog(
    store: Store, redis_server: RedisProcess
) -> None:
    with RedisStreamBroker(redis_server.url) as publisher_side:
        journal = PushJournal(store, publisher_side)
        for index in range(5):
            commit_status(journal, "cam-a", index)
        received = Received()
        with RedisStreamBroker(redis_server.url, message_log=store.push_log) as subscriber_side:
            subscriber_side.subscribe(received)
            assert subscriber_side.wait_connected(10)
            commit_status(journal, "cam-a", 5)
            assert received.wait_for(lambda seqs: seqs == [6])


def test_a_commit_whose_publish_was_lost_reaches_the_subscriber_from_the_store(
    store: Store, redis_server: RedisProcess
) -> None:
    """The pipeline's process died between commit and publish, and nothing was published after it."""
    received = Received()

    class DiesBeforePublishing:
        def publish(self, message: PushMessage) -> None:
            pass

    with RedisStreamBroker(redis_server.url, message_log=store.push_log, idle_resync_s=0.5) as subscriber_side:
        subscriber_side.subscribe(received)
        assert subscriber_side.wait_connected(10)
        lost = commit_status(PushJournal(store, DiesBeforePublishing()), "cam-a", 0)
        started = time.monotonic()
        assert received.wait_for(lambda seqs: seqs == [lost.seq], timeout_s=5)
        assert time.monotonic() - started < 2.0


def test_an_unreachable_broker_at_start_is_an_error_naming_the_url_without_its_password() -> None:
    port = free_port()
    broker = RedisStreamBroker(f"redis://xl:s3cr%40t@127.0.0.1:{port}/0", connect_timeout_s=1.0)
    with pytest.raises(BrokerUnreachable) as error:
        broker.check()
    message = str(error.value)
    assert f"redis://***@127.0.0.1:{port}/0" in message
    assert "s3cr" not in message and "xl:" not in message


def test_check_passes_on_a_live_broker(redis_server: RedisProcess) -> None:
    RedisStreamBroker(redis_server.url).check()


def test_subscribing_without_the_store_is_refused(redis_server: RedisProcess) -> None:
    with RedisStreamBroker(redis_server.url) as broker, pytest.raises(ValueError, match="message_log"):
        broker.subscribe(print)


@pytest.mark.parametrize(
    ("url", "expected", "stream"),
    [
        (None, LocalBroker, None),
        ("", LocalBroker, None),
        ("local://", LocalBroker, None),
        ("redis://127.0.0.1:6379/0", RedisStreamBroker, "xueliang:push"),
        ("redis://:pw@broker.example:6379/2?stream=qu-county", RedisStreamBroker, "qu-county"),
        ("rediss://user:pw@broker.example:6380/0", RedisStreamBroker, "xueliang:push"),
    ],
)
def test_broker_from_url_picks_the_broker(url: str | None, expected: type, stream: str | None) -> None:
    broker = broker_from_url(url)
    assert isinstance(broker, expected)
    if isinstance(broker, RedisStreamBroker):
        assert broker.stream == stream


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("nats://user:hunter2@127.0.0.1:4222", "broker URL scheme nats:// is not supported"),
        ("http://127.0.0.1", "broker URL scheme http:// is not supported"),
        ("127.0.0.1:6379", "is not supported"),
        ("redis://user:hunter2@127.0.0.1:notaport/0", r"broker URL redis://\*\*\*@127.0.0.1:notaport/0 is not valid"),
    ],
)
def test_broker_from_url_refuses_a_bad_url_naming_it_without_the_password(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error) as raised:
        broker_from_url(url)
    assert "hunter2" not in str(raised.value)
