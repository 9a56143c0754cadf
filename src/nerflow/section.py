"""Blocks of settings: frozen dataclasses read from plain config mappings.

A block's field defaults are the only place a default is written. :meth:`Section.from_dict`
checks keys and types and names a bad key by its path (``experiments.x.train.lr``);
:meth:`Section.to_dict` gives the plain, fully defaulted dict. The blocks themselves live
with what they configure (:mod:`nerflow.config.experiment`, :mod:`nerflow.config.scratch`,
:mod:`nerflow.features.config`).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from nerflow.errors import UserError

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}


class ConfigError(UserError, ValueError):
    """Settings that do not fit their dataclass; ``problems`` holds one ``path: reason``
    line each, the message all of them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


S = TypeVar("S", bound="Section")


@dataclasses.dataclass(frozen=True)
class Section:
    """Base of the settings blocks: reading from and writing to plain dicts."""

    PATH: ClassVar[str] = "experiments.NAME"
    """Where the block sits in the workflow's config: the default path of messages."""

    @classmethod
    def from_dict(
        cls: type[S],
        mapping: Any,
        path: str | None = None,
        reserved: Mapping[str, str] | None = None,
    ) -> S:
        """The block of ``mapping`` (missing keys take their defaults). Raises
        :class:`ConfigError` listing every unknown key (with the keys allowed there),
        missing required key and value of the wrong type, each by its path under ``path``
        (default :attr:`PATH`).
        ``reserved``: ``{field: why}`` of fields the caller sets itself, refused in
        ``mapping`` with their reason and not offered as allowed keys."""
        problems: list[str] = []
        section = cls._read(mapping, path or cls.PATH, problems, reserved or {})
        if problems or section is None:
            raise ConfigError(problems)
        return section

    @classmethod
    def _read(
        cls: type[S], mapping: Any, path: str, problems: list[str], reserved: Mapping[str, str]
    ) -> S | None:
        """The block, or None with the reasons appended to ``problems``."""
        if not isinstance(mapping, Mapping):
            problems.append(f"{path}: {mapping!r} is not of type 'object'")
            return None
        before = len(problems)
        allowed = [f.name for f in dataclasses.fields(cls) if f.name not in reserved]
        for key in mapping:
            if key in reserved:
                problems.append(f"{path}.{key}: not a setting here: {reserved[key]}")
            elif key not in allowed:
                problems.append(f"{path}.{key}: unknown key; allowed: {', '.join(allowed)}")
        values = {}
        for field in dataclasses.fields(cls):
            where = f"{path}.{field.name}"
            if field.name in mapping:
                hint = field_types(cls)[field.name]
                values[field.name] = _value(hint, mapping[field.name], where, problems)
            elif field.default is dataclasses.MISSING and (
                field.default_factory is dataclasses.MISSING
            ):
                problems.append(f"{where}: required key is missing")
        return cls(**values) if len(problems) == before else None

    @classmethod
    def coerce(cls: type[S], settings: S | Mapping[str, Any] | None) -> S:
        """``settings`` as a block: a block is kept, a mapping read by :meth:`from_dict`
        (None: every default). For the entry points that also take plain dicts."""
        if isinstance(settings, cls):
            return settings
        return cls.from_dict({} if settings is None else settings)

    def to_dict(self) -> dict[str, Any]:
        """Every setting as plain values (nested blocks as dicts), in field order."""
        return dataclasses.asdict(self)


@cache
def field_types(cls: type[Section]) -> dict[str, Any]:
    """The resolved annotation of each field of ``cls``, in field order."""
    hints = get_type_hints(cls)
    return {field.name: hints[field.name] for field in dataclasses.fields(cls)}


def _value(hint: Any, value: Any, where: str, problems: list[str]) -> Any:
    """``value`` checked against ``hint``: a nested block is read, a plain value kept as
    written (an integer stands for a float)."""
    if isinstance(hint, type) and issubclass(hint, Section):
        return hint._read(value, where, problems, {})
    if get_origin(hint) is Literal:
        if value not in get_args(hint):
            problems.append(f"{where}: {value!r} is not one of {list(get_args(hint))}")
    elif not any(_accepts(kind, value) for kind in _alternatives(hint)):
        expected = ", ".join(repr(json_type(kind)) for kind in _alternatives(hint))
        problems.append(f"{where}: {value!r} is not of type {expected}")
    return value


def _alternatives(hint: Any) -> tuple[Any, ...]:
    """The members of a union (``float | None``), else the type alone."""
    if get_origin(hint) in (Union, types.UnionType):
        return get_args(hint)
    return (hint,)


def _accepts(kind: type, value: Any) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def json_type(kind: Any) -> str:
    """The JSON schema type of a plain field type (``float`` -> ``number``)."""
    return _JSON_TYPES[kind]


SCHEMA_KEYS = {
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusive_minimum": "exclusiveMinimum",
    "exclusive_maximum": "exclusiveMaximum",
    "multiple_of": "multipleOf",
    "enum": "enum",
    "description": "description",
}


def setting(default: Any, **schema: Any) -> Any:
    """A block field with its default and what the JSON schema says of it beside its type:
    ``minimum``, ``maximum``, ``exclusive_minimum``, ``exclusive_maximum``, ``multiple_of``,
    ``enum`` (for a plain type) and ``description`` (:func:`block_schema` reads them)."""
    unknown = sorted(set(schema) - set(SCHEMA_KEYS))
    if unknown:
        raise TypeError(f"unknown schema keywords {unknown}; known: {sorted(SCHEMA_KEYS)}")
    metadata = {
        SCHEMA_KEYS[key]: list(value) if isinstance(value, tuple) else value
        for key, value in schema.items()
    }
    return dataclasses.field(default=default, metadata=metadata)


def _type_schema(hint: Any) -> dict[str, Any]:
    if get_origin(hint) is Literal:
        return {"enum": list(get_args(hint))}
    kinds = [json_type(kind) for kind in _alternatives(hint)]
    return {"type": kinds[0] if len(kinds) == 1 else kinds}


def switch(description: str) -> Any:
    """An input feature's on/off setting (off by default)."""
    return setting(False, description=description)


def size(default: int) -> Any:
    """A count or width of at least 1."""
    return setting(default, minimum=1)


def block_schema(cls: type[Section], left_out: Iterable[str] = ()) -> dict[str, Any]:
    """The JSON schema of a block, generated from its fields: their types, choices, bounds
    and descriptions (nested blocks inline), no defaults (the dataclass fills those in).
    ``left_out``: fields that are no settings of the config (the workflow sets them)."""
    skipped = set(left_out)
    properties: dict[str, Any] = {}
    required = []
    for field in dataclasses.fields(cls):
        if field.name in skipped:
            continue
        hint = field_types(cls)[field.name]
        if isinstance(hint, type) and issubclass(hint, Section):
            properties[field.name] = block_schema(hint)
        else:
            properties[field.name] = {**_type_schema(hint), **field.metadata}
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            required.append(field.name)
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False}
    if cls.__doc__:
        schema["description"] = " ".join(cls.__doc__.split())
    if required:
        schema["required"] = required
    schema["properties"] = properties
    return schema
