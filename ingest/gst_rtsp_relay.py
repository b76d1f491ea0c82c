"""RTSP relay for local test and demo streams, run by `ingest.rtsp_server` with the SYSTEM python.

Run as `/usr/bin/python3 gst_rtsp_relay.py` (the project venv cannot import `gi`). It reads one JSON
object from stdin::

    {"port": 0, "streams": [{"name": "cam", "clip": "/path/clip.ts"}], "user": null, "password": null}

and, for each stream, starts `ffmpeg -re -stream_loop -1 -i clip.ts -c copy -f rtp rtp://127.0.0.1:U`
and serves it at rtsp://127.0.0.1:PORT/NAME with gst-rtsp-server (shared media: many clients, UDP and
TCP). When ready it prints one JSON line `{"port": PORT}` to stdout.

Credentials come over stdin, never argv or the environment, so `ps` does not show them. The relay
exits when its stdin closes or its parent process changes (the parent died), and on SIGTERM/SIGINT;
its ffmpeg feeders get SIGKILL when the relay dies (PR_SET_PDEATHSIG), so nothing is left orphaned.
(The relay itself does not use PR_SET_PDEATHSIG: that signal follows the parent *thread* that spawned
it, and a server started from a short-lived thread would lose its relay.)
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

_PR_SET_PDEATHSIG = 1
# Keyframes of larger clips arrive as bursts bigger than the default 208 KiB socket buffer.
_UDP_BUFFER_BYTES = 4 * 1024 * 1024
_RTP_CAPS = "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96"


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when the relay dies (Linux only; a no-op elsewhere)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Relay:
    """The gst-rtsp-server and the ffmpeg feeders of one relay process."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.loop = GLib.MainLoop()
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address("127.0.0.1")
        self.server.set_service(str(int(config.get("port") or 0)))
        self.feeders: dict[str, subprocess.Popen[bytes]] = {}
        self.streams: list[tuple[str, str, int]] = []
        self.held_media: list[Any] = []
        self.quitting = False
        self.parent_pid = os.getppid()
        user, password = config.get("user"), config.get("password")
        if user is not None and password is not None:
            self._set_basic_auth(str(user), str(password))
        mounts = self.server.get_mount_points()
        for stream in config["streams"]:
            name, clip = str(stream["name"]), str(stream["clip"])
            udp_port = _free_udp_port()
            factory = GstRtspServer.RTSPMediaFactory()
            factory.set_launch(
                f'( udpsrc port={udp_port} buffer-size={_UDP_BUFFER_BYTES} caps="{_RTP_CAPS}" ! rtph264depay '
                "! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
            )
            factory.set_shared(True)
            factory.connect("media-configure", self._on_media_configure)
            if user is not None and password is not None:
                permissions = GstRtspServer.RTSPPermissions()
                permissions.add_permission_for_role("user", "media.factory.access", True)
                permissions.add_permission_for_role("user", "media.factory.construct", True)
                factory.set_permissions(permissions)
            mounts.add_factory(f"/{name}", factory)
            self.streams.append((name, clip, udp_port))

    def _on_media_configure(self, factory: Any, media: Any) -> None:
        media.connect("prepared", self._on_media_prepared)

    def _on_media_prepared(self, media: Any) -> None:
        GLib.idle_add(self._hold_media, media)

    def _hold_media(self, media: Any) -> bool:
        """Keep a shared media prepared for good (one extra prepare that is never undone).

        Otherwise the media is torn down when its last client leaves, and a client arriving during the
        teardown gets "503 Service Unavailable" (gst-rtsp-server: "can't prepare media"). The stream is
        a live relay anyway, so it stays up; later clients also skip the pipeline start-up.
        """
        if media not in self.held_media:
            self.held_media.append(media)
            media.prepare(None)
        return False

    def _set_basic_auth(self, user: str, password: str) -> None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        self.server.set_auth(auth)

    def _spawn_feeder(self, name: str, clip: str, udp_port: int) -> None:
        command = [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
            "-re", "-stream_loop", "-1", "-i", clip,
            "-c", "copy", "-f", "rtp", f"rtp://127.0.0.1:{udp_port}?pkt_size=1200",
        ]  # fmt: skip
        setpriv = shutil.which("setpriv")  # util-linux: sets PR_SET_PDEATHSIG, then execs ffmpeg
        if setpriv is not None:
            command = [setpriv, "--pdeathsig", "KILL", "--", *command]
        self.feeders[name] = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            preexec_fn=None if setpriv is not None else _die_with_parent,
        )

    def _check_feeders(self) -> bool:
        """Respawn a feeder that died (it should not; a looped .ts plays forever)."""
        for name, clip, udp_port in self.streams:
            feeder = self.feeders.get(name)
            if feeder is not None and feeder.poll() is not None and not self.quitting:
                print(f"relay: feeder for {name} exited ({feeder.returncode}); restarting", file=sys.stderr)
                self._spawn_feeder(name, clip, udp_port)
        return True

    def _on_stdin(self, fd: int, condition: int) -> bool:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:  # parent closed the pipe or died
            self.quit()
            return False
        return True

    def _check_parent(self) -> bool:
        """Quit when the parent is gone (reparented), even if something else still holds our stdin open."""
        if os.getppid() != self.parent_pid:
            self.quit()
            return False
        return True

    def quit(self) -> bool:
        self.quitting = True
        self.loop.quit()
        return False

    def run(self) -> None:
        if self.server.attach(None) == 0:
            raise SystemExit(f"relay: cannot listen on port {self.server.get_service()}")
        for name, clip, udp_port in self.streams:
            self._spawn_feeder(name, clip, udp_port)
        GLib.timeout_add(1000, self._check_feeders)
        GLib.timeout_add(500, self._check_parent)
        GLib.io_add_watch(0, GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, self._on_stdin)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, self.quit)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, self.quit)
        print(json.dumps({"port": self.server.get_bound_port()}), flush=True)
        try:
            self.loop.run()
        finally:
            for feeder in self.feeders.values():
                feeder.kill()
            for feeder in self.feeders.values():
                feeder.wait()


def main() -> None:
    Gst.init(None)
    line = sys.stdin.buffer.readline()
    if not line:
        raise SystemExit("relay: expected a JSON config line on stdin")
    Relay(json.loads(line)).run()


if __name__ == "__main__":
    main()
