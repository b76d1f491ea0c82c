"""The capacity model reads the committed measurements and agrees with what one box was measured to hold."""

from __future__ import annotations

import json

from bench.scale import capacity


def test_the_model_reproduces_the_committed_results() -> None:
    committed = json.loads((capacity.RESULTS / "capacity.json").read_text())
    assert json.loads(json.dumps(capacity.model(), ensure_ascii=False)) == committed


def test_a_two_core_node_holds_what_this_box_held_and_every_camera_is_placed() -> None:
    result = capacity.model()
    all_busy = next(s for s in result["scenarios"] if s["scenario"] == "peak, all busy")
    sd_small = next(row for row in all_busy["nodes"] if row["profile"] == "sd" and row["node"].startswith("2-core"))
    assert 6 <= sd_small["cameras_per_node"] <= 8  # bench/speed: 6-8 busy SD cameras at 2 fps on 2 cores
    for scenario in result["scenarios"]:
        for row in scenario["nodes"]:
            assert row["nodes"] * row["cameras_per_node"] >= capacity.CAMERAS_ANALYSED
            assert row["nodes_if_placed_by_busy_cost"] >= row["nodes"] or row["limited_by"] == "memory"


def test_the_store_write_rate_counts_every_camera_counter_row() -> None:
    flow = capacity.traffic(capacity.activity(), 0.6)
    assert flow["counter_rows_per_s"] == capacity.CAMERAS_ANALYSED / capacity.COUNTERS_REFRESH_S
    assert flow["store_rows_per_s"] > flow["counter_rows_per_s"] + 2 * flow["messages_per_s"]
