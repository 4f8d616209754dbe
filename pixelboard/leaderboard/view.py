"""The Python API's view of a ranked leaderboard run (``Project.leaderboard``'s return value)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pixelboard.options import TABLE_FORMATS, one_of

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass
class Leaderboard:
    """A ranked leaderboard run: ``rows`` (best first, as stored), ``frame`` (the table), ``best``."""

    rows: list[dict]  # each row's result.json: id, label, featurizer, scores, members, ...
    metric: str
    directory: Path  # the run directory: config.json, partition/, models/, leaderboard.*
    n_fitted: int = 0  # models fitted by this call (0 when everything was reused)
    seconds: float = 0.0
    tables: dict[str, Path] = field(default_factory=dict)  # format -> leaderboard.<format>
    skipped: str = ""  # what --time-budget left out (one line), "" when nothing

    @property
    def learning_curve(self) -> dict:
        """Validation score against sample size per blueprint x featurizer (``<run>/learning_curve.json``)."""
        from pixelboard import atomic

        path = self.directory / "learning_curve.json"
        return atomic.read_json(path) if path.is_file() else {"metric": self.metric, "rows": []}

    @property
    def frame(self) -> pd.DataFrame:
        """The ranked table as a DataFrame (Rank, Model ID, Blueprint, Featurizer, scores, timings);
        screening rows' Holdout is missing (NaN: locked; ``holdout(model_id)`` unlocks one)."""
        from pixelboard.leaderboard.table import to_frame

        return to_frame(self.rows, self.metric)

    @property
    def best(self) -> dict:
        """The recommended model's row (rank 1: best Cross Validation, never chosen on Holdout, never a
        screening row)."""
        from pixelboard.leaderboard.table import recommended

        return recommended(self.rows)

    def render(self, format: str = "text", show_holdout: tuple[str, ...] = ()) -> str:
        """The table as ``text`` (the console's), ``csv``, ``md``, ``html`` or ``json``; screening rows'
        Holdout is a dash unless their id is in ``show_holdout``."""
        show_holdout = self._known(show_holdout)
        if format == "text":
            from pixelboard.leaderboard.table import render_text, table_records

            return render_text(table_records(self.rows, self.metric, show_holdout), self.metric)
        from pixelboard.leaderboard.export import render

        return render(self.rows, self.metric, one_of(format, TABLE_FORMATS, "format"), show_holdout=show_holdout)

    def holdout(self, model_id: str) -> dict:
        """Unlock one chosen row's Holdout: its holdout scores per metric (a screening row's too)."""
        (model_id,) = self._known((model_id,))
        row = next(r for r in self.rows if r["id"] == model_id)
        return {name: score["holdout"] for name, score in row["scores"].items()}

    def _known(self, ids) -> tuple[str, ...]:
        from pixelboard.errors import PixelboardError

        ids = tuple(ids)
        known = {r["id"] for r in self.rows}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise PixelboardError(f"no model {unknown[0]!r} in this leaderboard; its ids are "
                                  f"{', '.join(r['id'] for r in self.rows)}")
        return ids

    def __str__(self) -> str:
        return self.render("text")

    def _repr_html_(self) -> str:  # notebooks show the table
        return self.frame.to_html(index=False)
