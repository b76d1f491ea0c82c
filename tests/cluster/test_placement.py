"""Placement decisions without Ray: room per node, unplaced cameras to the least-loaded node, rebalance moves."""

from __future__ import annotations

import pytest

from analytics.cluster.placement import Move, NodeRoom, node_room, place_unplaced, plan_rebalance


def node(node_id: str, room: int, *cameras: str) -> NodeRoom:
    return NodeRoom(node_id=node_id, address=f"10.0.0.{node_id}", room=room, camera_ids=frozenset(cameras))


@pytest.mark.parametrize(
    ("cpus", "camera_cpus", "share", "expected"),
    [(2, 0.23, 0.75, 6), (16, 0.23, 0.75, 52), (0, 0.23, 0.75, 0), (2, 0.4, 0.75, 3), (1, 0.25, 1.0, 4)],
)
def test_node_room(cpus: float, camera_cpus: float, share: float, expected: int) -> None:
    assert node_room(cpus, camera_cpus, share) == expected


def test_unplaced_cameras_go_to_the_least_loaded_node_with_room() -> None:
    nodes = {"1": node("1", 3, "a"), "2": node("2", 3)}
    moves = place_unplaced(["b", "c", "d", "e", "f"], nodes)
    assert [(m.camera_id, m.to_node) for m in moves] == [("b", "2"), ("c", "1"), ("d", "2"), ("e", "1"), ("f", "2")]


def test_cameras_beyond_every_nodes_room_stay_unplaced() -> None:
    assert [m.camera_id for m in place_unplaced(["b", "c"], {"1": node("1", 2, "a")})] == ["b"]
    assert place_unplaced(["b"], {}) == []
    assert place_unplaced([], {"1": node("1", 2)}) == []


def test_rebalance_moves_from_the_fullest_to_a_new_node_until_even() -> None:
    moves = plan_rebalance({"1": node("1", 6, "a", "b", "c", "d"), "2": node("2", 6)})
    assert moves == [Move(camera_id="d", from_node="1", to_node="2"), Move(camera_id="c", from_node="1", to_node="2")]


@pytest.mark.parametrize(
    "nodes",
    [
        {},
        {"1": node("1", 6, "a", "b")},
        {"1": node("1", 6, "a", "b"), "2": node("2", 6, "c")},  # one more moved back would only swap them
        {"1": node("1", 6, "a"), "2": node("2", 0)},  # a node with no room takes nothing
    ],
)
def test_rebalance_leaves_balanced_nodes_alone(nodes: dict[str, NodeRoom]) -> None:
    assert plan_rebalance(nodes) == []
