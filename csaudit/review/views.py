"""The review figures as the reports show them (team page, agent page, ``reviews`` sheet of audit.xlsx).

Read from a saved audit folder: ``reviews.parquet`` (absent: no reviews yet) and ``meta.json``
(``rule_versions``: only reviews of a rule's version at audit time count; ``fingerprint``: overrides
and disputes of this audit only; ``unreliable_rules``: the rules this audit's scores left out).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csaudit.report import data as rdata
from csaudit.report.html import Html, esc, table
from csaudit.review.stats import agreement, disputes, reviewed_scores, rule_precision

RULE_COLUMNS = ("rule", "rule_version", "n_reviews", "precision", "precision_lo", "precision_hi", "n_unsure",
                "n_compared", "kappa", "unreliable", "scored")
"""The per-rule table: precision (Wilson interval), reviews, reviewers' agreement, and whether the rule
is unreliable by the reviews now (``unreliable``) and was left out of this audit's scores (``scored`` False)."""


def _versions(meta: dict[str, Any]) -> dict[str, str] | None:
    v = meta.get("rule_versions")
    if v:
        return dict(v)
    try:  # an audit saved before rule versions were recorded: today's definition of its config
        from csaudit.config import Config
        from csaudit.review.common import rule_versions

        return rule_versions(Config.from_dict(meta.get("config") or {}))
    except Exception:  # noqa: BLE001 - a shop lexicon file that moved: use every review
        return None


def rule_table(reviews: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """:data:`RULE_COLUMNS` per reviewed rule (current versions), sorted by precision (worst first)."""
    rc = ((meta.get("config") or {}).get("review") or {})
    versions = _versions(meta)
    prec = rule_precision(reviews, versions, int(rc.get("min_reviews", 20)),
                          float(rc.get("min_precision", 0.8)), float(rc.get("confidence_z", 1.96)))
    agree = agreement(reviews, versions)
    out = prec.merge(agree.loc[agree["rule"] != "(all)", ["rule", "n_compared", "kappa"]], on="rule", how="left")
    out["n_compared"] = out["n_compared"].fillna(0).astype("int64")
    out["scored"] = ~out["rule"].isin(meta.get("unreliable_rules") or [])
    return out.sort_values(["precision", "rule"], kind="stable", na_position="last")[list(RULE_COLUMNS)] \
        .reset_index(drop=True)


def read(audit_dir: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The audit's REVIEWS table (empty when none was imported) and its meta."""
    from csaudit.review.common import conform_reviews

    return conform_reviews(rdata.read_table(audit_dir, "reviews")), rdata.read_meta(audit_dir)


def _pct(v: Any) -> str:
    return "—" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{100 * float(v):.0f}%"


def team_section(audit_dir: str | Path) -> Html:
    """Team page: each rule's reviewed precision with its interval and review count, reviewers' κ."""
    reviews, meta = read(audit_dir)
    head = "<h2>Review and calibration 复核与校准</h2>"
    skipped = meta.get("unreliable_rules") or []
    note = (f'<p class="csa-meta">Left out of the QA scores as unreliable (hits still shown): '
            f'{esc(", ".join(skipped))}.</p>' if skipped else "")
    if reviews.empty:
        return Html(f'<section class="csa-section" id="reviews">{head}<p class="csa-empty">No reviews yet: '
                    "<code>csaudit review sample</code>, fill in the workbook, <code>csaudit review import</code>.</p>"
                    f"{note}</section>")
    t = rule_table(reviews, meta)
    overall = agreement(reviews, _versions(meta)).set_index("rule").loc["(all)"]
    shown = pd.DataFrame({
        "rule": t["rule"],
        "precision 准确率": [_pct(p) for p in t["precision"]],
        "95% interval": [f"{_pct(a)}–{_pct(b)}" for a, b in zip(t["precision_lo"], t["precision_hi"], strict=True)],
        "reviews 复核数": t["n_reviews"],
        "unsure": t["n_unsure"],
        "agreement κ": ["—" if np.isnan(k) else f"{k:.2f}" for k in t["kappa"].astype("float64")],
        "status": ["unreliable 不可靠" if u else "" for u in t["unreliable"]],
        "scored": ["yes" if s else "no (unreliable)" for s in t["scored"]],
    })
    kappa = "—" if np.isnan(overall["kappa"]) else f"{overall['kappa']:.2f}"
    body = (f"<p>Precision = 正确 ÷ (正确 + 误报) of the reviewed findings of each rule's current version, with a "
            f"95% Wilson interval. Reviewers' agreement overall: Cohen's κ {esc(kappa)} over "
            f"{int(overall['n_compared'])} finding(s) judged by two reviewers.</p>")
    return Html(f'<section class="csa-section" id="reviews">{head}{body}{table(shown)}{note}</section>')


def agent_figures(audit_dir: str | Path, agent: str, conversations: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(scores, open_disputes)`` of ``agent``: its reviewed score row (``reviewed_scores``) and its
    unresolved disputes."""
    reviews, meta = read(audit_dir)
    fp = meta.get("fingerprint")
    scores = reviewed_scores(conversations, reviews, fp)
    scores = scores.loc[scores["agent"] == agent]
    d = disputes(reviews, fp)
    return scores, d.loc[(d["agent"] == agent).to_numpy() & ~d["resolved"].to_numpy()]


def agent_section(audit_dir: str | Path, agent: str, conversations: pd.DataFrame) -> Html:
    """Agent page: the reviewed QA score beside the automatic one, and the open disputes."""
    scores, open_d = agent_figures(audit_dir, agent, conversations)
    head = "<h2>Reviewed score and disputes 复核评分与申诉</h2>"
    if scores.empty or (scores["n_overridden"].iat[0] == 0 and open_d.empty):
        return Html(f'<section class="csa-section" id="reviews">{head}<p class="csa-empty">No reviewer override '
                    "and no open dispute for this agent.</p></section>")
    r = scores.iloc[0]
    body = (f'<p>Automatic QA score <b>{r["qa_score"]:.1f}</b> · reviewed <b data-kpi="reviewed_qa_score">'
            f'{r["reviewed_qa_score"]:.1f}</b> ({int(r["n_overridden"])} conversation(s) with a reviewer\'s '
            "override score).</p>")
    shown = open_d.rename(columns={"dispute_reason": "reason 申诉理由", "dispute_status": "status"})
    body += f"<h3>Open disputes 待处理申诉 ({len(open_d)})</h3>" + table(
        shown, ["conversation_id", "reviewer", "reason 申诉理由", "status"] if len(shown) else None)
    return Html(f'<section class="csa-section" id="reviews">{head}{body}</section>')
