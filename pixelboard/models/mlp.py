"""Slim residual MLP: one small PReLU hidden layer plus a linear skip path, trained with PyTorch.

On pooled CNN embeddings a linear model is already strong; the skip path keeps that linear solution
one step away while the 64-unit hidden layer adds a little non-linearity. Eight one-cycle epochs
are enough at these sizes and keep a fit to seconds on CPU.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from pixelboard.models._validation import ArgmaxPredictMixin, resolve_seed, resolve_threads, validate_classification
from pixelboard.models.registry import register_blueprint


def predict_logits(weights, X):
    """Dropout-free forward pass in float64 numpy: no torch needed to predict, and a row's result
    does not depend on how rows are batched (sklearn's subset-invariance checks)."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    X = np.asarray(X, dtype=np.float64)
    h = X @ w["hidden_w"].T + w["hidden_b"]
    h = np.where(h >= 0, h, h * w["prelu"])
    return h @ w["head_w"].T + w["head_b"] + X @ w["skip_w"].T + w["skip_b"]


def auto_batch_size(n_rows: int) -> int:
    """``clip(n_rows // 16, 32, 512)``: about 16 steps per epoch, never more rows than exist."""
    return int(min(max(n_rows // 16, 32), 512, max(n_rows, 1)))


class SlimResidualMLPClassifier(ArgmaxPredictMixin, ClassifierMixin, BaseEstimator):
    """Standardize -> ``head(dropout(prelu(hidden(x)))) + skip(x)`` -> softmax.

    Trained with AdamW (decoupled weight decay) under a OneCycleLR schedule peaking at ``max_lr``.
    Deterministic for an int ``random_state``: initialization, shuffling and dropout masks all draw
    from local generators, the global torch/numpy RNGs are never touched. Fitted weights are stored
    as float32 numpy arrays, so the estimator pickles small and predicts on CPU without torch.

    ``batch_size='auto'`` uses :func:`auto_batch_size`; ``device='auto'`` picks CUDA when available;
    ``n_jobs`` is the number of torch CPU threads used during ``fit`` (restored afterwards).
    """

    def __init__(self, hidden_units=64, dropout=0.05, epochs=8, max_lr=0.03, batch_size="auto",
                 weight_decay=1e-4, device="auto", random_state=None, n_jobs=1):
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.epochs = epochs
        self.max_lr = max_lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y, groups=None):  # noqa: ARG002  (no inner split: groups are not needed)
        # torch is imported here, not at module level: listing blueprints and predicting stay
        # torch-free (importing torch takes seconds).
        import torch

        from pixelboard.models._torch_net import train_residual_mlp

        X, y_enc = validate_classification(self, X, y, dtype=np.float32)
        self.mean_ = X.mean(axis=0, dtype=np.float64).astype(np.float32)
        std = X.std(axis=0, dtype=np.float64)
        self.scale_ = np.where(std > 1e-12, std, 1.0).astype(np.float32)  # constant columns stay 0
        n_rows = X.shape[0]
        batch = auto_batch_size(n_rows) if self.batch_size == "auto" else int(self.batch_size)
        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(resolve_threads(self.n_jobs))
        try:
            self.weights_, self.loss_curve_ = train_residual_mlp(
                (X - self.mean_) / self.scale_, y_enc, n_classes=len(self.classes_),
                hidden_units=self.hidden_units, dropout=self.dropout, epochs=self.epochs,
                max_lr=self.max_lr, batch_size=max(1, min(batch, n_rows)),
                weight_decay=self.weight_decay, device=torch.device(device),
                seed=resolve_seed(self.random_state),
            )
        finally:
            torch.set_num_threads(previous_threads)
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        logits = predict_logits(self.weights_, (X - self.mean_) / self.scale_)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)


@register_blueprint("mlp", "Slim Residual MLP", short="MLP", default=True)
def mlp(random_state: int = 0, n_jobs: int = 1) -> SlimResidualMLPClassifier:
    return SlimResidualMLPClassifier(random_state=random_state, n_jobs=n_jobs)
