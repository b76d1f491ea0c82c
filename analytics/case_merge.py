"""One case per situation: when a camera opens an incident, it joins an open incident of the same category that
another camera raised in the same place at the same time, as a sighting of it (models/sightings.py), instead of
opening a second case for the same fire.

Configured per category (`event_categories.<code>.merge`, models/config/case_merge.py). A new opening joins an
incident (`case_to_join`, pure) when all of these hold:

- same category, another camera, both live or both test incidents (replays never merge: see below);
- the incident is still a case (not rejected, closed or evaluated);
- overlapping in time: its situation is still seen by its camera, or ended at most `window_s` before (two cameras
  that open at once join whichever was recorded first, even if its frame is a moment younger);
- the same place: the same grid cell (`same_grid_cell`), or map points at most `radius_m` apart (the cameras'
  positions, or, on calibrated cameras, where the objects stand: the incident's lat/lon).

Of several, the first opened is joined. The joining camera's later updates and its end are its sighting's; the
incident's peaks, severity and `closed_at` stay its own camera's, and its video check (analytics/video_check.py) is
its own camera's.

Replays (is_test incidents) never merge: each replay is one clip on one virtual camera, scored on its own events,
so a sighting that would have been merged live counts as found in a replay, and the bench scores stay as they were.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from models import lifecycle
from models.config import CaseMergeConfig
from models.incident import Incident

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
CLOSED_CASES = frozenset(
    {lifecycle.LoopStatus.REJECTED, lifecycle.LoopStatus.CLOSED, lifecycle.LoopStatus.EVALUATED}
)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def same_place(merge: CaseMergeConfig, new: Incident, open_one: Incident) -> bool:
    if merge.same_grid_cell and new.grid_code == open_one.grid_code:
        return True
    if merge.radius_m is None or None in (new.lat, new.lon, open_one.lat, open_one.lon):
        return False
    assert (
        new.lat is not None and new.lon is not None and open_one.lat is not None and open_one.lon is not None
    )
    return distance_m(new.lat, new.lon, open_one.lat, open_one.lon) <= merge.radius_m


def joins(merge: CaseMergeConfig, new: Incident, open_one: Incident, at: datetime) -> bool:
    """Whether `new` (opened by its camera at `at`, not stored yet) is a sighting of `open_one`."""
    if not merge.enabled or new.is_test or open_one.is_test:
        return False
    if open_one.category_code != new.category_code or open_one.camera_id == new.camera_id:
        return False
    if lifecycle.parse_status(open_one.status) in CLOSED_CASES:
        return False
    if open_one.closed_at is not None and open_one.closed_at < at - timedelta(seconds=merge.window_s):
        return False
    return same_place(merge, new, open_one)


def case_to_join(
    merge: CaseMergeConfig, new: Incident, candidates: Iterable[Incident], at: datetime
) -> Incident | None:
    """The incident `new` joins (the first opened of those it may join), or None: it is a case of its own."""
    matching = [c for c in candidates if joins(merge, new, c, at)]
    return min(matching, key=lambda c: (c.opened_at, c.id)) if matching else None
