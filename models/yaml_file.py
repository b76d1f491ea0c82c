"""Reading a hand-written YAML file (the service config, replay labels) with bounds, so that no file can hang or
exhaust the process, and mistakes YAML itself lets through silently are errors:

- the file is at most `MAX_FILE_BYTES` and must be UTF-8;
- nesting is at most `MAX_DEPTH` levels (deeper would also hit Python's recursion limit inside the parser);
- anchors and aliases are allowed, but expanded they add at most `MAX_ALIAS_EXPANSION` values to the document (a
  "billion laughs" file is a few hundred bytes that expand to billions of values) and at most `MAX_ALIASES` aliases
  are used; a recursive alias (an anchor used inside itself) is refused;
- a mapping that names one key twice is an error with the path of the second one (YAML's loaders keep the last
  value silently: a camera configured twice would vanish).

Why by hand on PyYAML's composer rather than a library: neither PyYAML nor ruamel.yaml bounds alias expansion or
refuses duplicate keys with a path (ruamel only refuses duplicates, without the path, and still expands aliases
without limit); no well-kept PyPI package does either. The checks walk PyYAML's composed node graph (where an alias is
one shared node, so counting its expansion is cheap with memoisation) before anything is constructed, and only
use PyYAML's public `SafeLoader` API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 10_000
MAX_ALIAS_EXPANSION = 100_000


class YamlFileError(Exception):
    """A YAML file that cannot be read; `problems` as in ConfigError (the loader's callers turn them into theirs)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that counts aliases and nesting while it composes the node graph."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise YamlFileError([f"line {mark.line + 1}: more than {MAX_ALIASES} aliases (*name)"])
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlFileError([f"line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels"])
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: Node) -> None:
    """Bound the document as its consumers will see it, every alias expanded: at most `MAX_ALIAS_EXPANSION` values
    more than the file itself holds, and at most `MAX_DEPTH` levels deep. Counted over the shared node graph with
    each node's size and height memoised, so a billion laughs costs as little as its few hundred bytes; a node met
    again while it is being counted is a recursive alias."""
    unique: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) not in unique:
            unique.add(id(node))
            stack.extend(_children(node))
    bound = len(unique) + MAX_ALIAS_EXPANSION
    measured: dict[int, tuple[int, int]] = {}  # id -> (expanded size, height)
    open_nodes: set[int] = set()
    total = 0

    def too_deep(node: Node) -> YamlFileError:
        return YamlFileError([f"line {node.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels (aliases expanded)"])

    def measure(node: Node, level: int) -> tuple[int, int]:
        nonlocal total
        key = id(node)
        if key in measured:
            size, height = measured[key]
            if level + height > MAX_DEPTH:
                raise too_deep(node)
            total += size
        elif key in open_nodes:
            raise YamlFileError([f"line {node.start_mark.line + 1}: an anchor is used inside itself (recursive alias)"])
        else:
            if level + 1 > MAX_DEPTH:
                raise too_deep(node)
            open_nodes.add(key)
            before = total
            total += 1
            height = 0
            for child in _children(node):
                height = max(height, measure(child, level + 1)[1])
            open_nodes.discard(key)
            size, height = total - before, height + 1
            measured[key] = (size, height)
        if total > bound:
            raise YamlFileError(
                [f"anchors and aliases expand the document by more than {MAX_ALIAS_EXPANSION:,} values"]
            )
        return size, height

    measure(root, 0)


def _check_duplicate_keys(loader: _BoundedLoader, root: Node) -> None:
    """Every mapping names each key once; the error gives the path of the repeated key. Merge keys (`<<`) are
    YAML's way of overriding, so keys that come from a merge may repeat."""
    problems: list[str] = []

    def walk(node: Node, path: str) -> None:
        if isinstance(node, SequenceNode):
            for i, child in enumerate(node.value):
                walk(child, f"{path}.{i}" if path else str(i))
        elif isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    walk(value_node, path)
                    continue
                key = loader.construct_object(key_node, deep=True) if isinstance(key_node, ScalarNode) else None
                child_path = f"{path}.{key}" if path else str(key)
                if key is not None and _hashable(key):
                    if key in seen:
                        problems.append(f"{child_path}: duplicate key (line {key_node.start_mark.line + 1})")
                    seen.add(key)
                walk(value_node, child_path)

    walk(root, "")
    if problems:
        raise YamlFileError(problems)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def parse_yaml(text: str) -> Any:
    """The one YAML document in `text`, within the bounds above; YamlFileError otherwise (also for YAML syntax)."""
    try:
        loader = _BoundedLoader(text)  # its reader already refuses control characters (NUL, ...)
    except yaml.YAMLError as error:
        raise YamlFileError([f"not valid YAML: {error}"]) from None
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_expansion(root)
        _check_duplicate_keys(loader, root)
        return loader.construct_document(root)
    except yaml.YAMLError as error:
        raise YamlFileError([f"not valid YAML: {error}"]) from None
    except (ValueError, OverflowError) as error:
        # a scalar YAML resolves to a type it then cannot build: a timestamp like 2026-13-45, an int of
        # more than 4300 digits (Python's int/str limit)
        raise YamlFileError([f"not valid YAML: {error}"]) from None
    finally:
        loader.dispose()


def read_yaml_file(path: Path) -> Any:
    """Read and parse a YAML file within the bounds above; YamlFileError names what is wrong."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise YamlFileError([f"cannot read the file: {error.strerror}"]) from None
    if len(data) > MAX_FILE_BYTES:
        raise YamlFileError([f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise YamlFileError(
            [f"not UTF-8 text: byte 0x{data[error.start]:02x} at line {line} (save the file as UTF-8)"]
        ) from None
    return parse_yaml(text)
