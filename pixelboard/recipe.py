"""From a shift diagnosis to a recipe: which views to cache, which damaged copies to add, what to validate
under, and whether to average over views at test time. Pure: a :class:`~pixelboard.adversarial.ShiftReport`
in, a :class:`Recipe` out, no file touched (``test_aware.py`` carries it out).

The rules are what the robustness and documents benchmarks measured (README, "Robust to the test
conditions"): turned or mirrored test images want the 8 orientations cached and the invariant
``+d4mean`` rows offered (they give a turned image its upright prediction at a plain leaderboard's
cost); damaged ones want damaged copies that stack the damage as the test images do, each viewed
too, so the invariant rows learn damaged pages in every orientation; the ranking must use the
scores under the same views (``--validate-under``), or a plain row wins on clean CV and loses on
the test set. A test set that looks like the training set gets the plain autopilot.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field

from pixelboard.featurizers.augment import DIHEDRAL
from pixelboard.shift_probe import DAMAGE_FAMILIES

VIEW_MARGIN = 0.05  # hypotheses this close to the best explanation's |AUC - 0.5| count as explaining it too
PAPER_EFFECTS = ("ink", "dirt", "lowink")  # one Augraphy effect per copy when ink/paper damage is found
COPIES_PER_KIND = 3  # copies of a lone damage kind (a random transform draws anew each copy)
RECIPE_VERSION = 1
ALIGN_ON_DAMAGE = True  # predict --align when damage is found: measured in docs/test_aware.md (0.28 -> 0.40)


@dataclass
class Recipe:
    shifted: bool
    views: list[str] = field(default_factory=list)  # featurize --views (also --validate-under)
    pools: list[str] = field(default_factory=list)  # invariant rows offered from the views
    augment: list[str] = field(default_factory=list)  # featurize --augment (damaged copies)
    augment_copies: int = 1
    validate_under: list[str] = field(default_factory=list)
    tta: list[str] = field(default_factory=list)  # predict --tta, unless the deployed model pools these views
    damage: list[str] = field(default_factory=list)  # the diagnosed damage families
    align: bool = False  # predict --align: test embeddings moved to the training embeddings' moments
    reasons: list[str] = field(default_factory=list)

    @property
    def plain(self) -> bool:
        return not (self.views or self.augment)

    def to_json(self) -> dict:
        return {"format_version": RECIPE_VERSION, **asdict(self), "plain": self.plain}

    def describe(self) -> str:
        lines = [f"- {reason}" for reason in self.reasons]
        if self.plain:
            lines.append("recipe: the plain autopilot (no views, no damaged copies)")
        else:
            parts = []
            if self.views:
                parts.append(f"views {transform_text(self.views)} (+{'/'.join(self.pools)} invariant rows)")
            if self.augment:
                parts.append(f"damaged copies {','.join(self.augment)} x{self.augment_copies}")
            if self.validate_under:
                parts.append(f"ranked under {transform_text(self.validate_under)}")
            if self.tta:
                parts.append(f"TTA over {transform_text(self.tta)} unless the model is invariant")
            if self.align:
                parts.append("test embeddings aligned to the training ones (predict --align)")
            lines.append("recipe: " + "; ".join(parts))
        return "\n".join(lines)


def make_recipe(report) -> Recipe:
    """The recipe a shift report calls for (``report``: a ShiftReport with its probe's damage hypotheses)."""
    if not report.shifted:
        return Recipe(False, reasons=[f"the test set looks like the training set (train-vs-test AUC {report.auc:.2f} "
                                      f"< 0.6): nothing shift-specific"])
    recipe = Recipe(True)
    views = explained_views(report)
    if views:
        best = report.best
        recipe.views, recipe.pools, recipe.validate_under, recipe.tta = views, ["mean"], views, views
        recipe.reasons.append(f"the test set looks {best.name} (AUC {report.auc:.2f} -> {best.auc:.2f} under "
                              f"{_view_count(views)}) -> cache {transform_text(views)} views, offer the invariant "
                              f"rows, rank under {transform_text(views)}")
    found = report.damage_found
    if found:
        recipe.damage = [h.family for h in found]
        recipe.augment, recipe.augment_copies = damage_copies(recipe.damage)
        recipe.align = ALIGN_ON_DAMAGE
        kinds = ", ".join(f"{h.looks} {h.share:.0%} (AUC {h.baseline_auc:.2f} -> {h.auc:.2f})" for h in found)
        recipe.reasons.append(f"test images look {kinds} -> damaged copies {','.join(recipe.augment)}"
                              + (f" x{recipe.augment_copies}" if recipe.augment_copies > 1 else "")
                              + (", each viewed too" if views else ""))
    if recipe.plain:
        recipe.reasons.append(f"the test set differs (AUC {report.auc:.2f}) but no orientation or damage hypothesis "
                              "explains it: the plain autopilot")
    return recipe


def explained_views(report) -> list[str]:
    """The largest group of orientations among the hypotheses that explain about as well as the best one
    (pages turned and mirrored: the 8 orientations even when the 4 rotations score a hair better)."""
    best = report.best
    if best is None or not best.views or not set(best.views) <= set(DIHEDRAL):
        return []
    close = [h for h in report.hypotheses if h.views and set(h.views) <= set(DIHEDRAL)
             and abs(h.auc - 0.5) <= abs(best.auc - 0.5) + VIEW_MARGIN]
    chosen = max(close, key=lambda h: len(h.views))
    return list(DIHEDRAL) if set(chosen.views) == set(DIHEDRAL) else list(chosen.views)


def damage_copies(families: list[str]) -> tuple[list[str], int]:
    """Augment tags that stack the diagnosed damage as a damaged test image does, and copies of each.

    One Albumentations kind: it alone, ``COPIES_PER_KIND`` draws; two: each and both stacked; three
    or more: ``damage`` (two of its six kinds per copy). Ink or paper effects found too: each of
    ``PAPER_EFFECTS`` stacked on that (one copy each).
    """
    kinds = [DAMAGE_FAMILIES[f].transforms[0] for f in families if DAMAGE_FAMILIES[f].albumentations]
    paper = any(not DAMAGE_FAMILIES[f].albumentations for f in families)
    if len(kinds) >= 3:
        base = ["damage"]
    elif len(kinds) == 2:
        base = [kinds[0], kinds[1], "+".join(kinds)]
    else:
        base = kinds
    if paper:
        stacked = [f"{b}+{effect}" for b in (base[-1:] or [""]) for effect in PAPER_EFFECTS]
        return [tag.lstrip("+") for tag in stacked], 1
    return base, (COPIES_PER_KIND if len(base) == 1 else 1)


def transform_text(names: list[str]) -> str:
    return "dihedral" if set(names) == set(DIHEDRAL) else ",".join(names)


def _view_count(views: list[str]) -> str:
    return "the 8 orientations" if set(views) == set(DIHEDRAL) else f"{len(views) + 1} views"


@dataclass
class Inputs:
    """What the user gave the one command, for the equivalent hand commands."""
    project: str
    images: str
    labels: str | None
    test_images: str
    test_labels: str | None
    out: str
    backbones: list[str]
    shift_featurizer: str
    run: str = "leaderboard"
    test_set: str = "test"
    extra_featurize: list[str] = field(default_factory=list)  # --meta, --group-column ... as given
    extra_leaderboard: list[str] = field(default_factory=list)  # --mode, --blueprints ... as given


def hand_commands(recipe: Recipe, inputs: Inputs, tta: list[str] | None = None) -> list[str]:
    """The ``pixelboard`` commands that carry out ``recipe`` by hand (``tta``: as the deployed model needs)."""
    q = shlex.quote
    project = ["--project", inputs.project]
    labels = ["--labels", inputs.labels] if inputs.labels else []
    test_labels = ["--labels", inputs.test_labels] if inputs.test_labels else []
    train = ["pixelboard", "featurize", "--images", inputs.images, *labels, *inputs.extra_featurize,
             "--backbone", ",".join(inputs.backbones), *project]
    if recipe.views:
        train += ["--views", transform_text(recipe.views), "--pool", ",".join(recipe.pools)]
    if recipe.augment:
        train += ["--augment", ",".join(recipe.augment)]
        if recipe.augment_copies > 1:
            train += ["--augment-copies", str(recipe.augment_copies)]
    test = ["pixelboard", "featurize", "--images", inputs.test_images, *test_labels, "--unlabelled", "--set",
            inputs.test_set, "--backbone", inputs.shift_featurizer, *project]
    shift = ["pixelboard", "shift", "--test", inputs.test_set, *project]
    board = ["pixelboard", "leaderboard", "--run", inputs.run, *inputs.extra_leaderboard, *project]
    if recipe.validate_under:
        board += ["--validate-under", transform_text(recipe.validate_under)]
    deploy = ["pixelboard", "deploy", "--run", inputs.run, *project]
    predict = ["pixelboard", "predict", "--images", inputs.test_images, *test_labels, "--set", inputs.test_set,
               "--run", inputs.run, "--out", inputs.out, *project]
    if tta:
        predict += ["--tta", transform_text(tta)]
    if recipe.align:
        predict += ["--align"]
    return [" ".join(q(part) for part in command) for command in (train, test, shift, board, deploy, predict)]
