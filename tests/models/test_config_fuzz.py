"""A bounded fuzz run of the config loader (hypothesis): whatever the bytes of the file, `load_config` returns a
config or raises ConfigError naming the file and a problem, never another exception and never a hang. Inputs are
the demo config with random edits (so most of them get past YAML and into validation: duplicate keys, bad polygons,
bad URLs, wrong types), random YAML documents, and random bytes. About 10 s on 2 cores."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.cli import DEMO_CONFIG
from models.config import ConfigError, ServiceConfig, load_config

ENV = {"XUELIANG_DEMO_RTSP": "rtsp://admin:s3cret@127.0.0.1:8554"}
DEMO = DEMO_CONFIG.read_bytes()
YAML_BITS = [b"&a ", b"*a", b"<<: ", b"- ", b": ", b"[", b"]", b"{", b"}", b"\n", b"  ", b"'", b'"', b"!!", b"#",
             b"\xff", b"\xe4\xb8", b"${X}", b"99999", b"-1", b".nan", b"~", b"2026-13-45", b"\t", b"? "]  # fmt: skip


@st.composite
def edited_demo(draw: st.DrawFn) -> bytes:
    """The demo config with a few random lines duplicated, deleted, or spliced with YAML syntax or bytes."""
    lines = DEMO.split(b"\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["duplicate", "delete", "splice", "replace-value"]))
        if action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "delete":
            del lines[i]
        elif action == "splice":
            at = draw(st.integers(0, len(lines[i])))
            bit = draw(st.sampled_from(YAML_BITS) | st.binary(max_size=8))
            lines[i] = lines[i][:at] + bit + lines[i][at:]
        else:
            key, sep, _ = lines[i].partition(b": ")
            if sep:
                lines[i] = key + sep + draw(st.sampled_from(YAML_BITS))
    return b"\n".join(lines)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)


@st.composite
def random_document(draw: st.DrawFn) -> bytes:
    """A random YAML mapping with the config's top-level keys (so validation runs on odd values)."""
    keys = ["grid", "event_categories", "models", "cameras", "store", "server", "auth", "delivery", "exports"]
    document = draw(st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), yaml_values, max_size=6))
    return yaml.safe_dump(document, allow_unicode=True).encode("utf-8")


config_files = edited_demo() | random_document() | st.binary(max_size=200)


@given(content=config_files)
@settings(max_examples=300, deadline=5000, database=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_file_gives_a_config_or_a_config_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "district.yaml"
        path.write_bytes(content)
        try:
            config = load_config(path, environ=ENV)
        except ConfigError as error:
            assert str(error).startswith(f"{path}: invalid configuration:\n")
            assert error.problems and all(problem.strip() for problem in error.problems)
            assert "s3cret" not in str(error)  # the camera URL's password is never repeated
        else:
            assert isinstance(config, ServiceConfig)
