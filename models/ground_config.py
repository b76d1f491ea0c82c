"""Moved to models/config/ground.py; kept so that `from models.ground_config import ...` still works."""

from models.config.ground import GroundCalibrationConfig

__all__ = ["GroundCalibrationConfig"]
