"""The console script: `xueliang serve`, `xueliang check-config`, `xueliang replay`."""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from models.config import ConfigError, ServiceConfig, load_config

if TYPE_CHECKING:
    from models.brokers import RedisStreamBroker

log = logging.getLogger("xueliang")

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "models" / "demo_config.yaml"
EXIT_CONFIG = 2
EXIT_MODELS = 3
EXIT_REPLAY = 4
EXIT_DEPENDENCY = 5

# uvicorn's websocket settings for `xueliang serve` (bench.speed.fanout runs the API with the same ones).
# No permessage-deflate: browsers offer it, and with it every client compresses every message on its own (its
# own zlib context), ~6 of the ~16 µs a delivery costs the server at 500 clients (bench.speed.fanout, RESULTS.md
# section 5). The price is bandwidth: an incident message is ~0.7-1 KB as sent instead of a few hundred bytes.
UVICORN_WS: dict[str, object] = {"ws_ping_interval": 20, "ws_ping_timeout": 20, "ws_per_message_deflate": False}


def freeze_startup_objects() -> None:
    """Move everything alive after startup (torch, OpenVINO, ultralytics, the app: ~350k objects) out of the
    garbage collector's reach. A full collection otherwise walks them all, a 230-300 ms pause of the event loop
    under load (every websocket delivery waits); frozen, it walks only what came later: 30-40 ms
    (bench.speed.fanout, RESULTS.md section 5). Objects alive now are never freed by the collector."""
    gc.collect()
    gc.freeze()


def config_secrets(config: ServiceConfig) -> list[str]:
    """Every secret in the config, so the log filter can scrub them even where they appear unparsed."""
    from urllib.parse import urlsplit

    secrets = []
    urls = [c.url.get_secret_value() for c in config.cameras.values()] + [config.store.url.get_secret_value()]
    urls += [c.record_url.get_secret_value() for c in config.cameras.values() if c.record_url is not None]
    if config.cluster is not None and config.cluster.broker_url is not None:
        urls.append(config.cluster.broker_url.get_secret_value())
    for url in urls:
        parts = urlsplit(url)
        secrets += [p for p in (parts.password, parts.username) if p]
    if config.auth.jwt_secret is not None:
        secrets.append(config.auth.jwt_secret.get_secret_value())
    for endpoint in config.delivery.endpoints.values():
        # The whole URL too: an incident system's URL may carry a token in its path or query.
        parts = urlsplit(endpoint.url)
        secrets += [endpoint.secret.get_secret_value(), endpoint.url]
        secrets += [p for p in (parts.password, parts.username) if p]
    return secrets


@contextlib.contextmanager
def demo_streams() -> Iterator[dict[str, str]]:
    """A local RTSP server looping the demo footage; yields the environment the demo config reads."""
    from ingest.demo.footage import fire_clip, pedestrian_clip
    from ingest.rtsp_server import LocalRtspServer

    with LocalRtspServer() as server:
        server.add_stream("pedestrians", pedestrian_clip())
        server.add_stream("fire", fire_clip())
        server.start()
        server.wait_ready(timeout=30)
        base = f"rtsp://127.0.0.1:{server.port}"
        log.info("demo RTSP server: %s/pedestrians and %s/fire", base, base)
        yield {"XUELIANG_DEMO_RTSP": base}


def cluster_broker(config: ServiceConfig, stack: contextlib.ExitStack[bool | None]) -> RedisStreamBroker | None:
    """Check what the processes of a cluster share (the store, the broker, Ray) and return the network broker
    this replica publishes to and listens on, closed with `stack`; None for one process (the app's own broker).
    Raises `DependencyUnreachable` naming the first dependency that does not answer."""
    from api.startup_checks import check_broker, check_ray, check_store
    from models.brokers import RedisStreamBroker, broker_from_url
    from models.store import Store

    check_store(config)
    if config.cluster is None:
        return None
    check_ray(config.cluster.ray_address)
    url = config.cluster.network_broker_url()
    if url is None:
        return None
    # The broker reads the push log to deliver in seq order and to fill gaps: a small pool of its own.
    push_store = stack.enter_context(Store(config.store.url.get_secret_value(), pool_size=1, max_overflow=1))
    broker = broker_from_url(url, message_log=push_store.push_log)
    assert isinstance(broker, RedisStreamBroker)
    stack.callback(broker.close)
    check_broker(broker)
    return broker


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from analytics.detector_backends import load_detectors
    from analytics.model_files import ModelUnavailableError
    from analytics.service import models_needed
    from api.app import create_app
    from api.logs import setup_logging
    from api.startup_checks import DependencyUnreachable

    setup_logging(args.log_level, log_format=args.log_format or "text")
    with contextlib.ExitStack() as stack:
        environ = dict(os.environ)
        if args.demo:
            environ.update(stack.enter_context(demo_streams()))
        try:
            config = load_config(args.config or DEMO_CONFIG, environ=environ)
        except ConfigError as error:
            print(error, file=sys.stderr)
            return EXIT_CONFIG
        setup_logging(args.log_level, config_secrets(config), args.log_format or config.server.log_format)
        try:
            broker = cluster_broker(config, stack)
        except DependencyUnreachable as error:
            print(f"cannot start: {error}", file=sys.stderr)
            return EXIT_DEPENDENCY
        ray_placed = config.cluster is not None and config.cluster.ray_address is not None and not args.api_only
        if ray_placed:
            try:
                from analytics.cluster.placement import connect, ensure_controller
            except ImportError as error:
                print(f"cannot start: cluster.ray_address needs Ray (the `cluster` extra): {error}", file=sys.stderr)
                return EXIT_DEPENDENCY

            try:
                connect(config)
            except (ConnectionError, RuntimeError, ValueError) as error:
                print(f"cannot start: cluster.ray_address: Ray at {config.cluster.ray_address if config.cluster else ''} "
                      f"could not be joined: {str(error).splitlines()[0] if str(error) else type(error).__name__}",
                      file=sys.stderr)  # fmt: skip
                return EXIT_DEPENDENCY
            stack.callback(_ray_shutdown)
            ensure_controller(config)
            log.info("cameras run on the Ray cluster %s (placement controller: xueliang-placement)",
                     config.cluster.ray_address if config.cluster else "")  # fmt: skip
        detectors = None
        if not args.api_only and not ray_placed:
            try:
                detectors = load_detectors(config.models, models_needed(config))
            except ModelUnavailableError as error:
                print(f"cannot start: {error}", file=sys.stderr)
                return EXIT_MODELS
        app = create_app(config, run_cameras=not (args.api_only or ray_placed), detectors=detectors, broker=broker)
        if args.api_only:
            log.info("API replica (--api-only): no cameras run here")
        if broker is not None:
            log.info("push broker: %s", broker.redacted_url)
        host = args.host or config.server.host
        port = args.port if args.port is not None else config.server.port
        log.info("API on http://%s:%d (OpenAPI at /docs, websocket at /ws)", host, port)
        freeze_startup_objects()
        uvicorn.run(app, host=host, port=port, log_config=None, **UVICORN_WS)  # type: ignore[arg-type]
    return 0


def _ray_shutdown() -> None:
    import ray

    ray.shutdown()


def cluster_rebalance(args: argparse.Namespace) -> int:
    """Ask the cluster's placement controller to move cameras from the fullest nodes to the emptiest."""
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    if config.cluster is None or config.cluster.ray_address is None:
        print(f"{args.config}: cluster.ray_address is not set: no Ray cluster places the cameras", file=sys.stderr)
        return EXIT_CONFIG
    from analytics.cluster.placement import connect, ensure_controller

    connect(config)
    try:
        import ray

        moves = ray.get(ensure_controller(config).rebalance.remote(), timeout=300)
    finally:
        _ray_shutdown()
    for move in moves:
        print(f"camera {move['camera_id']}: node {move['from_node']} -> {move['to_node']}")
    print(f"{len(moves)} camera(s) moved")
    return 0


def check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    from analytics.detector_backends import check_model
    from analytics.model_files import ModelUnavailableError
    from analytics.service import models_needed

    problems = []
    for name in sorted(models_needed(config) & set(config.models)):
        try:
            check_model(name, config.models[name])  # e.g. the weights are there and are the ones configured
        except ModelUnavailableError as error:
            problems.append(str(error))
    if problems:
        print(f"{args.file}: invalid configuration: " + "; ".join(problems), file=sys.stderr)
        return EXIT_MODELS
    tree = config.grid_tree()
    print(
        f"{args.file}: OK — {sum(1 for _ in tree)} grid cells, {len(config.event_categories)} event categories, "
        f"{len(config.models)} models, {len(config.cameras)} cameras"
    )
    for camera_id, camera in config.cameras.items():
        rules = [name for name, rule in camera.rules if rule is not None and rule.enabled]
        print(f"  {camera_id} {camera.name}: grid cell {config.camera_grid_cell(camera_id)}, rules {', '.join(rules)}")
    print(cluster_summary(config))
    return 0


def cluster_summary(config: ServiceConfig) -> str:
    """One line on how the processes share work (credentials masked): what `check-config` prints last."""
    from ingest.redact import redact_url

    if config.cluster is None:
        return "  cluster: none (one process: in-process broker)"
    broker_url = config.cluster.network_broker_url()
    broker = f"broker {redact_url(broker_url)}" if broker_url else "in-process broker"
    ray = f"Ray at {config.cluster.ray_address}" if config.cluster.ray_address else "no Ray address"
    pool = f"{config.store.pool_size}+{config.store.max_overflow}"
    return f"  cluster: {broker}, {ray}, PostgreSQL pool {pool} connections per replica"


@contextlib.contextmanager
def replay_logging(level: str) -> Iterator[None]:
    """Logging for a replay, put back afterwards (tests call the CLI in-process)."""
    from api.logs import setup_logging

    root, stream_log = logging.getLogger(), logging.getLogger("ingest.camera_stream")
    saved = (list(root.handlers), root.level, stream_log.level)
    setup_logging(level)
    if level != "DEBUG":
        stream_log.setLevel(logging.ERROR)  # every clip ends with "offline: end of file": that is the plan
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        stream_log.setLevel(saved[2])


def replay(args: argparse.Namespace) -> int:
    """Replay clips through the live pipeline into a dedicated store in --out, score them against --labels."""
    with replay_logging(args.log_level):
        return _replay(args)


def _replay(args: argparse.Namespace) -> int:
    import shlex

    from analytics.detector_backends import load_detectors
    from analytics.ground_truth import LabelsError, load_labels
    from analytics.model_files import ModelUnavailableError
    from analytics.replay import ReplayFailedError, ReplayInputError, clip_files, parse_speed
    from analytics.replay_baseline import BaselineError, load_baseline
    from analytics.replay_report import (
        baseline_table,
        check_plans,
        per_clip_table,
        plan_replays,
        prepare_out_dir,
        run_replays,
        summary_tables,
        text_table,
        write_outputs,
    )
    try:
        config = load_config(args.config)
        labels = load_labels(args.labels) if args.labels else None
        speed = parse_speed(args.speed or ("realtime" if args.rtsp else "max"))
        if args.rtsp and speed != 1.0:
            raise ReplayInputError("--rtsp replays run in real time: leave out --speed or give --speed realtime")
        clips = clip_files(args.clips)
        if not clips:
            raise ReplayInputError(f"no video files in {', '.join(map(str, args.clips))}")
        plans = plan_replays(config, clips, labels, camera=args.camera, speed=speed, rtsp=args.rtsp)
        needed = check_plans(config, plans)
        baseline = load_baseline(args.baseline) if args.baseline else None
        prepare_out_dir(args.out)
    except (ConfigError, LabelsError, ReplayInputError, BaselineError) as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    try:
        detectors = load_detectors(config.models, needed)
    except ModelUnavailableError as error:
        print(f"cannot replay: {error}", file=sys.stderr)
        return EXIT_MODELS
    command = shlex.join(["xueliang", *args.argv])
    try:
        results = run_replays(config, plans, detectors, args.out, labels, progress=not args.no_progress)
    except ReplayInputError as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    except ReplayFailedError as error:
        print(f"replay failed: {error}", file=sys.stderr)
        return EXIT_REPLAY
    scores = write_outputs(args.out, results, command=command, plots=not args.no_plots, baseline=baseline)
    print(per_clip_table(results, text_table))
    print()
    print(summary_tables(results, text_table))
    if baseline is not None:
        print(f"\nagainst the baseline {args.baseline}:")
        print(baseline_table(scores, baseline, text_table))
        if {c["clip"] for c in scores["clips"]} != {c["clip"] for c in baseline.get("clips", [])}:
            print("(the clip sets differ: the pooled totals are over different footage; compare the clips' rows)")
    print(f"\nwritten to {args.out}/: incidents.jsonl, frames.jsonl, scores.json, report.md")
    return 0


def hash_password(args: argparse.Namespace) -> int:
    """Print the argon2 hash of a password for `auth.users.<name>.password_hash`; the password is read without
    echo (twice), or from standard input with --stdin, never from the command line (shell history)."""
    import getpass

    from api.auth import password_hasher

    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 1
    if len(password) < 8:
        print("a password needs at least 8 characters", file=sys.stderr)
        return 1
    print(password_hasher().hash(password))
    return 0


def new_api_key(_args: argparse.Namespace) -> int:
    """Print a fresh random API key (give it to the service) and its sha256 (`auth.api_keys.<name>.key_sha256`)."""
    from api.auth import new_api_key as make_key

    issued = make_key()
    print(f"key:        {issued.key}\nkey_sha256: {issued.key_sha256}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xueliang", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the API and the camera pipelines")
    source = p_serve.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="YAML configuration file")
    source.add_argument("--demo", action="store_true", help="the embedded demo (local RTSP server, SQLite)")
    p_serve.add_argument("--host", help="override server.host")
    p_serve.add_argument("--port", type=int, help="override server.port")
    p_serve.add_argument(
        "--api-only",
        action="store_true",
        help="an extra API replica: serve the API and websocket over the shared store and broker, run no cameras",
    )
    p_serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p_serve.add_argument(
        "--log-format", choices=["text", "json"], help="override server.log_format (json: one object per line)"
    )
    p_serve.set_defaults(func=serve)
    p_cluster = sub.add_parser("cluster", help="the Ray cluster that runs the cameras (cluster.ray_address)")
    cluster_sub = p_cluster.add_subparsers(dest="cluster_command", required=True)
    p_rebalance = cluster_sub.add_parser(
        "rebalance", help="move cameras from the fullest nodes to the emptiest (e.g. after adding a node)"
    )
    p_rebalance.add_argument("--config", type=Path, required=True, help="YAML configuration with `cluster:`")
    p_rebalance.set_defaults(func=cluster_rebalance)
    p_check = sub.add_parser("check-config", help="validate a configuration file and summarise it")
    p_check.add_argument("file", type=Path)
    p_check.set_defaults(func=check_config)
    p_hash = sub.add_parser("hash-password", help="print the argon2 hash of a password, for auth.users")
    p_hash.add_argument("--stdin", action="store_true", help="read the password from standard input")
    p_hash.set_defaults(func=hash_password)
    p_key = sub.add_parser("new-api-key", help="print a new API key and its sha256, for auth.api_keys")
    p_key.set_defaults(func=new_api_key)
    p_replay = sub.add_parser(
        "replay",
        help="replay recorded clips through the live pipeline and score them against labels",
        description="Replay clips (files, or folders of them) through the same ingest/analytics/incident code as a "
        "live camera, deterministically, into a dedicated store in --out; write incidents.jsonl, frames.jsonl, "
        "scores.json and report.md there. Labels: see bench/replay/LABELS.md.",
    )
    p_replay.add_argument("clips", nargs="+", type=Path, metavar="CLIP", help="video file or folder of them")
    p_replay.add_argument("--config", type=Path, required=True, help="YAML configuration with the cameras")
    p_replay.add_argument(
        "--camera", help="camera to replay every clip as (default: the labels' camera for it, else the first)"
    )
    p_replay.add_argument("--labels", type=Path, help="ground-truth labels YAML; clips without labels are not scored")
    p_replay.add_argument(
        "--speed", help="realtime, 2x (any factor) or max (default: max; frames analysed are the same at any speed)"
    )
    p_replay.add_argument("--rtsp", action="store_true", help="serve each clip over a local RTSP server (real time)")
    p_replay.add_argument("--out", type=Path, default=Path("replay-out"), help="output folder (default replay-out)")
    p_replay.add_argument(
        "--baseline",
        type=Path,
        metavar="OLD/scores.json",
        help="an earlier run's scores.json: each score is shown beside it with the change; report.md marks what "
        "got worse",
    )
    p_replay.add_argument("--no-plots", action="store_true", help="skip the timeline plots")
    p_replay.add_argument("--no-progress", action="store_true", help="no progress bar")
    p_replay.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p_replay.set_defaults(func=replay)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    if args.command == "serve" and not args.config and not args.demo:
        args.demo = True  # `xueliang serve` alone runs the embedded demo
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
