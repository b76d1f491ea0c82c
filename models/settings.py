"""Process settings from the environment (`XUELIANG_*`), read by pydantic-settings: one `Settings` object.

The service's behaviour is configured in the YAML config (models/config/); what is here belongs to the process and
its machine, not to a deployment's config: where derived files are cached. Read it where the value is used
(`Settings().cache`), so the environment of the moment counts and nothing is read at import.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_cache() -> Path:
    return Path.home() / ".cache" / "xueliang"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XUELIANG_", frozen=True, extra="ignore")

    cache: Path = Field(
        default_factory=default_cache,
        description="XUELIANG_CACHE: where files made from others are kept, each kind in its folder: model exports "
        "(`models/`, by weights sha256), the demo's footage (`footage/`) and the test RTSP server's prepared "
        "streams (`streams/`). Default ~/.cache/xueliang.",
    )
