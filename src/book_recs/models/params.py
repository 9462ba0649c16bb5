"""Typed configs from Kedro parameter blocks: a dataclass built from a dict, unknown keys refused."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

Config = TypeVar("Config")


def config_from_params(cls: type[Config], params: dict[str, Any], what: str) -> Config:
    """``cls(**params)`` for the dataclass ``cls``; a key that is not one of its fields raises a
    ValueError naming it and the known ones (``what`` says which parameters, e.g. "model").

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Example:
    ...     width: int = 1
    >>> config_from_params(Example, {"width": 2}, "example")
    Example(width=2)
    """
    known = {f.name for f in fields(cls)}
    unknown = set(params) - known
    if unknown:
        raise ValueError(f"unknown {what} parameters {sorted(unknown)}; known: {sorted(known)}")
    return cls(**params)
