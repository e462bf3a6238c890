"""Everything the report notebooks show, computed from a saved audit (the notebooks stay thin).

Pure functions from audit tables to small DataFrames, plotly figures and escaped HTML fragments,
plus :class:`AgentReport` / :class:`TeamReport`, whose methods are the notebook sections. Numbers
are never recomputed differently from the audit: KPI values are the ``Audit.agents`` scorecard
values, formatted by :func:`csaudit.report.fmt.fmt_value` (one display rule per unit, the same
everywhere); every displayed KPI carries ``data-kpi``/``data-value`` attributes so a test (or a
reader) can trace it back to the scorecard. Every name shown comes from :mod:`.labels` (Chinese by
default, ``lang="en"``), every time is shop-local (``latency.timezone``).

Chat text is masked (unless ``mask=False``), then escaped, then highlighted (:mod:`.html`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csaudit.report import data as rdata
from csaudit.report.fmt import fmt_delta, fmt_period, fmt_time, fmt_value, is_missing
from csaudit.report.html import Html, esc, figure, highlight, highlight_terms, label, table
from csaudit.report.labels import Labels, labels
from csaudit.report.mask import mask_series, mask_text

log = logging.getLogger(__name__)

__all__ = ["AgentReport", "TeamReport", "agent_slug", "fmt_value", "is_missing"]

# --------------------------------------------------------------------------------------------
# names, formats, KPI catalogue


def agent_slug(agent: str) -> str:
    """A file name for ``agent``'s report that is safe on every OS and unique per agent.

    Letters, digits and CJK characters are kept (NFKC), everything else becomes ``-``, at most 40
    characters, then ``-`` + the first 8 hex digits of the SHA-1 of the full name (so two agents
    that differ only in removed characters still get different files).

    >>> agent_slug("云栖家居:阿青")
    '云栖家居-阿青-5d1d3b1e'
    """
    norm = unicodedata.normalize("NFKC", str(agent))
    base = re.sub(r"[^0-9A-Za-z\u4e00-\u9fff]+", "-", norm).strip("-")[:40].strip("-") or "agent"
    digest = hashlib.sha1(str(agent).encode("utf-8")).hexdigest()[:8]
    return f"{base}-{digest}"


def conversation_anchor(conversation_id: Any) -> str:
    """The HTML id of a conversation's transcript on an agent page (``c-`` + a safe form of the id)."""
    cid = str(conversation_id)
    safe = re.sub(r"[^0-9A-Za-z_-]+", "-", cid).strip("-")[:40]
    return f"c-{safe}-{hashlib.sha1(cid.encode('utf-8')).hexdigest()[:6]}"


SEVERITY_ORDER = ("critical", "major", "minor", "info")


@dataclass(frozen=True)
class Kpi:
    """A headline figure: the first of ``candidates`` present in the scorecard is shown; ``evidence``
    is the anchor of the section holding the rows behind it."""

    key: str
    candidates: tuple[str, ...]
    better: str  # "higher" | "lower" | ""
    evidence: str = ""


HEADLINE_KPIS: tuple[Kpi, ...] = (
    Kpi("qa_score", ("qa_score",), "higher", "qa"),
    Kpi("qa_score_critical_free", ("qa_score_critical_free",), "higher", "qa"),
    Kpi("n_conversations", ("n_conversations",), "", "transcripts"),
    Kpi("n_customers", ("n_customers",), ""),
    Kpi("avg_response", ("avg_response_s",), "lower", "latency"),
    Kpi("median_response", ("median_response_s",), "lower", "latency"),
    Kpi("p90_response", ("p90_response_s",), "lower", "latency"),
    Kpi("first_response", ("first_response_mean_s",), "lower", "latency"),
    Kpi("within_3min", ("within_3min_rate",), "higher", "slow"),
    Kpi("slow", ("slow_rounds",), "lower", "slow"),
    Kpi("reply_rate", ("reply_rate",), "higher", "unreplied"),
    Kpi("unreplied", ("unreplied_customers",), "lower", "unreplied"),
    Kpi("answer_ratio", ("answer_ratio",), ""),
    Kpi("conversion", ("order_conversion",), "higher", "lost"),
    Kpi("paid", ("paid_conversion",), "higher", "lost"),
    Kpi("cs_sales", ("cs_sales",), "higher", "conversion"),
    Kpi("csat", ("csat_mean",), "higher", "transcripts"),
    Kpi("rating", ("rating_mean",), "higher", "transcripts"),
    Kpi("negative_hits", ("negative_hits",), "lower", "findings"),
    Kpi("qc_hits", ("qc_hits",), "lower", "findings"),
    Kpi("critical_hits", ("critical_hits",), "lower", "findings-critical"),
    Kpi("sentiment_end", ("sentiment_end_mean",), "higher", "transcripts"),
    Kpi("deteriorated", ("deteriorated_rate",), "lower", "transcripts"),
)

SCORE_CATEGORIES = ("responsiveness", "politeness", "compliance", "satisfaction", "conversion")


def resolve_kpis(columns: Any, kpis: tuple[Kpi, ...] = HEADLINE_KPIS) -> list[tuple[Kpi, str]]:
    """``(kpi, column)`` for every KPI with a column present in ``columns``."""
    cols = set(columns)
    out = []
    for k in kpis:
        col = next((c for c in k.candidates if c in cols), None)
        if col is not None:
            out.append((k, col))
    return out


def is_numeric_column(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def kpi_table(agents: pd.DataFrame, agent: str, previous: pd.DataFrame | None = None,
              lang: str = "zh") -> pd.DataFrame:
    """Headline KPIs of ``agent``: ``key, label, column, value, team_median, previous, better, evidence``.

    ``team_median`` is the median over all agents of the scorecard (NA skipped); ``previous`` the
    same agent's value in the previous audit's scorecard (NA when absent).
    """
    lab = labels(lang)
    row = agents.loc[agents["agent"] == agent]
    prev_row = previous.loc[previous["agent"] == agent] if previous is not None and len(previous) else None
    recs = []
    for k, col in resolve_kpis(agents.columns):
        s = pd.to_numeric(agents[col], errors="coerce")
        value = row[col].iloc[0] if len(row) else np.nan
        prev = np.nan
        if prev_row is not None and len(prev_row) and col in prev_row.columns:
            prev = prev_row[col].iloc[0]
        recs.append({"key": k.key, "label": lab.column(col), "column": col, "value": value,
                     "team_median": float(s.median()) if s.notna().any() else np.nan,
                     "previous": prev, "better": k.better, "evidence": k.evidence})
    return pd.DataFrame(recs, columns=["key", "label", "column", "value", "team_median", "previous", "better",
                                       "evidence"])


def _judge(value: Any, ref: Any, better: str) -> str:
    if is_missing(value) or is_missing(ref) or not better or float(value) == float(ref):
        return ""
    up = float(value) > float(ref)
    return "good" if (up == (better == "higher")) else "bad"


def kpi_cards(kpis: pd.DataFrame, lang: str = "zh") -> str:
    """KPI cards: value (its unit from :func:`fmt_value`), team median, previous period (arrow coloured
    good/bad) and a link to the evidence section."""
    lab = labels(lang)
    cards = []
    for r in kpis.itertuples(index=False):
        raw = "" if is_missing(r.value) else repr(float(r.value))
        cmp_med = (f'<span class="{_judge(r.value, r.team_median, r.better)}">{esc(lab.ui("team_median"))} '
                   f"{esc(fmt_value(r.column, r.team_median, lang))}</span>")
        prev = ""
        if not is_missing(r.previous):
            arrow = "▲" if not is_missing(r.value) and float(r.value) > float(r.previous) else (
                "▼" if not is_missing(r.value) and float(r.value) < float(r.previous) else "＝")
            prev = (f' · <span class="{_judge(r.value, r.previous, r.better)}" data-prev="{esc(r.column)}">{arrow} '
                    f'{esc(lab.ui("previous"))} {esc(fmt_value(r.column, r.previous, lang))}</span>')
        ev = getattr(r, "evidence", "")
        link = f'<div class="k-ev"><a href="#{esc(ev)}">{esc(lab.ui("evidence"))} →</a></div>' if ev else ""
        cards.append(
            f'<div class="csa-kpi"><div class="k-label">{esc(r.label)}</div>'
            f'<div class="k-value" data-kpi="{esc(r.column)}" data-value="{esc(raw)}">'
            f'{esc(fmt_value(r.column, r.value, lang))}</div>'
            f'<div class="k-cmp">{cmp_med}{prev}</div>{link}</div>'
        )
    return f'<div class="csa-kpis">{"".join(cards)}</div>'


def section(title: str, body: str, anchor: str = "") -> Html:
    aid = f' id="{esc(anchor)}"' if anchor else ""
    return Html(f'<section class="csa-section"{aid}><h2>{esc(title)}</h2>{body}</section>')


def _tz(config: dict[str, Any]) -> str:
    return str((config.get("latency") or {}).get("timezone") or "Asia/Shanghai")


def _report_setting(config: dict[str, Any], key: str, default: Any) -> Any:
    return (config.get("report") or {}).get(key, default)


def capped(df: pd.DataFrame, cap: int, lang: str) -> tuple[pd.DataFrame, str]:
    """The first ``cap`` rows of ``df`` and, when rows were left out, a note saying so."""
    if cap <= 0 or len(df) <= cap:
        return df, ""
    return df.head(cap), f'<p class="csa-meta">{esc(labels(lang).ui("list_capped", cap=cap, n=len(df)))}</p>'


# --------------------------------------------------------------------------------------------
# hits


def severity_points(config: dict[str, Any]) -> dict[str, float]:
    """Compliance points per severity from the audit's settings (``score.severity_penalty``)."""
    pen = (config.get("score") or {}).get("severity_penalty") or {"critical": 100.0, "major": 25.0, "minor": 10.0}
    return {str(k): float(v) for k, v in pen.items()}


def negative_hits(hits: pd.DataFrame, config: dict[str, Any]) -> pd.DataFrame:
    """Hits that a QA lead coaches on: every QC hit (``rule`` ``qc:*``, either side) and every
    lexicon or turn-rule hit (``lexicon:*``, ``rule:*``) whose severity costs compliance points
    (negative phrases; politeness terms excluded).
    Sorted by severity (most costly first), then time. A new frame."""
    if hits.empty:
        return hits.copy()
    pts = hits["severity"].astype("str").map(severity_points(config)).fillna(0.0)
    rule = hits["rule"].astype("str")
    keep = rule.str.startswith("qc:") | ((rule.str.startswith("lexicon:") | rule.str.startswith("rule:")) & (pts > 0))
    out = hits.loc[keep].assign(points=pts[keep])
    return out.sort_values(["points", "ts"], ascending=[False, True], kind="stable").reset_index(drop=True)


def hit_evidence(hits: pd.DataFrame, mask: bool = True, tz: str = "Asia/Shanghai") -> pd.DataFrame:
    """Hits with a ``message`` column of safe HTML: the (masked) text escaped with the term marked,
    and ``when``, the shop-local time.

    Raises ``ValueError`` when a hit's offsets do not fit its message (inconsistent audit)."""
    out = hits.copy()
    text = mask_series(out["text"]) if mask and len(out) else out["text"]
    msgs = []
    for t, s, e in zip(text, out["start"], out["end"], strict=True):
        if is_missing(t):
            msgs.append('<span class="csa-empty">—</span>')
        elif is_missing(s) or is_missing(e):
            msgs.append(highlight(t, []))
        else:
            msgs.append(highlight(t, [(int(s), int(e))]))
    out["message"] = msgs
    out["when"] = [fmt_time(t, tz) for t in out["ts"]]
    out["term"] = [mask_text(t) if mask and isinstance(t, str) else t for t in out["term"]]
    return out


def hit_summary(hits: pd.DataFrame) -> pd.DataFrame:
    """``rule, category, severity, side, n, top_terms, suggestion`` per rule, most frequent first."""
    cols = ["rule", "category", "severity", "side", "n", "top_terms", "suggestion"]
    if hits.empty:
        return pd.DataFrame(columns=cols)
    g = hits.groupby(["rule", "category", "severity", "side"], sort=False, observed=True)
    out = g.size().rename("n").reset_index()
    terms = g["term"].agg(lambda s: "、".join(f"{t}×{c}" for t, c in s.dropna().astype("str").value_counts().head(3).items()))
    sugg = g["suggestion"].agg(lambda s: next((x for x in s if isinstance(x, str) and x), ""))
    out["top_terms"] = terms.to_numpy()
    out["suggestion"] = sugg.to_numpy()
    out = out.loc[out["n"] > 0]
    return out.sort_values("n", ascending=False, kind="stable")[cols].reset_index(drop=True)


def severity_rank(sev: Any) -> int:
    """0 for critical (红线), then major, minor, info; unknown severities last."""
    s = str(sev)
    return SEVERITY_ORDER.index(s) if s in SEVERITY_ORDER else len(SEVERITY_ORDER)


# --------------------------------------------------------------------------------------------
# figures


def response_histogram(rounds: pd.DataFrame, slow_s: float, title: str = "", lang: str = "zh"):
    """Histogram of answered rounds' response time (s), with the slow-response threshold marked.

    The bins are computed here (40 bins), so the page carries 40 bars, not every round."""
    import plotly.graph_objects as go

    lab = labels(lang)
    t = pd.to_numeric(rounds.loc[rounds["answered"].astype(bool), "response_s"], errors="coerce").dropna()
    counts, edges = np.histogram(t.to_numpy(), bins=40) if len(t) else (np.array([]), np.array([0.0, 1.0]))
    mids = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(go.Bar(x=np.round(mids, 1), y=counts, width=np.diff(edges), marker_color="#0969da",
                           name=lab.ui("rounds_axis")))
    fig.add_vline(x=slow_s, line_dash="dash", line_color="#cf222e",
                  annotation_text=lab.ui("slow_threshold", s=f"{slow_s:g}"), annotation_position="top right")
    n_un = int((~rounds["answered"].astype(bool)).sum())
    head = lab.ui("response_hist", answered=len(t), unanswered=n_un)
    fig.update_layout(title=f"{title} {head}".strip(), xaxis_title=lab.ui("seconds_axis"),
                      yaxis_title=lab.ui("rounds_axis"), bargap=0.05)
    return fig


def score_breakdown_figure(agent_row: pd.Series, team_median: pd.Series, lang: str = "zh"):
    """Grouped bars: the agent's category scores vs the team median (0–100)."""
    import plotly.graph_objects as go

    lab = labels(lang)
    cats = [c for c in SCORE_CATEGORIES if f"score_{c}" in agent_row.index]
    names = [lab.score(c) for c in cats]
    fig = go.Figure([
        go.Bar(name=lab.ui("agent_series"), x=names, y=[agent_row[f"score_{c}"] for c in cats], marker_color="#0969da"),
        go.Bar(name=lab.ui("median_series"), x=names, y=[team_median.get(f"score_{c}") for c in cats],
               marker_color="#8c959f"),
    ])
    fig.update_layout(barmode="group", yaxis_range=[0, 100], title=lab.ui("score_by_category"))
    return fig


def politeness_figure(agent_row: pd.Series, team_median: pd.Series, columns: list[str], lang: str = "zh"):
    """Grouped bars: politeness terms per 100 agent messages, agent vs team median."""
    import plotly.graph_objects as go

    lab = labels(lang)
    names = [lab.column(c) for c in columns]
    fig = go.Figure([
        go.Bar(name=lab.ui("agent_series"), x=names, y=[agent_row.get(c) for c in columns], marker_color="#0969da"),
        go.Bar(name=lab.ui("median_series"), x=names, y=[team_median.get(c) for c in columns], marker_color="#8c959f"),
    ])
    fig.update_layout(barmode="group", title=lab.ui("per100_title"))
    return fig


def funnel_counts(conversations: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """``stage, n``: conversations → inquiries (询单) → ordered → paid, from the conversation table."""
    lab = labels(lang)

    def flag(col: str) -> pd.Series:
        return conversations[col].astype("boolean").fillna(False) if col in conversations else pd.Series(
            False, index=conversations.index)

    inq = flag("is_inquiry")
    return pd.DataFrame({
        "stage": [lab.ui("funnel_conversations"), lab.ui("funnel_inquiries"), lab.ui("funnel_ordered"),
                  lab.ui("funnel_paid")],
        "n": [len(conversations), int(inq.sum()), int((flag("ordered") & inq).sum()), int((flag("paid") & inq).sum())],
    })


def funnel_figure(funnel: pd.DataFrame, lang: str = "zh"):
    import plotly.graph_objects as go

    fig = go.Figure(go.Funnel(y=funnel["stage"].tolist(), x=funnel["n"].tolist(), textinfo="value+percent initial"))
    fig.update_layout(title=labels(lang).ui("conversion"))
    return fig


# --------------------------------------------------------------------------------------------
# coaching


def coaching_points(
    agent_row: pd.Series,
    team_median: pd.Series,
    hits: pd.DataFrame,
    conversations: pd.DataFrame,
    rounds: pd.DataFrame,
    lost: pd.DataFrame,
    unreplied: pd.DataFrame,
    config: dict[str, Any],
    n: int = 3,
    lang: str = "zh",
) -> pd.DataFrame:
    """The ``n`` coaching points worth most QA points, derived from the audit.

    Each QA category contributes ``weight × (100 − agent's category score)`` QA points lost
    (``score.weights``); red-line hits (which zero a conversation) come first. Every figure quoted
    is the scorecard's, formatted by :func:`fmt_value` (so it reads as on the KPI cards). Returns
    ``topic, points_lost, advice, evidence, anchor`` (plain text; escaped when rendered), most
    valuable first; topics with nothing to coach are left out.
    """
    lab = labels(lang)
    weights = (config.get("score") or {}).get("weights") or {c: 0.2 for c in SCORE_CATEGORIES}
    lat = config.get("latency") or {}
    slow_s = float(lat.get("slow_s", 180.0))
    recs: list[dict[str, Any]] = []

    def cat_loss(cat: str) -> float:
        v = agent_row.get(f"score_{cat}")
        return 0.0 if is_missing(v) else float(weights.get(cat, 0.0)) * (100.0 - float(v))

    def fig(col: str, fallback: Any = np.nan) -> str:
        return fmt_value(col, agent_row.get(col, fallback), lang)

    neg = negative_hits(hits, config)
    crit_cats = set((config.get("score") or {}).get("critical_categories") or [])
    crit = neg.loc[neg["category"].isin(crit_cats) & (neg["side"] == "agent")] if len(neg) else neg
    if len(crit):
        top = crit["category"].value_counts()
        top = top[top > 0]
        ex = crit.iloc[0]
        term = mask_text(str(ex["term"])) if isinstance(ex["term"], str) else lab.rule(ex["rule"])
        recs.append({"topic": lab.ui("critical_topic", cats="、".join(lab.category(c) for c in top.index)),
                     "points_lost": 1000.0 + len(crit),
                     "advice": str(ex.get("suggestion") or lab.ui("critical_advice")),
                     "evidence": lab.ui("critical_evidence", n=fmt_value("critical_hits", len(crit), lang), term=term,
                                        conv=ex["conversation_id"]),
                     "anchor": "findings-critical"})

    n_slow = agent_row.get("slow_rounds", int(rounds["slow"].astype(bool).sum()) if "slow" in rounds else 0)
    n_un = agent_row.get("unreplied_customers", len(unreplied))
    if (not is_missing(n_slow) and n_slow) or (not is_missing(n_un) and n_un) or cat_loss("responsiveness") > 0:
        recs.append({"topic": lab.ui("reply_faster"), "points_lost": cat_loss("responsiveness"),
                     "advice": lab.ui("reply_faster_advice", s=f"{slow_s:g}"),
                     "evidence": lab.ui("reply_faster_evidence", slow=fmt_value("slow_rounds", n_slow, lang),
                                        s=f"{slow_s:g}", unreplied=fmt_value("unreplied_customers", n_un, lang),
                                        median=fig("median_response_s")),
                     "anchor": "slow"})

    lex_neg = neg.loc[neg["rule"].astype("str").str.match(r"(lexicon|rule):")] if len(neg) else neg
    lex_neg = lex_neg.loc[~lex_neg["category"].isin(crit_cats)] if len(lex_neg) else lex_neg
    if len(lex_neg):
        by_cat = lex_neg.groupby("category", observed=True).agg(n=("rule", "size"), points=("points", "sum"))
        by_cat = by_cat[by_cat["n"] > 0].sort_values(["points", "n"], ascending=False)
        cat = by_cat.index[0]
        sub = lex_neg.loc[lex_neg["category"] == cat]
        terms = sub["term"].dropna().astype("str").value_counts()
        terms = terms[terms > 0]
        sugg = sub["suggestion"].dropna()
        recs.append({"topic": lab.ui("avoid_phrases", cat=lab.category(cat)),
                     "points_lost": cat_loss("compliance") + 0.01 * len(lex_neg),
                     "advice": str(sugg.iloc[0]) if len(sugg) else lab.ui("avoid_phrases_advice"),
                     "evidence": lab.ui("avoid_phrases_evidence", n=fmt_value("negative_hits", int(by_cat["n"].sum()), lang))
                                 + "、".join(f"「{mask_text(t)}」×{c}" for t, c in terms.head(3).items()),
                     "anchor": "findings"})

    qc = neg.loc[neg["rule"].astype("str").str.startswith("qc:") & (neg["side"] == "agent")] if len(neg) else neg
    if len(qc) or cat_loss("politeness") > 0:
        g = agent_row.get("first_reply_greeting_rate", np.nan)
        c = agent_row.get("closing_rate", np.nan)
        rules = qc["rule"].astype("str").value_counts() if len(qc) else pd.Series(dtype="int64")
        rules = rules[rules > 0]
        sugg = qc.loc[qc["rule"].astype("str") == rules.index[0], "suggestion"].dropna() if len(rules) else pd.Series(dtype="str")
        recs.append({"topic": lab.ui("routine"), "points_lost": cat_loss("politeness") + 0.01 * len(qc),
                     "advice": str(sugg.iloc[0]) if len(sugg) else lab.ui("routine_advice"),
                     "evidence": lab.ui("routine_evidence", g=fmt_value("first_reply_greeting_rate", g, lang),
                                        c=fmt_value("closing_rate", c, lang))
                                 + ("；" + "、".join(f"{lab.rule(r)}×{k}" for r, k in rules.head(3).items())
                                    if len(rules) else ""),
                     "anchor": "findings"})

    if "sentiment_drift" in conversations:
        thr = float((config.get("sentiment") or {}).get("deteriorated_drift", -0.2))
        drift = pd.to_numeric(conversations["sentiment_drift"], errors="coerce")
        worse = conversations.loc[drift <= thr]
        if len(worse) or cat_loss("satisfaction") > 0:
            recs.append({"topic": lab.ui("calm"), "points_lost": cat_loss("satisfaction"),
                         "advice": lab.ui("calm_advice"),
                         "evidence": lab.ui("calm_evidence", n=len(worse), thr=f"{abs(thr):g}"),
                         "anchor": "transcripts"})

    if len(lost) or cat_loss("conversion") > 0:
        recs.append({"topic": lab.ui("close_sale"), "points_lost": cat_loss("conversion"),
                     "advice": lab.ui("close_sale_advice"),
                     "evidence": lab.ui("close_sale_evidence", n=len(lost)), "anchor": "lost"})

    out = pd.DataFrame(recs, columns=["topic", "points_lost", "advice", "evidence", "anchor"])
    out = out.loc[out["points_lost"] > 0] if len(out) else out
    return out.sort_values("points_lost", ascending=False, kind="stable").head(n).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# transcripts


def transcript_html(turns: pd.DataFrame, terms: list[str] | None = None, mask: bool = True,
                    tz: str = "Asia/Shanghai", lang: str = "zh") -> str:
    """A conversation's turns as chat bubbles: speaker, shop-local time, text masked, escaped,
    the finding's terms marked (in agent turns)."""
    lab = labels(lang)
    parts = []
    for r in turns.sort_values("turn").itertuples(index=False):
        text = mask_text(r.text) if mask else r.text
        role = str(r.role)
        who = str(r.agent) if role == "agent" and not is_missing(r.agent) else lab.role(role)
        body = highlight_terms(text, terms or []) if role == "agent" else highlight(text, [])
        parts.append(f'<div class="csa-turn role-{esc(role)}"><div class="t-who">{esc(who)} · '
                     f"{esc(fmt_time(r.start, tz, '%m-%d %H:%M:%S'))}</div>{body}</div>")
    return f'<div class="csa-transcript">{"".join(parts)}</div>'


def transcript_selection(conversations: pd.DataFrame, findings: pd.DataFrame, worst_n: int, cap: int) -> pd.DataFrame:
    """Which conversations get a transcript, and why: ``conversation_id, reason, priority``.

    Every conversation with a red-line (critical) finding, the ``worst_n`` worst by QA score and by
    ``csat`` (when the column exists), then every conversation a finding points to (by its worst
    severity). At most ``cap`` (priority order); the caller notes how many were left out."""
    recs: list[tuple[str, str, int]] = []
    if len(findings):
        f = findings.assign(_sev=findings["severity"].astype("str").map(severity_rank))
        crit = f.loc[f["_sev"] == 0, "conversation_id"].dropna().astype("str").unique()
        recs += [(c, "critical", 0) for c in crit]
    conv = conversations
    if len(conv) and "qa_score" in conv:
        q = pd.to_numeric(conv["qa_score"], errors="coerce")
        worst = conv.assign(_q=q).dropna(subset=["_q"]).sort_values(["_q", "start"], kind="stable").head(worst_n)
        recs += [(str(c), "worst", 1) for c in worst["conversation_id"]]
    if len(conv) and "csat" in conv:
        cs = pd.to_numeric(conv["csat"], errors="coerce")
        worst = conv.assign(_c=cs).dropna(subset=["_c"]).sort_values(["_c", "start"], kind="stable").head(worst_n)
        recs += [(str(c), "csat", 2) for c in worst["conversation_id"]]
    if len(findings):
        by = f.groupby(f["conversation_id"].astype("str"), observed=True)["_sev"].min().sort_values(kind="stable")
        recs += [(c, "finding", 3 + int(s)) for c, s in by.items()]
    out = pd.DataFrame(recs, columns=["conversation_id", "reason", "priority"])
    out = out.groupby("conversation_id", sort=False).agg(
        reason=("reason", lambda s: ",".join(dict.fromkeys(s))), priority=("priority", "min")).reset_index()
    return out.sort_values("priority", kind="stable").head(cap).reset_index(drop=True) if cap > 0 else out.head(0)


# --------------------------------------------------------------------------------------------
# the agent report


def _period_text(meta: dict[str, Any], start: str = "", end: str = "", lang: str = "zh") -> str:
    return fmt_period(meta, start, end, lang)


def provenance(meta: dict[str, Any], lang: str = "zh") -> str:
    """Which preset, preset version, csaudit version and creation time (shop-local) the audit used."""
    lab = labels(lang)
    tz = _tz(meta.get("config") or {})
    created = fmt_time(meta.get("created"), tz) if meta.get("created") else "?"
    return (f"{lab.ui('preset')} {meta.get('preset', '?')} v{meta.get('preset_version', '?')} · csaudit "
            f"{meta.get('csaudit_version', '?')} · {lab.ui('audit_created')} {created} ({tz})")


def red_line_badge(n_critical: Any, lang: str = "zh") -> str:
    """The red-line status: a red badge with the number of red-line conversations, or a clean one."""
    lab = labels(lang)
    n = 0 if is_missing(n_critical) else int(n_critical)
    if n > 0:
        return f'<span class="csa-badge red" data-red-line="1">{esc(lab.ui("red_line_yes", n=n))}</span>'
    return f'<span class="csa-badge clean" data-red-line="0">{esc(lab.ui("red_line_no"))}</span>'


def _critical_count(row: pd.Series | None) -> Any:
    if row is None:
        return 0
    for col in ("critical_conversations", "critical_hits"):
        if col in row.index and not is_missing(row.get(col)):
            return row.get(col)
    return 0


AGENT_SECTIONS = ("kpis", "coaching", "qa", "findings", "transcripts", "latency", "slow", "unreplied", "politeness",
                  "conversion", "lost")
"""Anchors of the agent page, in page order (the contents bar links to these)."""


class AgentReport:
    """The sections of ``notebooks/agent_report.ipynb`` for one agent (each returns :class:`Html`)."""

    def __init__(self, audit_dir: str | Path, agent: str, period_start: str = "", period_end: str = "",
                 previous_audit_dir: str = "", mask: bool = True, lang: str = "zh"):
        self.agent = agent
        self.mask = bool(mask)
        self.lang = lang
        self.lab: Labels = labels(lang)
        self.data = rdata.load_slice(audit_dir, agent)
        self.meta = self.data.meta
        self.config = self.data.config
        self.tz = _tz(self.config)
        self.period = fmt_period(self.meta, period_start, period_end, lang)
        agents = self.data.agents
        self.row = agents.loc[agents["agent"] == agent].iloc[0] if (agents["agent"] == agent).any() else None
        self.previous = None
        if previous_audit_dir and Path(previous_audit_dir, "agents.parquet").exists():
            self.previous = rdata.read_table(previous_audit_dir, "agents")
        self.team_median = agents.select_dtypes("number").median()
        activity = [] if self.row is None else [
            self.row.get(c) for c in ("n_conversations", "n_agent_msgs", "n_rounds") if c in self.row.index]
        if self.row is not None and not activity:
            activity = [len(self.data.conversations)]
        # no chats in the period: not in the scorecard, or no conversation, message or round of its own
        self.empty = self.row is None or all(is_missing(v) or float(v) == 0 for v in activity)
        self.max_rows = int(_report_setting(self.config, "max_rows", 200))
        self._findings: pd.DataFrame | None = None
        self._selection: pd.DataFrame | None = None

    # -- shared ---------------------------------------------------------------------------------
    def fmt(self, column: str, value: Any) -> str:
        return fmt_value(column, value, self.lang)

    @property
    def findings(self) -> pd.DataFrame:
        """The agent's negative and QC findings (:func:`negative_hits`), with evidence columns."""
        if self._findings is None:
            neg = negative_hits(self.data.hits, self.config)
            self._findings = hit_evidence(neg, mask=self.mask, tz=self.tz) if len(neg) else neg.assign(
                message=pd.Series(dtype=object), when=pd.Series(dtype=object))
        return self._findings

    @property
    def selection(self) -> pd.DataFrame:
        """The conversations that get a transcript on this page (:func:`transcript_selection`)."""
        if self._selection is None:
            cap = int(_report_setting(self.config, "max_transcripts", 60))
            worst_n = int(_report_setting(self.config, "worst_conversations", 3))
            self._selection = transcript_selection(self.data.conversations, self.findings, worst_n, cap)
        return self._selection

    def conv_link(self, cid: Any) -> str:
        """A link to the conversation's transcript when the page has it, else the id as text."""
        if is_missing(cid):
            return ""
        shown = set(self.selection["conversation_id"])
        if str(cid) in shown:
            return f'<a href="#{esc(conversation_anchor(cid))}">{esc(cid)}</a>'
        return esc(cid)

    def _name(self, name: Any) -> str:
        """A customer's name as shown: masked like text unless masking is off (a nickname may be a phone)."""
        if name is None or (not isinstance(name, str) and pd.isna(name)):
            return ""
        return mask_text(str(name)) if self.mask else str(name)

    def _evidence_table(self, df: pd.DataFrame, columns: list[str], time_col: str, text_cols: tuple[str, ...] = ("text",),
                        table_id: str = "") -> str:
        df = df.copy()
        if len(df):
            df = df.sort_values(time_col, kind="stable") if time_col in df else df
            df, note = capped(df, self.max_rows, self.lang)
            df = df.copy()
            df["when"] = [fmt_time(t, self.tz) for t in df[time_col]] if time_col in df else ""
            for c in (*text_cols, "customer"):  # a nickname may be a phone number: names are masked too
                if c in df and self.mask:
                    df[c] = mask_series(df[c].astype("str"))
            if "conversation_id" in df:
                df["conversation_id"] = [self.conv_link(c) for c in df["conversation_id"]]
            for c in columns:
                if c in df and c not in ("when", "conversation_id", *text_cols) and (
                        is_numeric_column(df[c]) or pd.api.types.is_bool_dtype(df[c])):
                    df[c] = [self.fmt(c, v) for v in df[c]]
        else:
            note = ""
        cols = [c for c in columns if c in df.columns] if len(df) else None
        return table(df, cols, headers=self.lab.headers(columns), raw=["conversation_id"], empty=self.lab.ui("none"),
                     table_id=table_id) + note

    # -- sections -------------------------------------------------------------------------------
    def header(self) -> Html:
        lab = self.lab
        h = (f'<h1>{esc(lab.ui("agent_report"))}：{esc(self.agent)}</h1>'
             f'<p class="csa-meta">{esc(lab.ui("period"))} {esc(self.period)} · {esc(provenance(self.meta, self.lang))}</p>')
        if self.empty:
            h += f'<p class="csa-note" data-empty="1">{esc(lab.ui("no_chats", agent=self.agent))}</p>'
            return Html(h)
        rank, n = self.row.get("rank"), len(self.data.agents)
        h += (f'<p class="csa-headline">{esc(lab.column("qa_score"))} '
              f'<b data-kpi="qa_score">{esc(self.fmt("qa_score", self.row.get("qa_score")))}</b> · '
              f'<b data-kpi="rank" data-rank="{esc(fmt_value("rank", rank))}">'
              f'{esc(lab.ui("rank_of", rank=fmt_value("rank", rank), n=n))}</b> · '
              f"{red_line_badge(_critical_count(self.row), self.lang)}</p>")
        toc = "".join(f'<a href="#{a}">{esc(self._title(a))}</a>' for a in AGENT_SECTIONS)
        h += f'<nav class="csa-toc" id="toc"><b>{esc(lab.ui("contents"))}</b>： {toc}</nav>'
        return Html(h)

    def _title(self, anchor: str) -> str:
        return {"slow": self.lab.ui("slow_list"), "lost": self.lab.ui("lost")}.get(anchor, self.lab.ui(anchor))

    def kpis(self) -> Html:
        if self.empty:
            return Html()
        kp = kpi_table(self.data.agents, self.agent, self.previous, self.lang)
        note = "" if self.previous is not None else f'<p class="csa-meta">{esc(self.lab.ui("no_previous"))}</p>'
        return section(self.lab.ui("kpis"), kpi_cards(kp, self.lang) + note, "kpis")

    def coaching(self) -> Html:
        if self.empty:
            return Html()
        n = int(_report_setting(self.config, "coaching_points", 3))
        pts = coaching_points(self.row, self.team_median, self.data.hits, self.data.conversations, self.data.rounds,
                              self.data.lost_inquiries, self.data.unreplied, self.config, n=n, lang=self.lang)
        if pts.empty:
            return section(self.lab.ui("coaching"), f"<p>{esc(self.lab.ui('nothing_to_coach'))}</p>", "coaching")
        items = "".join(
            f"<li><b>{esc(r.topic)}</b> ({esc(self.lab.ui('qa_points', points=f'{min(r.points_lost, 100.0):.1f}'))})"
            f"<br>{esc(r.advice)}<br><span class=\"csa-meta\">{esc(r.evidence)}</span> "
            f'<a href="#{esc(r.anchor)}">{esc(self.lab.ui("evidence"))} →</a></li>'
            for r in pts.itertuples(index=False))
        return section(self.lab.ui("coaching"), f'<ol class="csa-coach">{items}</ol>', "coaching")

    def qa_breakdown(self) -> Html:
        if self.empty:
            return Html()
        lab = self.lab
        weights = (self.config.get("score") or {}).get("weights") or {}
        rows = [{"category": lab.score(c), "weight": f"{100 * float(weights.get(c, 0)):.0f}%",
                 "agent": self.fmt(f"score_{c}", self.row.get(f"score_{c}")),
                 "team median": self.fmt(f"score_{c}", self.team_median.get(f"score_{c}"))}
                for c in SCORE_CATEGORIES if f"score_{c}" in self.row.index]
        body = figure(score_breakdown_figure(self.row, self.team_median, self.lang), height=320)
        body += table(pd.DataFrame(rows, columns=["category", "weight", "agent", "team median"]),
                      headers={"category": lab.column("category"), "weight": lab.ui("weight"),
                               "agent": lab.ui("agent_col"), "team median": lab.ui("team_median")})
        body += (f'<p>{esc(lab.column("qa_score"))} {esc(self.fmt("qa_score", self.row.get("qa_score")))} '
                 f'({esc(lab.column("qa_score_critical_free"))} '
                 f'{esc(self.fmt("qa_score_critical_free", self.row.get("qa_score_critical_free")))}) · '
                 f'{esc(lab.ui("rank_of", rank=fmt_value("rank", self.row.get("rank")), n=len(self.data.agents)))}</p>')
        return section(lab.ui("qa"), body, "qa")

    def hits(self) -> Html:
        """Findings grouped by severity (红线 first) and rule, each group collapsed with its count;
        each finding links to its conversation's transcript."""
        if self.empty:
            return Html()
        lab = self.lab
        neg = self.findings
        body = f"<p>{esc(lab.ui('findings_intro', n=fmt_value('n_hits', len(neg), self.lang)))}</p>"
        if neg.empty:
            return section(lab.ui("findings"), body + f'<p class="csa-empty">{esc(lab.ui("none"))}</p>', "findings")
        summ = hit_summary(neg)
        summ["_sev"] = summ["severity"].astype("str").map(severity_rank)
        summ = summ.sort_values(["_sev", "n"], ascending=[True, False], kind="stable")
        cols = ["when", "term", "message", "conversation_id"]  # the suggestion is in the group's summary
        parts = []
        for _, grp in summ.groupby("_sev", sort=True):
            sev_key = str(grp["severity"].iloc[0])
            anchor = f"findings-{sev_key}"
            parts.append(f'<h3 id="{esc(anchor)}"><span class="csa-sev sev-{esc(sev_key)}">{esc(lab.severity(sev_key))}'
                         f"</span> {esc(lab.ui('hits_n', n=fmt_value('n_hits', int(grp['n'].sum()), self.lang)))}</h3>")
            for r in grp.itertuples(index=False):
                rows = neg.loc[(neg["rule"].astype("str") == str(r.rule)) & (neg["side"].astype("str") == str(r.side))]
                shown, note = capped(rows, self.max_rows, self.lang)
                shown = shown.assign(conversation_id=[self.conv_link(c) for c in shown["conversation_id"]])
                sugg = f' · {esc(r.suggestion)}' if r.suggestion else ""
                terms = f' · {esc(r.top_terms)}' if r.top_terms else ""
                parts.append(
                    f'<details class="csa-group sev-{esc(sev_key)}" data-rule="{esc(r.rule)}">'
                    f'<summary>{esc(lab.rule(r.rule))} ({esc(lab.side(r.side))}) — '
                    f'{esc(lab.ui("hits_n", n=fmt_value("n_hits", r.n, self.lang)))}'
                    f'<span class="csa-meta">{terms}{sugg}</span></summary>'
                    + table(shown, [c for c in cols if c in shown.columns], headers=lab.headers(cols),
                            raw=["message", "conversation_id"], empty=lab.ui("none"))
                    + note + "</details>")
        return section(lab.ui("findings"), body + "".join(parts), "findings")

    def worst_conversations(self) -> Html:
        """Transcripts: every red-line conversation, the worst by QA score (and csat), every
        conversation a finding points to — capped at ``report.max_transcripts`` with a note."""
        if self.empty:
            return Html()
        lab = self.lab
        conv = self.data.conversations
        sel = self.selection
        intro = lab.ui("transcripts_intro", csat=lab.ui("transcripts_csat") if "csat" in conv else "")
        if sel.empty:
            return section(lab.ui("transcripts"), f"<p>{esc(intro)}</p><p class=\"csa-empty\">{esc(lab.ui('none'))}</p>",
                           "transcripts")
        full = transcript_selection(conv, self.findings, int(_report_setting(self.config, "worst_conversations", 3)),
                                    cap=10**9)
        left = len(full) - len(sel)
        turns = self.data.turns(sel["conversation_id"].tolist())
        neg = self.findings
        info = conv.set_index(conv["conversation_id"].astype("str"))
        reasons = {"critical": lab.ui("reason_critical"), "worst": lab.ui("reason_worst"), "csat": lab.ui("reason_csat"),
                   "finding": lab.ui("reason_finding")}
        parts = [f"<p>{esc(intro)}</p>"]
        for r in sel.itertuples(index=False):
            cid = r.conversation_id
            terms = neg.loc[neg["conversation_id"].astype("str") == cid, "term"].dropna().astype("str").tolist() \
                if len(neg) else []
            c = info.loc[cid] if cid in info.index else None
            if isinstance(c, pd.DataFrame):
                c = c.iloc[0]
            meta = ""
            if c is not None:
                meta = (f'{esc(fmt_time(c.get("start"), self.tz))} · {esc(lab.column("customer"))} {esc(self._name(c.get("customer")))}'
                        f' · {esc(lab.column("qa_score"))} {esc(self.fmt("qa_score", c.get("qa_score")))}'
                        f' · {esc(lab.column("sentiment_drift"))} {esc(self.fmt("sentiment_drift", c.get("sentiment_drift")))}')
                if "csat" in c.index:
                    meta += f' · {esc(lab.column("csat"))} {esc(self.fmt("csat", c.get("csat")))}'
            why = "、".join(reasons.get(x, x) for x in str(r.reason).split(","))
            open_attr = " open" if r.priority <= 2 else ""
            parts.append(
                f'<details class="csa-group csa-transcript-wrap" id="{esc(conversation_anchor(cid))}"{open_attr}>'
                f'<summary>{esc(cid)} <span class="csa-meta">[{esc(why)}] {meta}</span></summary>'
                + transcript_html(turns.loc[turns["conversation_id"].astype("str") == cid], terms, self.mask, self.tz,
                                  self.lang)
                + "</details>")
        if left > 0:
            parts.append(f'<p class="csa-meta">{esc(lab.ui("transcripts_capped", n=left, cap=len(sel)))}</p>')
        return section(lab.ui("transcripts"), "".join(parts), "transcripts")

    def response_times(self) -> Html:
        """The latency histogram, then the evidence: every slow round and every unreplied customer."""
        if self.empty:
            return Html()
        lab = self.lab
        slow_s = float((self.config.get("latency") or {}).get("slow_s", 180.0))
        body = figure(response_histogram(self.data.rounds, slow_s, lang=self.lang)) if len(self.data.rounds) else \
            f'<p class="csa-empty">{esc(lab.ui("no_rounds"))}</p>'
        rounds = self.data.rounds
        slow = rounds.loc[rounds["slow"].astype(bool)] if "slow" in rounds and len(rounds) else rounds.head(0)
        body += (f'<h3 id="slow">{esc(lab.ui("slow_list"))} ({fmt_value("slow_rounds", len(slow), self.lang)})</h3>'
                 + self._evidence_table(slow, ["when", "customer", "response_s", "answered", "conversation_id"],
                                        "start", text_cols=(), table_id="slow-table"))
        un = self.data.unreplied
        body += (f'<h3 id="unreplied">{esc(lab.ui("unreplied"))} ({fmt_value("unreplied_customers", len(un), self.lang)})</h3>'
                 + self._evidence_table(un, ["when", "customer", "conversation_id", "text"], "start"))
        return section(lab.ui("latency"), body, "latency")

    def politeness(self) -> Html:
        if self.empty:
            return Html()
        lab = self.lab
        cols = [c for c in self.data.agents.columns if c.endswith("_per100") and c != "negative_per100"
                or c in ("first_reply_greeting_rate", "closing_rate", "honorific_ratio", "wo_ratio")]
        rows = [{"figure": lab.column(c), "agent": self.fmt(c, self.row.get(c)),
                 "team median": self.fmt(c, self.team_median.get(c))} for c in cols]
        body = figure(politeness_figure(self.row, self.team_median, [c for c in cols if c.endswith("_per100")],
                                        self.lang), height=320) if cols else ""
        return section(lab.ui("politeness"), body + table(
            pd.DataFrame(rows, columns=["figure", "agent", "team median"]),
            headers={"figure": lab.ui("figure"), "agent": lab.ui("agent_col"), "team median": lab.ui("team_median")}),
            "politeness")

    def conversion(self) -> Html:
        if self.empty:
            return Html()
        lab = self.lab
        if not self.meta.get("has_orders", True):
            return section(lab.ui("conversion"), f'<p class="csa-empty">{esc(lab.ui("no_orders"))}</p>', "conversion")
        body = figure(funnel_figure(funnel_counts(self.data.conversations, self.lang), self.lang), height=320)
        lost = self.data.lost_inquiries
        body += (f'<h3 id="lost">{esc(lab.ui("lost"))} ({fmt_value("lost_inquiries", len(lost), self.lang)})</h3>'
                 + self._evidence_table(lost, ["when", "customer", "conversation_id", "text"], "start"))
        return section(lab.ui("conversion"), body, "conversion")

    def reviews(self) -> Html:
        """The reviewed QA score and open disputes (csaudit.review.views)."""
        if self.empty:
            return Html()
        from csaudit.review.views import agent_section

        return agent_section(self.data.audit_dir, self.agent, self.data.conversations)

    def footer(self) -> Html:
        lab = self.lab
        return Html(f'<p class="csa-meta">{esc(lab.ui("footer"))} {esc(provenance(self.meta, self.lang))} · '
                    f'{esc(lab.ui("masked") if self.mask else lab.ui("unmasked"))}</p>')


# --------------------------------------------------------------------------------------------
# the team overview


LEADERBOARD = ("rank", "agent", "red_line", "qa_score", "qa_score_critical_free", "n_conversations", "avg_response",
               "reply_rate", "conversion", "csat", "rating", "negative_hits", "qc_hits", "critical_hits")


TEAM_SECTIONS = ("leaderboard", "scatter", "heatmap", "trend", "sales", "rules")
"""Anchors of the team page in page order (then ``reports``, the list of agent reports)."""


class TeamReport:
    """The sections of ``notebooks/team_overview.ipynb``."""

    def __init__(self, audit_dir: str | Path, previous_audit_dir: str = "", links: bool | list[str] = True,
                 lang: str = "zh"):
        """``links``: link every agent to ``agents/<slug>.html`` (True), none (False), or only the
        agents named in the list (those the batch made a report for)."""
        self.lang = lang
        self.lab = labels(lang)
        self.data = rdata.load_slice(audit_dir, None)
        self.meta = self.data.meta
        self.config = self.data.config
        self.links = links
        self.previous = None
        if previous_audit_dir and Path(previous_audit_dir, "agents.parquet").exists():
            self.previous = rdata.read_table(previous_audit_dir, "agents")

    def header(self) -> Html:
        lab = self.lab
        toc = "".join(f'<a href="#{a}">{esc(lab.ui(a))}</a>' for a in TEAM_SECTIONS) + \
            f'<a href="#reports">{esc(lab.ui("agent_reports"))}</a>'
        return Html(f"<h1>{esc(lab.ui('team_overview'))}</h1><p class=\"csa-meta\">{esc(lab.ui('period'))} "
                    f"{esc(fmt_period(self.meta, lang=self.lang))} · {esc(provenance(self.meta, self.lang))}</p>"
                    f'<nav class="csa-toc" id="toc"><b>{esc(lab.ui("contents"))}</b>： {toc}</nav>')

    def leaderboard_columns(self) -> list[tuple[str, str]]:
        """``(header, scorecard column)`` of the leaderboard, for the columns the scorecard has."""
        a = self.data.agents
        cols: list[tuple[str, str]] = []
        for key in LEADERBOARD:
            if key in ("rank", "agent", "red_line"):
                cols.append((self.lab.column(key), key))
                continue
            found = resolve_kpis(a.columns, tuple(k for k in HEADLINE_KPIS if k.key == key))
            if found:
                cols.append((self.lab.column(found[0][1]), found[0][1]))
        return cols

    def _linked(self, agent: str) -> bool:
        if self.links is True:
            return True
        return isinstance(self.links, (list, tuple, set)) and agent in set(self.links)

    def leaderboard(self) -> Html:
        """Agents by rank, each linking to its report (``agents/<slug>.html``), with a red-line column
        (agents with red-line conversations are flagged; ``score.red_line`` decides their rank)."""
        a = self.data.agents
        shown = pd.DataFrame(index=a.index)
        for head, col in self.leaderboard_columns():
            if col == "agent":
                shown[head] = [f'<a href="agents/{esc(agent_slug(x))}.html">{esc(x)}</a>' if self._linked(x) else esc(x)
                               for x in a["agent"]]
            elif col == "red_line":
                shown[head] = [red_line_badge(_critical_count(r), self.lang) for _, r in a.iterrows()]
            else:
                shown[head] = [fmt_value(col, v, self.lang) for v in a[col]]
        raw = [self.lab.column("agent"), self.lab.column("red_line")]
        return section(self.lab.ui("leaderboard"), table(shown, raw=raw, table_id="leaderboard-table"), "leaderboard")

    def scatter(self) -> Html:
        import plotly.graph_objects as go

        lab = self.lab
        a = self.data.agents
        x = resolve_kpis(a.columns, tuple(k for k in HEADLINE_KPIS if k.key == "avg_response"))
        y = resolve_kpis(a.columns, tuple(k for k in HEADLINE_KPIS if k.key == "conversion"))
        if not x or not y or a[y[0][1]].isna().all():
            return section(lab.ui("scatter"), f'<p class="csa-empty">{esc(lab.ui("needs_latency_orders"))}</p>', "scatter")
        xc, yc = x[0][1], y[0][1]
        size = pd.to_numeric(a.get("n_conversations", pd.Series(10, index=a.index)), errors="coerce").fillna(1)
        fig = go.Figure(go.Scatter(
            x=a[xc], y=a[yc], mode="markers+text", text=[label(s) for s in a["agent"]],
            textposition="top center", marker={"size": 10 + 30 * size / max(float(size.max()), 1.0), "color": "#0969da"},
            customdata=[[fmt_value(xc, u, self.lang), fmt_value(yc, v, self.lang)] for u, v in zip(a[xc], a[yc], strict=True)],
            hovertemplate="%{text}<br>%{customdata[0]} · %{customdata[1]}<extra></extra>",
        ))
        fig.update_layout(title=lab.ui("avg_response_vs_conversion"),
                          xaxis_title=f"{lab.column(xc)} ({lab.unit('seconds')})", yaxis_title=lab.column(yc),
                          yaxis_tickformat=".0%")
        return section(lab.ui("scatter"), figure(fig, 440), "scatter")

    def heatmap(self) -> Html:
        """Findings per agent × category, coloured by severity: each cell's colour is the category's
        severity level (red lines darkest) and its count is printed, so 45 red-line hits never look
        paler than 346 minor ones."""
        import plotly.graph_objects as go

        lab = self.lab
        neg = negative_hits(self.data.hits, self.config)
        neg = neg.loc[neg["agent"].notna()] if len(neg) else neg
        if neg.empty:
            return section(lab.ui("heatmap"), f'<p class="csa-empty">{esc(lab.ui("no_hits"))}</p>', "heatmap")
        neg = neg.assign(category=neg["category"].astype("str"), _sev=neg["severity"].astype("str").map(severity_rank))
        piv = neg.pivot_table(index="agent", columns="category", values="rule", aggfunc="size", fill_value=0)
        sev = neg.groupby("category")["_sev"].min()
        order = sorted(piv.columns, key=lambda c: (sev.get(c, 9), -int(piv[c].sum())))
        piv = piv[order]
        agents = [x for x in self.data.agents["agent"] if x in piv.index]
        piv = piv.loc[agents]
        level = np.array([[0.0 if v == 0 else (4 - min(int(sev.get(c, 3)), 3)) / 4 for c, v in zip(piv.columns, row, strict=True)]
                          for row in piv.to_numpy()])
        xs = [f"{label(lab.category(c))} ({label(lab.severity(SEVERITY_ORDER[min(int(sev.get(c, 3)), 3)]))})"
              for c in piv.columns]
        fig = go.Figure(go.Heatmap(z=level, x=xs, y=[label(r) for r in piv.index], zmin=0, zmax=1,
                                   colorscale=[[0, "#ffffff"], [0.25, "#fff1c2"], [0.5, "#ffc46b"], [0.75, "#ff7b72"],
                                               [1, "#a40e26"]],
                                   text=piv.to_numpy(), texttemplate="%{text}", showscale=False,
                                   hovertemplate="%{y} · %{x}: %{text}<extra></extra>"))
        fig.update_layout(title=lab.ui("heatmap"), height=160 + 40 * len(piv), yaxis_autorange="reversed")
        return section(lab.ui("heatmap"), figure(fig), "heatmap")

    def rules(self) -> Html:
        """Every rule that appears in the findings: name, severity, side, count, suggestion."""
        lab = self.lab
        neg = negative_hits(self.data.hits, self.config)
        summ = hit_summary(neg)
        if summ.empty:
            return section(lab.ui("rules"), f'<p class="csa-empty">{esc(lab.ui("no_hits"))}</p>', "rules")
        summ = summ.assign(_sev=summ["severity"].astype("str").map(severity_rank)).sort_values(
            ["_sev", "n"], ascending=[True, False], kind="stable")
        shown = pd.DataFrame({
            "rule": [lab.rule(r) for r in summ["rule"]], "key": summ["rule"].astype("str"),
            "severity": [lab.severity(s) for s in summ["severity"]], "side": [lab.side(s) for s in summ["side"]],
            "n": [fmt_value("n_hits", v, self.lang) for v in summ["n"]], "suggestion": summ["suggestion"]})
        heads = {**lab.headers(shown.columns), "key": "key"}
        return section(lab.ui("rules"), f"<p>{esc(lab.ui('rule_list_intro'))}</p>" + table(shown, headers=heads), "rules")

    def trend(self) -> Html:
        import plotly.graph_objects as go

        lab = self.lab
        if self.previous is None:
            return section(lab.ui("trend"), f'<p class="csa-meta">{esc(lab.ui("no_previous"))}</p>', "trend")
        a, p = self.data.agents, self.previous
        m = a[["agent", "qa_score"]].merge(p[["agent", "qa_score"]], on="agent", how="left", suffixes=("", "_prev"))
        m["delta"] = m["qa_score"] - m["qa_score_prev"]
        names = [label(s) for s in m["agent"]]
        fig = go.Figure([go.Bar(name=lab.ui("previous"), x=names, y=m["qa_score_prev"], marker_color="#8c959f"),
                         go.Bar(name=lab.ui("this_period"), x=names, y=m["qa_score"], marker_color="#0969da")])
        fig.update_layout(barmode="group", title=lab.column("qa_score"), yaxis_range=[0, 100])
        shown = pd.DataFrame({"agent": m["agent"],
                              "previous": [fmt_value("qa_score", v, self.lang) for v in m["qa_score_prev"]],
                              "now": [fmt_value("qa_score", v, self.lang) for v in m["qa_score"]],
                              "change": [fmt_delta("qa_score", v, self.lang) for v in m["delta"]]})
        heads = {"agent": lab.column("agent"), "previous": lab.ui("previous"), "now": lab.ui("this_period"),
                 "change": lab.ui("change")}
        return section(lab.ui("trend"), figure(fig) + table(shown, headers=heads), "trend")

    def reviews(self) -> Html:
        """Each rule's reviewed precision, review count and reviewers' agreement (csaudit.review.views)."""
        from csaudit.review.views import team_section

        return team_section(self.data.audit_dir)

    def sales(self) -> Html:
        s = self.data.sales
        if s.empty or not self.meta.get("has_orders", True):
            return Html()
        row = s.iloc[0]
        shown = pd.DataFrame({"figure": [self.lab.column(c) for c in s.columns],
                              "value": [fmt_value(c, row[c], self.lang) for c in s.columns]})
        return section(self.lab.ui("sales"), table(shown, headers={"figure": self.lab.ui("figure"),
                                                                    "value": self.lab.ui("value")}), "sales")
