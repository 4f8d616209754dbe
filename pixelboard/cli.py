"""The ``pixelboard`` command line: thin click commands over the library.

Every ``PixelboardError`` becomes a one-line ``Error: ...`` with exit status 1 (click's usage errors
are 2); Ctrl-C says what was kept and exits 130. Commands live in ``pixelboard/commands/``, one module each.
"""

from __future__ import annotations

import click

from pixelboard.commands import (autopilot_cmd, demo_cmd, deploy_cmd, document_cmd, featurize_cmd, leaderboard_cmd, listing,
                                 predict_cmd, report_cmd, shift_cmd)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="pixelboard")
def main():
    """pixelboard: pretrained CNN embeddings once, then a DataRobot-style leaderboard of blueprints."""


main.add_command(featurize_cmd.featurize)
main.add_command(leaderboard_cmd.leaderboard)
main.add_command(leaderboard_cmd.export)
main.add_command(deploy_cmd.deploy)
main.add_command(predict_cmd.predict)
main.add_command(deploy_cmd.export_model)
main.add_command(shift_cmd.shift)
main.add_command(autopilot_cmd.autopilot)
main.add_command(report_cmd.report)
main.add_command(document_cmd.document)
main.add_command(demo_cmd.demo)
main.add_command(listing.list_command)

if __name__ == "__main__":  # pragma: no cover
    main()
