"""``pixelboard.ImageEmbedder`` inside scikit-learn: the estimator contract, real images in a pipeline
(scikit-learn's bundled digits saved as PNG files: offline), grid searches, and the project cache."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLE_IMAGES, write_image
from PIL import Image
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

import pixelboard
from pixelboard import ImageEmbedder
from pixelboard.errors import PixelboardError

N_DIGITS = 500


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """500 of scikit-learn's 8x8 handwritten digits as real PNG files (0..16 scaled to 0..255), and labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    folder = tmp_path_factory.mktemp("digits")
    paths = []
    for i, image in enumerate(data.images[:N_DIGITS]):
        path = folder / f"digit_{i:04d}.png"
        Image.fromarray(np.clip(image * 16, 0, 255).astype(np.uint8), "L").save(path)
        paths.append(str(path))
    return paths, data.target[:N_DIGITS]


@pytest.fixture(autouse=True)
def one_blas_thread():
    """On shared CI cores, 2 BLAS threads made each LogisticRegression fit 40x slower than one (measured)."""
    with threadpool_limits(1):
        yield


def _classifier():
    return LogisticRegression(C=0.5, max_iter=500)


def test_pipeline_cross_validates_on_real_images(digits):
    paths, y = digits
    model = make_pipeline(ImageEmbedder("grayscale20"), _classifier())
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    accuracy = cross_val_score(model, paths, y, cv=folds).mean()
    assert accuracy >= 0.85, f"5-fold accuracy {accuracy:.3f} on 10 digit classes (chance 0.10)"


def test_grid_search_tunes_the_embedder_and_the_classifier(digits):
    paths, y = digits
    model = make_pipeline(ImageEmbedder("grayscale20", batch_size=64), _classifier())
    grid = {"imageembedder__resize": ["squash", "crop"], "logisticregression__C": [0.01, 0.5]}
    search = GridSearchCV(model, grid, cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(paths, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_["logisticregression__C"] == 0.5  # 0.01 underfits 400 pixel features
    assert search.best_score_ >= 0.85
    assert search.best_estimator_.named_steps["imageembedder"].resize == search.best_params_["imageembedder__resize"]
    assert (search.predict(paths[:50]) == y[:50]).mean() >= 0.85


def test_estimator_contract():
    embedder = ImageEmbedder("grayscale20", levels="pixels", batch_size=8, random_weights=True)
    twin = clone(embedder)
    assert twin is not embedder and twin.get_params() == embedder.get_params()
    assert set(embedder.get_params()) == {"backbone", "levels", "resize", "device", "batch_size", "project",
                                          "weights", "random_weights", "max_pixels", "runtime", "precision", "progress"}
    assert twin.set_params(resize="pad").resize == "pad" and embedder.resize == "squash"
    with pytest.raises(NotFittedError):
        embedder.transform(["x.png"])
    assert embedder.fit(None) is embedder  # learns nothing from X
    assert embedder.n_features_out_ == 400 and embedder.level_slices_ == {"pixels": [0, 400]}
    names = embedder.get_feature_names_out()
    assert len(names) == 400 and names[0] == "grayscale20_pixels_0"
    assert "ImageEmbedder(backbone='grayscale20'" in repr(embedder)


def test_cnn_levels_select_columns():
    full = ImageEmbedder("mobilenetv3_small", random_weights=True, device="cpu").fit()
    high = ImageEmbedder("mobilenetv3_small", levels=["highest"], random_weights=True, device="cpu").fit()
    X_full, X_high = full.transform(SAMPLE_IMAGES), high.transform(SAMPLE_IMAGES)
    start, stop = full.level_slices_["highest"]
    assert X_full.dtype == np.float32 and X_high.shape == (3, stop - start)
    np.testing.assert_allclose(X_high, X_full[:, start:stop], rtol=1e-5, atol=1e-5)


def test_paths_and_pil_images_give_featurize_rows_through_the_project_cache(tmp_path, class_folder, monkeypatch):
    project = pixelboard.Project(tmp_path / "p")
    project.featurize(class_folder, backbones=["grayscale20"], workers=0, progress=False)
    embeddings = project.files.load_embeddings("train", "grayscale20")
    paths = [str(class_folder / source) for source in embeddings.sources]

    direct = ImageEmbedder("grayscale20").fit().transform(paths)
    np.testing.assert_array_equal(direct, embeddings.matrix)  # decoded exactly as featurize decodes

    def refuse(*args, **kwargs):
        raise AssertionError("decoded an image the project's cache already holds")

    monkeypatch.setattr("pixelboard.datasets.images.load_rgb", refuse)
    cached = ImageEmbedder("grayscale20", project=project).fit_transform(paths)
    np.testing.assert_array_equal(cached, embeddings.matrix)
    monkeypatch.undo()

    pngs = [p for p in paths if p.endswith(".png")]  # JPEGs are draft-decoded from files, not from PIL images
    images = [Image.open(p) for p in pngs]
    by_project_path = ImageEmbedder("grayscale20", project=tmp_path / "p").fit()
    np.testing.assert_array_equal(by_project_path.transform(images), by_project_path.transform(pngs))
    np.testing.assert_array_equal(by_project_path.transform(images), by_project_path.transform(images))


def test_resize_reaches_the_featurizer(tmp_path):
    wide = [write_image(tmp_path / f"{i}.png", seed=i, size=(80, 20)) for i in range(3)]
    squash = ImageEmbedder("grayscale20").fit().transform(wide)
    pad = ImageEmbedder("grayscale20", resize="pad").fit().transform(wide)
    assert squash.shape == pad.shape == (3, 400) and not np.allclose(squash, pad)


def test_bad_inputs_are_one_line_errors(tmp_path):
    embedder = ImageEmbedder("grayscale20").fit()
    with pytest.raises(PixelboardError, match="not a single image"):
        embedder.transform("one.png")
    with pytest.raises(PixelboardError, match="item 1 is a int"):
        embedder.transform([str(write_image(tmp_path / "a.png")), 7])
    with pytest.raises(PixelboardError, match=r"array of shape \(2, 8, 8\)"):
        embedder.transform(np.zeros((2, 8, 8), dtype=np.uint8))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(PixelboardError, match="cannot read image .*bad.png: not an image file"):
        embedder.transform([tmp_path / "bad.png"])
    with pytest.raises(PixelboardError, match="cannot read image .*missing.png"):
        ImageEmbedder("grayscale20", project=tmp_path / "p").fit().transform([tmp_path / "missing.png"])
    with pytest.raises(PixelboardError, match="unknown backbone 'resnet9000'"):
        ImageEmbedder("resnet9000").fit()
    with pytest.raises(PixelboardError, match="unknown resize mode 'stretch'"):
        ImageEmbedder("grayscale20", resize="stretch").fit()
    assert embedder.transform([]).shape == (0, 400)


def test_progress_bar_over_more_than_one_batch(tmp_path, capsys):
    paths = [write_image(tmp_path / f"{i}.png", seed=i) for i in range(5)]
    ImageEmbedder("grayscale20", batch_size=2).fit().transform(paths)
    shown = capsys.readouterr().err
    assert "ImageEmbedder grayscale20" in shown and "5/5" in shown
    ImageEmbedder("grayscale20", batch_size=2, progress=False).fit().transform(paths)
    ImageEmbedder("grayscale20", batch_size=8).fit().transform(paths)  # one batch: no bar
    assert "ImageEmbedder" not in capsys.readouterr().err
    cached = ImageEmbedder("grayscale20", batch_size=2, project=tmp_path / "p").fit()
    cached.transform(paths)
    assert "5/5" in capsys.readouterr().err
    cached.transform(paths)  # all from the cache: nothing to show
    assert "ImageEmbedder" not in capsys.readouterr().err
