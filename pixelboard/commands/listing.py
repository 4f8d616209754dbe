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
    # Static facts only (the registry's table): no network is built, and torch is not imported.
    from pixelboard.featurizers import get_featurizer_entry, list_featurizers

    click.echo(f"{'name':<23} {'input':<9} {'licence':<11} {'levels (width)':<52} weights")
    for name in list_featurizers():
        entry = get_featurizer_entry(name)
        size = "x".join(map(str, entry.input_size)) if entry.input_size else "-"
        levels = ", ".join(f"{lv} {w}" for lv, w in entry.levels) or "-"
        click.echo(f"{name:<23} {size:<9} {entry.licence or '-':<11} {levels:<52} {entry.weights_source}")


def _list_blueprints() -> None:
    # The registry's static table: no blueprint module (scikit-learn, boosters) is imported.
    from pixelboard.models import get_blueprint, list_blueprints

    names = list_blueprints()
    width = max(len(n) for n in [*names, "name"])
    click.echo(f"{'name':<{width}} {'default':<8} {'fits':<11} label")
    for name in names:
        spec = get_blueprint(name)
        click.echo(f"{name:<{width}} {'yes' if spec.default else 'no':<8} {spec.inputs:<11} {spec.label}")
