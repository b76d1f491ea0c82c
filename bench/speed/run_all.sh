#!/usr/bin/env bash
# Reproduces bench/speed/results/*.json and the tables in RESULTS.md (about 15 minutes on 2 cores).
# Run from anywhere; needs .venv (bash .ci/install), Debian's ffmpeg and GStreamer RTSP server, and for the fire
# clips ../shared/assets. Check `uptime` first: on a shared machine the other load is in every number.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
uptime
$PY -m bench.speed.inference --rounds 25                       # 1. the inference bound
$PY -m bench.speed.pipeline --cameras 1,3,6,8 --measure 25      # 2. + 3. throughput, latency (half load 3, full 6)
$PY -m bench.speed.pipeline --quiet-busy --measure 25            # 4. quiet vs busy
$PY -m bench.speed.fanout                                        # 5. 500 clients, 100 messages/s
$PY -m bench.speed.fanout --rate 5                               #    ... at a rate they sustain
$PY -m bench.speed.replay_speed                                  # 6. replay at max speed
bash bench/replay/extra_clips.sh /tmp/xl-clips >/dev/null
$PY -m bench.speed.camera_cost                                   # 8. a 1080p camera at its input size
uptime
