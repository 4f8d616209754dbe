"""``pixelboard list backbones|blueprints``: what can be used, and where its weights come from."""

from __future__ import annotations

import click

from pixelboard.commands.common import friendly_errors, logging_options


@click.command("list")
@click.argument("what", type=click.Choice(["backbones", "blueprints"]))
@logging_options
@friendly_errors
def list_command(what):
    """List registered backbones (featurizers) or blueprints (models)."""
    if what == "backbones":
        _list_backbones()
    else:
        _list_blueprints()


def _list_backbones() -> None:
    from pixelboard.featurizers import create_featurizer, get_featurizer_entry, list_featurizers

    click.echo(f"{'name':<23} {'input':<9} {'licence':<11} {'levels (width)':<52} weights")
    for name in list_featurizers():
        entry = get_featurizer_entry(name)
        # Random weights only to read the shapes: nothing is downloaded or loaded for a listing.
        featurizer = create_featurizer(name, random_weights=name != "grayscale20", device="cpu")
        pre = featurizer.preprocessor
        levels = ", ".join(f"{lv} {w}" for lv, w in featurizer.level_widths().items())
        click.echo(f"{name:<23} {f'{pre.height}x{pre.width}':<9} {entry.licence or '-':<11} {levels:<52} "
                   f"{entry.weights_source}")


def _list_blueprints() -> None:
    from pixelboard.models import get_blueprint, list_blueprints

    click.echo(f"{'name':<10} {'default':<8} label")
    for name in list_blueprints():
        spec = get_blueprint(name)
        click.echo(f"{name:<10} {'yes' if spec.default else 'no':<8} {spec.label}")
