"""``pixelboard predict``: new images -> submission CSV (ID,target or class probabilities)."""

from __future__ import annotations

import click

from pixelboard.commands.common import friendly_errors, prediction_image_options, project_option


@click.command()
@prediction_image_options
@project_option
@click.option("--run", default="leaderboard", show_default=True, help="Leaderboard run to take the model from.")
@click.option("--set", "set_name", default="test", show_default=True, help="Name of these images in the project.")
@click.option("--out", default="submission.csv", show_default=True, type=click.Path(dir_okay=False),
              help="Submission file to write.")
@click.option("--model", default="best", show_default=True, help="best (rank 1), blend (best blend) or a model id.")
@click.option("--probabilities", is_flag=True, help="One probability column per class instead of the label.")
@click.option("--tta", default=None, help="Test-time augmentation: comma-separated transforms, e.g. rot90,rot180,"
              "rot270,hflip; probabilities are averaged over the original and each transform.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1))
@click.option("--workers", default=None, type=click.IntRange(0), help="Decoding workers [default: cores - 1].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@friendly_errors
def predict(images, labels_csv, id_column, target_column, project_dir, run,
            set_name, out, model, probabilities, tta, device, batch_size, workers, quiet):
    """Predict images with a leaderboard model or blend and write a submission CSV."""
    from pixelboard import atomic
    from pixelboard.datasets import read_image_set
    from pixelboard.featurizers.augment import parse_transforms
    from pixelboard.featurizers.pipeline import FeaturizeOptions
    from pixelboard.predict import predict as run_predict
    from pixelboard.project import Project

    # Test images are predicted, never trained on: any target column in the CSV is ignored.
    image_set = read_image_set(images, name=set_name, labels_csv=labels_csv, id_column=id_column,
                               target_column=target_column, unlabelled=True)
    project = Project(project_dir)
    project.save_image_set(image_set)
    options = FeaturizeOptions(batch_size=batch_size, workers=workers, progress=not quiet)
    prediction = run_predict(project, image_set, run=run, model=model, tta=parse_transforms(tta), options=options,
                             device=device)
    frame = prediction.to_frame(probabilities, id_column=id_column, target_column=target_column)
    atomic.write_text(out, frame.to_csv(index=False))
    row = prediction.model
    click.echo(f"predicted {len(frame):,} images with {row['id']} ({row['label']}, {row['featurizer']})"
               + (f" + TTA {tta}" if tta else "") + f" -> {out}")
