"""`store:`, `replays:` and `exports:` in the service config: where incidents and evidence are kept, where
replays may read clips from, and what exports say about this service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from models.config.base import Strict


class StoreConfig(Strict):
    url: SecretStr = Field(
        default=SecretStr("sqlite:///xueliang-data/xueliang.db"),
        description="SQLAlchemy URL: sqlite:///path (default, WAL) or postgresql+psycopg://user:pass@host/db.",
    )
    data_dir: Path = Field(default=Path("xueliang-data"), description="Where evidence snapshots are kept.")
    pool_size: int = Field(
        default=5,
        ge=1,
        le=100,
        description="PostgreSQL: connections this process keeps open (per replica: the server's max_connections "
        "must cover replicas x (pool_size + max_overflow)). Ignored for SQLite.",
    )
    max_overflow: int = Field(
        default=10,
        ge=0,
        le=100,
        description="PostgreSQL: connections opened beyond pool_size at peaks, closed when returned. Ignored for "
        "SQLite.",
    )


class ReplaysConfig(Strict):
    folders: list[Path] = Field(
        default_factory=list,
        description="Folders on the server that POST /replays may read clips from: a clip's real path (symlinks "
        "and `..` resolved) must lie inside one of them, and one outside is refused without saying whether it "
        "exists. Empty (default): `<store.data_dir>/replays`. The command-line replay reads any file it is given.",
    )


class ExportsConfig(Strict):
    cap_sender: str = Field(
        default="xueliang@localhost",
        pattern=r"^[^\s,<&]+$",
        description="CAP <sender>: this service's identifier (no spaces, commas or < &).",
    )
    public_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+[^/\s]$",
        description="The API's public URL, to make absolute links (snapshots in CAP and Open311); relative "
        "links when omitted.",
    )
    camera_radius_km: float = Field(
        default=0.1, gt=0, description="Radius of the CAP <circle> around the camera (what it can see), in km."
    )
