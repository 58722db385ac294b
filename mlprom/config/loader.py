"""Reading a config: lookup order, the bounded YAML reader with its line map, ${VAR}, the merge with defaults.

Every error is a ConfigError naming the file, the line and the key, never a secret. The YAML reader is
bounded (size, nesting, aliases; docs/reliability.md): a config is a page of settings, not a program.
"""

from __future__ import annotations

import copy
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from mlprom.config.schema import MODEL_METRICS, Config, default_document
from mlprom.errors import ConfigError

DEFAULT_CONFIG_NAME = "mlprom.yaml"
CONFIG_ENV = "MLPROM_CONFIG"


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Bounds of the YAML reader: a real config is a few KB with a handful of anchors.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 32
MAX_YAML_ALIASES = 256
MAX_YAML_NODES = 100_000  # nodes of the document with every alias expanded
# Control characters other than tab and newline (and lone surrogates) have no business in a config value.
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f\ud800-\udfff]")

_REPLACED_WHOLE = ("queries", "thresholds")


# ---------------------------------------------------------------- YAML with line numbers


class _LineMap:
    """Maps a key path (tuple of keys/indexes) in the YAML document to its 1-based line."""

    def __init__(self) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}

    def walk(self, node: yaml.Node, path: tuple[Any, ...], source: str) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                key = key_node.value
                if key == "<<":
                    continue
                if key in seen:
                    raise ConfigError(f"{source}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
                seen.add(key)
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                self.walk(value_node, (*path, key), source)
                self.lines[(*path, key)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*path, index), source)

    def line_for(self, loc: tuple[Any, ...]) -> int | None:
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None


def _check_bounds(text: str, source: str) -> None:
    """Refuse, from the event stream and before anything is built, what would take unbounded time or memory:
    deep nesting (the composer recurses), many aliases, and alias bombs (nested anchors whose expansion
    is exponential; walking or copying the document would expand them)."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{source}: config is larger than {MAX_CONFIG_BYTES // 1024} KiB; refusing to read it"
        )
    sizes: dict[str, int] = {}  # anchor -> expanded size of its node (absent while the node is open)
    open_anchors: set[str] = set()
    stack: list[list[Any]] = []  # open collections: [expanded size so far, anchor]
    aliases = 0

    def add(size: int, mark: Any) -> None:
        if stack:
            stack[-1][0] += size
            if stack[-1][0] > MAX_YAML_NODES:
                fail(mark, f"expands to more than {MAX_YAML_NODES} values (nested aliases?)")

    def fail(mark: Any, why: str) -> None:
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError(f"{where}: refusing the config: {why}")

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                fail(mark, f"more than {MAX_YAML_ALIASES} aliases")
            if event.anchor in open_anchors:
                fail(mark, f"alias *{event.anchor} refers to a node that contains it (a cycle)")
            add(sizes.get(str(event.anchor), 1), mark)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                sizes[event.anchor] = 1
            add(1, mark)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_YAML_DEPTH:
                fail(mark, f"nested deeper than {MAX_YAML_DEPTH} levels")
            if event.anchor is not None:
                open_anchors.add(event.anchor)
            stack.append([1, event.anchor])
        elif isinstance(event, yaml.CollectionEndEvent):
            size, anchor = stack.pop()
            if anchor is not None:
                open_anchors.discard(anchor)
                sizes[anchor] = size
            add(size, mark)


def _bad_string(value: Any, path: tuple[Any, ...]) -> tuple[tuple[Any, ...], str] | None:
    """The first string (key or value) holding a control character or a lone surrogate, with why."""
    if isinstance(value, str):
        found = _BAD_CHARS.search(value)
        if found:
            char = found.group()
            kind = "a lone surrogate" if "\ud800" <= char <= "\udfff" else f"control character {char!r}"
            return path, f"contains {kind}"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            bad = _bad_string(key, (*path, key)) or _bad_string(item, (*path, key))
            if bad:
                return bad
    elif isinstance(value, list):
        for index, item in enumerate(value):
            bad = _bad_string(item, (*path, index))
            if bad:
                return bad
    return None


def _read_yaml(text: str, source: str) -> tuple[dict[str, Any], _LineMap]:
    lines = _LineMap()
    try:
        _check_bounds(text, source)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    except (ValueError, OverflowError, RecursionError) as exc:
        # The safe constructor's own limits: an integer of more than 4300 digits, a date out of range.
        raise ConfigError(f"{source}: invalid YAML: {exc.__class__.__name__}: {str(exc)[:200]}") from None
    if data is None:
        return {}, lines
    if not isinstance(data, dict) or node is None:
        raise ConfigError(
            f"{source}:1: the top level must be a mapping of sections (storage:, prometheus:, ...)"
        )
    lines.walk(node, (), source)
    bad = _bad_string(data, ())
    if bad:
        path, why = bad
        line = lines.line_for(path)
        raise ConfigError(f"{source}:{line or 1}: {_format_loc(path) or '(top level)'}: {why}")
    return data, lines


def _interpolate(value: Any, path: tuple[Any, ...], env: Mapping[str, str], where: Any) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{where(path)}: environment variable {name} is not set (referenced as ${{{name}}})"
            )

        return _ENV_REF.sub(replace, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), env, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), env, where) for i, v in enumerate(value)]
    return value


def _merge(defaults: dict[str, Any], override: dict[str, Any], top: bool = True) -> dict[str, Any]:
    merged = copy.deepcopy(defaults)
    for key, value in override.items():
        if top and key in _REPLACED_WHOLE:
            merged[key] = value
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value, top=False)
        else:
            merged[key] = value
    return merged


_SECRET_KEY = re.compile(r"(?i)password|token|secret|headers|auth")


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic adds validator names ("function-before[...]", "str", ...) to union/annotated locations.
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in {"str", "float", "int"})))


def _describe_error(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    msg = str(err.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg


def load_config_text(text: str, source: str = "<string>", env: Mapping[str, str] | None = None) -> Config:
    """Validate YAML text against the built-in defaults; `source` names it in error messages."""
    env = os.environ if env is None else env
    document, lines = _read_yaml(text, source)

    def where(path: tuple[Any, ...]) -> str:
        line = lines.line_for(path)
        return f"{source}:{line}" if line else source

    for key in list(document):
        if not isinstance(key, str):
            raise ConfigError(f"{where((key,))}: keys must be strings, got {key!r}")
    for section in _REPLACED_WHOLE:
        if section in document and document[section] is None:
            raise ConfigError(f"{where((section,))}: {section}: is empty; remove it to use the defaults")
    for section, value in document.items():
        if section in Config.model_fields and section != "source" and not isinstance(value, dict):
            raise ConfigError(
                f"{where((section,))}: {section}: expected a mapping of keys, got {type(value).__name__}"
            )
    document = _interpolate(document, (), env, where)
    bad = _bad_string(document, ())
    if bad:
        raise ConfigError(f"{where(bad[0])}: {_format_loc(bad[0])}: {bad[1]} (after ${{VAR}} substitution)")
    merged = _merge(default_document(), document)
    # Built-in thresholds for queries a file dropped are built-ins, not the user's: drop them too.
    if "queries" in document and "thresholds" not in document:
        merged["thresholds"] = {
            k: v for k, v in merged["thresholds"].items() if k in merged["queries"] or k in MODEL_METRICS
        }
    merged["source"] = source
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = _clean_loc(tuple(err.get("loc", ())))
        key = _format_loc(loc) or "(top level)"
        message = _describe_error(err)
        if err.get("type") == "extra_forbidden" and len(loc) >= 1:
            parent = loc[:-1]
            allowed = _allowed_keys(parent)
            if allowed:
                message += f" (allowed here: {', '.join(allowed)})"
        named = re.match(r"threshold '([^']+)'", message)
        if not loc and named:
            # The model-level check of threshold names: point at the threshold's own line.
            path = ("thresholds", named.group(1))
            raise ConfigError(f"{where(path)}: thresholds.{named.group(1)}: {message}") from None
        extra = ""
        secret = any(isinstance(p, str) and _SECRET_KEY.search(p) for p in loc)
        if "input" in err and err.get("type") not in ("extra_forbidden", "value_error", "missing"):
            # Never echo what a secret-bearing key holds (a password given as a number is still a password).
            # Nor a whole section given as text, nor long text: a misplaced line may hold anything.
            shown = err["input"]
            short = not isinstance(shown, str) or len(shown) <= 40
            if not secret and len(loc) > 1 and short and not isinstance(shown, dict | list):
                extra = f" (got {shown!r})"
        from mlprom.redact import redact_text

        raise ConfigError(redact_text(f"{where(loc)}: {key}: {message}{extra}")) from None


def _allowed_keys(parent: tuple[Any, ...]) -> list[str]:
    model: Any = Config
    for part in parent:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return [field.alias or name for name, field in model.model_fields.items() if name != "source"]


def resolve_config_path(explicit: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """--config, else $MLPROM_CONFIG, else ./mlprom.yaml if it exists, else None (built-in defaults)."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.exists() else None


def file_kind(mode: int) -> str:
    """What a file of this st_mode is, for messages: "a FIFO", "a socket", "a character device", ..."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


class NotRegularFile(OSError):
    """A FIFO, socket, device or directory where a regular file was expected; `kind` says which."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"{path} is {kind}, not a regular file")
        self.kind = kind


class FileTooLarge(OSError):
    """A regular file whose size is past the reader's bound; `size` is what fstat said."""

    def __init__(self, path: str, size: int) -> None:
        super().__init__(f"{path} is {size:,} bytes")
        self.size = size


def read_regular_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most `limit` + 1 bytes of a regular file (one past the bound, so a caller can tell it grew past it).

    Opened non-blocking, then checked with fstat: a FIFO with no writer, a socket or /dev/zero where a
    config or a token file should be would otherwise hang the run or feed it forever (cron runs read
    files that other people's jobs can replace). Raises NotRegularFile for those, FileTooLarge when fstat
    already tells the file is over `limit` (nothing is read), OSError as open() does.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        # A socket cannot be opened at all (ENXIO): say what it is rather than "no such device".
        try:
            mode = os.stat(path).st_mode
        except OSError:
            raise exc from None
        if stat.S_ISREG(mode):
            raise
        raise NotRegularFile(os.fspath(path), file_kind(mode)) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(os.fspath(path), file_kind(info.st_mode))
        if info.st_size > limit:
            raise FileTooLarge(os.fspath(path), info.st_size)
        return handle.read(limit + 1)


def load_config(explicit: str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load the config by the contract's lookup order; no file at all means the built-in defaults."""
    path = resolve_config_path(explicit, env)
    if path is None:
        return load_config_text("", "<defaults>", env)
    try:
        # Read one byte past the bound: a 5 GB file is refused without being read.
        body = read_regular_file(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except FileTooLarge:
        raise ConfigError(
            f"{path}: config is larger than {MAX_CONFIG_BYTES // 1024} KiB; refusing to read it"
        ) from None
    except NotRegularFile as exc:
        if exc.kind == "a directory":
            raise ConfigError(f"{path}: is a directory, not a config file") from None
        raise ConfigError(f"{path}: is {exc.kind}, not a regular file; refusing to read it") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read config file: {exc.strerror or exc.__class__.__name__}"
        ) from None
    if len(body) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: config is larger than {MAX_CONFIG_BYTES // 1024} KiB; refusing to read it"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: config file is not UTF-8 text") from None
    return load_config_text(text, str(path), env)
