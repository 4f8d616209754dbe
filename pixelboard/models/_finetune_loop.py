"""The PyTorch half of the fine-tuned image blueprint: batch augmentation, the training loop, inference.

Kept apart from the estimator (``finetune.py``) so the sklearn contract and the numerics can each be
read on their own. Images arrive as float32 ``(n, 3, s, s)`` in [0, 1] (``featurizers/pixels.py``);
each batch is augmented, resized to the training size and normalised on the device, so the
whole set never exists at the training size in memory.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from pixelboard.logs import SAY

log = logging.getLogger(__name__)

# The random views of a training image: its own orientation (flip) or any of the 8 of a page (dihedral).
AUGMENTATIONS = {"none": 1, "flip": 2, "dihedral": 8}


def augment_batch(x: torch.Tensor, augment: str, generator: torch.Generator) -> torch.Tensor:
    """Per image: a random view among ``AUGMENTATIONS[augment]`` and a random shift of up to 1/8 of
    the side (reflection-padded), drawn from ``generator`` so a seed gives the same training run.

    Written here rather than with Albumentations because it runs on whole batches on the GPU, where a
    per-image CPU pipeline would starve it; the damage transforms stay in featurize (``--augment``).
    """
    n, _, h, w = x.shape
    views = torch.randint(AUGMENTATIONS[augment], (n,), generator=generator).tolist()
    pad = max(1, h // 8)
    shifts = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator).tolist()
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    out = []
    for i, view in enumerate(views):
        top, left = shifts[i]
        img = padded[i, :, top:top + h, left:left + w]
        if view % 2:
            img = img.flip(-1)
        if view // 2:
            img = torch.rot90(img, view // 2, dims=(-2, -1))
        out.append(img)
    return torch.stack(out)


def prepare(x: torch.Tensor, size: int, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Resize (antialiased) to the network's size and normalise with the backbone's statistics."""
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return (x - mean) / std


def train(model: torch.nn.Module, images: np.ndarray, y: np.ndarray, *, size: int, mean, std, epochs: int,
          batch_size: int, max_lr: float, weight_decay: float, label_smoothing: float, augment: str,
          device: torch.device, seed: int, label: str) -> list[float]:
    """Fine-tune ``model`` in place on all its parameters (AdamW, one-cycle); returns the loss per epoch.

    The global torch RNG (dropout, drop-path) is seeded inside a forked RNG state, so a seed gives the
    same model on CPU without changing the caller's random state. On CUDA, float16 autocast and
    cuDNN make results close, not bitwise equal, between runs.
    """
    n = len(images)
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = max(1, epochs * steps_per_epoch)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    cuda = device.type == "cuda"
    model.to(device).train()
    if cuda:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=max_lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=0.2)
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)
    generator = torch.Generator().manual_seed(seed)
    y_t = torch.as_tensor(y, dtype=torch.long)
    losses, step, started = [], 0, time.perf_counter()
    with torch.random.fork_rng(devices=[device] if cuda else []):
        torch.manual_seed(seed)
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator)
            total = 0.0
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                if len(idx) < 2 and n >= 2:  # BatchNorm cannot train on a single image
                    continue
                batch = augment_batch(torch.from_numpy(images[idx.numpy()]), augment, generator).to(device)
                x = prepare(batch, size, mean_t, std_t)
                if cuda:
                    x = x.contiguous(memory_format=torch.channels_last)
                autocast = torch.autocast("cuda", dtype=torch.float16) if cuda else contextlib.nullcontext()
                with autocast:
                    loss = F.cross_entropy(model(x), y_t[idx].to(device), label_smoothing=label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                total += loss.detach().float().item() * len(idx)
                step += 1
                if step == 1:  # the first step pays for allocations and kernel selection: time the next two
                    started = time.perf_counter()
                elif step == 3 or (step == 2 and total_steps == 2):  # say how long the fit will take, before it does
                    per_step = (time.perf_counter() - started) / (step - 1)
                    log.info(f"fine-tuning {label} on {device.type}: about {per_step * total_steps / 60:.1f} min "
                             f"for this fit ({epochs} epochs x {steps_per_epoch} steps of {batch_size} images "
                             f"at {size} px, {per_step:.2f} s per step)", extra=SAY)
            losses.append(total / n)
        _recalibrate_batchnorm(model, images, size, mean_t, std_t, batch_size, device)
    model.eval()
    return losses


def _recalibrate_batchnorm(model, images, size, mean_t, std_t, batch_size, device) -> None:
    """BatchNorm statistics as the exact average over the (unaugmented) training images.

    The running averages trail the weights and, with a few dozen steps, still remember the pretrained
    statistics; measured on a small set, eval-mode accuracy sat at chance while train-mode accuracy was
    perfect. ``update_bn`` (made for SWA) re-estimates them in one inference pass.
    """
    batches = (prepare(torch.tensor(images[i:i + batch_size]).to(device), size, mean_t, std_t)
               for i in range(0, len(images), batch_size))
    with torch.no_grad():
        torch.optim.swa_utils.update_bn(batches, model, device=device)


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, images: np.ndarray, *, size: int, mean, std, device: torch.device,
                   batch_size: int = 64) -> np.ndarray:
    """Logits of the model in eval mode, batch by batch (float32 on CPU: rows do not depend on batching
    beyond float rounding)."""
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    cuda = device.type == "cuda"
    out = []
    for start in range(0, len(images), batch_size):
        x = prepare(torch.tensor(images[start:start + batch_size]).to(device), size, mean_t, std_t)
        autocast = torch.autocast("cuda", dtype=torch.float16) if cuda else contextlib.nullcontext()
        with autocast:
            out.append(model(x).float().cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros((0, 0))
