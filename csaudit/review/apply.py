"""Reviews in later audits: unreliable rules keep their hits but cost no points.

:func:`csaudit.audit.audit` given earlier reviews (``reviews=``, ``--reviews DIR`` or
``review.reviews_path``) computes :func:`rule_reviews` for the rules as they are now (their
versions, :func:`csaudit.review.rule_versions`): a rule is **unreliable** when its current version
has at least ``review.min_reviews`` decisive verdicts and a precision below ``review.min_precision``.
The audit keeps every hit in ``hits`` (visible in reports and the workbook, marked through the side
table ``Audit.rule_reviews`` and ``meta["unreliable_rules"]``), but the QA score is computed from
:func:`penalised_hits` — the hits without those rules — so an unreliable rule neither zeroes a
conversation (critical) nor costs compliance points. Changing a rule (terms, whitelist, mode,
severity, or a QC rule's settings) changes its version: its old reviews stay in the table but no
longer count, and the rule is scored again until it is reviewed anew.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from csaudit.review.common import rule_versions
from csaudit.review.stats import PRECISION_COLUMNS, rule_precision


def rule_reviews(reviews: pd.DataFrame | None, config: Any) -> pd.DataFrame:
    """Per rule with reviews of its current version: :data:`csaudit.review.stats.PRECISION_COLUMNS`
    (the side table ``Audit.rule_reviews``; empty without reviews)."""
    rc = config.review
    if reviews is None or len(reviews) == 0:
        return rule_precision(pd.DataFrame())
    out = rule_precision(reviews, rule_versions(config), rc.min_reviews, rc.min_precision, rc.confidence_z)
    return out[list(PRECISION_COLUMNS)].reset_index(drop=True)


def penalised_hits(hits: pd.DataFrame, unreliable: Iterable[str]) -> pd.DataFrame:
    """The hits the QA score may penalise: ``hits`` without the rows of the ``unreliable`` rules (the
    caller's frame is not modified; ``hits`` itself when there is nothing to drop)."""
    bad = list(unreliable)
    if not bad:
        return hits
    keep = ~hits["rule"].isin(bad).to_numpy(dtype=bool, na_value=False)
    return hits.loc[keep].reset_index(drop=True)
