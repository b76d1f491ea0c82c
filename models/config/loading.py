"""Loading the service configuration: a YAML file read within bounds, `${NAME}` replaced from the environment,
validated into `ServiceConfig`; every mistake reported with its field path."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from models.config.base import ConfigError
from models.config.detectors import MODEL_TYPES
from models.config.service import ServiceConfig
from models.yaml_file import YamlFileError, read_yaml_file

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(node: Any, environ: Mapping[str, str], path: str = "") -> Any:
    """Replace ${NAME} in every string with the environment variable; a missing one is an error naming the field."""
    if isinstance(node, dict):
        return {k: expand_env(v, environ, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, environ, f"{path}.{i}") for i, v in enumerate(node)]
    if isinstance(node, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError([f"{path}: environment variable {name} is not set"])
            return environ[name]

        return ENV_REF.sub(sub, node)
    return node


def format_validation_error(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        loc = [str(p) for p in item["loc"]]
        # Drop pydantic's tag of a model's backend union (`models.<name>.ultralytics.labels` is
        # `models.<name>.labels`) and of validator functions ("function-after[...]").
        if loc[:1] == ["models"] and len(loc) > 2 and loc[2] in MODEL_TYPES:
            del loc[2]
        loc = [p for p in loc if not p.startswith("function-")]
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            # A backend `type` that is missing or not registered: name the field, and list the known types.
            field = str(item.get("ctx", {}).get("discriminator", "type")).strip("'")
            loc.append(field)
            tag = item.get("ctx", {}).get("tag")
            given = f"unknown {field} {tag!r}" if item["type"] == "union_tag_invalid" else "required"
            message = f"{given}; give one of: {', '.join(sorted(MODEL_TYPES))}"
        problems.append(f"{'.'.join(loc) or '(root)'}: {message}")
    return problems


def parse_config(raw: Any, *, source: str | None = None, environ: Mapping[str, str] | None = None) -> ServiceConfig:
    if not isinstance(raw, dict):
        raise ConfigError(["(root): the configuration must be a mapping"], source)
    try:
        expanded = expand_env(raw, os.environ if environ is None else environ)
        return ServiceConfig.model_validate(expanded)
    except ConfigError as error:
        raise ConfigError(error.problems, source) from None
    except ValidationError as error:
        raise ConfigError(format_validation_error(error), source) from None


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> ServiceConfig:
    """Read, check and parse a config file. The YAML is read within bounds (size, nesting, alias expansion, no
    duplicate keys: models/yaml_file.py), so no file can hang the service or lose a camera silently."""
    path = Path(path)
    try:
        raw = read_yaml_file(path)
    except YamlFileError as error:
        raise ConfigError(error.problems, str(path)) from None
    return parse_config(raw, source=str(path), environ=environ)
