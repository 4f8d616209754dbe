"""The PyTorch half of the slim residual MLP: parameter initialization and the training loop.

Kept apart from the estimator so the sklearn contract (validation, params, classes) and the
numerics (initialization, one-cycle training) can each be read on their own.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _init_params(n_in, n_hidden, n_out, generator, device):
    """nn.Linear's default init (uniform +-1/sqrt(fan_in)), drawn from a local generator."""

    def uniform(shape, fan_in):
        bound = 1.0 / math.sqrt(max(fan_in, 1))
        t = torch.empty(shape).uniform_(-bound, bound, generator=generator)
        return t.to(device).requires_grad_()

    return {
        "hidden_w": uniform((n_hidden, n_in), n_in), "hidden_b": uniform((n_hidden,), n_in),
        "prelu": torch.full((n_hidden,), 0.25, device=device, requires_grad=True),
        "head_w": uniform((n_out, n_hidden), n_hidden), "head_b": uniform((n_out,), n_hidden),
        "skip_w": uniform((n_out, n_in), n_in),
        "skip_b": torch.zeros(n_out, device=device, requires_grad=True),
    }


def _forward(p, x, dropout=0.0, generator=None):
    h = F.prelu(F.linear(x, p["hidden_w"], p["hidden_b"]), p["prelu"])
    if dropout > 0.0:
        # Hand-rolled inverted dropout: F.dropout would draw from the global RNG.
        keep = torch.rand(h.shape, generator=generator, device=h.device) >= dropout
        h = h * keep / (1.0 - dropout)
    return F.linear(h, p["head_w"], p["head_b"]) + F.linear(x, p["skip_w"], p["skip_b"])


def train_residual_mlp(X, y, *, n_classes, hidden_units, dropout, epochs, max_lr, batch_size,
                       weight_decay, device, seed):
    """Train on standardized float32 ``X`` and encoded ``y``; return (weights, loss per epoch)."""
    cpu_gen = torch.Generator().manual_seed(seed)  # init + shuffling
    dev_gen = torch.Generator(device=device).manual_seed(seed + 1)  # dropout masks, on the device
    params = _init_params(X.shape[1], hidden_units, n_classes, cpu_gen, device)
    X_t = torch.tensor(X, dtype=torch.float32, device=device)
    y_t = torch.tensor(y, dtype=torch.long, device=device)
    n_rows = X_t.shape[0]
    steps_per_epoch = math.ceil(n_rows / batch_size)
    optimizer = torch.optim.AdamW(params.values(), lr=max_lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=max(1, epochs * steps_per_epoch)
    )
    losses = []
    for _ in range(epochs):
        order = torch.randperm(n_rows, generator=cpu_gen).to(device)
        total = 0.0
        for start in range(0, n_rows, batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(_forward(params, X_t[idx], dropout, dev_gen), y_t[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.detach().item() * len(idx)
        losses.append(total / n_rows)
    weights = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in params.items()}
    return weights, np.asarray(losses)
