"""What every part of the service configuration shares: the error that lists problems by field path, and the
strict base model (unknown keys rejected, values frozen)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

SLUG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ConfigError(Exception):
    """A configuration that cannot be used. `str()` lists every problem with its field path."""

    what = "configuration"  # what was invalid, in the message (subclasses: other hand-written YAML files)

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = problems
        where = f"{source}: " if source else ""
        super().__init__(where + f"invalid {self.what}:\n" + "\n".join(f"  - {p}" for p in problems))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
