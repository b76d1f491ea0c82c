"""Which Ray node runs which camera: the placement controller, one per cluster.

A named detached actor (`xueliang-placement` in namespace `xueliang`, restarted wherever Ray can when its node is
lost). Every `cluster.reconcile_s` it:
- lists the alive Ray nodes with CPUs and makes sure each has its camera host (analytics/cluster/host.py);
- records each node's load (`store.cluster.report_node`);
- for a node that is gone: marks it lost, records each of its cameras offline ("node … lost; moving to another
  node", a camera.status message the camera wall and the websocket clients see) and places them elsewhere;
- places every unplaced camera on the least-loaded node with room, and starts on each host the cameras placed
  there that it does not run (after a host or controller restart too: the store's placements are the plan).
A node's room is `cpus * node_cpu_share / camera_cpus` cameras. `rebalance()` moves cameras from the fullest nodes
to the emptiest (after a node joined), one camera at a time while that lowers the fullest node's load.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from analytics.cluster import CONTROLLER_NAME, NAMESPACE
from analytics.cluster.host import start_host
from models.clock import SYSTEM_CLOCK
from models.config import ServiceConfig
from models.incident import CameraStatusRecord
from models.push import PushJournal
from models.store import Store
from models.views import camera_status_view

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 10.0  # starting or stopping a camera on a host
REPORT_TIMEOUT_S = 3.0  # a host that does not report within this is left out of this round's placement
# A node whose host died is not given a new host for this long: when a node's raylet dies, its workers (the host)
# die at once but Ray declares the node dead only after its health checks fail (~16 s by default); the cameras
# move at once, and a node that is in fact alive gets a host again afterwards.
HOST_RETRY_S = 30.0
# A new host loads the models (~10-30 s) before it first reports; placement waits for it this long, so a cluster
# starting up spreads its cameras instead of giving them all to the node that was ready first.
HOST_START_S = 90.0
HEAD_RESOURCE = "node:__internal_head__"  # the resource Ray gives the head node only


@dataclass(frozen=True, kw_only=True)
class NodeRoom:
    """An alive node as placement sees it: how many cameras it can take and which it serves now."""

    node_id: str
    address: str
    room: int
    camera_ids: frozenset[str] = frozenset()

    @property
    def load(self) -> float:
        return len(self.camera_ids) / self.room if self.room else float("inf")


@dataclass(frozen=True, kw_only=True)
class Move:
    camera_id: str
    from_node: str | None
    to_node: str


def node_room(cpus: float, camera_cpus: float, cpu_share: float) -> int:
    """Cameras a node takes: its CPUs times the share placement fills, over one camera's cost."""
    return int(cpus * cpu_share / camera_cpus + 1e-9)


def place_unplaced(camera_ids: Sequence[str], nodes: Mapping[str, NodeRoom]) -> list[Move]:
    """Each camera on the least-loaded node that has room (ties: the node's address, then id); a camera no node
    has room for stays unplaced (not in the moves)."""
    counts = {node_id: len(node.camera_ids) for node_id, node in nodes.items()}
    moves = []
    for camera_id in camera_ids:
        with_room = [node for node_id, node in nodes.items() if counts[node_id] < node.room]
        if not with_room:
            break
        target = min(with_room, key=lambda node: (counts[node.node_id] / node.room, node.address, node.node_id))
        counts[target.node_id] += 1
        moves.append(Move(camera_id=camera_id, from_node=None, to_node=target.node_id))
    return moves


def plan_rebalance(nodes: Mapping[str, NodeRoom]) -> list[Move]:
    """Moves from the fullest node to the emptiest, one camera at a time, while the move leaves the receiving
    node less loaded than the giving one was (so no camera moves back and forth)."""
    cameras = {node_id: sorted(node.camera_ids) for node_id, node in nodes.items()}
    rooms = {node_id: node.room for node_id, node in nodes.items() if node.room > 0}
    moves: list[Move] = []
    while len(rooms) > 1:
        load = {node_id: len(cameras[node_id]) / rooms[node_id] for node_id in rooms}
        fullest = max(rooms, key=lambda node_id: (load[node_id], node_id))
        emptiest = min(rooms, key=lambda node_id: (load[node_id], node_id))
        if (len(cameras[emptiest]) + 1) / rooms[emptiest] >= load[fullest] or not cameras[fullest]:
            break
        camera_id = cameras[fullest].pop()
        cameras[emptiest].append(camera_id)
        moves.append(Move(camera_id=camera_id, from_node=fullest, to_node=emptiest))
    return moves


def alive_cpu_nodes() -> dict[str, tuple[str, float]]:
    """The alive Ray nodes with CPUs (a head started with --num-cpus=0 runs no camera): id -> (address, cpus)."""
    return {
        node["NodeID"]: (node["NodeManagerAddress"], float(node["Resources"].get("CPU", 0)))
        for node in ray.nodes()
        if node["Alive"] and node["Resources"].get("CPU", 0) > 0
    }


class PlacementController:
    def __init__(self, config: ServiceConfig) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        assert config.cluster is not None, "the placement controller needs `cluster:` in the config"
        self.config = config
        self.cluster = config.cluster
        self.clock = SYSTEM_CLOCK
        self.store = Store(config.store.url.get_secret_value(), pool_size=2, max_overflow=2)
        self.store.migrate()
        from models.brokers import RedisStreamBroker, broker_from_url

        self.broker = broker_from_url(self.cluster.network_broker_url(), message_log=self.store.push_log)
        self._closable = self.broker if isinstance(self.broker, RedisStreamBroker) else None
        self.journal = PushJournal(self.store, self.broker)
        self.hosts: dict[str, Any] = {}  # node id -> its CameraHost handle
        self.addresses: dict[str, str] = {}
        self.host_died: dict[str, float] = {}  # node id -> monotonic time its host was found dead
        self.host_starting: dict[str, float] = {}  # node id -> monotonic time its host was made, until it reports
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Placements in the store are the plan: after a restart of this actor they are read back as they were.
        log.info("placement controller: %d camera placement(s) in the store", len(self.store.cluster.placements()))
        self._loop = threading.Thread(target=self._run, name="placement", daemon=True)
        self._loop.start()

    def _run(self) -> None:
        while not self._stop.wait(self.cluster.reconcile_s):
            try:
                self.reconcile()
            except Exception:
                log.exception("placement: reconcile failed; again in %.1f s", self.cluster.reconcile_s)

    def ready(self) -> bool:
        return True

    def node_id(self) -> str:
        """The Ray node this controller runs on."""
        return str(ray.get_runtime_context().get_node_id())

    def reconcile(self) -> dict[str, str | None]:
        """One round (see the module docstring); the placements after it, camera -> node id."""
        with self._lock:
            alive = alive_cpu_nodes()
            now = self.clock.now()
            for node_id, (address, cpus) in alive.items():
                died = self.host_died.get(node_id)
                if died is not None and time.monotonic() - died < HOST_RETRY_S:
                    continue
                if node_id not in self.hosts:
                    log.info("placement: node %s (%s) joined with %.0f CPUs", address, node_id[:8], cpus)
                    self.hosts[node_id] = start_host(self.config, node_id, address, cpus)
                    self.host_starting[node_id] = time.monotonic()
                    self.addresses[node_id] = address
            for record in self.store.cluster.nodes():
                if record.alive and record.node_id not in alive:
                    self._lose(record.node_id, record.address)
            for node_id in [node_id for node_id in self.hosts if node_id not in alive]:
                self._lose(node_id, self.addresses.get(node_id, "?"))
            reports = self._reports()
            for report in reports.values():
                self.store.cluster.report_node(report, now)
                self.host_starting.pop(report.node_id, None)
            starting = [n for n, at in self.host_starting.items() if n in self.hosts and time.monotonic() - at < HOST_START_S]
            nodes = self._rooms(alive, reports)
            placements = {camera_id: p.node_id for camera_id, p in self.store.cluster.placements().items()}
            enabled = [camera_id for camera_id, _ in self.config.enabled_cameras()]
            unplaced = [camera_id for camera_id in enabled if placements.get(camera_id) not in nodes]
            planned = {node_id: {c for c in enabled if placements.get(c) == node_id} for node_id in nodes}
            rooms = {
                node_id: NodeRoom(node_id=node_id, address=node.address, room=node.room,
                                  camera_ids=frozenset(planned[node_id]))
                for node_id, node in nodes.items()
            }  # fmt: skip
            for move in place_unplaced(unplaced if not starting else [], rooms):
                reason = "placed" if placements.get(move.camera_id) is None else "moved from a lost node"
                self.store.cluster.place(move.camera_id, move.to_node, reason, now)
                planned[move.to_node].add(move.camera_id)
                placements[move.camera_id] = move.to_node
            for camera_id in unplaced:
                if placements.get(camera_id) not in nodes and not starting:
                    log.warning("placement: no node has room for camera %s", camera_id)
            self._converge(planned, reports)
            return placements

    def rebalance(self) -> list[dict[str, str]]:
        """Move cameras from the fullest nodes to the emptiest; the moves made."""
        self.reconcile()
        with self._lock:
            alive = alive_cpu_nodes()
            reports = self._reports()
            nodes = self._rooms(alive, reports)
            moves = plan_rebalance(nodes)
            done: list[dict[str, str]] = []
            for move in moves:
                assert move.from_node is not None
                try:
                    ray.get(self.hosts[move.from_node].stop_camera.remote(move.camera_id), timeout=CALL_TIMEOUT_S)
                except (RayActorError, GetTimeoutError) as error:
                    log.warning("rebalance: could not stop %s on %s (%s)", move.camera_id, move.from_node[:8], error)
                    continue
                self.store.cluster.place(move.camera_id, move.to_node, "rebalanced", self.clock.now())
                self._start(move.to_node, move.camera_id)
                done.append({"camera_id": move.camera_id, "from_node": move.from_node, "to_node": move.to_node})
                log.info("rebalance: camera %s moved %s -> %s", move.camera_id, move.from_node[:8], move.to_node[:8])
            return done

    def _rooms(self, alive: Mapping[str, tuple[str, float]], reports: Mapping[str, Any]) -> dict[str, NodeRoom]:
        """The nodes that can take cameras now (alive, their host answering), with what they run."""
        return {
            node_id: NodeRoom(
                node_id=node_id, address=address,
                room=node_room(cpus, self.cluster.camera_cpus, self.cluster.node_cpu_share),
                camera_ids=frozenset(reports[node_id].camera_ids),
            )  # fmt: skip
            for node_id, (address, cpus) in alive.items()
            if node_id in reports
        }

    def _reports(self) -> dict[str, Any]:
        """Each host's NodeReport, for the hosts that answer in time; a dead host is forgotten (made anew next
        round if its node is still alive)."""
        pending = {host.report.remote(): node_id for node_id, host in self.hosts.items()}
        if not pending:
            return {}
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=REPORT_TIMEOUT_S)
        reports = {}
        for ref in ready:
            node_id = pending[ref]
            try:
                reports[node_id] = ray.get(ref)
            except RayActorError as error:
                # its process is gone: with its node (the usual case), or alone; either way its cameras move now
                log.warning("placement: the host of node %s is gone (%s)", node_id[:8], type(error).__name__)
                self.host_died[node_id] = time.monotonic()
                self._lose(node_id, self.addresses.get(node_id, "?"))
        return reports

    def _converge(self, planned: Mapping[str, set[str]], reports: Mapping[str, Any]) -> None:
        """Start on each host the cameras placed there that it does not run; stop those it runs but is not
        placed with."""
        for node_id, camera_ids in planned.items():
            running = set(reports[node_id].camera_ids)
            for camera_id in sorted(running - camera_ids):
                self.hosts[node_id].stop_camera.remote(camera_id)
            for camera_id in sorted(camera_ids - running):
                self._start(node_id, camera_id)

    def _start(self, node_id: str, camera_id: str) -> None:
        try:
            ray.get(self.hosts[node_id].start_camera.remote(camera_id), timeout=CALL_TIMEOUT_S)
            log.info("placement: camera %s runs on node %s", camera_id, node_id[:8])
        except (RayActorError, GetTimeoutError) as error:
            log.warning("placement: could not start %s on %s (%s); next round", camera_id, node_id[:8], error)

    def _lose(self, node_id: str, address: str) -> None:
        """The node is gone: recorded lost, its cameras offline (pushed) and unplaced, to be placed elsewhere."""
        now = self.clock.now()
        self.hosts.pop(node_id, None)
        self.store.cluster.mark_node_lost(node_id, now)
        error = f"node {address} lost; moving to another node"
        statuses = {status.camera_id: status for status in self.store.cameras.statuses()}  # read once, not per camera
        for camera_id, placement in self.store.cluster.placements().items():
            if placement.node_id != node_id:
                continue
            self.store.cluster.place(camera_id, None, error, now)
            if camera_id in self.config.cameras:
                self._offline(camera_id, error, statuses.get(camera_id))
        log.warning("placement: node %s (%s) lost", address, node_id[:8])

    def _offline(self, camera_id: str, error: str, previous: CameraStatusRecord | None) -> None:
        """Record and push the camera offline, its frame counters kept from its `previous` status."""
        now = self.clock.now()
        camera = self.config.cameras[camera_id]
        grid_code = self.config.camera_grid_cell(camera_id)
        record = CameraStatusRecord(
            camera_id=camera_id, state="offline", since=now, last_error=error, updated_at=now,
            frames_decoded=previous.frames_decoded if previous else 0,
            frames_dropped=previous.frames_dropped if previous else 0,
            analysed_fps=None,
        )  # fmt: skip
        self.journal.camera_status(record, grid_code, camera_status_view(record, name=camera.name, grid_code=grid_code))

    def placements(self) -> dict[str, str | None]:
        return {camera_id: p.node_id for camera_id, p in self.store.cluster.placements().items()}

    def shutdown(self) -> None:
        self._stop.set()
        if self._closable is not None:
            self._closable.close()
        self.store.close()


def ensure_controller(config: ServiceConfig) -> Any:
    """The cluster's placement controller (made when none runs yet); Ray must be initialised.

    It runs on the head node when there is one (the node holding Ray's GCS, which the cluster cannot lose anyway;
    started with --num-cpus=0 it runs no camera): losing a camera node then moves its cameras within seconds. Where
    no head node is listed Ray chooses the node; a controller lost with its node is restarted elsewhere only once Ray declares that node dead (~16 s by default; ~25 s to its cameras
    online again, measured in tests/cluster before the controller was pinned to the head). Ray 2.60 put a soft
    affinity to the CPU-less head on a worker: the pin is strict."""
    heads = [node["NodeID"] for node in ray.nodes() if node["Alive"] and HEAD_RESOURCE in node["Resources"]]
    options: dict[str, Any] = {}
    if heads:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(heads[0], soft=False)
    actor = ray.remote(PlacementController).options(  # type: ignore[attr-defined]
        **options,
        name=CONTROLLER_NAME,
        namespace=NAMESPACE,
        get_if_exists=True,
        lifetime="detached",
        num_cpus=0,
        max_restarts=-1,
        max_task_retries=-1,
        max_concurrency=4,
    )
    controller: Any = actor.remote(config)
    ray.get(controller.ready.remote(), timeout=120)
    return controller


def connect(config: ServiceConfig) -> None:
    """Join the configured Ray cluster as a driver (namespace `xueliang`), once per process."""
    assert config.cluster is not None and config.cluster.ray_address is not None
    if not ray.is_initialized():
        ray.init(address=config.cluster.ray_address, namespace=NAMESPACE, log_to_driver=False)
