"""What a fitted leaderboard row *is*: its blueprint's steps and every hyper-parameter with the value
actually used, read from the fitted estimators (never from defaults): the C the logistic regression
chose by inner cross-validation, the boosting rounds left after early stopping, the MLP's epochs, a
blender's weights. Values that differ between the fold models are listed per fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pixelboard.fitted import FeaturizerSpec, FittedModel

# Learned values worth a readable name (the others keep their attribute name).
FITTED_NAMES = {
    "C_": "C chosen by inner cross-validation",
    "n_iter_": "solver iterations",
    "n_rounds_": "boosting rounds used (after early stopping)",
    "early_stopping_used_": "early stopping used",
    "loss_curve_": "epochs trained (final training loss)",
    "n_classes_": "classes",
    "n_features_in_": "input features",
    "score_": "blend's out-of-fold score",
    "members_": "members used",
    "weights_": "member weights",
}
_SKIPPED = {"classes_", "mean_", "scale_", "weights_", "pipeline_", "booster_", "model_", "class_prior_",
            "feature_names_in_", "n_outputs_", "_sklearn_version"}


@dataclass(frozen=True)
class Parameter:
    name: str
    value: str
    source: str  # "blueprint" (set), "fitted" (learned in fit), "library" (the wrapped library model)


@dataclass(frozen=True)
class ModelCard:
    model_id: str
    label: str
    kind: str  # model | blend
    trained_on: str
    steps: list[str]
    parameters: list[Parameter]
    featurizer: FeaturizerSpec | None = None
    members: list["ModelCard"] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)


def describe_model(fitted: FittedModel) -> ModelCard:
    """The model card of a fitted row (a blend: with one card per member)."""
    if fitted.kind == "blend":
        blender = fitted.blender
        weights = {str(m): float(w) for m, w in getattr(blender, "weights_", {}).items()}
        steps = [f"Each member predicts class probabilities: {', '.join(m.model_id for m in fitted.members)}",
                 _blender_step(blender, weights)]
        return ModelCard(fitted.model_id, fitted.label, "blend", fitted.trained_on, steps, _parameters([blender]),
                         None, [describe_model(m) for m in fitted.members], weights)
    steps = [_featurizer_step(fitted.featurizer)] if fitted.featurizer else []
    steps += _estimator_steps(fitted.estimators[0]) if fitted.estimators else []
    steps.append(f"Predict: the average of the {len(fitted.estimators)} fitted model(s)' probabilities"
                 if len(fitted.estimators) > 1 else "Predict: the fitted model's probabilities")
    return ModelCard(fitted.model_id, fitted.label, "model", fitted.trained_on, steps,
                     _parameters(fitted.estimators), fitted.featurizer)


def featurizer_rows(spec: FeaturizerSpec) -> list[tuple[str, str]]:
    """The featurizer's identity as (name, value) rows: backbone, levels, weights, preprocessing."""
    description = dict(spec.description or {})
    rows = [("embeddings", spec.name), ("backbone", spec.backbone), ("levels", ", ".join(spec.levels)),
            ("fingerprint", spec.fingerprint)]
    for key, value in description.items():
        if key in ("levels", "backbone"):
            continue
        if isinstance(value, dict):
            rows += [(f"{key} {k}", format_value(v)) for k, v in value.items()]
        else:
            rows.append((key, format_value(value)))
    if spec.views:
        rows.append(("pooled over views", f"{', '.join(spec.views)} ({spec.pool})"))
    return rows


def format_value(value, limit: int = 160) -> str:
    """A readable one-line value; long ones (index lists) are summarised, never pasted whole."""
    text = _format(value)
    if len(text) <= limit:
        return text
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (list, tuple)) and len(v) == 2
                                                          for v in value):
        sizes = ", ".join(f"{len(train)}/{len(valid)}" for train, valid in value)
        return f"{len(value)} precomputed (train, validation) index splits of sizes {sizes}"
    return text[:limit] + f"… ({len(text):,} characters)"


def _format(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, np.ndarray):
        return _format(value.tolist())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_format(v)}" for k, v in value.items())
    if value is None:
        return "None"
    return str(value)


# --- steps --------------------------------------------------------------------------------------------------
def _featurizer_step(spec: FeaturizerSpec) -> str:
    description = spec.description or {}
    weights = description.get("weights")
    pre = description.get("preprocess") or {}
    size = f"{pre.get('height')}x{pre.get('width')} ({pre.get('resize', 'squash')})" if pre else "its input size"
    views = f", pooled ({spec.pool}) over views {', '.join(spec.views)}" if spec.views else ""
    if description.get("kind") == "grayscale":
        return f"Featurize: {spec.name} — the image resized to {size} in grayscale; its pixels are the features{views}"
    return (f"Featurize: {spec.name} — {description.get('architecture') or spec.backbone} (frozen), input {size}; "
            f"levels {', '.join(spec.levels)}, each feature map global-average pooled"
            + (f"; weights {format_value(weights)}" if weights else "") + views)


def _estimator_steps(estimator) -> list[str]:
    name = type(estimator).__name__
    params = _settings(estimator)
    if name == "TunedLogisticRegression":
        return ["Standardize every column (StandardScaler: mean 0, variance 1)",
                f"Multinomial logistic regression with an L2 penalty; C chosen from {format_value(params['Cs'])} by "
                f"up to {params['max_folds']}-fold group-aware inner cross-validation ({params['scoring']})"]
    if name == "SlimResidualMLPClassifier":
        return ["Standardize every column (training mean and standard deviation)",
                f"Residual MLP: a hidden layer of {params['hidden_units']} units with PReLU and dropout "
                f"{params['dropout']}, plus a linear skip connection, into a softmax",
                f"Train {params['epochs']} epochs with AdamW (weight decay {params['weight_decay']}) under a "
                f"one-cycle learning rate peaking at {params['max_lr']}"]
    if hasattr(estimator, "early_stopping_rounds"):
        library = name.replace("Classifier", "")
        stopping = (f"; early stopping after {params['early_stopping_rounds']} rounds without improvement on a "
                    f"{params['validation_fraction']:.0%} group-aware inner validation slice"
                    if params.get("early_stopping_rounds") else "")
        return [f"Gradient boosted trees ({library}): up to {params['n_estimators']} rounds, learning rate "
                f"{params['learning_rate']}{stopping}"]
    if name == "DummyClassifier":
        return [f"Predict the training class frequencies for every image (strategy {params.get('strategy')})"]
    return [f"{name} ({type(estimator).__module__})"]


def _blender_step(blender, weights: dict[str, float]) -> str:
    name = type(blender).__name__
    shares = ", ".join(f"{m} {w:.3f}" for m, w in weights.items())
    if name == "GLMStacker":
        return (f"A multinomial logistic regression on the members' log-probabilities (C = "
                f"{getattr(blender, 'C_', float('nan')):.3g}); each member's share of the coefficients: {shares}")
    if name == "GreedyEnsemble":
        return f"Greedy (Caruana) selection with replacement over {blender.rounds} rounds; weights: {shares}"
    return f"Average of the members' probabilities; weights: {shares}"


# --- parameters ---------------------------------------------------------------------------------------------
def _parameters(estimators: list) -> list[Parameter]:
    """Set parameters, learned values and the wrapped library model's parameters, merged over the fold models."""
    tables = [_one_estimator(e) for e in estimators]
    out = []
    for key in dict.fromkeys(k for table in tables for k in table):
        values = [table.get(key, "") for table in tables]
        source, name = key
        value = values[0] if len(set(values)) == 1 else "; ".join(f"fold {i + 1}: {v}" for i, v in enumerate(values))
        out.append(Parameter(name, value, source))
    return out


def _one_estimator(estimator) -> dict[tuple[str, str], str]:
    table = {("blueprint", k): format_value(v) for k, v in _settings(estimator).items()}
    for attr, value in sorted(vars(estimator).items()):
        if not attr.endswith("_") or attr.startswith("_"):
            continue
        if attr == "loss_curve_":
            curve = list(value)
            shown = f"{len(curve)} ({float(curve[-1]):.4f})" if curve else "0"
        elif attr == "weights_" and isinstance(value, dict) and all(np.isscalar(v) for v in value.values()):
            shown = format_value({k: round(float(v), 4) for k, v in value.items()})
        elif attr == "weights_" or attr in _SKIPPED:
            continue
        elif isinstance(value, np.ndarray) and value.size > 12:
            continue
        elif isinstance(value, (int, float, bool, str, np.generic, list, tuple, np.ndarray)):
            shown = format_value(value)
        else:
            continue
        table[("fitted", FITTED_NAMES.get(attr, attr))] = shown
    library = _library_model(estimator)
    if library is not None:
        table.update({("library", f"{type(library).__name__}.{k}"): format_value(v)
                      for k, v in _settings(library).items()})
    return table


def _settings(estimator) -> dict:
    """``get_params()``; for a model saved by an older version whose class has since gained a parameter
    (or a blender, which keeps its settings as plain attributes), the settings it holds."""
    try:
        return dict(estimator.get_params(deep=False))
    except (AttributeError, TypeError):
        return {k: v for k, v in vars(estimator).items() if not k.endswith("_") and not k.startswith("_")}


def _library_model(estimator):
    if hasattr(estimator, "booster_"):
        return estimator.booster_
    pipeline = getattr(estimator, "pipeline_", None)
    return pipeline[-1] if pipeline is not None else None
