"""Real footage for the demo cameras and the tests, from files this project may ship or registry packages."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from models.settings import Settings

FIRE_STILLS = Path(__file__).with_name("fire_stills")
PEDESTRIAN_CANDIDATES = (
    # Debian package opencv-doc (BSD/Apache-2.0): an elevated view of a campus walkway, 768x576, 10 fps.
    Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi"),
    Path(__file__).resolve().parents[2] / ".." / "shared" / "assets" / "clips" / "crowd_elevated_opencv_vtest.avi",
)


class FootageMissingError(RuntimeError):
    pass


def cache_dir() -> Path:
    path = Settings().cache / "footage"
    path.mkdir(parents=True, exist_ok=True)
    return path


def pedestrian_clip() -> Path:
    for path in PEDESTRIAN_CANDIDATES:
        if path.is_file():
            return path.resolve()
    raise FootageMissingError(
        "pedestrian footage not found: install Debian's opencv-doc (apt-get install opencv-doc) for vtest.avi"
    )


def fire_clip(seconds_per_still: float = 1.0, fps: int = 10) -> Path:
    """An H.264 clip of the fire stills, each shown `seconds_per_still`; built once and cached."""
    stills = sorted(FIRE_STILLS.glob("*.jpg"))
    if not stills:
        raise FootageMissingError(f"no fire stills in {FIRE_STILLS}")
    digest = hashlib.sha256()
    for still in stills:
        digest.update(still.read_bytes())
    digest.update(f"{seconds_per_still}:{fps}".encode())
    out = cache_dir() / f"fire_stills_{digest.hexdigest()[:16]}.mp4"
    if out.is_file():
        return out
    listing = out.with_suffix(".txt")
    lines = [f"file '{s}'\nduration {seconds_per_still}\n" for s in stills] + [f"file '{stills[-1]}'\n"]
    listing.write_text("".join(lines))
    tmp = out.with_suffix(".part.mp4")
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
         "-vf", f"fps={fps},format=yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-g", str(fps),
         "-bf", "0", str(tmp)],
        check=True,
    )  # fmt: skip
    tmp.replace(out)
    return out


def calm_then_fire_clip(calm_s: float = 8.0, fps: int = 10) -> Path:
    """`calm_s` seconds of the pedestrian footage, then the fire stills (`fire_clip`), at 640x360 and `fps`, a
    keyframe a second: a camera that sees a fire break out (event clips must start before the first fire frame,
    which is frame `calm_s * fps`). Built once and cached."""
    calm, fire = pedestrian_clip(), fire_clip(fps=fps)
    digest = hashlib.sha256(f"{calm}:{fire.name}:{calm_s}:{fps}:v1".encode()).hexdigest()[:16]
    out = cache_dir() / f"calm_then_fire_{digest}.mp4"
    if out.is_file():
        return out
    tmp = out.with_suffix(".part.mp4")
    scale = f"fps={fps},scale=640:360,setsar=1,format=yuv420p"
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-t", str(calm_s), "-i", str(calm), "-i", str(fire),
         "-filter_complex", f"[0:v]{scale}[a];[1:v]{scale}[b];[a][b]concat=n=2:v=1[v]", "-map", "[v]",
         "-c:v", "libx264", "-preset", "veryfast", "-g", str(fps), "-bf", "0", str(tmp)],
        check=True,
    )  # fmt: skip
    tmp.replace(out)
    return out
