"""People-flow counts per camera line (`GET /cameras/{id}/lines`): crossings in and out since counting began.

The pipeline that runs a camera's line-crossing rule adds each step's crossings to the camera's counts file under
the store's data directory (`<data_dir>/line_counts/<camera id>.json`, replaced atomically), and any API process
that shares the data directory reads it: the same seam as the camera wall's thumbnails (analytics/thumbnails.py),
so the API never reaches into a pipeline's memory. Counts are totals that survive restarts (the file is read
back before adding); no message is published.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class LineTotals:
    line: str
    crossed_in: int
    crossed_out: int
    since: datetime  # the first crossing counted
    updated_at: datetime  # the latest


class LineCounts:
    """Writer (pipelines: `add`) and reader (the API: `read`) of the line counts in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> LineCounts:
        return cls(data_dir / "line_counts")

    def path(self, camera_id: str) -> Path:
        return self.directory / f"{camera_id}.json"

    def add(self, camera_id: str, line: str, crossed_in: int, crossed_out: int, at: float) -> None:
        """Add crossings counted at `at` (epoch seconds) to the camera's totals for `line`."""
        when = datetime.fromtimestamp(at, UTC).isoformat()
        with self._lock:
            lines = self._load(camera_id)
            entry = lines.setdefault(line, {"in": 0, "out": 0, "since": when})
            entry["in"] = int(entry["in"]) + crossed_in
            entry["out"] = int(entry["out"]) + crossed_out
            entry["updated_at"] = when
            self.directory.mkdir(parents=True, exist_ok=True)
            target = self.path(camera_id)
            partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
            try:
                partial.write_text(json.dumps({"lines": lines}, sort_keys=True), encoding="utf-8")
                os.replace(partial, target)  # a reader sees the old counts or the new ones, never half
            finally:
                with contextlib.suppress(FileNotFoundError):
                    partial.unlink()

    def read(self, camera_id: str) -> dict[str, LineTotals]:
        """The camera's totals by line; lines that never saw a crossing are absent."""
        return {
            name: LineTotals(name, int(e["in"]), int(e["out"]), datetime.fromisoformat(str(e["since"])),
                             datetime.fromisoformat(str(e["updated_at"])))  # fmt: skip
            for name, e in self._load(camera_id).items()
        }

    def _load(self, camera_id: str) -> dict[str, dict[str, int | str]]:
        try:
            raw = json.loads(self.path(camera_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        lines = raw.get("lines", {}) if isinstance(raw, dict) else {}
        return lines if isinstance(lines, dict) else {}
