"""Typed configuration sections: one dataclass per TOML table, its fields the schema.

A section class lists each key of its table as a field::

    @dataclass(kw_only=True)
    class OptimSection(Section):
        lr: float = 1e-3          # the annotation is the type a value must have
        steps: int = 1000         # the default is the value of a key not given
        store: str                # no default: a required key

:meth:`Section.from_table` checks a table against it and returns the typed instance:
an unknown key (with a close-match suggestion), a value of the wrong type (an int is a
float, a bool is not an int; ``list[int]`` checks its items; ``X | None`` allows None) or
a missing required key is a one-line :class:`ConfigError` naming ``file: section.key``.
Checks of ranges and of keys against each other stay with the section's owner.

A section also reads as a table (``section["lr"]``) for code and tests written against
the plain dicts the sections replaced; new code uses attributes.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
import types
import typing


class ConfigError(ValueError):
    """A preset that cannot be used; the message names the file and the key."""


def suggest(key: str, options) -> str:
    """``" (did you mean 'viscosity'?)"`` for the closest of ``options``, or ``""``."""
    close = difflib.get_close_matches(key, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def type_ok(value, annotation) -> bool:
    """Does ``value`` fit ``annotation`` (int is a float; lists check their items)."""
    if annotation is inspect.Parameter.empty or annotation is typing.Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(type_ok(value, a) for a in typing.get_args(annotation))
    if origin in (list, tuple):
        (item,) = typing.get_args(annotation)[:1] or (typing.Any,)
        return isinstance(value, list) and all(type_ok(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def type_name(annotation) -> str:
    return getattr(annotation, "__name__", str(annotation))


class Section:
    """Base of the typed sections (each subclass is a ``dataclass(kw_only=True)``)."""

    @classmethod
    def from_table(cls, values, name: str, source: str):
        """The section of table ``[name]`` of file ``source``, checked (see the module)."""
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{name}] must be a table")
        hints = typing.get_type_hints(cls)
        known = [f.name for f in dataclasses.fields(cls)]
        for key, value in values.items():
            if key not in known:
                raise ConfigError(
                    f"{source}: unknown key {name}.{key}{suggest(key, known)}; known: {known}"
                )
            if not type_ok(value, hints[key]):
                raise ConfigError(
                    f"{source}: {name}.{key} = {value!r} should be {type_name(hints[key])}"
                )
        for f in dataclasses.fields(cls):
            required = f.default is dataclasses.MISSING and (
                f.default_factory is dataclasses.MISSING
            )
            if required and f.name not in values:
                raise ConfigError(f"{source}: missing required key {name}.{f.name}")
        return cls(**copy.deepcopy(values))

    @classmethod
    def defaults(cls) -> dict:
        """``{key: default}`` of the keys that have one."""
        out = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
        return out

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    # --- read as a table -------------------------------------------------------------
    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]

    def __getitem__(self, key: str):
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value) -> None:
        if key not in self.keys():
            raise KeyError(key)
        setattr(self, key, value)

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def get(self, key: str, default=None):
        return getattr(self, key) if key in self.keys() else default


def section_class(name: str, schema: dict[str, tuple[type, object]]) -> type[Section]:
    """A section class from a ``{key: (type, default)}`` table (default ``...`` = required)."""
    specs = []
    for key, (annotation, default) in schema.items():
        if default is ...:
            specs.append((key, annotation))
        else:
            factory = lambda d=default: copy.deepcopy(d)  # noqa: E731 (a fresh list each time)
            specs.append((key, annotation, dataclasses.field(default_factory=factory)))
    return dataclasses.make_dataclass(name, specs, bases=(Section,), kw_only=True)


def check_section(values: dict, section: str, schema, source: str) -> dict:
    """Validate a table against a :class:`Section` class, or a ``{key: (type, default)}``
    table (default ``...`` = required); returns the table with defaults filled in."""
    if isinstance(schema, dict):
        schema = section_class(section.replace(".", "_"), schema)
    return schema.from_table(values, section, source).as_dict()
