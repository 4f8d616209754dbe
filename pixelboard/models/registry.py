"""Decorator registry of blueprints: readable name -> factory of an unfitted sklearn classifier.

Modelled on timm's ``register_model`` / ``list_models`` / ``create_model``: a blueprint module
decorates a factory function, ``pixelboard.models`` imports those modules, and everything else
(leaderboard, CLI, tests) only ever asks the registry by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pixelboard.errors import PixelboardError


@dataclass(frozen=True)
class BlueprintSpec:
    """One registered blueprint.

    ``factory(random_state, n_jobs)`` returns a fresh unfitted estimator; ``n_jobs`` is the number
    of threads that estimator may use (the leaderboard runs several fits in parallel processes).
    """

    name: str
    label: str
    factory: Callable
    default: bool
    short: str


_REGISTRY: dict[str, BlueprintSpec] = {}


def register_blueprint(name: str, label: str, short: str, default: bool = True) -> Callable:
    """Decorator: register ``factory(random_state: int, n_jobs: int) -> estimator`` as ``name``."""

    def decorator(factory: Callable) -> Callable:
        if name in _REGISTRY:
            # Two modules claiming one name is a programming error, never a user error.
            raise ValueError(f"blueprint {name!r} is already registered")
        _REGISTRY[name] = BlueprintSpec(
            name=name, label=label, factory=factory, default=default, short=short
        )
        return factory

    return decorator


def list_blueprints(default_only: bool = False) -> list[str]:
    """Registered blueprint names in registration order (optionally only the default set)."""
    return [n for n, spec in _REGISTRY.items() if spec.default or not default_only]


def get_blueprint(name: str) -> BlueprintSpec:
    """The spec registered under ``name``; an unknown name is a one-line user error."""
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(list_blueprints()) or "(none registered)"
        raise PixelboardError(f"unknown blueprint {name!r}; valid names: {valid}") from None


def create_blueprint(name: str, random_state: int = 0, n_jobs: int = 1):
    """A fresh unfitted estimator for blueprint ``name``."""
    return get_blueprint(name).factory(random_state=random_state, n_jobs=n_jobs)


def blueprint_params(name: str) -> dict:
    """The hyper-parameters of blueprint ``name`` (``get_params()``), without the seed and thread
    count that the leaderboard sets per fit: part of every row's key."""
    params = create_blueprint(name).get_params(deep=True)
    return {k: v for k, v in sorted(params.items()) if k not in ("random_state", "n_jobs")}
