"""``pixelboard shift``: does the test set look like the training set, and if not, how does it differ?"""

from __future__ import annotations

import click

from pixelboard.api import Project
from pixelboard.commands.conventions import out_option
from pixelboard.commands.common import friendly_errors, logging_options, name_callback, project_option
from pixelboard.options import DEFAULT_PROBE, MAX_SEED


@click.command()
@project_option
@click.option("--train", "train_set", default="train", show_default=True, callback=name_callback,
              help="Training image set (featurize it with --views dihedral to test rotation/flip hypotheses).")
@click.option("--test", "test_set", default="test", show_default=True, callback=name_callback,
              help="Test image set (featurize it with --unlabelled --set NAME, or run predict once).")
@click.option("--featurizer", default=None, help="Embeddings to compare [default: the first CNN featurizer both have].")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1), help="Test images to list.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, MAX_SEED),
              help="Seed of the folds and of the drawn views.")
@click.option("--probe", default=DEFAULT_PROBE, show_default=True, type=click.IntRange(0),
              help="Training images embedded under the 8 orientations and each damage family (blur, noise, JPEG, "
                   "contrast, perspective, shadow, ink/paper) to test those hypotheses; 0: none. Cached.")
@out_option(type=click.Path(dir_okay=False), default=None, help="Also write the report as JSON.")
@logging_options
@friendly_errors
def shift(project_dir, train_set, test_set, featurizer, top, seed, probe, out):
    """Adversarial validation: ROC AUC of telling test from training embeddings, and what explains it."""
    report = Project(project_dir).shift(train=train_set, test=test_set, featurizer=featurizer, top=top, seed=seed,
                                        probe=probe, out=out)
    verdict = "shifted" if report.shifted else "alike"
    click.echo(f"{report.featurizer}: {report.n_train:,} training vs {report.n_test:,} test images; "
               f"train-vs-test ROC AUC {report.auc:.3f} ({verdict}; 0.5 = indistinguishable)")
    for hypothesis in report.hypotheses:
        click.echo(f"  training images {hypothesis.name:<36} AUC {hypothesis.auc:.3f}")
    if report.shifted and report.best is not None:
        click.echo(f"best explanation: the test set looks {report.best.name} (AUC {report.auc:.3f} -> "
                   f"{report.best.auc:.3f})")
    if report.damage:
        click.echo(f"damage hypotheses ({report.probe_images} training images under each, turned as the views found; "
                   f"AUC {report.damage[0].baseline_auc:.3f} without damage):")
    for damage in report.damage:
        click.echo(f"  training images {damage.looks:<36} AUC {damage.auc:.3f}; explains {damage.share:.0%} of test images")
    if report.damage_found:
        click.echo("damage found: " + ", ".join(f"{h.family} ({h.share:.0%})" for h in report.damage_found))
    click.echo("test images least like training: " + ", ".join(f"{i} ({p:.2f})" for i, p in report.least_like_training))
    click.echo(f"advice: {report.advice()}")
    if out:
        click.echo(f"wrote {out}")
