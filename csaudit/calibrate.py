"""``csaudit calibrate``: refit the predicted-satisfaction model (``csat``) on a shop's own ratings.

>>> from csaudit.calibrate import calibrate                                  # doctest: +SKIP
>>> res = calibrate(ca.Audit.load("out/audit"), ca.read_ratings("服务评价.xlsx"), "model")  # doctest: +SKIP
>>> print(res.text)                                                          # doctest: +SKIP

The ratings are joined to the audit's conversations (:func:`csaudit.io.ratings.join_ratings`); the
model keeps the feature definitions of the one in use (``score.csat_model`` or the shipped file) and
is refitted by :func:`csaudit.metrics.satisfaction.fit` on the rated conversations. Agreement is
printed before (the model in use) and after (the refitted one, in-sample, and 5-fold
cross-validated when there are at least 50 rated conversations):

* ``n`` — rated conversations; ``ρ`` — Spearman correlation of ``csat`` with the rating;
* accuracy per class — for each label class (e.g. 非常满意 … 非常不满意), the share of its
  conversations whose predicted class is that class. The predicted class cuts ``csat`` at the
  quantiles that give each class the share it has among the ratings (the model ranks; the shop's own
  rating mix sets the cut points), so a model on another scale is judged fairly.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csaudit.io.ratings import SCALE_CLASSES, conversation_ratings, join_ratings
from csaudit.metrics import satisfaction

log = logging.getLogger(__name__)

#: cross-validate the refit only with at least this many rated conversations
CV_MIN = 50
CLASS_NAMES = {
    "5": {0.0: "非常不满意", 25.0: "不满意", 50.0: "一般", 75.0: "满意", 100.0: "非常满意"},
    "3": {0.0: "不满意", 50.0: "一般", 100.0: "满意"},
}


@dataclass
class Calibration:
    """What :func:`calibrate` returns: the refitted ``model``, the file it was written to, agreement
    tables ``before`` / ``after`` (/ ``cv``, or None), the joined ratings and the printable ``text``."""

    model: dict[str, Any]
    path: Path | None
    before: dict[str, Any]
    after: dict[str, Any]
    cv: dict[str, Any] | None
    joined: pd.DataFrame
    text: str


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    x, y = pd.Series(a, dtype="float64"), pd.Series(b, dtype="float64")
    ok = x.notna() & y.notna()
    if ok.sum() < 3 or x[ok].nunique() < 2 or y[ok].nunique() < 2:
        return float("nan")
    return float(x[ok].rank().corr(y[ok].rank()))


def predicted_classes(pred: np.ndarray, rating: np.ndarray, classes: tuple[float, ...]) -> np.ndarray:
    """Each prediction's class: the predictions in rank order are split so that every class gets the
    share it has among ``rating`` (lowest predictions → lowest class; ties split by position)."""
    rating = np.asarray(rating, dtype="float64")
    cls = np.asarray(classes)
    nearest = cls[np.abs(rating[:, None] - cls[None, :]).argmin(axis=1)]
    edges = np.cumsum([(nearest == c).mean() for c in classes])[:-1]
    frac = (pd.Series(np.asarray(pred, dtype="float64")).rank(method="first").to_numpy() - 0.5) / max(len(rating), 1)
    return cls[np.searchsorted(edges, frac, side="right")]


def agreement(pred: np.ndarray, rating: np.ndarray, scale: str) -> dict[str, Any]:
    """``n, rho`` and, for the 5- and 3-point scales, ``accuracy`` (overall) and ``per_class``
    ``{class name: (n, accuracy)}`` of predictions ``pred`` (0–100) against ``rating`` (0–100)."""
    pred, rating = np.asarray(pred, dtype="float64"), np.asarray(rating, dtype="float64")
    ok = ~np.isnan(pred) & ~np.isnan(rating)
    pred, rating = pred[ok], rating[ok]
    out: dict[str, Any] = {"n": int(len(pred)), "rho": _spearman(pred, rating)}
    classes = SCALE_CLASSES.get(scale)
    if classes and len(pred):
        cls = np.asarray(classes)
        truth = cls[np.abs(rating[:, None] - cls[None, :]).argmin(axis=1)]
        got = predicted_classes(pred, rating, classes)
        out["accuracy"] = float((got == truth).mean())
        out["per_class"] = {CLASS_NAMES[scale][c]: (int((truth == c).sum()),
                                                    float((got[truth == c] == c).mean()) if (truth == c).any() else np.nan)
                            for c in classes}
    return out


def _folds(n: int, k: int = 5, seed: int = 10) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(n)
    fold = np.empty(n, dtype=np.int64)
    fold[order] = np.arange(n) % k
    return fold


def calibrate(audit: Any, ratings: pd.DataFrame, out: str | Path | None = None, ridge: float = 1.0) -> Calibration:
    """Refit ``csat`` on ``ratings`` (RATINGS) for the conversations of ``audit`` (a saved/loaded
    :class:`csaudit.Audit`); write the model to ``out`` (a ``.json`` file, or a folder that gets
    ``csat.json``) when given. Raises ``ValueError`` when fewer than 10 ratings match a conversation."""
    cfg = audit.config
    current = satisfaction.load_model(satisfaction.model_path(cfg))
    joined = join_ratings(ratings, audit.conversations, cfg)
    rated = conversation_ratings(joined)
    if len(rated) < 10:
        raise ValueError(f"calibrate: only {len(rated)} rated conversation(s) match the audit "
                         f"({len(joined)} rating(s) read); at least 10 are needed")
    scale = str(joined["scale"].mode().iloc[0]) if len(joined) else "100"
    feats = satisfaction.features(audit.messages, audit.rounds, audit.hits, cfg, spec=current["features"])
    feats = feats.loc[feats.index.intersection(pd.Index(rated["conversation_id"]))]
    y = rated.set_index("conversation_id")["rating"].reindex(feats.index).to_numpy(dtype="float64")
    before = agreement(satisfaction.predict(feats, current).to_numpy(), y, scale)
    model = satisfaction.fit(feats, y, spec=current["features"], ridge=ridge)
    after = agreement(satisfaction.predict(feats, model).to_numpy(), y, scale)
    cv = None
    if len(y) >= CV_MIN:
        fold = _folds(len(y))
        oof = np.full(len(y), np.nan)
        for k in range(5):
            m = satisfaction.fit(feats.iloc[fold != k], y[fold != k], spec=current["features"], ridge=ridge)
            oof[fold == k] = satisfaction.predict(feats.iloc[fold == k], m).to_numpy()
        cv = agreement(oof, y, scale)
    model["provenance"] = {
        "data": f"{len(y)} rated conversations ({', '.join(sorted(set(joined['source'].astype(str))))})",
        "target": f"shop ratings, {scale}-point scale mapped to 0–100" if scale != "100" else "shop ratings 0–100",
        "n": int(len(y)), "date": dt.date.today().isoformat(), "refitted_from": current.get("provenance", {}).get("data"),
        "agreement_before": _plain(before), "agreement_after": _plain(after), "cv": _plain(cv) if cv else None,
        "command": "csaudit calibrate",
    }
    model["provenance"]["check"] = satisfaction.check_predictions(model)
    path = None
    if out is not None:
        path = Path(out)
        if path.suffix.lower() != ".json":
            path = path / "csat.json"
        satisfaction.save_model(model, path)
    text = format_calibration(before, after, cv, joined, path)
    top = satisfaction.explain(model).head(6)
    text += "\nlargest weights of the refitted model (points from the bottom to the top of a feature): " + ", ".join(
        f"{r.feature} {r.points:+.1f}" for r in top.itertuples())
    return Calibration(model, path, before, after, cv, joined, text)


def _plain(d: dict[str, Any] | None) -> dict[str, Any] | None:
    if d is None:
        return None
    def num(v: Any) -> Any:
        return None if isinstance(v, float) and np.isnan(v) else (round(v, 4) if isinstance(v, float) else v)
    return {k: ({c: [num(x) for x in v2] for c, v2 in v.items()} if isinstance(v, dict) else num(v)) for k, v in d.items()}


def _line(name: str, a: dict[str, Any]) -> str:
    s = f"  {name:<25} n = {a['n']:>5}  ρ = {a['rho']:+.3f}"
    if "accuracy" in a:
        per = ", ".join(f"{c} {acc:.0%} (n {n})" if not np.isnan(acc) else f"{c} – (n 0)"
                        for c, (n, acc) in a["per_class"].items())
        s += f"  accuracy {a['accuracy']:.0%}: {per}"
    return s


def format_calibration(before: dict[str, Any], after: dict[str, Any], cv: dict[str, Any] | None,
                       joined: pd.DataFrame, path: Path | None) -> str:
    n_by = joined["matched_by"].value_counts()
    lines = [
        f"ratings: {len(joined)} read, {int(joined['matched_id'].notna().sum())} matched "
        f"(by conversation id {int(n_by.get('conversation_id', 0))}, by customer + time "
        f"{int(n_by.get('customer_time', 0))}), {int(joined['matched_id'].isna().sum())} unmatched",
        "agreement of csat with the ratings:",
        _line("before (model in use)", before),
        _line("after (refit, in-sample)", after),
    ]
    if cv is not None:
        lines.append(_line("after (5-fold CV)", cv))
    if path is not None:
        lines.append(f"model written to {path}; use it with [score] csat_model = \"{path}\" in csaudit.toml")
    return "\n".join(lines)
