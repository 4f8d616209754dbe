"""The one mechanism both registries (featurizers, blueprints) use to build an entry on first use.

A registry's static table names the module that defines each entry; the module's decorator files the
factory under the entry's name. Reading the factory imports that module once, so listing entries
imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Callable


def factory_from_module(name: str, module: str, factories: dict[str, Callable], decorator: str) -> Callable:
    """``factories[name]``, importing ``module`` (which registers it with ``@decorator``) when needed."""
    if name not in factories:
        importlib.import_module(module)
    try:
        return factories[name]
    except KeyError:
        raise ValueError(f"{module} does not @{decorator}({name!r})") from None
