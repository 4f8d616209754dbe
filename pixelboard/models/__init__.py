"""Blueprints: scikit-learn compatible classifiers fitted on image embeddings, and their registry.

Importing this package imports every blueprint module, which fills the registry; the import order
below is the registration order, i.e. the order ``list_blueprints()`` returns (simple -> complex).
"""

from pixelboard.models import majority  # noqa: F401  (registers "majority")
from pixelboard.models import logistic  # noqa: F401  (registers "lr_l2")
from pixelboard.models import mlp  # noqa: F401  (registers "mlp")
from pixelboard.models import lightgbm_gbt  # noqa: F401  (registers "lightgbm")
from pixelboard.models import xgboost_gbt  # noqa: F401  (registers "xgboost")
from pixelboard.models import catboost_gbt  # noqa: F401  (registers "catboost")
from pixelboard.models.registry import (
    BlueprintSpec,
    blueprint_params,
    create_blueprint,
    get_blueprint,
    list_blueprints,
    register_blueprint,
)

__all__ = [
    "BlueprintSpec",
    "blueprint_params",
    "create_blueprint",
    "get_blueprint",
    "list_blueprints",
    "register_blueprint",
]
