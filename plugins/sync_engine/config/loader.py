"""Reading a config file and turning every way it can be wrong into a message an admin can act on.

Pydantic knows *what* is wrong; this module adds *where* (file, line, key path) and *what to do*
(the allowed values, the closest known key for a typo). YAML is read strictly: a key given twice is
an error instead of PyYAML's silent last-one-wins.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .model import SyncConfig
from .problems import ConfigError, ConfigProblem, ConfigValueError, Loc, format_path

ModelT = TypeVar("ModelT", bound=BaseModel)


def load_config(path: str | Path) -> SyncConfig:
    """Read and check a sync config file.

    :param path: the YAML file
    :raises ConfigError: the file is missing, is not valid YAML, or breaks a rule; the message lists
        every problem found with file, line, key path and the fix
    """
    return read_config_file(Path(path), SyncConfig)


def read_config_file(path: Path, model: type[ModelT]) -> ModelT:
    """Parse ``path`` as YAML and validate it as ``model``.

    :raises ConfigError: with file, line and key path in every problem
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [_file_problem(
            "file not found",
            "check the path, or start from include/mappings/sync.yaml (the shipped default)",
        )]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [_file_problem(
            f"can't be read ({type(exc).__name__}: {exc})", "make it a readable UTF-8 text file"
        )]) from None
    data, lines = parse_yaml(source, text)
    if data is None:
        raise ConfigError(source, [_file_problem(
            "the file is empty", "copy include/mappings/sync.yaml and adjust it"
        )])
    if not isinstance(data, dict):
        raise ConfigError(source, [_file_problem(
            f"the top level is a {_yaml_type(data)}, not a mapping of keys",
            "start the file with keys such as default_region: and objects:",
            line=1,
        )])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems: dict[str, ConfigProblem] = {}
        for error in exc.errors():
            for problem in _problems_from_error(model, error, lines):
                # A value no member of a union accepts yields one error per member; one per key is enough.
                problems.setdefault(problem.path, problem)
        raise ConfigError(source, list(problems.values())) from None


def _file_problem(problem: str, fix: str, line: int | None = None) -> ConfigProblem:
    return ConfigProblem(path="", problem=problem, fix=fix, line=line)


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key twice; PyYAML would silently keep the last value."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and remembers the line of every key path."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[object, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise _DuplicateKeyError(
                None, None, f"key {key!r} appears twice (lines {seen[key]} and {line})", key_node.start_mark
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(source: str, text: str) -> tuple[object, dict[Loc, int]]:
    """Parse ``text`` into Python data plus a map key path -> 1-based line.

    :raises ConfigError: on a YAML syntax error or a duplicate key, with the line and column
    """
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(source, [_file_problem(str(exc.problem), "keep one of them", line=line)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = f", column {mark.column + 1}" if mark else ""
        what = " ".join(filter(None, [exc.context, exc.problem]))
        raise ConfigError(source, [_file_problem(
            f"YAML syntax error{column}: {what}",
            "check the indentation and quote values that contain ': ' or start with a special character",
            line=line,
        )]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [_file_problem(f"YAML error: {exc}", "fix the YAML syntax")]) from None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return data, lines


def _collect_lines(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*loc, key_node.value)
            lines[child] = key_node.start_mark.line + 1
            _collect_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_lines(item, (*loc, index), lines)


def _line_of(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _problems_from_error(model: type[BaseModel], error: ErrorDetails, lines: dict[Loc, int]) -> list[ConfigProblem]:
    """One pydantic error -> admin messages (problem + fix) at the right key path and line."""
    loc: Loc = tuple(part for part in error["loc"] if not _is_union_tag(part))
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ConfigValueError):
        problems = []
        for rule in (cause, *cause.also):
            at = (*loc, *rule.at)
            problem, _, fix = str(rule).partition(" — ")
            problems.append(ConfigProblem(path=format_path(at), problem=problem, fix=fix, line=_line_of(at, lines)))
        return problems
    return [_problem_from_error(model, error, loc, lines)]


def _problem_from_error(model: type[BaseModel], error: ErrorDetails, loc: Loc, lines: dict[Loc, int]) -> ConfigProblem:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        problem, fix = f"unknown key '{loc[-1]}'", _suggest_key(str(loc[-1]), _allowed_keys(model, loc[:-1]))
    elif kind == "missing":
        problem, fix = f"'{loc[-1]}' is required", f"add {loc[-1]}: to this entry"
    elif kind in ("literal_error", "enum"):
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        problem, fix = f"{value!r} is not allowed", "must be one of: " + ", ".join(allowed)
    elif kind == "string_pattern_mismatch":
        problem = f"{value!r} is not a valid name"
        fix = "use the API name: letters, digits and underscores, starting with a letter (e.g. Customer_Tier__c)"
    elif kind == "bool_parsing" or kind == "bool_type":
        problem, fix = f"{value!r} is not a boolean", "must be true or false"
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        problem, fix = f"is a {_yaml_type(value)}", "must be a mapping of keys (key: value lines, indented)"
    elif kind in ("tuple_type", "list_type"):
        problem, fix = f"is a {_yaml_type(value)}", "must be a list of entries (lines starting with '- ')"
    elif kind in ("int_parsing", "int_type", "int_from_float", "float_parsing", "float_type"):
        problem, fix = f"{value!r} is not a {'whole ' if kind.startswith('int') else ''}number", _range_fix(kind, ctx)
    elif kind in ("string_type", "string_too_short"):
        problem, fix = f"{value!r} is not a non-empty text value", "write a text value (quote it if unsure)"
    elif kind in _BOUNDS:
        problem, fix = f"{value!r} is out of range", _range_fix(kind, ctx)
    else:
        problem, fix = f"{error['msg']} (got {value!r})", _range_fix(kind, ctx)
    return ConfigProblem(path=format_path(loc), problem=problem, fix=fix, line=_line_of(loc, lines))


def _is_union_tag(part: str | int) -> bool:
    """Pydantic adds the member type of a union to the path (``...default_inbox.str``); admins don't care."""
    return isinstance(part, str) and (part in {"str", "int", "float", "bool"} or "[" in part)


_BOUNDS = {
    "greater_than_equal": ("at least", "ge"),
    "less_than_equal": ("at most", "le"),
    "greater_than": ("more than", "gt"),
    "less_than": ("less than", "lt"),
}


def _range_fix(kind: str, ctx: dict) -> str:
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        bound = ctx.get(key)
        return f"use a value {words} {bound:g}" if isinstance(bound, int | float) else f"use a value {words} {bound}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "use a whole number"
    if kind in ("float_parsing", "float_type"):
        return "use a number such as 0.1"
    if kind in ("string_type", "string_too_short"):
        return "use a non-empty text value"
    return "see include/mappings/example-full.yaml for the allowed values"


def _suggest_key(key: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if allowed:
        return "allowed keys here: " + ", ".join(allowed)
    return "remove it"


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the model found at ``loc`` (walking lists, tuples, dicts and optionals)."""
    current: object = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        else:
            args = typing.get_args(current)
            if not args:
                return []
            current = args[-1] if isinstance(part, str) else args[0]
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: object) -> object:
    """Strip ``Optional``/``X | None`` and ``Annotated`` so the walk reaches the real type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [a for a in members if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = (models or members)[0]
        else:
            return annotation


def _yaml_type(value: object) -> str:
    names: dict[type, str] = {dict: "mapping", list: "list", str: "text", bool: "boolean", int: "number",
                              float: "number", type(None): "empty value"}
    return names.get(type(value), type(value).__name__)

