"""Tampered copies of real footage for the camera-tamper rule's tests and replay bench, made with ffmpeg filters.

Each clip is `seconds` long: the source as it is, then from `start` to `end` the tamper, then the source again.
None is ever committed (the source footage has no licence to be copied): tests make them in a temporary folder,
the bench with `python -m ingest.demo.tamper OUT_DIR SOURCE` (bench/replay/RESULTS.md).

- cover: a flat brown box over 90 % of the picture (a hand or a bag over the lens);
- blur: a strong box blur (defocus, a smeared lens);
- shift: the top-right 70 % of the picture, scaled up (the camera turned and zoomed away from its view);
- freeze: one frame repeated (a hung encoder sending the same picture);
- dark: brightness down to near black (a lens painted over, lights cut);
- fade: a negative: brightness falls slowly over the whole clip (dusk in fast motion, not tampering).
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

TAMPER_KINDS = ("cover", "blur", "shift", "freeze", "dark")
START, END, SECONDS = 10.0, 22.0, 30.0


def _filter(kind: str, start: float, end: float, seconds: float, fps: int) -> str:
    on = f"enable='between(t,{start},{end})'"
    if kind == "cover":
        return f"drawbox=x=iw*0.05:y=ih*0.05:w=iw*0.95:h=ih*0.95:color=0x6b5a4e@1:t=fill:{on}"
    if kind == "blur":
        return f"boxblur=luma_radius=12:luma_power=2:chroma_radius=6:{on}"
    if kind == "dark":
        return f"eq=brightness=-0.7:contrast=0.4:{on}"
    if kind == "shift":
        return (f"split[a][b];[b]crop=iw*0.7:ih*0.7:iw*0.3:0,scale=iw/0.7:ih/0.7,setsar=1[s];"
                f"[a][s]overlay=0:0:{on}")  # fmt: skip
    if kind == "freeze":
        first = round(start * fps)
        return f"loop=loop={round((end - start) * fps)}:size=1:start={first},setpts=N/{fps}/TB"
    if kind == "fade":
        return f"eq=brightness='-0.3*t/{seconds}':contrast='1-0.2*t/{seconds}':eval=frame"
    raise ValueError(f"unknown tamper kind {kind!r}; one of {(*TAMPER_KINDS, 'fade')}")


def tamper_clip(source: Path, kind: str, out: Path, *, start: float = START, end: float = END,
                seconds: float = SECONDS, fps: int = 10) -> Path:  # fmt: skip
    """Write `out` (H.264, `fps`, 1 s GOP, no B-frames): `source`'s first `seconds` with `kind` from start to end."""
    out.parent.mkdir(parents=True, exist_ok=True)
    graph = f"fps={fps},{_filter(kind, start, end, seconds, fps)},format=yuv420p"
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-i", str(source), "-filter_complex", graph, "-t", str(seconds),
         "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", str(fps), "-bf", "0", str(out)],
        check=True,
    )  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Make the camera-tamper bench clips from a source clip.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("source", type=Path)
    args = parser.parse_args()
    stem = args.source.stem
    for kind in (*TAMPER_KINDS, "fade"):
        path = tamper_clip(args.source, kind, args.out_dir / f"tamper_{kind}_{stem}.mp4")
        print(path)


if __name__ == "__main__":
    main()
