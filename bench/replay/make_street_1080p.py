"""Make the 1080p "elevated street" bench clip from OpenCV's vtest.avi: 12 copies of the clip, each 5 s further
into it, in a 4 x 3 mosaic scaled to 1920 x 1080.

Why a mosaic: the workplace has no licensed 1080p footage of a busy elevated view, and the cameras Xueliang serves
are 1080p, mounted high, with people 40-70 px tall. vtest.avi (768 x 576, people 75-110 px, Apache-2.0/BSD, in
Debian's opencv-doc) tiled 4 x 3 and scaled by 0.625 gives real pedestrians at that size, 66-70 of them at once,
and its people labels follow from hand counts of vtest itself (see LABELS.md). `--size` makes the same street at
another resolution (720p, 4K: the bench has both). The clip is made on demand and never committed (it is vtest's
pixels).

    .venv/bin/python bench/replay/make_street_1080p.py [--vtest PATH] [--size 1280x720] OUT.mp4
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

VTEST_CANDIDATES = (
    Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi"),
    Path("/work/shared/assets/clips/crowd_elevated_opencv_vtest.avi"),
)
COLUMNS, ROWS = 4, 3
OFFSET_S = 5  # tile i shows vtest from i * OFFSET_S s
DURATION_S = 20
CLIP_NAME = "street_1080p_vtest_mosaic.mp4"


def find_vtest() -> Path | None:
    return next((p for p in VTEST_CANDIDATES if p.is_file()), None)


def make(vtest: Path, out: Path, size: tuple[int, int] = (1920, 1080)) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is not installed (apt-get install ffmpeg)")
    tiles = COLUMNS * ROWS
    inputs: list[str] = []
    for i in range(tiles):
        inputs += ["-ss", str(i * OFFSET_S), "-t", str(DURATION_S), "-i", str(vtest)]
    layout = "|".join(f"{(i % COLUMNS) * 768}_{(i // COLUMNS) * 576}" for i in range(tiles))
    graph = "".join(f"[{i}:v]" for i in range(tiles)) + f"xstack=inputs={tiles}:layout={layout},scale={size[0]}:{size[1]}"
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".part.mp4")
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", *inputs, "-filter_complex", graph, "-r", "10", "-c:v", "libx264",
         "-preset", "veryfast", "-crf", "20", "-g", "20", "-bf", "0", "-pix_fmt", "yuv420p", str(partial)],
        check=True,
    )  # fmt: skip
    partial.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help=f"the clip to write (the labels name it {CLIP_NAME})")
    parser.add_argument("--vtest", type=Path, default=None, help="vtest.avi (default: opencv-doc's or the assets')")
    parser.add_argument("--size", default="1920x1080", help="frame size WxH (the same scene at another resolution)")
    args = parser.parse_args(argv)
    vtest = args.vtest or find_vtest()
    if vtest is None:
        print("vtest.avi not found: apt-get install opencv-doc", file=sys.stderr)
        return 2
    width, height = (int(v) for v in args.size.lower().split("x"))
    print(make(vtest, args.out, (width, height)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
