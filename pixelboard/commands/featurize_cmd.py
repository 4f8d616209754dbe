"""``pixelboard featurize``: images -> cached multi-level embeddings, once per image per backbone."""

from __future__ import annotations

import click

from pixelboard.commands.common import (DEFAULT_BACKBONES, friendly_errors, name_callback, project_option,
                                        split_list, training_image_options)
from pixelboard.datasets import read_image_set
from pixelboard.errors import PixelboardError
from pixelboard.datasets.images import DEFAULT_MAX_PIXELS
from pixelboard.featurizers import create_featurizer, get_featurizer_entry, list_featurizers
from pixelboard.featurizers.augment import parse_transforms
from pixelboard.featurizers.base import RESIZE_MODES
from pixelboard.featurizers.pipeline import FeaturizeOptions, featurize_set
from pixelboard.featurizers.views import check_pool
from pixelboard.project import Project


@click.command()
@training_image_options
@project_option
@click.option("--set", "set_name", default=None, callback=name_callback, help="Name of this image set in the project "
              "[default: train for labelled images, test otherwise].")
@click.option("--backbone", "backbones", default=DEFAULT_BACKBONES, show_default=True,
              help="Comma-separated featurizers (see `pixelboard list backbones`).")
@click.option("--levels", default=None, help="Comma-separated subset of low,medium,high,highest [default: all].")
@click.option("--resize", type=click.Choice(RESIZE_MODES), default="squash", show_default=True,
              help="squash to the input size, pad to keep the aspect ratio, or crop like timm's eval transform.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="State_dict or .safetensors file for the backbone (wins over bundled and hub weights).")
@click.option("--random-weights", is_flag=True, help="Random initialisation (tests only: embeddings are useless).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1), help="Images per forward pass.")
@click.option("--workers", default=None, type=click.IntRange(0),
              help="Decoding worker processes [default: CPU cores - 1, at most 8].")
@click.option("--no-amp", is_flag=True, help="Disable float16 mixed precision on CUDA.")
@click.option("--augment", default=None, help="Train-time augmentation: comma-separated transforms "
              "(rot90,rot180,rot270,hflip,vflip,transpose,transverse, or dihedral for all seven; "
              "rotate,blur,noise,jpeg,brightness).")
@click.option("--augment-copies", default=1, show_default=True, type=click.IntRange(1),
              help="Copies per random transform (rotate, blur, noise, jpeg, brightness).")
@click.option("--views", default=None, help="Embed each image under these transforms too (dihedral: the 8 "
              "orientations of a page; or a list like --augment) and write invariant variants pooled over them "
              "(efficientnet_lite0+d4mean); also enables `leaderboard --validate-under`.")
@click.option("--pool", "pools", default="mean", show_default=True,
              help="Invariant variants to write from --views: mean, meanmax (mean and max), or both (mean,meanmax).")
@click.option("--seed", default=0, show_default=True, help="Seed of the random augmentations.")
@click.option("--skip-bad-images", is_flag=True, help="Record unreadable images in the sidecar and go on.")
@click.option("--max-pixels", default=DEFAULT_MAX_PIXELS, show_default=True, type=click.IntRange(1),
              help="Refuse larger images (decompression bombs).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@friendly_errors
def featurize(images, labels_csv, meta_csv, id_column, target_column, group_column, unlabelled, project_dir,
              set_name, backbones, levels, resize, weights, random_weights, device, batch_size, workers, no_amp,
              augment, augment_copies, views, pools, seed, skip_bad_images, max_pixels, quiet):
    """Embed every image with each backbone; cached, incremental and resumable."""
    names = split_list(backbones)
    if not names:
        raise PixelboardError(f"no backbone given; choose from {', '.join(list_featurizers())} (--backbone)")
    for name in names:
        get_featurizer_entry(name)  # unknown names fail before any work
    image_set = read_image_set(images, name=set_name or "pending", labels_csv=labels_csv, id_column=id_column,
                               target_column=target_column, group_column=group_column, meta_csv=meta_csv,
                               unlabelled=unlabelled)
    image_set.name = set_name or ("train" if image_set.labelled else "test")
    if augment and not image_set.labelled:
        raise PixelboardError("--augment applies to labelled training images; use `predict --tta` for test images")
    project = Project(project_dir)
    options = FeaturizeOptions(batch_size=batch_size, workers=workers, augment=parse_transforms(augment),
                               augment_copies=augment_copies, views=parse_transforms(views),
                               pools=[check_pool(p) for p in split_list(pools)], seed=seed, skip_bad_images=skip_bad_images,
                               max_pixels=max_pixels, progress=not quiet)
    with project.lock():  # one writer: a second featurize would compact the cache under this one's feet
        project.save_image_set(image_set)
        click.echo(f"{image_set.name}: {len(image_set.ids):,} images in {image_set.image_dir}"
                   + (f", {len(set(map(str, image_set.labels)))} classes" if image_set.labelled else ", unlabelled"))
        for name in names:
            featurizer = create_featurizer(name, levels=split_list(levels) or None, resize=resize, device=device,
                                           weights=weights, random_weights=random_weights, amp=not no_amp)
            result = featurize_set(project, image_set, featurizer, options)
            for bad in result.skipped:
                click.echo(f"skipped {bad['file']}: {bad['reason']}", err=True)
            if result.skipped:  # later backbones and the leaderboard see the same, readable images
                image_set = image_set.without_files({bad["file"] for bad in result.skipped})
                project.save_image_set(image_set)
            click.echo(result.summary)
