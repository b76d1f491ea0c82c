"""The cluster's shared picture in the store: nodes with their reported load, and each camera's placement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.repositories.cluster import NodeReport
from models.store import Store

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def report(node_id: str, *cameras: str, cpu: float = 35.0) -> NodeReport:
    return NodeReport(
        node_id=node_id, address="10.0.0.7", cpus=16.0, cpu_percent=cpu, rss_mb=812.5,
        models=["people", "fire"], camera_ids=list(cameras),
    )  # fmt: skip


def test_a_node_reports_its_load_and_keeps_its_start_time(store: Store) -> None:
    store.cluster.report_node(report("n1", "gate", "east"), T0)
    store.cluster.report_node(report("n1", "gate", cpu=80.0), T0 + timedelta(seconds=5))

    (node,) = store.cluster.nodes()
    assert (node.alive, node.started_at, node.updated_at) == (True, T0, T0 + timedelta(seconds=5))
    assert (node.cpu_percent, node.rss_mb, node.cpus) == (80.0, 812.5, 16.0)
    assert node.models == ["fire", "people"] and node.camera_ids == ["gate"]
    assert store.push_log.last_seq() == 0  # placement and load are not live messages


def test_a_lost_node_is_kept_not_alive_serving_nothing_and_restarts_when_it_reports_again(store: Store) -> None:
    store.cluster.report_node(report("n1", "gate"), T0)
    store.cluster.report_node(report("n2", "east"), T0)
    store.cluster.mark_node_lost("n1", T0 + timedelta(seconds=20))

    lost = next(node for node in store.cluster.nodes() if node.node_id == "n1")
    assert (lost.alive, lost.lost_at, lost.camera_ids, lost.cpu_percent) == (False, T0 + timedelta(seconds=20), [], None)
    assert [node.node_id for node in store.cluster.nodes()] == ["n2", "n1"]  # alive first

    store.cluster.report_node(report("n1", "gate"), T0 + timedelta(minutes=1))
    back = next(node for node in store.cluster.nodes() if node.node_id == "n1")
    assert (back.alive, back.started_at, back.lost_at) == (True, T0 + timedelta(minutes=1), None)


def test_a_camera_placement_is_replaced_with_the_reason(store: Store) -> None:
    store.cluster.place("gate", "n1", "placed", T0)
    store.cluster.place("east", None, "unplaced", T0)
    store.cluster.place("gate", "n2", "node lost", T0 + timedelta(seconds=18))

    placements = store.cluster.placements()
    assert list(placements) == ["east", "gate"]
    assert (placements["gate"].node_id, placements["gate"].reason) == ("n2", "node lost")
    assert placements["gate"].assigned_at == T0 + timedelta(seconds=18)
    assert placements["east"].node_id is None
