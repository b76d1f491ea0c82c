"""The local RTSP server the demo and the tests rely on: streams, restarts, and no orphan processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from ingest.rtsp_server import LocalRtspServer, prepare_clip
from ingest.testing import wait_until


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def group_members(pgid: int) -> list[str]:
    """Command names of the live (not zombie) processes in process group `pgid`."""
    names = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()  # "pid (comm) state ppid pgrp ..."
        except OSError:
            continue
        name, _, rest = text.partition("(")[2].rpartition(")")
        state, _ppid, pgrp = rest.split()[:3]
        if int(pgrp) == pgid and state != "Z":
            names.append(name)
    return names


def test_urls_carry_quoted_credentials_only_when_asked(vtest_clip: Path) -> None:
    server = LocalRtspServer(port=45678, user="op", password="p@ss:w/rd")
    server.add_stream("gate-1", vtest_clip)
    assert server.url("gate-1") == "rtsp://op:p%40ss%3Aw%2Frd@127.0.0.1:45678/gate-1"
    assert server.url("gate-1", with_credentials=False) == "rtsp://127.0.0.1:45678/gate-1"
    with pytest.raises(KeyError):
        server.url("nope")
    with pytest.raises(ValueError, match="stream name"):
        server.add_stream("../etc", vtest_clip)


def test_prepared_clip_is_cached_h264_with_short_gop(vtest_clip: Path) -> None:
    first = prepare_clip(vtest_clip)
    assert prepare_clip(vtest_clip) == first  # cached by content
    with av.open(str(first)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        keyframes = [frame.key_frame for _, frame in zip(range(30), container.decode(stream), strict=False)]
    assert [i for i, key in enumerate(keyframes) if key] == [0, 5, 10, 15, 20, 25]  # every 0.5 s at 10 fps


def test_restart_keeps_the_port_and_stop_leaves_no_process(
    make_rtsp_server: Callable[..., LocalRtspServer],
) -> None:
    server = make_rtsp_server()
    port, pgid = server.port, server.pid
    assert pgid is not None and port not in (0, 8554)
    assert "ffmpeg" in group_members(pgid)  # the feeder runs in the relay's process group

    server.restart()
    assert server.port == port and server.pid != pgid
    server.wait_ready(timeout=10.0)

    new_pgid = server.pid
    assert new_pgid is not None
    server.stop()
    server.stop()  # idempotent
    assert not server.running
    assert wait_until(lambda: not group_alive(pgid) and not group_alive(new_pgid), 3.0)


def test_relay_and_feeders_die_when_their_parent_is_killed(vtest_clip: Path) -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import time
                from ingest.rtsp_server import LocalRtspServer
                server = LocalRtspServer()
                server.add_stream("cam", {str(vtest_clip)!r})
                server.start()
                print(server.pid, flush=True)
                time.sleep(60)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        relay_pgid = int(parent.stdout.readline())
        assert wait_until(lambda: "ffmpeg" in group_members(relay_pgid), 5.0)
        parent.send_signal(signal.SIGKILL)  # a crashed test or service: no cleanup code runs
        parent.wait()
        assert wait_until(lambda: not group_members(relay_pgid), 5.0), group_members(relay_pgid)
    finally:
        parent.kill()
        parent.wait()
