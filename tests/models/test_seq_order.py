"""`SeqOrderedFeed`: messages reach subscribers in the store's seq order, each once, whatever order (or loss) the
broker brings them in; the store fills gaps and holes are skipped. Real store, SQLite and PostgreSQL; an injected
clock instead of sleeping."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from models.brokers import SeqOrderedFeed
from models.clock import ManualClock
from models.incident import PushMessage
from models.push import LocalBroker, PushJournal
from models.store import Store
from tests.models.broker_support import commit_status


def committed(store: Store, count: int) -> list[PushMessage]:
    journal = PushJournal(store, LocalBroker())
    return [commit_status(journal, "cam-a", index) for index in range(count)]


def make_feed(store: Store, clock: ManualClock, after: int = 0) -> tuple[SeqOrderedFeed, list[int]]:
    seen: list[int] = []
    feed = SeqOrderedFeed(store.push_log, lambda message: seen.append(message.seq), after=after, gap_wait_s=0.25,
                          clock=clock)
    return feed, seen


def test_in_order_messages_pass_straight_through(store: Store) -> None:
    messages = committed(store, 3)
    feed, seen = make_feed(store, ManualClock(100.0))
    for message in messages:
        feed.offer(message)
    assert seen == [1, 2, 3]
    assert feed.counts.from_store == 0 and feed.counts.gap_reads == 0


def test_nothing_offered_and_an_empty_store_deliver_nothing(store: Store) -> None:
    clock = ManualClock(100.0)
    feed, seen = make_feed(store, clock)
    feed.tick()
    clock.advance(10)
    feed.tick()
    feed.catch_up()
    assert seen == [] and feed.last_seq == 0


def test_a_reordered_message_is_held_until_the_missing_one_arrives_without_reading_the_store(store: Store) -> None:
    first, second, third = committed(store, 3)
    clock = ManualClock(100.0)
    feed, seen = make_feed(store, clock)
    feed.offer(third)
    feed.offer(first)
    assert seen == [1]  # 3 waits for 2
    clock.advance(0.1)
    feed.tick()
    assert seen == [1]
    feed.offer(second)
    assert seen == [1, 2, 3]
    assert feed.counts.from_store == 0 and feed.held == 0


def test_a_gap_outliving_the_wait_is_read_from_the_store(store: Store) -> None:
    messages = committed(store, 5)
    clock = ManualClock(100.0)
    feed, seen = make_feed(store, clock)
    feed.offer(messages[0])
    feed.offer(messages[4])  # 2, 3, 4 lost by the broker
    clock.advance(0.24)
    feed.tick()
    assert seen == [1]
    clock.advance(0.02)
    feed.tick()
    assert seen == [1, 2, 3, 4, 5]
    assert feed.counts.gap_reads == 1 and feed.counts.from_store == 4
    for late in messages[1:]:  # the broker's late copies change nothing
        feed.offer(late)
    assert seen == [1, 2, 3, 4, 5] and feed.counts.duplicates == 4


def test_a_seq_is_never_delivered_twice_or_below_one_delivered(store: Store) -> None:
    messages = committed(store, 3)
    feed, seen = make_feed(store, ManualClock(100.0))
    for message in [messages[0], messages[0], messages[1], messages[0], messages[2], messages[1]]:
        feed.offer(message)
    assert seen == [1, 2, 3]
    assert feed.counts.duplicates == 3


def burn_a_seq(store: Store, db_url: str) -> None:
    """Leave a permanent hole in the log: a rolled-back insert on PostgreSQL (its identity sequence is not rolled
    back); on SQLite, where a rollback reuses the seq, a committed message deleted again."""
    if db_url.startswith("postgresql"):
        with store.database.engine.connect() as connection:
            transaction = connection.begin()
            connection.execute(text("INSERT INTO push_messages (type, at, data) VALUES ('camera.status', "
                                    "CURRENT_TIMESTAMP, '{}')"))
            transaction.rollback()
    else:
        seq = committed(store, 1)[0].seq
        with store.database.engine.begin() as connection:
            connection.execute(text("DELETE FROM push_messages WHERE seq = :seq"), {"seq": seq})


def test_a_hole_in_the_store_is_skipped_after_the_bounded_wait(store: Store, db_url: str) -> None:
    before = committed(store, 2)
    burn_a_seq(store, db_url)
    after = committed(store, 2)
    assert [m.seq for m in after] == [4, 5]
    clock = ManualClock(100.0)
    feed, seen = make_feed(store, clock)
    for message in before + after:
        feed.offer(message)
    assert seen == [1, 2]  # 3 might still be on its way
    clock.advance(0.25)
    feed.tick()
    assert seen == [1, 2, 4, 5]
    assert feed.held == 0


def test_catch_up_delivers_what_the_broker_never_carried_then_goes_on_live(store: Store) -> None:
    messages = committed(store, 4)
    feed, seen = make_feed(store, ManualClock(100.0), after=1)
    feed.offer(messages[3])  # held: 2 and 3 missing
    feed.catch_up()  # e.g. the broker is back after an outage
    assert seen == [2, 3, 4] and feed.held == 0
    journal = PushJournal(store, LocalBroker())
    feed.offer(commit_status(journal, "cam-b", 9))
    assert seen == [2, 3, 4, 5]


def test_catch_up_pages_through_a_long_backlog(store: Store) -> None:
    journal = PushJournal(store, LocalBroker())
    for index in range(1203):
        commit_status(journal, "cam-a", index)
    feed, seen = make_feed(store, ManualClock(100.0))
    feed.catch_up()
    assert seen == list(range(1, 1204))


def test_a_failing_subscriber_does_not_stop_the_feed(store: Store) -> None:
    messages = committed(store, 2)
    seen: list[int] = []

    def deliver(message: PushMessage) -> None:
        seen.append(message.seq)
        if message.seq == 1:
            raise RuntimeError("subscriber broke")

    feed = SeqOrderedFeed(store.push_log, deliver)
    for message in messages:
        feed.offer(message)
    assert seen == [1, 2]


def test_a_negative_wait_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="gap_wait_s"):
        SeqOrderedFeed(store.push_log, print, gap_wait_s=-1)


def test_too_many_held_messages_read_the_gap_from_the_store_at_once(store: Store) -> None:
    messages = committed(store, 6)
    seen: list[int] = []
    feed = SeqOrderedFeed(store.push_log, lambda message: seen.append(message.seq), gap_wait_s=60, max_held=3,
                          clock=ManualClock(100.0))
    for message in messages[2:]:  # 1 and 2 lost; the fourth held message overflows the bound
        feed.offer(message)
    assert seen == [1, 2, 3, 4, 5, 6]
    assert feed.counts.gap_reads == 1 and feed.held == 0
