"""``pixelboard predict``: new images -> submission CSV (ID,target or class probabilities)."""

from __future__ import annotations

import functools

import click

from pixelboard.api import Project
from pixelboard.commands.conventions import out_option
from pixelboard.commands.common import (friendly_errors, logging_options, name_callback, prediction_image_options,
                                        project_option)
from pixelboard.commands.leaderboard_cmd import run_option
from pixelboard.logs import printable


@click.command()
@prediction_image_options
@project_option
@functools.partial(run_option, help="Leaderboard run to take the model from.")
@click.option("--bundle", type=click.Path(dir_okay=False), default=None,
              help="Predict with a model bundle from `pixelboard export-model` instead of a run.")
@click.option("--set", "set_name", default="test", show_default=True, callback=name_callback,
              help="Name of these images in the project.")
@out_option(default="submission.csv", show_default=True, type=click.Path(dir_okay=False),
            help="Submission file to write.")
@click.option("--model", default=None, help="best (rank 1), blend (best blend) or a model id [default: the "
              "deployed model from `pixelboard deploy`, else best].")
@click.option("--probabilities", is_flag=True, help="One probability column per class instead of the label.")
@click.option("--tta", default=None, help="Test-time augmentation: comma-separated transforms, e.g. rot90,rot180,"
              "rot270,hflip; probabilities are averaged over the original and each transform.")
@click.option("--upright", is_flag=True,
              help="Turn each test image to the view that looks upright first (a canonicalizer learned from the "
              "training images' own views: needs `featurize --views dihedral` on the training set).")
@click.option("--align", is_flag=True,
              help="Move the test embeddings to the training embeddings' per-column mean and spread first "
              "(test-time alignment for damage or style shift; the test set is predicted as a whole).")
@click.option("--skip-bad-images", is_flag=True,
              help="Leave unreadable images out of the submission (listed on stderr) instead of stopping.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1))
@click.option("--workers", default=None, type=click.IntRange(0), help="Decoding workers [default: cores - 1].")
@logging_options
@friendly_errors
def predict(images, labels_csv, id_column, target_column, project_dir, run, bundle, set_name, out, model,
            probabilities, tta, upright, align, skip_bad_images, device, batch_size, workers, quiet):
    """Predict images with a leaderboard model, its 100% refit or a bundle, and write a submission CSV."""
    from pixelboard import atomic

    prediction = Project(project_dir).predict_images(
        images, labels_csv, id_column=id_column, target_column=target_column, run=run, bundle=bundle,
        set_name=set_name, model=model, tta=tta, upright=upright, align=align, skip_bad_images=skip_bad_images,
        device=device,
        batch_size=batch_size, workers=workers, progress=not quiet)
    for bad in prediction.skipped:
        click.echo(printable(f"skipped {bad['file']}: {bad['reason']} (not in the submission)"), err=True)
    frame = prediction.to_frame(probabilities, id_column=id_column, target_column=target_column)
    atomic.write_text(out, frame.to_csv(index=False))
    fitted = prediction.model
    leaf_names = ", ".join(fitted.featurizers())
    click.echo(f"predicted {len(frame):,} images with {fitted.model_id} ({fitted.label}, {leaf_names}; "
               f"{fitted.trained_on})" + (f" + TTA {tta}" if tta else "") + (" + upright" if upright else "")
               + (" + aligned" if align else "")
               + f" -> {out}")
