"""A small finished project for the report and document tests (tests/test_report.py, tests/test_document.py).

``insights_project`` is a session fixture (import it into a test module to use it). Generated
images: 4 classes x 15, each class a bright square of its own colour channel in its own
corner over dark noise, so grayscale20 + a logistic regression learn them. Planted problems the data
quality section must find: two flipped labels, one near-duplicate pair inside the training set
(one pixel changed) and a test image that is a copy of a training image. Featurized with grayscale20
(no network), leaderboard: majority, lr_l2, lightgbm and mlp, and the GLM blender (the L2 LR is the
baseline there, which joins a blend only when greedy picks it: lightgbm and the MLP make the blend).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

N_CLASSES = 4
PER_CLASS = 15
FLIPPED = {"c0_00.png": 1, "c1_00.png": 2}  # image id -> the wrong label written to train.csv
TRAIN_DUPLICATE = ("c2_03.png", "dup_c2_03.png")
TEST_COPY = ("c1_05.png", "t_copy.png")  # (training image, its copy in the test set)
BLUEPRINTS = ["majority", "lr_l2", "lightgbm", "mlp"]
LEADERBOARD = dict(blueprints=BLUEPRINTS, blenders=["glm"], mode="comprehensive", jobs=1, progress=False)  # build_project


def class_image(k: int, seed: int, size: int = 40) -> Image.Image:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 60, size=(size, size, 3)).astype(np.int16)
    x0, y0 = (4, 4) if k == 0 else (22, 4) if k == 1 else (4, 22) if k == 2 else (22, 22)
    array[y0:y0 + 14, x0:x0 + 14, k % 3] += 190
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def write_images(root: Path) -> Path:
    """The competition folder: images/, train.csv, meta.csv and an unlabelled test/ folder."""
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(N_CLASSES):
        for i in range(PER_CLASS):
            image_id = f"c{k}_{i:02d}.png"
            class_image(k, 100 * k + i).save(images / image_id)
            rows.append((image_id, FLIPPED.get(image_id, k)))
    original, copy = TRAIN_DUPLICATE
    array = np.asarray(Image.open(images / original)).copy()
    array[0, 0, 0] = (int(array[0, 0, 0]) + 9) % 256  # other bytes (not an exact duplicate), same picture
    Image.fromarray(array).save(images / copy)
    rows.append((copy, 2))
    (root / "train.csv").write_text("ID,target\n" + "".join(f"{i},{t}\n" for i, t in rows))
    (root / "meta.csv").write_text("target,class_name\n" + "".join(f"{k},class {k}\n" for k in range(N_CLASSES)))
    test = root / "test"
    test.mkdir(exist_ok=True)
    Image.open(images / TEST_COPY[0]).save(test / TEST_COPY[1])
    for j in range(5):
        class_image(j % N_CLASSES, 9000 + j).save(test / f"t{j}.png")
    return root


def build_project(root: Path):
    """A featurized project with a finished leaderboard; returns the ``pixelboard.Project``."""
    import pixelboard

    write_images(root)
    project = pixelboard.Project(root / "project")
    project.featurize(root / "images", root / "train.csv", meta=root / "meta.csv", backbones=["grayscale20"],
                      workers=0, progress=False)
    project.featurize(root / "test", unlabelled=True, backbones=["grayscale20"], workers=0, progress=False)
    # The GLM stacker alone (the documents test describes it): with greedy first, greedy takes the baseline
    # and the three blenders blend the same rows, so the later two are dropped (issue 18). comprehensive:
    # every row with full CV.
    project.leaderboard(**LEADERBOARD)
    return project


_BUILT: dict = {}  # one project per session, whichever test module asks first


@pytest.fixture(scope="session")
def insights_project(tmp_path_factory):
    """One finished project for the whole session (``from insights_project import insights_project``; each
    importing module gets its own fixture definition, so the project itself is cached here)."""
    if "project" not in _BUILT:
        _BUILT["project"] = build_project(tmp_path_factory.mktemp("insights"))
    return _BUILT["project"]
