"""Blueprints: scikit-learn compatible classifiers fitted on image embeddings, and their registry.

Importing this package imports no blueprint module: the registry's static table names them all
(``pixelboard/models/registry.py``), and each module is imported when its blueprint is first built.
"""

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
