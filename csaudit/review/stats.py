"""Figures from the REVIEWS table: per-rule precision with a Wilson interval, reviewers' agreement
(Cohen's κ), reviewed QA scores and disputes. Definitions (also in the README, "Review and calibration"):

precision
    Of a rule's decisive verdicts on its current version, the share judged 正确 (correct):
    ``n_correct / (n_correct + n_false_positive)``. 不确定 (unsure) verdicts are counted
    (``n_unsure``) but left out. Every reviewer's verdict is one review: a finding two reviewers
    judged counts twice.
Wilson interval
    The score interval for a proportion ``p = k / n`` with ``z`` = ``review.confidence_z`` (1.96 →
    95 %): centre ``(p + z²/2n) / (1 + z²/n)``, half-width ``z √(p(1−p)/n + z²/4n²) / (1 + z²/n)``.
    Unlike ``p ± z√(p(1−p)/n)`` it stays inside [0, 1] and is honest for small ``n`` and ``p`` near 0 or 1.
Cohen's κ
    Agreement beyond chance between two reviewers on the findings both judged (verdicts 正确 / 误报 /
    不确定): ``κ = (p_o − p_e) / (1 − p_e)``, ``p_o`` = share of findings with the same verdict,
    ``p_e = Σ_v p_A(v) p_B(v)`` from each reviewer's own verdict shares. With more than two reviewers
    every pair of reviewers who judged the same finding gives one comparison (the reviewer whose name
    sorts first is A), and κ is computed over all comparisons pooled. NA when there is no comparison
    or when ``p_e`` = 1 (both gave one and the same verdict throughout; see ``agreement``).
reviewed score
    Per conversation: the mean of the reviewers' 复核评分 (override) when there is one, else the
    automatic ``qa_score``; per agent: the mean over its conversations (primary agent), beside the
    automatic ``qa_score``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from csaudit.review.common import ITEM_KEY, conform_reviews


def wilson(k: Any, n: Any, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval ``(low, high)`` for ``k`` successes out of ``n`` (arrays or numbers; NaN
    where ``n`` = 0)."""
    k = np.asarray(k, dtype="float64")
    n = np.asarray(n, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        lo, hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    bad = ~(n > 0)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def finding_verdicts(reviews: pd.DataFrame, versions: dict[str, str] | None = None) -> pd.DataFrame:
    """The finding rows with a verdict; with ``versions``, only those about a rule's current version."""
    r = conform_reviews(reviews)
    r = r.loc[(r["kind"] == "finding").fillna(False).to_numpy() & r["verdict"].notna().to_numpy()]
    if versions is not None:
        cur = r["rule"].map(versions)
        r = r.loc[(r["rule_version"] == cur).fillna(False).to_numpy()]
    return r


PRECISION_COLUMNS = ("rule", "rule_version", "n_reviews", "n_correct", "n_false_positive", "n_unsure", "precision",
                     "precision_lo", "precision_hi", "unreliable")


def rule_precision(reviews: pd.DataFrame, versions: dict[str, str] | None = None, min_reviews: int = 20,
                   min_precision: float = 0.8, z: float = 1.96) -> pd.DataFrame:
    """Per rule (current version when ``versions`` is given): ``rule, rule_version, n_reviews`` (decisive
    verdicts: 正确 + 误报), ``n_correct, n_false_positive, n_unsure, precision, precision_lo,
    precision_hi`` (Wilson) and ``unreliable`` (``n_reviews ≥ min_reviews`` and ``precision <
    min_precision``). Sorted by rule."""
    r = finding_verdicts(reviews, versions)
    if r.empty:
        return pd.DataFrame({c: pd.Series(dtype="str" if c in ("rule", "rule_version") else "float64")
                             for c in PRECISION_COLUMNS}).astype({"unreliable": bool})
    g = r.groupby(["rule", "rule_version"], sort=True)["verdict"]
    out = pd.DataFrame({
        "n_correct": g.apply(lambda s: int((s == "correct").sum())),
        "n_false_positive": g.apply(lambda s: int((s == "false_positive").sum())),
        "n_unsure": g.apply(lambda s: int((s == "unsure").sum())),
    }).reset_index()
    out["n_reviews"] = out["n_correct"] + out["n_false_positive"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["precision"] = np.where(out["n_reviews"] > 0, out["n_correct"] / out["n_reviews"].clip(lower=1), np.nan)
    out["precision_lo"], out["precision_hi"] = wilson(out["n_correct"], out["n_reviews"], z)
    out["unreliable"] = (out["n_reviews"] >= min_reviews) & (out["precision"] < min_precision)
    for c in ("n_reviews", "n_correct", "n_false_positive", "n_unsure"):
        out[c] = out[c].astype("int64")
    return out[list(PRECISION_COLUMNS)]


def unreliable_rules(reviews: pd.DataFrame | None, config: Any) -> set[str]:
    """Rules whose current version (:func:`csaudit.review.rule_versions` of ``config``) is unreliable
    by ``config.review`` (``min_reviews``, ``min_precision``)."""
    from csaudit.review.common import rule_versions

    if reviews is None or len(reviews) == 0:
        return set()
    rc = config.review
    p = rule_precision(reviews, rule_versions(config), rc.min_reviews, rc.min_precision, rc.confidence_z)
    return set(p.loc[p["unreliable"], "rule"])


def cohen_kappa(a: Any, b: Any) -> float:
    """Cohen's κ of two equally long sequences of labels (NaN when empty or when ``p_e`` = 1)."""
    a, b = pd.Series(list(a), dtype="str"), pd.Series(list(b), dtype="str")
    if len(a) == 0 or len(a) != len(b):
        return float("nan")
    po = float((a.to_numpy() == b.to_numpy()).mean())
    pa, pb = a.value_counts(normalize=True), b.value_counts(normalize=True)
    pe = float((pa * pb.reindex(pa.index, fill_value=0.0)).sum())
    return float("nan") if pe >= 1 - 1e-12 else (po - pe) / (1 - pe)


def verdict_pairs(reviews: pd.DataFrame, versions: dict[str, str] | None = None) -> pd.DataFrame:
    """Every pair of reviewers who judged the same finding: ``rule, a, b`` (verdicts, ``a`` from the
    reviewer whose name sorts first). Only the latest verdict of a reviewer on a finding counts; with
    ``versions``, only verdicts on a rule's current version."""
    r = finding_verdicts(reviews, versions)
    key = [c for c in ITEM_KEY if c != "kind"]
    r = r.drop_duplicates([*key, "reviewer"], keep="last").sort_values([*key, "reviewer"], kind="stable")
    m = r[[*key, "reviewer", "verdict"]].merge(r[[*key, "reviewer", "verdict"]], on=key, suffixes=("_a", "_b"))
    m = m.loc[(m["reviewer_a"] < m["reviewer_b"]).to_numpy()]
    return pd.DataFrame({"rule": m["rule"].to_numpy(), "a": m["verdict_a"].to_numpy(), "b": m["verdict_b"].to_numpy()})


def agreement(reviews: pd.DataFrame, versions: dict[str, str] | None = None) -> pd.DataFrame:
    """Reviewers' agreement per rule and overall: ``rule`` (``"(all)"`` for the overall row, last),
    ``n_compared`` (pairs of verdicts), ``agreement`` (share equal) and ``kappa`` (Cohen's κ, pooled);
    with ``versions``, on the rules' current versions only."""
    pairs = verdict_pairs(reviews, versions)
    rows = []
    groups = [(rule, g) for rule, g in pairs.groupby("rule", sort=True)] + [("(all)", pairs)]
    for rule, g in groups:
        n = len(g)
        rows.append({"rule": rule, "n_compared": n,
                     "agreement": float((g["a"] == g["b"]).mean()) if n else np.nan,
                     "kappa": cohen_kappa(g["a"], g["b"])})
    return pd.DataFrame(rows, columns=["rule", "n_compared", "agreement", "kappa"]).astype({"n_compared": "int64"})


def _this_audit(reviews: pd.DataFrame, fingerprint: str | None) -> pd.DataFrame:
    r = conform_reviews(reviews)
    if fingerprint is not None:
        r = r.loc[(r["audit_fingerprint"] == fingerprint).fillna(False).to_numpy()]
    return r


def conversation_overrides(reviews: pd.DataFrame, fingerprint: str | None = None) -> pd.Series:
    """Mean 复核评分 per ``conversation_id`` (conversations with at least one override)."""
    r = _this_audit(reviews, fingerprint)
    r = r.loc[(r["kind"] == "conversation").fillna(False).to_numpy() & r["override_score"].notna().to_numpy()]
    return r.groupby("conversation_id")["override_score"].mean()


def reviewed_scores(conversations: pd.DataFrame, reviews: pd.DataFrame, fingerprint: str | None = None) -> pd.DataFrame:
    """Per primary agent: ``agent, qa_score`` (automatic), ``reviewed_qa_score`` (overrides applied),
    ``n_overridden`` (conversations with an override). Only reviews of ``fingerprint``'s audit count."""
    over = conversation_overrides(reviews, fingerprint)
    c = conversations.loc[conversations["agent"].notna(), ["conversation_id", "agent", "qa_score"]]
    o = c["conversation_id"].map(over)
    c = c.assign(reviewed=o.fillna(c["qa_score"]).astype("float64"), _o=o.notna())
    g = c.groupby("agent", sort=True)
    return pd.DataFrame({"qa_score": g["qa_score"].mean(), "reviewed_qa_score": g["reviewed"].mean(),
                         "n_overridden": g["_o"].sum().astype("int64")}).rename_axis("agent").reset_index()


def disputes(reviews: pd.DataFrame, fingerprint: str | None = None) -> pd.DataFrame:
    """Every dispute (申诉): ``conversation_id, agent, reviewer, dispute_reason, dispute_status`` (open |
    accepted | rejected), ``resolved`` (status not open); open ones first."""
    r = _this_audit(reviews, fingerprint)
    r = r.loc[(r["kind"] == "conversation").fillna(False).to_numpy() & r["dispute"].fillna(False).to_numpy(dtype=bool)]
    out = r[["conversation_id", "agent", "reviewer", "dispute_reason", "dispute_status"]].copy()
    out["dispute_status"] = out["dispute_status"].fillna("open")
    out["resolved"] = (out["dispute_status"] != "open").to_numpy(dtype=bool)
    return out.sort_values(["resolved", "agent", "conversation_id"], kind="stable").reset_index(drop=True)
