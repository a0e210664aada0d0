"""The YAML files people edit, checked by one schema library (pydantic), every problem named by
the file and the line of its key, with the closest valid name for a misspelt key or value.

``load_yaml`` reads a file remembering each mapping's line and each key's line (``__line__``,
``__lines__``); ``problems`` turns pydantic's errors into those lines.  The models are strict: a
string where a list or a boolean is meant is refused ("no" is not true), a number must be a number.
The schedules (``worker.schedules``), the policy files (``worker.policy_schema``), ``calendar.yaml``
(``worker.calendar``) and the directory (``worker.directory``) use it.
"""
from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError


class Strict(BaseModel):
    """A mapping with only the keys it names, each of the type it names (no coercion)."""
    model_config = ConfigDict(extra="forbid", strict=True)


class _LineLoader(yaml.SafeLoader):
    """A loader that remembers the line of every mapping (``__line__``) and of each key (``__lines__``)."""


def _construct_mapping(loader, node, deep=False):
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=deep)
    mapping["__line__"] = node.start_mark.line + 1
    mapping["__lines__"] = {k.value: k.start_mark.line + 1 for k, _ in node.value if hasattr(k, "value")}
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path, text: str | None = None) -> dict:
    """A YAML mapping with line information; a syntax error names the file and the line."""
    try:
        text = path.read_text(encoding="utf-8") if text is None else text
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{path}:{mark.line + 1 if mark else '?'}: not valid YAML: "
                          f"{getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {"__line__": 1, "__lines__": {}}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping at the top level")
    return data


def plain(value):
    """The value without the line information (for the code that uses it)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not (isinstance(k, str) and k.startswith("__"))}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def suggest(word, known) -> str:
    """" (did you mean 'weekly_bulletin'?)" for a near miss, else the list of what is known."""
    close = difflib.get_close_matches(str(word), [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(map(str, known)))})"


def _model_at(model, loc: tuple):
    """The model class that owns the last key of ``loc``, following nested models, lists and dicts."""
    current = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return current if not fields else None
        current = _inner_model(fields[part].annotation)
    return current


def _inner_model(annotation):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _node(data: dict, loc: tuple) -> tuple[dict, str | int | None]:
    """The mapping holding the last key of ``loc`` and that key (for its line)."""
    node, key = data, loc[-1] if loc else None
    for part in loc[:-1]:
        nxt = node[part] if isinstance(node, dict | list) and (isinstance(node, dict) and part in node or
                                                              isinstance(node, list) and isinstance(part, int)
                                                              and part < len(node)) else None
        if nxt is None:
            break
        node = nxt
    return node, key


def _line(data: dict, loc: tuple) -> int:
    node, key = _node(data, loc)
    while isinstance(node, list) and isinstance(key, int):
        node = node[key] if key < len(node) else {}
        key = None
    if isinstance(node, dict):
        return node.get("__lines__", {}).get(key, node.get("__line__", data.get("__line__", 1)))
    # A plain value in a list (an address in ``default: [...]``) has no line of its own: its key's.
    return _line(data, loc[:-1]) if len(loc) > 1 else data.get("__line__", 1)


def describe(err: Mapping[str, Any], model) -> str:
    """One pydantic error in the words of this project's messages."""
    loc = tuple(p for p in err["loc"] if p != "[key]")
    key = next((p for p in reversed(loc) if isinstance(p, str)), "")
    value, kind = err.get("input"), err["type"]
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        known = [n for n in (owner.model_fields if owner else {})]
        return f"unknown key {loc[-1]!r}{suggest(loc[-1], known) if known else ''}"
    if kind == "literal_error":
        allowed = [str(a).strip("'") for a in err.get("ctx", {}).get("expected", "").replace(" or ", ", ").split(", ")]
        return f"{key} must be one of {', '.join(sorted(allowed))}, not {value!r}{suggest(value, allowed)}"
    if kind == "list_type":
        if isinstance(value, str):
            return f"{key} must be a list such as [{value}], not the string {value!r}"
        return f"{key} must be a list, not {value!r}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{key} must be a mapping (key: value), not {value!r}"
    if kind == "bool_type":
        return f"{key} must be true or false (unquoted), not {value!r}"
    if kind in ("int_type", "int_from_float"):
        return f"{key} must be a whole number, not {value!r}"
    if kind in ("float_type", "float_parsing"):
        return f"{key}: expected a number such as 0.90, not {value!r}"
    if kind in ("string_type",):
        return f"{key} must be text, not {value!r}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{key}: {value} is outside the allowed range ({err['msg'].lower()})"
    if kind == "missing":
        return f"{key} is missing"
    if kind == "value_error":
        return str(err.get("ctx", {}).get("error", err["msg"]))
    return f"{key}: {err['msg']}"


def problems(exc: ValidationError, data: dict, path: Path, model, prefix: str = "",
             with_key: bool = False) -> list[str]:
    """Each error as ``file:line: [prefix]message``, the line being that of the offending key."""
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p != "[key]")
        text = describe(err, model)
        key = loc[-1] if not isinstance(loc[-1], int) or len(loc) < 2 else f"{loc[-2]}[{loc[-1] + 1}]"
        if with_key and err["type"] not in ("extra_forbidden",) and not text.startswith(f"{key}"):
            text = f"{key}: {text}"
        out.append(f"{path}:{_line(data, loc)}: {prefix}{text}")
    return out


def validate(model, data: dict, path: Path, prefix: str = "") -> Any:
    """The model of ``data`` or ``ConfigError`` listing every problem with its line."""
    try:
        return model.model_validate(plain(data))
    except ValidationError as exc:
        raise ConfigError("\n".join(problems(exc, data, path, model, prefix))) from None
