"""A real local RTSP server for the demo and the tests: clips served as looping live cameras.

    with LocalRtspServer(user="admin", password="s3cret") as server:
        url = server.add_stream("gate", "/path/clip.avi")  # rtsp://admin:s3cret@127.0.0.1:PORT/gate
        server.wait_ready()
        ...
        server.freeze()   # a hung camera (SIGSTOP); thaw() resumes it
        server.kill()     # a dead camera (SIGKILL); restart() brings it back on the same port

Each clip is transcoded once to H.264 MPEG-TS with a short GOP (cached by the clip's sha256), then
`gst_rtsp_relay.py` (GStreamer gst-rtsp-server, run by the system python) serves it, fed by
`ffmpeg -re -stream_loop -1 ... -f rtp`. The relay runs in its own process group, exits when this
process dies (it watches its stdin pipe and parent pid), and its feeders die with it, so a crashed test
leaves no orphans. Command line: `python -m ingest.rtsp_server CLIP [CLIP...] [--port N]`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from models.settings import Settings

SYSTEM_PYTHON = "/usr/bin/python3"  # has python3-gi; the project venv cannot import gi
RELAY_SCRIPT = Path(__file__).with_name("gst_rtsp_relay.py")
HOST = "127.0.0.1"
DEFAULT_GOP_S = 0.5  # a client's first frame waits for a keyframe: short GOP, fast connects
_CACHE_FORMAT_VERSION = 1  # bump when the transcode settings change
_STREAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def default_cache_dir() -> Path:
    """$XUELIANG_CACHE/streams, or ~/.cache/xueliang/streams."""
    return Settings().cache / "streams"


def _pdeathsig_prefix() -> list[str]:
    """`setpriv --pdeathsig KILL --`: the child gets SIGKILL when the thread that spawned it dies."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv and sys.platform == "linux" else []


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare_clip(
    clip: str | Path,
    *,
    cache_dir: Path | None = None,
    max_width: int | None = None,
    gop_s: float = DEFAULT_GOP_S,
) -> Path:
    """Transcode `clip` to a streamable H.264 MPEG-TS once; later calls return the cached file.

    libx264, yuv420p, no B-frames, a keyframe every `gop_s` seconds and none at scene cuts (noisy video
    would otherwise get random extra keyframes), sliced threads off (sliced output breaks h264parse in
    the relay). A .ts rather than an .mp4 because it loops cleanly with `-stream_loop -1 -c copy`.
    """
    source = Path(clip)
    if not source.is_file():
        raise FileNotFoundError(f"clip not found: {source}")
    cache = cache_dir or default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    key = f"{_sha256(source)[:24]}-gop{round(gop_s * 1000)}ms-w{max_width or 0}-v{_CACHE_FORMAT_VERSION}"
    target = cache / f"{key}.ts"
    if target.is_file() and target.stat().st_size > 0:
        return target
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    video_filters = [f"scale='min(iw,{max_width})':-2"] if max_width else []
    command = [
        *_pdeathsig_prefix(),
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(source),
        "-map", "0:v:0", "-an", "-sn", "-dn",
        *(["-vf", ",".join(video_filters)] if video_filters else []),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
        "-bf", "0", "-sc_threshold", "0", "-force_key_frames", f"expr:gte(t,n_forced*{gop_s})",
        "-x264-params", "sliced-threads=0",
        "-f", "mpegts", str(partial),
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise RuntimeError(f"ffmpeg could not transcode {source}: {result.stderr.strip()[-2000:]}")
        os.replace(partial, target)  # atomic: a concurrent run sees the whole file or none
    finally:
        partial.unlink(missing_ok=True)
    return target


class LocalRtspServer:
    """Serve clips over RTSP at rtsp://127.0.0.1:PORT/NAME (many clients; UDP and TCP).

    `port=0` picks a free port at the first `start()`; `restart()` keeps it. With `user` and `password`
    the server requires basic auth. Add streams before `start()` (adding one later restarts the relay).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        user: str | None = None,
        password: str | None = None,
        cache_dir: Path | None = None,
        max_width: int | None = None,
        gop_s: float = DEFAULT_GOP_S,
        start_timeout_s: float = 10.0,
    ) -> None:
        if (user is None) != (password is None):
            raise ValueError("give both user and password, or neither")
        self.port = port
        self.user = user
        self.password = password
        self.cache_dir = cache_dir
        self.max_width = max_width
        self.gop_s = gop_s
        self.start_timeout_s = start_timeout_s
        self._streams: dict[str, Path] = {}
        self._relay: subprocess.Popen[bytes] | None = None
        self._frozen = False

    # -- streams ----------------------------------------------------------------------------------

    def add_stream(self, name: str, clip_path: str | Path) -> str:
        """Serve `clip_path` (transcoded and cached on first use) as NAME; returns its URL."""
        if not _STREAM_NAME.match(name):
            raise ValueError(f"stream name must be letters, digits, '_', '-', '.': {name!r}")
        self._streams[name] = prepare_clip(
            clip_path, cache_dir=self.cache_dir, max_width=self.max_width, gop_s=self.gop_s
        )
        if self.running:
            self.restart()
        return self.url(name)

    def url(self, name: str, with_credentials: bool = True) -> str:
        """rtsp://[user:password@]127.0.0.1:PORT/NAME (port known after `start()`)."""
        if name not in self._streams:
            raise KeyError(f"no stream named {name!r}")
        userinfo = ""
        if with_credentials and self.user is not None and self.password is not None:
            userinfo = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}@"
        return f"rtsp://{userinfo}{HOST}:{self.port}/{name}"

    @property
    def stream_names(self) -> list[str]:
        return list(self._streams)

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the relay process is alive (a frozen relay counts as running)."""
        return self._relay is not None and self._relay.poll() is None

    @property
    def pid(self) -> int | None:
        """The relay's process id (also its process group id), while it runs."""
        return self._relay.pid if self.running and self._relay is not None else None

    def start(self) -> None:
        """Start the relay and return once it listens (streams may take a moment more: `wait_ready`)."""
        if self.running:
            return
        relay = subprocess.Popen(
            [SYSTEM_PYTHON, str(RELAY_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # own process group: kill() takes the feeders too; Ctrl-C goes to us
        )
        self._relay, self._frozen = relay, False
        config = {
            "port": self.port,
            "streams": [{"name": name, "clip": str(clip)} for name, clip in self._streams.items()],
            "user": self.user,
            "password": self.password,
        }
        assert relay.stdin is not None and relay.stdout is not None
        try:
            relay.stdin.write((json.dumps(config) + "\n").encode())
            relay.stdin.flush()
            readable, _, _ = select.select([relay.stdout], [], [], self.start_timeout_s)
            line = relay.stdout.readline() if readable else b""
            self.port = int(json.loads(line)["port"])
        except (OSError, ValueError, KeyError) as exc:
            self._kill_group(relay)
            raise RuntimeError(
                f"RTSP relay did not start (exit code {relay.poll()}); see its stderr above"
            ) from exc

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Return once the server answers DESCRIBE for every stream (frames are flowing); else TimeoutError."""
        deadline = time.monotonic() + timeout
        last_answer = "no answer"
        while True:
            if not self.running:
                raise RuntimeError("RTSP relay is not running")
            try:
                answers = [self._describe(name, deadline) for name in self._streams] or [
                    self._options(deadline)
                ]
                last_answer = next((a for a in answers if not a.startswith("RTSP/1.0 200")), "")
                if not last_answer:
                    return
            except OSError as exc:
                last_answer = str(exc)
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"RTSP server on port {self.port} not ready after {timeout:g} s: {last_answer}"
                )
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the relay and its feeders: a camera that died."""
        if self._relay is not None:
            self._kill_group(self._relay)
        self._frozen = False

    def freeze(self) -> None:
        """SIGSTOP the relay: a hung camera (connections stay open, nothing is sent or answered)."""
        if self._relay is not None and self.running:
            os.kill(self._relay.pid, signal.SIGSTOP)
            self._frozen = True

    def thaw(self) -> None:
        """SIGCONT the relay after `freeze()`."""
        if self._relay is not None and self.running:
            os.kill(self._relay.pid, signal.SIGCONT)
            self._frozen = False

    def restart(self) -> None:
        """Kill the relay and start it again on the same port (a camera that rebooted)."""
        self.kill()
        self.start()

    def stop(self) -> None:
        """Stop the relay (gracefully, then SIGKILL) and its feeders. Idempotent."""
        relay, self._relay = self._relay, None
        if relay is None:
            return
        if self._frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(relay.pid, signal.SIGCONT)
            self._frozen = False
        if relay.stdin is not None:
            with contextlib.suppress(OSError):
                relay.stdin.close()  # the relay quits when its stdin closes
        with contextlib.suppress(subprocess.TimeoutExpired):
            relay.wait(timeout=3.0)
        self._kill_group(relay)

    def __enter__(self) -> LocalRtspServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _kill_group(relay: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(relay.pid, signal.SIGKILL)  # the relay leads its own group (start_new_session)
        relay.wait()
        for pipe in (relay.stdin, relay.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def _request(self, request_lines: list[str], deadline: float) -> str:
        """Send one RTSP request; return the status line of the answer."""
        timeout = max(0.1, min(2.0, deadline - time.monotonic()))
        with socket.create_connection((HOST, self.port), timeout=timeout) as sock:
            sock.sendall(("\r\n".join([*request_lines, "", ""])).encode())
            answer = b""
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        return answer.split(b"\r\n", 1)[0].decode(errors="replace") or "connection closed"

    def _options(self, deadline: float) -> str:
        return self._request([f"OPTIONS rtsp://{HOST}:{self.port}/ RTSP/1.0", "CSeq: 1"], deadline)

    def _describe(self, name: str, deadline: float) -> str:
        lines = [
            f"DESCRIBE {self.url(name, with_credentials=False)} RTSP/1.0",
            "CSeq: 1",
            "Accept: application/sdp",
        ]
        if self.user is not None and self.password is not None:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            lines.append(f"Authorization: Basic {token}")
        return self._request(lines, deadline)


def main(argv: list[str] | None = None) -> int:
    """`python -m ingest.rtsp_server CLIP [CLIP...] [--port N]`: serve clips until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m ingest.rtsp_server", description=main.__doc__)
    parser.add_argument("clips", nargs="+", type=Path, help="video files to serve, each as a looping camera")
    parser.add_argument("--port", type=int, default=0, help="RTSP port (default: a free one; avoid 8554)")
    parser.add_argument("--max-width", type=int, default=None, help="downscale wider clips to this width")
    parser.add_argument("--user", default=None, help="require basic auth with this user")
    parser.add_argument(
        "--password-env",
        default="XUELIANG_RTSP_PASSWORD",
        help="environment variable holding the password (used with --user)",
    )
    args = parser.parse_args(argv)
    password = os.environ.get(args.password_env) if args.user else None
    if args.user and not password:
        parser.error(f"--user needs a password in ${args.password_env}")
    server = LocalRtspServer(port=args.port, user=args.user, password=password, max_width=args.max_width)
    names: set[str] = set()
    for clip in args.clips:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "-", clip.stem).strip("-.") or "cam"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        print(f"preparing {clip} ...", flush=True)
        server.add_stream(name, clip)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # `kill PID`: clean up like Ctrl-C
    with server:
        server.wait_ready(timeout=20.0)
        for name in server.stream_names:
            print(server.url(name, with_credentials=False), flush=True)
        print("serving; Ctrl-C to stop", flush=True)
        try:
            while server.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0
    print("RTSP relay exited", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
