"""Where in an image a fitted model looks: Grad-CAM through the frozen backbone, or occlusion.

A leaf's embedding is the pooled feature maps of a few backbone levels (and the head's pre-logits);
its estimator (logistic regression or the residual MLP, both linear-algebra on standardised rows) is
rebuilt in torch, so the gradient of a class score reaches those maps:

- **Grad-CAM** (Selvaraju et al. 2017): per level, channel weights = the class score's gradient
  averaged over each pooling cell (the whole map for the global-average-pooled levels: the classic
  form), the weighted sum of the channels, times the number of map positions (so each level counts
  with its share of the score), upsampled to the input size; the levels are summed, then ReLU and
  normalised to [0, 1]. The score is averaged over the leaf's fold estimators first.
- **Occlusion** (Zeiler & Fergus 2014), for estimators with no gradient (tree ensembles) or
  featurizers with no feature maps (grayscale20): slide a patch of the image's median colour over the
  preprocessed image and record how much the class's log-odds drop.

Heatmaps are at the preprocessed size (the featurizer's input). torch is imported inside functions:
importing this module stays cheap.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from pixelboard.errors import PixelboardError
from pixelboard.fitted import FeaturizerSpec, FittedModel

log = logging.getLogger(__name__)

GRADCAM_BATCH = 8
OCCLUSION_BATCH = 32
OCCLUSION_STEPS = 9  # patch positions per side
_FEATURIZERS: dict = {}  # the last featurizer built: a report asks for one class's maps at a time


@dataclass(frozen=True)
class ActivationMap:
    image_id: str
    class_index: int  # column of the model's classes that the map explains
    heatmap: np.ndarray  # (H, W) float32 in [0, 1] at the image's preprocessed size
    method: str  # "grad-cam" or "occlusion"


def activation_maps(model: FittedModel, images: list, image_ids: list[str], class_index: list[int] | None = None,
                    device: str = "cpu") -> list[ActivationMap]:
    """One map per image for ``class_index[i]`` (``None``: the class the explained leaf predicts).

    A blend is explained through its best-weighted member leaf (its featurizer and estimators).
    """
    from PIL import Image

    if len(images) != len(image_ids):
        raise PixelboardError(f"activation maps: {len(images)} images but {len(image_ids)} ids")
    not_images = [i for i, img in zip(image_ids, images) if not isinstance(img, Image.Image)]
    if not_images:
        raise PixelboardError(f"activation maps need decoded PIL images; {not_images[0]} is not one")
    n_classes = len(model.classes)
    if class_index is not None:
        class_index = [int(c) for c in class_index]
        if len(class_index) != len(images):
            raise PixelboardError(f"activation maps: {len(class_index)} class indices for {len(images)} images")
        bad = [c for c in class_index if not 0 <= c < n_classes]
        if bad:
            raise PixelboardError(f"class index {bad[0]} out of range: the model has {n_classes} classes")
    if not images:
        return []
    leaf = explained_leaf(model)
    featurizer = _featurizer(leaf.featurizer, device)
    arrays = [featurizer.preprocessor(img.convert("RGB")) for img in images]
    heads = [_torch_head(e) for e in leaf.estimators]
    use_gradcam = hasattr(featurizer, "level_maps") and all(h is not None for h in heads)
    if class_index is None:
        class_index = [int(c) for c in _leaf_proba(leaf, featurizer, arrays).argmax(axis=1)]
    heatmaps = None
    if use_gradcam:
        heatmaps = _gradcam(featurizer, leaf.featurizer, heads, arrays, class_index)
    method = "grad-cam" if heatmaps is not None else "occlusion"
    if heatmaps is None:
        heatmaps = [_occlusion(leaf, featurizer, a, c) for a, c in zip(arrays, class_index)]
    return [ActivationMap(i, c, h, method) for i, c, h in zip(image_ids, class_index, heatmaps)]


def explained_leaf(model: FittedModel) -> FittedModel:
    """The model itself for a leaf; for a blend, its member with the largest blender weight (recursively)."""
    while model.kind == "blend":
        weights = getattr(model.blender, "weights_", {}) or {}
        by_id = {m.model_id: m for m in model.members}
        ranked = sorted(by_id, key=lambda m: (-float(weights.get(m, 0.0)), m))
        if not ranked:
            raise PixelboardError(f"blend {model.model_id} has no members to explain")
        model = by_id[ranked[0]]
    if model.featurizer is None or not model.estimators:
        raise PixelboardError(f"model {model.model_id} has no featurizer or estimators to explain")
    return model


def _featurizer(spec: FeaturizerSpec, device: str):
    """``spec.create(device)`` (fingerprint checked), reused while the same featurizer is asked for."""
    key = (spec.backbone, json.dumps(spec.create_options, sort_keys=True, default=str), spec.fingerprint, device)
    if key not in _FEATURIZERS:
        _FEATURIZERS.clear()
        _FEATURIZERS[key] = spec.create(device)
    return _FEATURIZERS[key]


# --- the estimators as torch functions ------------------------------------------------------------
Head = tuple[np.ndarray, Callable]  # (run class index of each output column, embedding rows -> logits)


def _torch_head(estimator) -> Head | None:
    """The estimator's logits as a torch function of its input rows, standardisation included;
    None for estimators with no such form (trees, the majority baseline)."""
    from pixelboard.models.logistic import TunedLogisticRegression
    from pixelboard.models.mlp import SlimResidualMLPClassifier

    classes = np.asarray(estimator.classes_, dtype=np.int64)
    if isinstance(estimator, TunedLogisticRegression):
        scaler, linear = estimator.pipeline_[0], estimator.pipeline_[-1]
        mean, scale = scaler.mean_, scaler.scale_ if scaler.scale_ is not None else np.ones_like(scaler.mean_)
        coef, intercept = linear.coef_, linear.intercept_
        if coef.shape[0] == 1:  # binary: sigmoid(z) is the softmax of (-z/2, z/2)
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
        params = _tensors(mean=mean, scale=scale, coef=coef, intercept=intercept)

        def linear_logits(x):
            return ((x - params["mean"]) / params["scale"]) @ params["coef"].T + params["intercept"]
        return classes, linear_logits
    if isinstance(estimator, SlimResidualMLPClassifier):
        params = _tensors(mean=estimator.mean_, scale=estimator.scale_, **estimator.weights_)

        def mlp_logits(x):  # mlp.predict_logits, in torch
            import torch.nn.functional as F

            z = (x - params["mean"]) / params["scale"]
            h = F.prelu(F.linear(z, params["hidden_w"], params["hidden_b"]), params["prelu"])
            return F.linear(h, params["head_w"], params["head_b"]) + F.linear(z, params["skip_w"], params["skip_b"])
        return classes, mlp_logits
    return None


def _tensors(**arrays) -> dict:
    import torch

    return {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in arrays.items()}


def _pooled_row(emb, spec: FeaturizerSpec):
    """The leaf's input row for one image's embedding. An invariant variant pools over views; its map
    explains the image as seen (as if every view embedded alike: mean = the row, meanmax = it twice)."""
    if spec.pool == "meanmax":
        import torch

        return torch.cat([emb, emb], dim=1) if isinstance(emb, torch.Tensor) else np.concatenate([emb, emb], axis=1)
    return emb


def _class_score(heads: list[Head], rows, classes: list[int]):
    """Per image, its class's logit minus the mean logit, averaged over the fold estimators that know
    the class. Centring makes the score independent of the softmax's free shift (and gives the
    binary logistic regression a symmetric score for both classes)."""
    import torch

    total, count = torch.zeros(rows.shape[0]), torch.zeros(rows.shape[0])
    for own, forward in heads:
        logits = forward(rows.float().cpu())
        centred = logits - logits.mean(dim=1, keepdim=True)
        column = {int(c): k for k, c in enumerate(own)}
        has = torch.tensor([c in column for c in classes])
        picked = torch.tensor([column.get(c, 0) for c in classes])
        total = total + torch.where(has, centred[torch.arange(len(classes)), picked], 0.0)
        count = count + has.float()
    if (count == 0).any():
        raise PixelboardError("activation maps: no fold estimator of this model was trained on the requested class")
    return total / count


# --- Grad-CAM ------------------------------------------------------------------------------------
def _gradcam(featurizer, spec: FeaturizerSpec, heads: list[Head], arrays: list[np.ndarray],
             classes: list[int]) -> list[np.ndarray] | None:
    import torch
    import torch.nn.functional as F

    height, width = featurizer.preprocessor.height, featurizer.preprocessor.width
    out = []
    for start in range(0, len(arrays), GRADCAM_BATCH):
        batch = torch.from_numpy(np.stack(arrays[start:start + GRADCAM_BATCH]))
        with torch.no_grad():  # the backbone is frozen: gradients are needed from the maps on only
            maps = featurizer.level_maps(batch)
        spatial = [lv for lv, m in maps.items() if m.ndim == 4]
        if not spatial:  # e.g. a vision transformer's final tokens only: nothing to locate
            return None
        leaves = {lv: m.detach().float().requires_grad_(True) for lv, m in maps.items()}
        with torch.enable_grad():
            rows = _pooled_row(featurizer.pool_levels(leaves), spec)
            score = _class_score(heads, rows, classes[start:start + GRADCAM_BATCH])
            grads = torch.autograd.grad(score.sum(), [leaves[lv] for lv in spatial], allow_unused=True)
        cam = torch.zeros(batch.shape[0], 1, height, width)
        for lv, grad in zip(spatial, grads):
            if grad is None:
                continue
            fmap = leaves[lv].detach()
            # Channel weights: the gradient averaged over each pooling cell. The 2x2 ``grid`` level's
            # gradient is already constant per cell; averaging it over the whole map would erase the
            # very layout that level encodes.
            weights = grad if lv == "grid" else grad.mean(dim=(2, 3), keepdim=True)
            level_cam = (weights * fmap).sum(dim=1, keepdim=True) * (fmap.shape[2] * fmap.shape[3])
            cam += F.interpolate(level_cam.cpu(), size=(height, width), mode="bilinear", align_corners=False)
        out.extend(_normalise(c[0].numpy()) for c in torch.relu(cam))
    return out


# --- occlusion -----------------------------------------------------------------------------------
def _leaf_proba(leaf: FittedModel, featurizer, arrays: list[np.ndarray]) -> np.ndarray:
    """The leaf's probabilities for preprocessed uint8 images, through the featurizer's own embed."""
    import torch

    rows = []
    for start in range(0, len(arrays), OCCLUSION_BATCH):
        rows.append(featurizer.embed(torch.from_numpy(np.stack(arrays[start:start + OCCLUSION_BATCH]))))
    X = _pooled_row(np.concatenate(rows), leaf.featurizer)
    return leaf.predict_proba({leaf.featurizer.name: (X, np.arange(len(X)))}, len(X))


def _occlusion(leaf: FittedModel, featurizer, array: np.ndarray, class_index: int) -> np.ndarray:
    height, width = array.shape[:2]
    side = max(2, round(min(height, width) / 4))
    # The image's median colour: most often its background, so a patch hides what it covers without adding
    # an edge or a brightness of its own (a mean colour brightens a dark background, which trees notice).
    fill = np.median(array.reshape(height * width, -1), axis=0).round().astype(np.uint8)
    boxes = [(top, left) for top in _starts(height, side) for left in _starts(width, side)]
    occluded = []
    for top, left in boxes:
        copy = array.copy()
        copy[top:top + side, left:left + side] = fill if array.ndim == 3 else fill[0]
        occluded.append(copy)
    proba = np.clip(_leaf_proba(leaf, featurizer, [array, *occluded])[:, class_index], 1e-6, 1 - 1e-6)
    # The drop in log-odds, not in probability: boosted trees saturate near 0 or 1, where hiding part
    # of the evidence moves the probability by 1e-4 but the log-odds by whole units.
    log_odds = np.log(proba) - np.log1p(-proba)
    drop, covered = np.zeros((height, width)), np.zeros((height, width))
    for (top, left), value in zip(boxes, log_odds[1:]):
        drop[top:top + side, left:left + side] += log_odds[0] - value
        covered[top:top + side, left:left + side] += 1
    return _normalise(np.maximum(drop / np.maximum(covered, 1), 0.0))


def _starts(length: int, side: int) -> list[int]:
    """Patch offsets from edge to edge, about OCCLUSION_STEPS of them."""
    if side >= length:
        return [0]
    return sorted(set(np.linspace(0, length - side, OCCLUSION_STEPS).round().astype(int).tolist()))


def _normalise(heat: np.ndarray) -> np.ndarray:
    peak = float(heat.max()) if heat.size else 0.0
    return (heat / peak if peak > 0 else np.zeros_like(heat)).astype(np.float32)
