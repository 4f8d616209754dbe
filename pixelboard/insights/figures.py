"""Static pictures for the report and the model documents: PNG bytes made with matplotlib (Agg).

No pyplot: every figure is a ``matplotlib.figure.Figure`` drawn on its own Agg canvas, so building
a report keeps no global plotting state and needs no display. PNG is the one format the HTML report
(inline ``data:`` URIs), Markdown (files beside it) and DOCX (``add_picture``) all take.

matplotlib is an optional dependency (``pip install "pixelboard[report]"``), imported inside the
functions that draw: without it they stop with one line naming the extra.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from pixelboard.errors import PixelboardError

DPI = 96  # layout size: a figure of w x h inches shows at w*96 x h*96 CSS pixels
SCALE = 2  # drawn at 2x (192 dpi) so charts stay sharp on high-DPI screens and when zoomed
HEATMAP = "cividis"  # perceptual and colour-blind safe (confusion matrices)
OVERLAY = "viridis"  # perceptual (activation maps over the image)
THUMB = 72  # thumbnail edge, pixels
# Distinct colours for up to 20 classes (tab20 order, strongest first), then cycled.
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
            "#dbdb8d", "#9edae5"]


def missing_extra(package: str, extra: str) -> PixelboardError:
    """The one-line error for an optional dependency that is not installed."""
    return PixelboardError(f"{package} is not installed; it comes with the {extra!r} extra: "
                           f"pip install \"pixelboard[{extra}]\"")


def _matplotlib():
    """matplotlib's Figure, Agg canvas, colour maps and offset boxes (the ``report`` extra)."""
    try:
        import matplotlib
        from matplotlib import offsetbox
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise missing_extra("matplotlib", "report") from None
    return Figure, FigureCanvasAgg, matplotlib.colormaps, offsetbox


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def colour(k: int) -> str:
    return _PALETTE[k % len(_PALETTE)]


def _figure(width: float, height: float):
    Figure = _matplotlib()[0]
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _png(fig) -> bytes:
    _matplotlib()[1](fig)  # an Agg canvas: no display, no pyplot state
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI * SCALE)
    return buffer.getvalue()


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels from the PNG header (IHDR)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise PixelboardError("not a PNG image")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def gradient_css(name: str = OVERLAY, stops: int = 9) -> str:
    """A CSS linear-gradient of a matplotlib colour map (the HTML colour bar of the activation maps)."""
    cmap = _matplotlib()[2][name]
    colours = []
    for k in range(stops):
        r, g, b, _ = cmap(k / (stops - 1))
        colours.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return f"linear-gradient(to right, {', '.join(colours)})"


def image_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def thumbnail(image: Image.Image, size: int = THUMB) -> Image.Image:
    small = image.convert("RGB")
    small.thumbnail((size, size), Image.Resampling.LANCZOS)
    return small


# --- model figures ------------------------------------------------------------------------------------
def confusion_png(matrix: np.ndarray, class_names: Sequence[str], normalise: bool, title: str) -> bytes:
    """The confusion matrix (rows = true class), as counts or with every row summing to 1."""
    matrix = np.asarray(matrix, dtype=float)
    k = len(class_names)
    shown = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1) if normalise else matrix
    side = min(11.0, 2.2 + 0.42 * k)
    fig = _figure(side + 0.8, side)
    ax = fig.add_subplot()
    top = 1 if normalise else max(shown.max(), 1)
    image = ax.imshow(shown, cmap=HEATMAP, vmin=0, vmax=top)
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label("share of the true class" if normalise else "images")
    ax.set_xticks(range(k), class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), class_names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                text = f"{shown[i, j]:.2f}" if normalise else f"{int(matrix[i, j])}"
                # cividis runs dark blue -> light yellow: light text on the dark lower half
                ax.text(j, i, text, ha="center", va="center", fontsize=7 if k > 10 else 8,
                        color="white" if shown[i, j] < 0.55 * top else "#1f2933")
    return _png(fig)


def roc_png(curves: Sequence, title: str) -> bytes:
    """One-vs-rest ROC curves (objects with ``name``, ``fpr``, ``tpr``, ``auc``) and the chance line."""
    fig = _figure(5.2, 4.0)
    ax = fig.add_subplot()
    for k, curve in enumerate(curves):
        auc = "n/a" if curve.auc is None or np.isnan(curve.auc) else f"{curve.auc:.3f}"
        ax.plot(curve.fpr, curve.tpr, lw=1.4, color=colour(k), label=f"{curve.name} (AUC {auc})")
    ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="#9aa5b1")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right", ncol=2 if len(curves) > 10 else 1)
    return _png(fig)


def learning_curve_png(series: dict[str, list[tuple[float, float]]], metric_label: str, title: str) -> bytes:
    """Score against the share of the images trained on, one line per ``{label: [(sample %, score)]}``."""
    fig = _figure(6.0, 3.8)
    ax = fig.add_subplot()
    for k, (label, points) in enumerate(series.items()):
        xs, ys = zip(*sorted(points))
        ax.plot(xs, ys, marker="o", lw=1.5, color=colour(k), label=label)
    ax.set_xlabel("sample size (% of the labelled images)")
    ax.set_ylabel(metric_label)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def timings_png(labels: Sequence[str], fit: Sequence[float], predict: Sequence[float]) -> bytes:
    """Fit and predict seconds per leaderboard row, side by side on their own scales (predicting takes a
    fraction of fitting: on one axis its bars would vanish); full labels, the layout makes room."""
    n = len(labels)
    fig = _figure(10.0, 1.2 + 0.3 * n)
    fit_ax, predict_ax = fig.subplots(1, 2, sharey=True, width_ratios=(3, 2))
    rows = np.arange(n)
    for ax, values, name, tint in ((fit_ax, fit, "fit seconds (all folds)", colour(0)),
                                   (predict_ax, predict, "predict seconds (all folds)", colour(1))):
        ax.barh(rows, values, color=tint)
        ax.set_xlabel(name)
        ax.grid(axis="x", alpha=0.3)
        peak = max([float(v) for v in values] + [1e-9])
        ax.set_xlim(0, peak * 1.18)
        for y, v in zip(rows, values):
            ax.text(float(v) + peak * 0.01, y, f"{float(v):.2f}", va="center", fontsize=7, color="#3e4c59")
    fit_ax.set_yticks(rows, labels, fontsize=8)
    fit_ax.invert_yaxis()
    return _png(fig)


# --- images -------------------------------------------------------------------------------------------
def overlay(image: Image.Image, heatmap: np.ndarray, alpha: float = 0.45) -> Image.Image:
    """``heatmap`` (H, W) in [0, 1] over ``image`` resized to (W, H), in the perceptual OVERLAY map."""
    cmap = _matplotlib()[2][OVERLAY]
    heat = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0, 1)
    base = np.asarray(image.convert("RGB").resize((heat.shape[1], heat.shape[0]), Image.Resampling.BILINEAR),
                      dtype=np.float32)
    coloured = cmap(heat)[..., :3] * 255
    mixed = (1 - alpha) * base + alpha * coloured
    return Image.fromarray(np.clip(mixed, 0, 255).astype(np.uint8))


def gallery_png(images: Sequence[Image.Image], captions: Sequence[str], columns: int = 6, title: str = "") -> bytes:
    """A grid of images with a caption under each (the documents' stand-in for the report's galleries)."""
    n = max(len(images), 1)
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    fig = _figure(1.7 * columns, 1.9 * rows + (0.4 if title else 0))
    if title:
        fig.suptitle(title, fontsize=10)
    for k, (image, caption) in enumerate(zip(images, captions)):
        ax = fig.add_subplot(rows, columns, k + 1)
        ax.imshow(np.asarray(image.convert("RGB")))
        ax.set_title(caption, fontsize=7)
        ax.axis("off")
    return _png(fig)


def embedding_png(coords: np.ndarray, classes: np.ndarray, class_names: Sequence[str], errors: np.ndarray,
                  thumbnails: Sequence[tuple[int, Image.Image]] = (), title: str = "") -> bytes:
    """The 2-D map: one dot per image coloured by its label, misclassified images ringed in black, and a
    few thumbnails placed at their points (``(point index, image)``)."""
    offsetbox = _matplotlib()[3]
    coords = np.asarray(coords, dtype=float)
    fig = _figure(9.0, 7.2)
    ax = fig.add_subplot()
    for k, name in enumerate(class_names):
        chosen = np.flatnonzero(classes == k)
        if chosen.size:
            ax.scatter(coords[chosen, 0], coords[chosen, 1], s=9, color=colour(k), alpha=0.75, label=name,
                       linewidths=0)
    wrong = np.flatnonzero(errors)
    if wrong.size:
        ax.scatter(coords[wrong, 0], coords[wrong, 1], s=30, facecolors="none", edgecolors="black", linewidths=0.8,
                   label="misclassified")
    for index, image in thumbnails:
        box = offsetbox.OffsetImage(np.asarray(thumbnail(image, 28)), zoom=1.0)
        ax.add_artist(offsetbox.AnnotationBbox(box, coords[index], frameon=True, pad=0.1,
                                               bboxprops={"edgecolor": colour(int(classes[index])), "lw": 1.2}))
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=9, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return _png(fig)
