"""The blueprint registry: a static table of facts, and factories imported on first use.

Modelled on timm's ``register_model`` / ``list_models`` / ``create_model``, with its lazy twist: the
facts of every blueprint (name, label, short name, default flag, the rows it fits, the module that
defines it) live in ``_TABLE`` below, so listing blueprints, labelling rows and checking
``--blueprints`` import no scikit-learn and no booster (``pixelboard list blueprints`` answers at
once). A blueprint's module is imported the first time its ``factory`` is read (``create_blueprint``,
``blueprint_params``).

Adding a blueprint = one ``_TABLE`` line + its module, whose factory carries
``@register_blueprint(name)``. That decorator attaches the factory to the table entry; any label,
short name, default flag or inputs it repeats must agree with the table (they cannot drift apart).
A name absent from the table (a plugin, a test) is registered by the decorator itself, from its
arguments, after the table's blueprints. Table order is ``list_blueprints()`` order: simple -> complex.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pixelboard.errors import PixelboardError
from pixelboard.lazy_import import factory_from_module

# What a blueprint is fitted on: "embeddings" = rows of a featurizer's cached matrix; "pixels" =
# images, for blueprints that fine-tune a network themselves.
INPUT_KINDS = ("embeddings", "pixels")


@dataclass(frozen=True, init=False)
class BlueprintSpec:
    """One blueprint.

    ``factory(random_state, n_jobs)`` returns a fresh unfitted estimator; ``n_jobs`` is the number
    of threads that estimator may use (the leaderboard runs several fits in parallel processes).
    Every other attribute is a static fact, read without importing ``module``.
    """

    name: str
    label: str
    default: bool
    short: str
    module: str
    inputs: str
    _factory: Callable | None = field(repr=False, compare=False)

    def __init__(self, name: str, label: str, factory: Callable | None = None, default: bool = True,
                 short: str = "", module: str = "", inputs: str = "embeddings"):
        if inputs not in INPUT_KINDS:
            raise ValueError(f"blueprint {name!r}: inputs must be one of {INPUT_KINDS}, got {inputs!r}")
        if factory is None and not module:
            raise ValueError(f"blueprint {name!r} needs a factory or the module that registers one")
        values = dict(name=name, label=label, default=default, short=short,
                      module=module or getattr(factory, "__module__", ""), inputs=inputs, _factory=factory)
        for key, value in values.items():
            object.__setattr__(self, key, value)  # frozen: the dataclass way to set fields in __init__

    @property
    def factory(self) -> Callable:
        """The factory; a table entry imports its module (which registers it) on first read."""
        if self._factory is not None:
            return self._factory
        return factory_from_module(self.name, self.module, _FACTORIES, "register_blueprint")


def _table(*specs: BlueprintSpec) -> dict[str, BlueprintSpec]:
    return {spec.name: spec for spec in specs}


_M = "pixelboard.models."
_TABLE: dict[str, BlueprintSpec] = _table(
    BlueprintSpec("majority", "Majority Class Classifier", short="MAJ", module=_M + "majority"),
    BlueprintSpec("lr_l2", "Regularized Logistic Regression (L2)", short="LR", module=_M + "logistic"),
    BlueprintSpec("mlp", "Slim Residual MLP", short="MLP", module=_M + "mlp"),
    BlueprintSpec("lightgbm", "Light Gradient Boosted Trees", short="LGBM", module=_M + "lightgbm_gbt"),
    BlueprintSpec("xgboost", "eXtreme Gradient Boosted Trees", short="XGB", module=_M + "xgboost_gbt"),
    BlueprintSpec("catboost", "CatBoost Gradient Boosted Trees", short="CB", module=_M + "catboost_gbt"),
    # Fine-tuned networks: opt-in (minutes per fold on a CPU), fitted on the pixels featurizer's rows.
    BlueprintSpec("finetune_lite0", "Fine-Tuned EfficientNet-Lite0 (flip + shift)", short="FT", default=False,
                  module=_M + "finetune", inputs="pixels"),
    BlueprintSpec("finetune_lite0_d4", "Fine-Tuned EfficientNet-Lite0 (8 orientations + shift)", short="FT-D4",
                  default=False, module=_M + "finetune", inputs="pixels"),
)

_REGISTRY: dict[str, BlueprintSpec] = dict(_TABLE)  # name -> spec: the table, then decorator-only entries
_FACTORIES: dict[str, Callable] = {}  # table name -> the factory its module registered


def register_blueprint(name: str, label: str | None = None, short: str | None = None,
                       default: bool | None = None, inputs: str | None = None) -> Callable:
    """Decorator: ``factory(random_state: int, n_jobs: int) -> estimator`` builds blueprint ``name``.

    For a table entry the arguments after ``name`` are optional and checked against the table;
    a name outside the table needs ``label`` and ``short`` and is added to the registry.
    """

    def decorator(factory: Callable) -> Callable:
        # Two modules claiming one name is a programming error, never a user error.
        if name in _FACTORIES or (name not in _TABLE and name in _REGISTRY):
            raise ValueError(f"blueprint {name!r} is already registered")
        if name in _TABLE:
            spec = _TABLE[name]
            given = {"label": label, "short": short, "default": default, "inputs": inputs}
            clash = {k: v for k, v in given.items() if v is not None and v != getattr(spec, k)}
            if clash or factory.__module__ != spec.module:
                raise ValueError(f"@register_blueprint({name!r}) in {factory.__module__} disagrees with the table "
                                 f"in pixelboard/models/registry.py: {clash or {'module': spec.module}}")
            _FACTORIES[name] = factory
        else:
            if label is None or short is None:
                raise ValueError(f"blueprint {name!r} is not in the table: give its label and short name")
            _REGISTRY[name] = BlueprintSpec(name, label, factory, default=True if default is None else default,
                                            short=short, inputs=inputs or "embeddings")
        return factory

    return decorator


def list_blueprints(default_only: bool = False) -> list[str]:
    """Registered blueprint names in registration order (optionally only the default set)."""
    return [n for n, spec in _REGISTRY.items() if spec.default or not default_only]


def get_blueprint(name: str) -> BlueprintSpec:
    """The spec registered under ``name`` (no import); an unknown name is a one-line user error."""
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(list_blueprints()) or "(none registered)"
        raise PixelboardError(f"unknown blueprint {name!r}; valid names: {valid}") from None


def create_blueprint(name: str, random_state: int = 0, n_jobs: int = 1):
    """A fresh unfitted estimator for blueprint ``name`` (imports its module on first use)."""
    return get_blueprint(name).factory(random_state=random_state, n_jobs=n_jobs)


def blueprint_params(name: str) -> dict:
    """The hyper-parameters of blueprint ``name`` (``get_params()``), without the seed and thread
    count that the leaderboard sets per fit: part of every row's key."""
    params = create_blueprint(name).get_params(deep=True)
    return {k: v for k, v in sorted(params.items()) if k not in ("random_state", "n_jobs")}
