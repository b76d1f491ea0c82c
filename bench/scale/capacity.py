"""How many nodes, and how much store, broker and websocket traffic, for a county: 5,120 cameras of which 1,500
are analysed (Qu County, Sichuan, as published; issue 11), computed from what bench/speed measured per camera and
what bench/scale/measure.py measured of the store and the broker, at an activity mix stated below with the source
of every number.

    .venv/bin/python -m bench.scale.capacity                # writes bench/scale/results/capacity.json
    .venv/bin/python -m bench.scale.capacity --markdown     # also prints the tables of RESULTS.md

Sources (kinds): `measured` = read from a committed results file (path given); `code` = a constant of the
service; `published` = the county's figures; `assumption` = a judgement, with its reasoning, and the sizing is also
given at the pessimistic end (every analysed camera busy, 10x the incident rate).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SPEED = HERE.parent / "speed" / "results"
REPLAY = HERE.parent / "replay" / "results.json"
RESULTS = HERE / "results"
MEASURED = RESULTS / "measured.json"

CAMERAS_TOTAL = 5120  # published (Qu County)
CAMERAS_ANALYSED = 1500  # published; the other 3,620 are viewed on the platform, not ingested by Xueliang
ANALYSED_FPS = 2.0  # code: the default sampling (bench/speed ran every camera at 2 fps)
COUNTERS_REFRESH_S = 5.0  # code: analytics/service.py COUNTERS_REFRESH_S, one counters row per camera
SD_SOURCE_FPS = 10.0  # measured: the bench's SD clips (vtest) are 10 fps, every frame decoded while busy
HD_SOURCE_FPS = 25.0  # assumption: a 1080p camera's main stream at 25 fps (the PAL-rate default of such cameras)
KEYFRAMES_PER_S = 2.0  # measured setting: bench/speed's quiet camera, 0.5 s GOP
DETECTION_EVERY_S = 10.0  # code: motion.max_interval_s, a still scene's one detection


@dataclass(frozen=True, kw_only=True)
class Figure:
    value: float
    source: str  # measured | code | published | assumption
    note: str


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _run(runs: list[dict[str, Any]], cameras: int) -> dict[str, Any]:
    return next(run for run in runs if run["cameras"] == cameras)


# ------------------------------------------------------------------------------------------- per-camera cost


def _640_share() -> float:
    """A 1080p frame's analysis at 640 px as a share of the same at 3072 px (wall time, camera_cost.json)."""
    rows = {row["camera"]: row for row in _json(SPEED / "camera_cost.json")["rows"]}
    return float(rows["1080p, image_size 640 (before)"]["ms_per_frame_median"]
                 / rows["1080p, image_size auto (3072 px)"]["ms_per_frame_median"])


def camera_costs() -> dict[str, Figure]:
    """CPU (cores) and memory (MiB) per analysed camera, from bench/speed's results."""
    pipeline = _json(SPEED / "rerun-2026-11-29" / "pipeline.json")["runs"]  # the slower host: conservative
    one, eight = _run(pipeline, 1), _run(pipeline, 8)
    busy_sd = (eight["process_cpu_pct"] - one["process_cpu_pct"]) / 7 / 100
    rss_per_camera = (eight["rss_mib"] - one["rss_mib"]) / 7
    rss_base = one["rss_mib"] - rss_per_camera
    quiet_busy = _json(SPEED / "quiet_busy.json")["runs"]
    quiet_sd = quiet_busy["quiet"]["process_cpu_pct"] / 100
    # Analysis per analysed frame in CPU-seconds of every thread (OpenVINO spreads one inference over both cores,
    # so a wall-clock share undercounts it): the per-camera cost table of bench/speed/camera_costs.py.
    table = _json(SPEED / "camera_costs.json")
    cpu = {row["what"]: row["cpu_s_per_frame"] for row in table["rows"]}
    step = cpu["analysis step besides the models (SD walkway camera, 5 rules)"]
    hd_auto_analysis = ANALYSED_FPS * (cpu["people fp32, 1080p at 3072 (auto)"] + step)
    hd_auto_int8_analysis = ANALYSED_FPS * (cpu["people int8, 1080p at 3072 (auto)"] + step)
    hd_640_analysis = hd_auto_analysis * _640_share()
    # What a camera costs beside its analysis and decoding (receiving RTSP, thumbnails, the store, the API): the
    # pipeline run's busy SD camera less the table's (the same people/fire mix, analysis + decoding), at least 0.
    cores = table["per_camera_cores"]
    beside = max(0.0, busy_sd - (cores["busy_sd_people_fp32"] + cores["busy_sd_fire_fp32"]) / 2)
    sd_decode, hd_decode = cpu["768x576 (vtest)"], cpu["1920x1080"]
    hd_rest = beside + hd_decode * HD_SOURCE_FPS
    hd_quiet = quiet_sd + (hd_decode - sd_decode) * KEYFRAMES_PER_S  # keyframes-only decoding while still
    decode_note = (f"the cost beside analysis and decoding {beside:.3f} (busy_sd less the table's SD camera), and "
                   f"1080p decoding ({1000 * hd_decode:.2f} CPU-ms a frame x {HD_SOURCE_FPS:g} fps; camera_costs.json)")
    return {
        "busy_sd": Figure(value=busy_sd, source="measured", note=(
            "bench/speed/results/rerun-2026-11-29/pipeline.json: process CPU of 8 cameras less 1, over 7 (SD "
            "768x576, people/fire models at 640, 2 fps, with API and websocket); the slower of the two hosts")),
        "quiet_sd": Figure(value=quiet_sd, source="measured", note=(
            "bench/speed/results/quiet_busy.json `quiet`: still scene, keyframes-only decoding, 0.5 s GOP "
            "(2 s GOP: 0.021)")),
        "busy_1080p_auto": Figure(value=hd_auto_analysis + hd_rest, source="measured+estimate", note=(
            f"analysis {hd_auto_analysis:.3f} (bench/speed/results/camera_costs.json: CPU-seconds of the people "
            f"model at 3072 px and of the step, x {ANALYSED_FPS:g} fps) + {decode_note}")),
        "quiet_1080p_auto": Figure(
            value=hd_quiet + hd_auto_analysis / ANALYSED_FPS / DETECTION_EVERY_S,
            source="measured+estimate", note="SD quiet + 1080p keyframes' extra decoding + one 3072 px detection "
            "every 10 s"),
        "busy_1080p_auto_int8": Figure(value=hd_auto_int8_analysis + hd_rest, source="measured+estimate", note=(
            f"analysis {hd_auto_int8_analysis:.3f} with the people model in int8 (`precision: int8`; "
            "camera_costs.json) + the same as above")),
        "quiet_1080p_auto_int8": Figure(
            value=hd_quiet + hd_auto_int8_analysis / ANALYSED_FPS / DETECTION_EVERY_S,
            source="measured+estimate", note="SD quiet + 1080p keyframes' extra decoding + one int8 3072 px "
            "detection every 10 s"),
        "busy_1080p_640": Figure(value=hd_640_analysis + hd_rest, source="measured+estimate", note=(
            f"analysis {hd_640_analysis:.3f} at 640 px (3072 px's CPU-seconds x the 640/3072 wall-time ratio of "
            "camera_cost.json) + the same as above")),
        "quiet_1080p_640": Figure(
            value=hd_quiet + hd_640_analysis / ANALYSED_FPS / DETECTION_EVERY_S,
            source="measured+estimate", note="SD quiet + 1080p keyframes' extra decoding + one 640 px detection "
            "every 10 s"),
        "rss_per_camera_mib": Figure(value=rss_per_camera, source="measured", note=(
            "rerun-2026-11-29/pipeline.json: RSS of 8 cameras less 1, over 7")),
        "rss_node_base_mib": Figure(value=rss_base, source="measured", note=(
            "the same run's 1-camera RSS less one camera: the process with its models loaded (once per node)")),
    }


# ------------------------------------------------------------------------------------------------ activity mix


def activity(incident_scale: float = 1.0) -> dict[str, Figure]:
    replay = _json(REPLAY)
    pooled = replay["totals"]["all"]
    bench_rate = pooled["detected"] / (pooled["footage_s"] / 3600)
    precision = pooled["precision"]
    return {
        "busy_share_peak": Figure(value=0.6, source="assumption", note=(
            "share of analysed cameras seeing motion in the daytime peak: grid cameras watch streets, markets, "
            "school gates and river banks; no per-scene count is published. Sizing is also given at 1.0")),
        "busy_share_night": Figure(value=0.15, source="assumption", note="the same cameras at night"),
        "incidents_per_camera_hour_peak": Figure(value=0.5 * incident_scale, source="assumption", note=(
            "0.5 an analysed camera an hour at peak = 750 an hour county-wide, the order of what a county "
            "command centre can look at; 10x is the load test's stress rate. For scale: the replay bench's "
            f"event-picked clips give {bench_rate:.0f} an hour (bench/replay/results.json), an upper bound "
            "no real camera sustains")),
        "pipeline_messages_per_incident": Figure(value=5.0, source="assumption", note=(
            "opened + 2 peak updates + the clip's update + closed (analytics/incident_sink.py; updates only on a "
            "new peak)")),
        "loop_steps_per_incident": Figure(value=precision * 6 + (1 - precision) * 1, source="measured+code", note=(
            f"a real incident takes 6 closed-loop steps (file, dispatch, handle, check, close, evaluate: "
            f"models/lifecycle.py), a false one 1 (reject); precision {precision:.2f} from the replay bench")),
        "status_changes_per_camera_hour": Figure(value=1.0, source="assumption", note=(
            "camera.status messages (health changes): a reconnect every 2 h is 2 changes (reconnecting, online)")),
        "websocket_clients": Figure(value=300, source="assumption", note=(
            "concurrent console sessions at peak: the county centre, townships' stations, departments; each "
            "taken to subscribe to everything (filters only lower it)")),
        "bench_incidents_per_camera_hour": Figure(value=bench_rate, source="measured", note=(
            "bench/replay/results.json: incidents / footage hours of the replay bench (event-picked clips)")),
    }


# ------------------------------------------------------------------------------------------------------ model


@dataclass(frozen=True, kw_only=True)
class NodeShape:
    name: str
    cores: int
    memory_gib: int
    usable_share: float = 0.75  # headroom: Ray's raylet and object store, reconnect bursts, model warm-up


NODES = (NodeShape(name="2-core (this machine's size)", cores=2, memory_gib=8),
         NodeShape(name="16-core", cores=16, memory_gib=32))
RAY_NODE_OVERHEAD_MIB = 400  # ../shared/RAY-FACTS.md: ~0.9-1.2 GB for a 3-node cluster's Ray processes
NIGHT_INCIDENTS = 0.2  # assumption: a fifth of the peak incident rate at night (fewer people, fewer events)
API_REPLICA_CORE_BUDGET = 0.5  # plan an API replica (one Python process, one core at most) at half a core


def traffic(mix: dict[str, Figure], busy_share: float) -> dict[str, float]:
    """Messages and store rows per second for the analysed cameras."""
    del busy_share  # incidents are taken per analysed camera; the busy share only moves CPU
    cameras = CAMERAS_ANALYSED
    incidents_per_s = cameras * mix["incidents_per_camera_hour_peak"].value / 3600
    pipeline_messages = incidents_per_s * mix["pipeline_messages_per_incident"].value
    loop_messages = incidents_per_s * mix["loop_steps_per_incident"].value
    status_messages = cameras * mix["status_changes_per_camera_hour"].value / 3600
    messages = pipeline_messages + loop_messages + status_messages
    counter_rows = cameras / COUNTERS_REFRESH_S
    rows = (pipeline_messages * 3  # incident upsert, push message, outbox event
            + loop_messages * 4  # + the transition's history row
            + status_messages * 2  # push message, camera status upsert
            + counter_rows)
    return {"incidents_per_s": incidents_per_s, "messages_per_s": messages, "incident_changes_per_s":
            pipeline_messages + loop_messages, "status_messages_per_s": status_messages,
            "counter_rows_per_s": counter_rows, "store_rows_per_s": rows,
            "store_transactions_per_s": messages}


def nodes_needed(costs: dict[str, Figure], busy_share: float, profile: str, node: NodeShape) -> dict[str, Any]:
    busy, quiet = costs[f"busy_{profile}"].value, costs[f"quiet_{profile}"].value
    per_camera = busy_share * busy + (1 - busy_share) * quiet
    cores = CAMERAS_ANALYSED * per_camera
    by_cpu = math.ceil(cores / (node.cores * node.usable_share))
    cameras_per_node_cpu = math.floor(node.cores * node.usable_share / per_camera)
    memory_mib = node.memory_gib * 1024 * 0.85
    cameras_per_node_mem = math.floor((memory_mib - costs["rss_node_base_mib"].value - RAY_NODE_OVERHEAD_MIB)
                                      / costs["rss_per_camera_mib"].value)
    per_node = max(1, min(cameras_per_node_cpu, cameras_per_node_mem))
    nodes = max(by_cpu, math.ceil(CAMERAS_ANALYSED / per_node))
    # Cameras are placed by their busy cost (a quiet camera can turn busy at any moment): the placement bound.
    per_node_if_all_busy = max(1, math.floor(node.cores * node.usable_share / busy))
    return {"profile": profile, "node": node.name, "busy_share": busy_share, "cores_per_camera": round(per_camera, 4),
            "cores_total": round(cores, 1), "cameras_per_node": per_node, "nodes": nodes,
            "limited_by": "cpu" if cameras_per_node_cpu <= cameras_per_node_mem else "memory",
            "nodes_if_placed_by_busy_cost": math.ceil(CAMERAS_ANALYSED / min(per_node_if_all_busy,
                                                                            cameras_per_node_mem))}


def store_and_broker(flow: dict[str, float], measured: dict[str, Any] | None) -> dict[str, Any]:
    """What share of the store's one write lock the traffic takes, from the commit rates measured here."""
    out: dict[str, Any] = {}
    if not measured:
        return out
    single = next(run for run in measured["commit_rate"] if run["writers"] == 1)
    # In the cluster each node refreshes its own cameras' counters: the smallest batch measured is the node's case.
    refresh = min(measured.get("counters_refresh", []), key=lambda run: run["cameras"], default=None)
    incident_lock_s = flow["incident_changes_per_s"] / single["changes_per_s"]
    status_lock_s = flow["status_messages_per_s"] / single["changes_per_s"]
    counters_lock_s = flow["counter_rows_per_s"] / refresh["rows_per_s_while_writing"] if refresh else 0.0
    out["write_lock_busy_share"] = round(incident_lock_s + status_lock_s + counters_lock_s, 3)
    out["write_lock_busy_share_counters"] = round(counters_lock_s, 3)
    out["measured_changes_per_s_single_writer"] = single["changes_per_s"]
    return out


def websocket(flow: dict[str, float], mix: dict[str, Figure], us_per_delivery: float) -> dict[str, Any]:
    clients = mix["websocket_clients"].value
    deliveries = flow["messages_per_s"] * clients
    cores = deliveries * us_per_delivery / 1e6
    return {"clients": clients, "deliveries_per_s": round(deliveries, 1), "api_cores": round(cores, 3),
            "api_replicas": max(2, math.ceil(cores / API_REPLICA_CORE_BUDGET)),
            "us_per_delivery": us_per_delivery}


def server_us_per_delivery() -> Figure:
    runs = [_json(SPEED / name) for name in ("fanout.json", "fanout_100_raw.json", "fanout_50_websockets.json")]
    worst = max(run["server_cpu_us_per_delivery"] for run in runs)
    return Figure(value=worst, source="measured", note=(
        "bench/speed/results/fanout*.json: the highest server CPU per websocket delivery of the committed runs"))


PROFILES = ("sd", "1080p_640", "1080p_auto", "1080p_auto_int8")


def county_peak_messages_per_s() -> float:
    return traffic(activity(), 0.6)["messages_per_s"]


def model() -> dict[str, Any]:
    costs = camera_costs()
    measured = _json(MEASURED) if MEASURED.exists() else None
    us = server_us_per_delivery()
    scenarios = []
    for name, incident_scale, busy_key in (("peak", 1.0, "busy_share_peak"), ("night", NIGHT_INCIDENTS, "busy_share_night"),
                                           ("peak, all busy", 1.0, None), ("10x peak incidents, all busy", 10.0,
                                                                           None)):
        mix = activity(incident_scale)
        busy_share = mix[busy_key].value if busy_key else 1.0
        flow = traffic(mix, busy_share)
        scenarios.append({
            "scenario": name, "busy_share": busy_share,
            "nodes": [nodes_needed(costs, busy_share, profile, node) for profile in PROFILES for node in NODES
                      if costs[f"busy_{profile}"].value <= node.cores * node.usable_share],  # one busy camera fits
            "traffic": {key: round(value, 2) for key, value in flow.items()},
            "store": store_and_broker(flow, measured),
            "websocket": websocket(flow, mix, us.value),
        })
    return {
        "county": {"cameras_total": CAMERAS_TOTAL, "cameras_analysed": CAMERAS_ANALYSED, "analysed_fps": ANALYSED_FPS,
                   "source": "published (issue 11)"},
        "per_camera": {key: asdict(value) for key, value in costs.items()},
        "activity": {key: asdict(value) for key, value in activity().items()},
        "websocket_us_per_delivery": asdict(us),
        "node_shapes": [asdict(node) for node in NODES],
        "scenarios": scenarios,
        "measured": measured and {key: measured[key] for key in ("commit_rate", "counters_refresh", "broker_latency")
                                  if key in measured},
    }


def markdown(result: dict[str, Any]) -> str:
    lines = ["| scenario | busy share | camera | node | cores/camera | cores total | cameras/node | nodes "
             "| nodes if placed by busy cost |", "|---|---|---|---|---|---|---|---|---|"]
    for scenario in result["scenarios"]:
        if scenario["scenario"].startswith("10x"):
            continue  # the same CPU as "peak, all busy": incidents cost the store and broker, not the nodes
        for row in scenario["nodes"]:
            lines.append(f"| {scenario['scenario']} | {row['busy_share']} | {row['profile']} | {row['node']} | "
                         f"{row['cores_per_camera']} | {row['cores_total']} | {row['cameras_per_node']} | "
                         f"**{row['nodes']}** | {row['nodes_if_placed_by_busy_cost']} |")
    lines += ["", "| scenario | incidents/s | broker messages/s | store rows/s (of which counters) | "
              "message transactions/s | write lock busy | websocket deliveries/s | API cores | API replicas |",
              "|---|---|---|---|---|---|---|---|---|"]
    for scenario in result["scenarios"]:
        flow, store, ws = scenario["traffic"], scenario["store"], scenario["websocket"]
        lines.append(f"| {scenario['scenario']} | {flow['incidents_per_s']} | {flow['messages_per_s']} | "
                     f"{flow['store_rows_per_s']} ({flow['counter_rows_per_s']}) | {flow['store_transactions_per_s']} "
                     f"| {store.get('write_lock_busy_share', '-')} (counters "
                     f"{store.get('write_lock_busy_share_counters', '-')}) | {ws['deliveries_per_s']} | "
                     f"{ws['api_cores']} | {ws['api_replicas']} |")
    measured = result.get("measured")
    if measured:
        lines += ["", "| store commit (PostgreSQL here) | writers | changes/s (median; runs) | rows/s | commit ms "
                  "p50 / p95 / p99 |", "|---|---|---|---|---|"]
        for run in measured["commit_rate"]:
            ms = run["commit_ms"]
            lines.append(f"| incident changes | {run['writers']} | {run['changes_per_s']} "
                         f"({', '.join(str(v) for v in run['runs_changes_per_s'])}) | {run['rows_per_s']} | "
                         f"{ms['50']} / {ms['95']} / {ms['99']} |")
        for run in measured.get("counters_refresh", []):
            lines.append(f"| counters refresh, {run['cameras']} cameras in one transaction | 1 | - | "
                         f"{run['rows_per_s_while_writing']} | {run['ms_median']} (median of {run['runs']}) |")
        lines += ["", "| broker (Redis stream) | messages/s | publishers | messages | delivered in seq order | "
                  "publish → subscriber ms p50 / p95 / p99 (max) | from the store |", "|---|---|---|---|---|---|---|"]
        for run in measured["broker_latency"]:
            ms = run["latency_ms"]
            lines.append(f"| | {run['rate_per_s']} | {run['publishers']} | {run['published']} | "
                         f"{run['delivered']} ({'yes' if run['in_seq_order'] else 'NO'}) | {ms['50']} / {ms['95']} / "
                         f"{ms['99']} ({run['latency_max_ms']}) | {run['from_store']} |")
    lines += ["", "| figure | value | source | note |", "|---|---|---|---|"]
    for group in ("per_camera", "activity"):
        for key, figure in result[group].items():
            lines.append(f"| {key} | {round(figure['value'], 4)} | {figure['source']} | {figure['note']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=RESULTS / "capacity.json")
    parser.add_argument("--markdown", action="store_true", help="print the tables for RESULTS.md")
    args = parser.parse_args()
    result = model()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")
    if args.markdown:
        print(markdown(result))


if __name__ == "__main__":
    main()
