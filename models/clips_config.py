"""Moved to models/config/clips.py; kept so that `from models.clips_config import ClipsConfig` still works."""

from models.config.clips import ClipsConfig

__all__ = ["ClipsConfig"]
