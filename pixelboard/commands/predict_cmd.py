"""``pixelboard predict``: new images -> submission CSV (ID,target or class probabilities)."""

from __future__ import annotations

import functools

import click

from pixelboard.commands.common import friendly_errors, name_callback, prediction_image_options, project_option
from pixelboard.commands.leaderboard_cmd import run_option


@click.command()
@prediction_image_options
@project_option
@functools.partial(run_option, help="Leaderboard run to take the model from.")
@click.option("--bundle", type=click.Path(dir_okay=False), default=None,
              help="Predict with a model bundle from `pixelboard export-model` instead of a run.")
@click.option("--set", "set_name", default="test", show_default=True, callback=name_callback,
              help="Name of these images in the project.")
@click.option("--out", default="submission.csv", show_default=True, type=click.Path(dir_okay=False),
              help="Submission file to write.")
@click.option("--model", default=None, help="best (rank 1), blend (best blend) or a model id [default: the "
              "deployed model from `pixelboard deploy`, else best].")
@click.option("--probabilities", is_flag=True, help="One probability column per class instead of the label.")
@click.option("--tta", default=None, help="Test-time augmentation: comma-separated transforms, e.g. rot90,rot180,"
              "rot270,hflip; probabilities are averaged over the original and each transform.")
@click.option("--upright", is_flag=True,
              help="Turn each test image to the view that looks upright first (a canonicalizer learned from the "
              "training images' own views: needs `featurize --views dihedral` on the training set).")
@click.option("--skip-bad-images", is_flag=True,
              help="Leave unreadable images out of the submission (listed on stderr) instead of stopping.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1))
@click.option("--workers", default=None, type=click.IntRange(0), help="Decoding workers [default: cores - 1].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@friendly_errors
def predict(images, labels_csv, id_column, target_column, project_dir, run, bundle, set_name, out, model,
            probabilities, tta, upright, skip_bad_images, device, batch_size, workers, quiet):
    """Predict images with a leaderboard model, its 100% refit or a bundle, and write a submission CSV."""
    from pixelboard import atomic
    from pixelboard.datasets import read_image_set
    from pixelboard.errors import PixelboardError
    from pixelboard.featurizers.augment import parse_transforms
    from pixelboard.featurizers.pipeline import FeaturizeOptions
    from pixelboard.leaderboard.store import RunStore
    from pixelboard.predict import predict as run_predict
    from pixelboard.predict import upright_canonicalizers
    from pixelboard.project import Project

    if bundle and model:
        raise PixelboardError("--model chooses a row of a run; a --bundle holds one model already")
    if bundle and upright:
        raise PixelboardError("--upright learns from the training images' views, which a bundle does not hold; "
                              "predict from the project instead")
    tta_names = parse_transforms(tta)
    project = Project(project_dir)
    with project.lock():  # predict writes the test set's manifest, cache rows and embeddings
        _check_not_labelled(project, set_name)
        fitted = _load_model(project, run, bundle, model)
        # Test images are predicted, never trained on: any target column in the CSV is ignored.
        image_set = read_image_set(images, name=set_name, labels_csv=labels_csv, id_column=id_column,
                                   target_column=target_column, unlabelled=True)
        project.save_image_set(image_set)
        options = FeaturizeOptions(batch_size=batch_size, workers=workers, skip_bad_images=skip_bad_images,
                                   progress=not quiet)
        canonicalizers = None
        if upright:
            train_set = RunStore(project.run_dir(run)).config()["options"]["set_name"]
            canonicalizers = upright_canonicalizers(project, fitted, train_set)
        prediction = run_predict(project, image_set, fitted, tta=tta_names, options=options, device=device,
                                 upright=canonicalizers)
    for bad in prediction.skipped:
        click.echo(f"skipped {bad['file']}: {bad['reason']} (not in the submission)", err=True)
    frame = prediction.to_frame(probabilities, id_column=id_column, target_column=target_column)
    atomic.write_text(out, frame.to_csv(index=False))
    leaf_names = ", ".join(fitted.featurizers())
    click.echo(f"predicted {len(frame):,} images with {fitted.model_id} ({fitted.label}, {leaf_names}; "
               f"{fitted.trained_on})" + (f" + TTA {tta}" if tta else "") + (" + upright" if upright else "")
               + f" -> {out}")


def _check_not_labelled(project, set_name: str) -> None:
    """Predicting under the name of a labelled set would overwrite the manifest its runs were fitted on."""
    from pixelboard.errors import PixelboardError

    if project.dataset_path(set_name).is_file() and project.load_image_set(set_name).labelled:
        raise PixelboardError(f"set {set_name!r} is a labelled training set of {project.root}; predicting under "
                              "its name would replace it — choose another --set (default: test)")


def _load_model(project, run: str, bundle: str | None, model: str | None):
    from pixelboard.bundle import load_bundle
    from pixelboard.leaderboard.store import RunStore
    from pixelboard.predict import load_run_model

    if bundle:
        return load_bundle(bundle)
    return load_run_model(RunStore(project.run_dir(run)), model)
