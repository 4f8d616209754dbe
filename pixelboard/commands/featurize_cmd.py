"""``pixelboard featurize``: images -> cached multi-level embeddings, once per image per backbone."""

from __future__ import annotations

import click

from pixelboard.api import Project
from pixelboard.commands.common import (DEFAULT_BACKBONES, backend_options, friendly_errors, logging_options, name_callback,
                                        project_option, training_image_options)
from pixelboard.options import (DEFAULT_MAX_PIXELS, DEFAULT_PRECISION, DEFAULT_RUNTIME, MAX_AUGMENT_COPIES, MAX_SEED,
                                PRECISIONS, RESIZE_MODES, RUNTIMES)


@click.command()
@training_image_options
@project_option
@click.option("--set", "set_name", default=None, callback=name_callback, help="Name of this image set in the project "
              "[default: train for labelled images, test otherwise].")
@click.option("--backbones", "--backbone", "backbones", default=DEFAULT_BACKBONES, show_default=True,
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
@click.option("--pruned", is_flag=True, help="Fold BatchNorm into the convolutions: faster, the same embeddings "
              "to float tolerance (CNN backbones; the name gets -pruned).")
@click.option("--runtime", type=click.Choice(RUNTIMES), default=DEFAULT_RUNTIME, show_default=True,
              help="What runs a CNN backbone: torch, or its graph exported once to ONNX and run by onnx (ONNX Runtime) "
              "or openvino on the CPU (the `runtimes` extra; several times faster there). The name gets -onnx/-openvino.")
@click.option("--precision", type=click.Choice(PRECISIONS), default=DEFAULT_PRECISION, show_default=True,
              help="bf16: bfloat16 arithmetic (torch, openvino; fast on CPUs with AVX-512 BF16 or AMX); the embeddings "
              "are not fp32's (macro F1 measured within 0.001 of it) and the name gets -bf16.")
@click.option("--input-size", default=None, type=click.IntRange(32),
              help="Run a CNN at this square input size instead of its pretrained one (e.g. 448 for pages).")
@click.option("--augment", default=None, help="Train-time augmentation: comma-separated transforms "
              "(rot90,rot180,rot270,hflip,vflip,transpose,transverse, or dihedral for all seven; "
              "rotate,blur,noise,jpeg,brightness,perspective,shadow,damage; ink,lowink,dirt,photocopy for documents). "
              "Join names with + to stack them in one copy (damage+ink), as a damaged test set stacks its damage.")
@click.option("--augment-copies", default=1, show_default=True, 
              type=click.IntRange(1, MAX_AUGMENT_COPIES),
              help="Copies per random transform (every one but the rotations and flips).")
@click.option("--views", default=None, help="Embed each image under these transforms too (dihedral: the 8 "
              "orientations of a page; or a list like --augment) and write invariant variants pooled over them "
              "(efficientnet_lite0+d4mean); also enables `leaderboard --validate-under`. With --augment, each "
              "copy's views are embedded too and the variants get a row per copy (copies that are views "
              "themselves add nothing and are left out).")
@click.option("--pool", "pools", default="mean", show_default=True,
              help="Invariant variants to write from --views: mean, meanmax (mean and max), or both (mean,meanmax).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, MAX_SEED),
              help="Seed of the random augmentations.")
@click.option("--skip-bad-images", is_flag=True, help="Record unreadable images in the sidecar and go on.")
@click.option("--max-pixels", default=DEFAULT_MAX_PIXELS, show_default=True, type=click.IntRange(1),
              help="Refuse larger images (decompression bombs).")
@backend_options("Where the missing images are embedded: this machine, or a Ray Data job on a Ray cluster; "
                 "the same embeddings either way")
@logging_options
@friendly_errors
def featurize(images, labels_csv, meta_csv, id_column, target_column, group_column, unlabelled, project_dir,
              set_name, backbones, levels, resize, weights, random_weights, device, batch_size, workers, no_amp,
              pruned, runtime, precision, input_size, augment, augment_copies, views, pools, seed, skip_bad_images,
              max_pixels, backend, ray_address, quiet):
    """Embed every image with each backbone; cached, incremental and resumable."""
    # The set's size, each backbone's summary and any skipped file are logged by the API as it goes
    # (pixelboard.logs.SAY): the console handler prints them, featurize.log keeps them.
    Project(project_dir).featurize(
        images, labels_csv, meta=meta_csv, id_column=id_column, target_column=target_column,
        group_column=group_column, unlabelled=unlabelled, set_name=set_name, backbones=backbones, levels=levels,
        resize=resize, weights=weights, random_weights=random_weights, device=device, batch_size=batch_size,
        workers=workers, amp=not no_amp, augment=augment, augment_copies=augment_copies, views=views, pools=pools,
        seed=seed, skip_bad_images=skip_bad_images, max_pixels=max_pixels, pruned=pruned, input_size=input_size,
        runtime=runtime, precision=precision,
        progress=not quiet, backend=backend, ray_address=ray_address)
