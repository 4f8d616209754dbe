"""The option spellings every command shares: ``-o/--out`` for the file a command writes (older spellings
kept as hidden aliases, so scripts written for them keep working) and list options that take either
the singular or the plural name (``--backbone`` / ``--backbones``)."""

from __future__ import annotations

import click


def out_option(dest: str = "out", *, aliases: tuple[str, ...] = (), **kwargs):
    """``-o/--out`` stored in ``dest``; each of ``aliases`` (e.g. ``--output``) is accepted, hidden from
    ``--help``, and means the same. Given both, the visible spelling wins."""
    meta_key = f"pixelboard.alias.{dest}"

    def take_alias(ctx: click.Context, param: click.Parameter, value):
        if value is not None:
            ctx.meta[meta_key] = value
        return value

    def take_out(ctx: click.Context, param: click.Parameter, value):
        given = ctx.get_parameter_source(param.name) not in (click.core.ParameterSource.DEFAULT,
                                                             click.core.ParameterSource.DEFAULT_MAP)
        return value if given or meta_key not in ctx.meta else ctx.meta[meta_key]

    def decorate(command):
        for alias in aliases:
            command = click.option(alias, f"{dest}_alias_{alias.strip('-').replace('-', '_')}", hidden=True,
                                   default=None, type=kwargs.get("type"), expose_value=False, is_eager=True,
                                   callback=take_alias)(command)
        return click.option("-o", "--out", dest, callback=take_out, **kwargs)(command)

    return decorate
