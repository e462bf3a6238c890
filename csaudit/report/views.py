"""Everything the report notebooks show, computed from a saved audit (the notebooks stay thin).

Pure functions from audit tables to small DataFrames, plotly figures and escaped HTML fragments,
plus :class:`AgentReport` / :class:`TeamReport`, whose methods are the notebook sections. Numbers
are never recomputed differently from the audit: KPI values are the ``Audit.agents`` scorecard
values, formatted by :func:`fmt_value`; every displayed KPI carries ``data-kpi``/``data-value``
attributes so a test (or a reader) can trace it back to the scorecard.

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
from csaudit.report.html import Html, esc, figure, highlight, highlight_terms, label, table
from csaudit.report.mask import mask_frame, mask_series, mask_text

log = logging.getLogger(__name__)

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


def is_missing(v: Any) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def fmt_value(column: str, value: Any) -> str:
    """Display form of a scorecard value; the unit follows from the column name (docs/pipeline.md).

    ``*_rate`` → percent with 1 decimal; ``*_s`` → seconds with 1 decimal; ``qa_score*``/``score_*``
    and ``*_per100`` → 1 decimal; ``sentiment_*`` → 3 decimals; sales/amounts → ¥ with 2 decimals;
    integers and counts → thousands-separated integer; missing → ``—``.

    >>> fmt_value("reply_rate", 0.8333), fmt_value("avg_response_s", 42.04), fmt_value("n_customers", 12)
    ('83.3%', '42.0 s', '12')
    """
    if is_missing(value):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    col = column.lower()
    v = float(value)
    if col.endswith("_rate") or col.endswith("_share"):
        return f"{100 * v:.1f}%"
    if col.endswith("_s"):
        return f"{v:.1f} s"
    if col.startswith("sentiment"):
        return f"{v:.3f}"
    if any(k in col for k in ("sales", "amount", "order_value", "aov")):
        return f"¥{v:,.2f}"
    if col.startswith(("qa_score", "score_", "csat", "rating_mean")) or col.endswith("_per100"):
        return f"{v:.1f}"
    if col.endswith("_ratio"):
        return f"{v:.2f}"
    if col == "rank" or col.startswith(("n_", "neg_", "qc_")) or col.endswith(
        ("_hits", "_conversations", "_customers", "_rounds", "_messages", "_msgs")
    ):
        return f"{int(round(v)):,}"
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:.2f}"


@dataclass(frozen=True)
class Kpi:
    """A headline figure: the first of ``candidates`` present in the scorecard is shown."""

    key: str
    label: str
    candidates: tuple[str, ...]
    better: str  # "higher" | "lower" | ""


HEADLINE_KPIS: tuple[Kpi, ...] = (
    Kpi("qa_score", "QA score 质检得分", ("qa_score",), "higher"),
    Kpi("qa_score_critical_free", "QA score, critical-free", ("qa_score_critical_free",), "higher"),
    Kpi("csat", "Predicted satisfaction 预测满意度", ("csat_mean",), "higher"),
    Kpi("rating", "Rated satisfaction 满意度 (rated conversations)", ("rating_mean",), "higher"),
    Kpi("n_conversations", "Conversations 会话", ("n_conversations",), ""),
    Kpi("n_customers", "Customers 接待人数", ("n_customers",), ""),
    Kpi("avg_response", "Avg response 平响", ("avg_response_s",), "lower"),
    Kpi("median_response", "Median response", ("median_response_s",), "lower"),
    Kpi("p90_response", "p90 response", ("p90_response_s",), "lower"),
    Kpi("first_response", "First response 首响",
        ("first_response_mean_s",), "lower"),
    Kpi("within_3min", "Answered ≤ 3 min", ("within_3min_rate",), "higher"),
    Kpi("slow", "Slow rounds 慢响应", ("slow_rounds",), "lower"),
    Kpi("reply_rate", "Reply rate 回复率", ("reply_rate",), "higher"),
    Kpi("unreplied", "Unreplied customers 未回复", ("unreplied_customers",), "lower"),
    Kpi("answer_ratio", "Answer ratio 答问比", ("answer_ratio",), ""),
    Kpi("conversion", "Inquiry → order 询单转化", ("order_conversion",), "higher"),
    Kpi("paid", "Inquiry → paid 付款转化", ("paid_conversion",), "higher"),
    Kpi("cs_sales", "CS sales 客服销售额", ("cs_sales",), "higher"),
    Kpi("negative_hits", "Negative phrases 负面用语", ("negative_hits",), "lower"),
    Kpi("qc_hits", "QC hits 质检命中", ("qc_hits",), "lower"),
    Kpi("critical_hits", "Critical hits 严重违规", ("critical_hits",), "lower"),
    Kpi("sentiment_end", "Customer mood at end", ("sentiment_end_mean",), "higher"),
    Kpi("deteriorated", "Mood deteriorated", ("deteriorated_rate",), "lower"),
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


def kpi_table(agents: pd.DataFrame, agent: str, previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """Headline KPIs of ``agent``: ``key, label, column, value, team_median, previous, better``.

    ``team_median`` is the median over all agents of the scorecard (NA skipped); ``previous`` the
    same agent's value in the previous audit's scorecard (NA when absent).
    """
    row = agents.loc[agents["agent"] == agent]
    prev_row = previous.loc[previous["agent"] == agent] if previous is not None and len(previous) else None
    recs = []
    for k, col in resolve_kpis(agents.columns):
        s = pd.to_numeric(agents[col], errors="coerce")
        value = row[col].iloc[0] if len(row) else np.nan
        prev = np.nan
        if prev_row is not None and len(prev_row) and col in prev_row.columns:
            prev = prev_row[col].iloc[0]
        recs.append({"key": k.key, "label": k.label, "column": col, "value": value,
                     "team_median": float(s.median()) if s.notna().any() else np.nan,
                     "previous": prev, "better": k.better})
    return pd.DataFrame(recs, columns=["key", "label", "column", "value", "team_median", "previous", "better"])


def _judge(value: Any, ref: Any, better: str) -> str:
    if is_missing(value) or is_missing(ref) or not better or float(value) == float(ref):
        return ""
    up = float(value) > float(ref)
    return "good" if (up == (better == "higher")) else "bad"


def kpi_cards(kpis: pd.DataFrame) -> str:
    """KPI cards with the value, the team median and the previous period (arrow coloured good/bad)."""
    cards = []
    for r in kpis.itertuples(index=False):
        raw = "" if is_missing(r.value) else repr(float(r.value))
        cmp_med = f'<span class="{_judge(r.value, r.team_median, r.better)}">team median {esc(fmt_value(r.column, r.team_median))}</span>'
        prev = ""
        if not is_missing(r.previous):
            arrow = "▲" if not is_missing(r.value) and float(r.value) > float(r.previous) else (
                "▼" if not is_missing(r.value) and float(r.value) < float(r.previous) else "＝")
            prev = (f' · <span class="{_judge(r.value, r.previous, r.better)}">{arrow} previous '
                    f"{esc(fmt_value(r.column, r.previous))}</span>")
        cards.append(
            f'<div class="csa-kpi"><div class="k-label">{esc(r.label)}</div>'
            f'<div class="k-value" data-kpi="{esc(r.column)}" data-value="{esc(raw)}">{esc(fmt_value(r.column, r.value))}</div>'
            f'<div class="k-cmp">{cmp_med}{prev}</div></div>'
        )
    return f'<div class="csa-kpis">{"".join(cards)}</div>'


def section(title: str, body: str, anchor: str = "") -> Html:
    aid = f' id="{esc(anchor)}"' if anchor else ""
    return Html(f'<section class="csa-section"{aid}><h2>{esc(title)}</h2>{body}</section>')


def _local(ts: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return "" if is_missing(ts) else pd.Timestamp(ts).strftime(fmt)


# --------------------------------------------------------------------------------------------
# hits


def severity_points(config: dict[str, Any]) -> dict[str, float]:
    """Compliance points per severity from the audit's settings (``score.severity_penalty``)."""
    pen = (config.get("score") or {}).get("severity_penalty") or {"critical": 100.0, "high": 30.0, "medium": 15.0,
                                                                   "low": 5.0}
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


def hit_evidence(hits: pd.DataFrame, mask: bool = True) -> pd.DataFrame:
    """Hits with a ``message`` column of safe HTML: the (masked) text escaped with the term marked.

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
    out["when"] = [_local(t) for t in out["ts"]]
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
    return out.sort_values("n", ascending=False, kind="stable")[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# figures


def response_histogram(rounds: pd.DataFrame, slow_s: float, title: str = "Response time per round"):
    """Histogram of answered rounds' response time (s), with the slow-response threshold marked."""
    import plotly.graph_objects as go

    t = pd.to_numeric(rounds.loc[rounds["answered"].astype(bool), "response_s"], errors="coerce").dropna()
    fig = go.Figure(go.Histogram(x=t.to_numpy(), nbinsx=40, marker_color="#0969da", name="rounds"))
    fig.add_vline(x=slow_s, line_dash="dash", line_color="#cf222e",
                  annotation_text=f"slow > {slow_s:g} s", annotation_position="top right")
    n_un = int((~rounds["answered"].astype(bool)).sum())
    fig.update_layout(title=f"{title} ({len(t)} answered, {n_un} unanswered)", xaxis_title="seconds",
                      yaxis_title="rounds", bargap=0.05)
    return fig


def score_breakdown_figure(agent_row: pd.Series, team_median: pd.Series):
    """Grouped bars: the agent's category scores vs the team median (0–100)."""
    import plotly.graph_objects as go

    cats = [c for c in SCORE_CATEGORIES if f"score_{c}" in agent_row.index]
    fig = go.Figure([
        go.Bar(name="agent", x=list(cats), y=[agent_row[f"score_{c}"] for c in cats], marker_color="#0969da"),
        go.Bar(name="team median", x=list(cats), y=[team_median.get(f"score_{c}") for c in cats],
               marker_color="#8c959f"),
    ])
    fig.update_layout(barmode="group", yaxis_range=[0, 100], title="QA score by category (0–100)")
    return fig


def politeness_figure(agent_row: pd.Series, team_median: pd.Series, columns: list[str]):
    """Grouped bars: politeness terms per 100 agent messages, agent vs team median."""
    import plotly.graph_objects as go

    names = [c.removesuffix("_per100") for c in columns]
    fig = go.Figure([
        go.Bar(name="agent", x=names, y=[agent_row.get(c) for c in columns], marker_color="#0969da"),
        go.Bar(name="team median", x=names, y=[team_median.get(c) for c in columns], marker_color="#8c959f"),
    ])
    fig.update_layout(barmode="group", title="Per 100 agent messages", yaxis_title="per 100 messages")
    return fig


def funnel_counts(conversations: pd.DataFrame) -> pd.DataFrame:
    """``stage, n``: conversations → inquiries (询单) → ordered → paid, from the conversation table."""
    def _count(col: str) -> int:
        if col not in conversations:
            return 0
        return int(conversations[col].astype("boolean").fillna(False).sum())

    inq = conversations["is_inquiry"].astype("boolean").fillna(False) if "is_inquiry" in conversations else None
    ordered = paid = 0
    if inq is not None:
        for col in ("ordered", "paid"):
            if col in conversations:
                n = int((conversations[col].astype("boolean").fillna(False) & inq).sum())
                ordered, paid = (n, paid) if col == "ordered" else (ordered, n)
    return pd.DataFrame({
        "stage": ["conversations", "inquiries 询单", "ordered 下单", "paid 付款"],
        "n": [len(conversations), _count("is_inquiry"), ordered, paid],
    })


def funnel_figure(funnel: pd.DataFrame):
    import plotly.graph_objects as go

    fig = go.Figure(go.Funnel(y=funnel["stage"].tolist(), x=funnel["n"].tolist(), textinfo="value+percent initial"))
    fig.update_layout(title="Conversion funnel")
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
) -> pd.DataFrame:
    """The ``n`` coaching points worth most QA points, derived from the audit.

    Each QA category contributes ``weight × (100 − agent's category score)`` QA points lost
    (``score.weights``); critical hits (which zero a conversation) come first. Returns ``topic,
    points_lost, advice, evidence`` (plain text; escaped when rendered), most valuable first;
    topics with nothing to coach are left out.
    """
    weights = (config.get("score") or {}).get("weights") or {c: 0.2 for c in SCORE_CATEGORIES}
    lat = config.get("latency") or {}
    slow_s = float(lat.get("slow_s", 180.0))
    recs: list[dict[str, Any]] = []

    def cat_loss(cat: str) -> float:
        v = agent_row.get(f"score_{cat}")
        return 0.0 if is_missing(v) else float(weights.get(cat, 0.0)) * (100.0 - float(v))

    neg = negative_hits(hits, config)
    crit_cats = set((config.get("score") or {}).get("critical_categories") or [])
    crit = neg.loc[neg["category"].isin(crit_cats) & (neg["side"] == "agent")] if len(neg) else neg
    if len(crit):
        top = crit["category"].value_counts()
        ex = crit.iloc[0]
        recs.append({"topic": f"Critical: {', '.join(top.index)}", "points_lost": 1000.0 + len(crit),
                     "advice": str(ex.get("suggestion") or "Never do this: the conversation scores 0."),
                     "evidence": f"{len(crit)} critical hit(s), e.g. 「{mask_text(str(ex['term'])) if isinstance(ex['term'], str) else ex['rule']}」"
                                 f" in {ex['conversation_id']}"})

    r_all = rounds
    n_slow = int(r_all["slow"].astype(bool).sum()) if "slow" in r_all else 0
    n_un = len(unreplied)
    if n_slow or n_un or cat_loss("responsiveness") > 0:
        times = pd.to_numeric(r_all.loc[r_all["answered"].astype(bool), "response_s"], errors="coerce") if len(r_all) else pd.Series(dtype=float)
        med = f"{times.median():.0f} s" if times.notna().any() else "—"
        recs.append({"topic": "Reply faster 响应速度", "points_lost": cat_loss("responsiveness"),
                     "advice": f"Answer every customer within {slow_s:g} s; use quick replies for common questions "
                               "and say 请稍等 before looking something up.",
                     "evidence": f"{n_slow} slow round(s) (> {slow_s:g} s), {n_un} unreplied customer(s), "
                                 f"median response {med}"})

    lex_neg = neg.loc[neg["rule"].astype("str").str.match(r"(lexicon|rule):")] if len(neg) else neg
    lex_neg = lex_neg.loc[~lex_neg["category"].isin(crit_cats)] if len(lex_neg) else lex_neg
    if len(lex_neg):
        by_cat = lex_neg.groupby("category").agg(n=("rule", "size"), points=("points", "sum")).sort_values(
            ["points", "n"], ascending=False)
        cat = by_cat.index[0]
        sub = lex_neg.loc[lex_neg["category"] == cat]
        terms = sub["term"].dropna().astype("str").value_counts()
        sugg = sub["suggestion"].dropna()
        recs.append({"topic": f"Avoid {cat} phrases 负面用语", "points_lost": cat_loss("compliance") + 0.01 * len(lex_neg),
                     "advice": str(sugg.iloc[0]) if len(sugg) else "Rephrase positively.",
                     "evidence": f"{int(by_cat['n'].sum())} negative-phrase hit(s); most often: "
                                 + ", ".join(f"「{mask_text(t)}」×{c}" for t, c in terms.head(3).items())})

    qc = neg.loc[neg["rule"].astype("str").str.startswith("qc:") & (neg["side"] == "agent")] if len(neg) else neg
    if len(qc) or cat_loss("politeness") > 0:
        g = conversations["greeting_ok"].astype("boolean").mean() if "greeting_ok" in conversations else np.nan
        c = conversations["closing_ok"].astype("boolean").mean() if "closing_ok" in conversations else np.nan
        rules = qc["rule"].value_counts() if len(qc) else pd.Series(dtype="int64")
        sugg = qc.loc[qc["rule"] == rules.index[0], "suggestion"].dropna() if len(qc) else pd.Series(dtype="str")
        recs.append({"topic": "Service routine 服务规范", "points_lost": cat_loss("politeness") + 0.01 * len(qc),
                     "advice": str(sugg.iloc[0]) if len(sugg) else
                     "Greet in the first reply, apologise after a long wait, close with thanks and a rating invitation.",
                     "evidence": f"greeting in first reply {fmt_value('g_rate', g)}, closing {fmt_value('c_rate', c)}"
                                 + ("; QC: " + ", ".join(f"{r.removeprefix('qc:')}×{k}" for r, k in rules.head(3).items())
                                    if len(rules) else "")})

    if "sentiment_drift" in conversations:
        thr = float((config.get("sentiment") or {}).get("deteriorated_drift", -0.2))
        drift = pd.to_numeric(conversations["sentiment_drift"], errors="coerce")
        worse = conversations.loc[drift <= thr]
        if len(worse) or cat_loss("satisfaction") > 0:
            recs.append({"topic": "Calm unhappy customers 客户情绪", "points_lost": cat_loss("satisfaction"),
                         "advice": "When the customer gets upset, acknowledge the problem, apologise once and offer a "
                                   "concrete next step instead of repeating the rule.",
                         "evidence": f"{len(worse)} conversation(s) where the customer's mood dropped by ≥ {abs(thr):g}"})

    if len(lost) or cat_loss("conversion") > 0:
        recs.append({"topic": "Close the sale 询单转化", "points_lost": cat_loss("conversion"),
                     "advice": "Answer the buying question, then recommend a size/model and invite the order "
                               "(e.g. mention stock or the delivery time).",
                     "evidence": f"{len(lost)} inquiry(ies) without an order in the window"})

    out = pd.DataFrame(recs, columns=["topic", "points_lost", "advice", "evidence"])
    out = out.loc[out["points_lost"] > 0] if len(out) else out
    return out.sort_values("points_lost", ascending=False, kind="stable").head(n).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# transcripts


def transcript_html(turns: pd.DataFrame, terms: list[str] | None = None, mask: bool = True) -> str:
    """A conversation's turns as chat bubbles; text masked, escaped, negative terms marked."""
    parts = []
    for r in turns.sort_values("turn").itertuples(index=False):
        text = mask_text(r.text) if mask else r.text
        role = str(r.role)
        who = {"customer": "customer 顾客", "agent": f"{r.agent}", "auto_reply": "auto-reply 自动回复",
               "bot": "bot 机器人", "system": "system 系统"}.get(role, role)
        body = highlight_terms(text, terms or []) if role == "agent" else highlight(text, [])
        parts.append(f'<div class="csa-turn role-{esc(role)}"><div class="t-who">{esc(who)} · '
                     f"{esc(_local(r.start, '%m-%d %H:%M:%S'))}</div>{body}</div>")
    return f'<div class="csa-transcript">{"".join(parts)}</div>'


# --------------------------------------------------------------------------------------------
# the agent report


def _period_text(meta: dict[str, Any], start: str = "", end: str = "") -> str:
    a = start or meta.get("period_start") or ""
    b = end or meta.get("period_end") or ""
    return f"{a} – {b}" if a or b else "all dates in the export"


def provenance(meta: dict[str, Any]) -> str:
    """Which preset, preset version, csaudit version and creation time the audit used."""
    return (f"preset {meta.get('preset', '?')} v{meta.get('preset_version', '?')} · csaudit "
            f"{meta.get('csaudit_version', '?')} · audit created {meta.get('created', '?')}")


class AgentReport:
    """The sections of ``notebooks/agent_report.ipynb`` for one agent (each returns :class:`Html`)."""

    def __init__(self, audit_dir: str | Path, agent: str, period_start: str = "", period_end: str = "",
                 previous_audit_dir: str = "", mask: bool = True):
        self.agent = agent
        self.mask = bool(mask)
        self.data = rdata.load_slice(audit_dir, agent)
        self.meta = self.data.meta
        self.config = self.data.config
        self.period = _period_text(self.meta, period_start, period_end)
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

    # -- sections -------------------------------------------------------------------------------
    def header(self) -> Html:
        h = (f'<h1>Agent report 客服质检报告: {esc(self.agent)}</h1>'
             f'<p class="csa-meta">Period {esc(self.period)} · {esc(provenance(self.meta))}</p>')
        if self.empty:
            h += (f'<p class="csa-note" data-empty="1">{esc(self.agent)} has no chats in this period '
                  f"(本期无会话记录). Nothing to score.</p>")
        else:
            rank, n = self.row.get("rank"), len(self.data.agents)
            h += (f'<p>QA score <b data-kpi="qa_score">{esc(fmt_value("qa_score", self.row.get("qa_score")))}</b>'
                  f' · rank <b data-kpi="rank">{esc(fmt_value("rank", rank))}</b> of {n}</p>')
        return Html(h)

    def kpis(self) -> Html:
        if self.empty:
            return Html()
        kp = kpi_table(self.data.agents, self.agent, self.previous)
        note = "" if self.previous is not None else '<p class="csa-meta">No previous audit given: no trend.</p>'
        return section("Headline KPIs vs team median and previous period", kpi_cards(kp) + note, "kpis")

    def coaching(self) -> Html:
        if self.empty:
            return Html()
        n = int((self.config.get("report") or {}).get("coaching_points", 3))
        pts = coaching_points(self.row, self.team_median, self.data.hits, self.data.conversations, self.data.rounds,
                              self.data.lost_inquiries, self.data.unreplied, self.config, n=n)
        if pts.empty:
            return section("Top coaching points 辅导要点", "<p>Nothing to coach this period — well done.</p>", "coaching")
        items = "".join(f"<li><b>{esc(r.topic)}</b> (≈ {r.points_lost if r.points_lost < 1000 else 100:.1f} QA points)"
                        f"<br>{esc(r.advice)}<br><span class=\"csa-meta\">{esc(r.evidence)}</span></li>"
                        for r in pts.itertuples(index=False))
        return section("Top coaching points 辅导要点", f'<ol class="csa-coach">{items}</ol>', "coaching")

    def response_times(self) -> Html:
        if self.empty:
            return Html()
        slow_s = float((self.config.get("latency") or {}).get("slow_s", 180.0))
        body = figure(response_histogram(self.data.rounds, slow_s)) if len(self.data.rounds) else \
            '<p class="csa-empty">No rounds with timestamps.</p>'
        un = self.data.unreplied.copy()
        if len(un):
            un["when"] = [_local(t) for t in un["start"]]
            if self.mask:
                un = mask_frame(un, ("text", "customer"))
        body += "<h3>Unreplied customers 未回复</h3>" + table(un, [c for c in ("when", "customer", "conversation_id", "text")
                                                                   if c in un.columns] if len(un) else None)
        return section("Response times 响应时间", body, "latency")

    def politeness(self) -> Html:
        if self.empty:
            return Html()
        cols = [c for c in self.data.agents.columns if c.endswith("_per100")
                or c in ("first_reply_greeting_rate", "closing_rate", "honorific_ratio", "you_polite_ratio")]
        rows = [{"figure": c, "agent": fmt_value(c, self.row.get(c)), "team median": fmt_value(c, self.team_median.get(c))}
                for c in cols]
        conv = self.data.conversations
        for col, name in (("greeting_ok", "greeting in first reply (share of conversations)"),
                          ("closing_ok", "closing at the end (share of conversations)")):
            if col in conv and len(conv):
                rows.append({"figure": name, "agent": fmt_value("x_rate", conv[col].astype("boolean").mean()),
                             "team median": ""})
        body = figure(politeness_figure(self.row, self.team_median, [c for c in cols if c.endswith("_per100")]),
                      height=320) if cols else ""
        return section("Politeness 礼貌用语",
                       body + table(pd.DataFrame(rows, columns=["figure", "agent", "team median"])), "politeness")

    def hits(self) -> Html:
        if self.empty:
            return Html()
        neg = hit_evidence(negative_hits(self.data.hits, self.config), mask=self.mask)
        cols = ["when", "category", "rule", "severity", "side", "term", "message", "suggestion", "conversation_id"]
        body = (f"<p>{len(neg)} hit(s): every negative phrase and every QC rule hit, with the exact "
                "message, the term marked and what to say instead. Summary first, then every hit.</p>")
        body += table(hit_summary(neg), headers={"n": "hits"})
        body += table(neg, [c for c in cols if c in neg.columns] if len(neg) else None, raw=["message"])
        return section("Negative phrases and QC hits 负面用语与质检", body, "hits")

    def worst_conversations(self) -> Html:
        if self.empty:
            return Html()
        conv = self.data.conversations
        n = int((self.config.get("report") or {}).get("worst_conversations", 3))
        if "sentiment_drift" not in conv or conv["sentiment_drift"].notna().sum() == 0:
            return section("Worst conversations by sentiment drift", '<p class="csa-empty">No scored customer messages.</p>')
        worst = conv.assign(_d=pd.to_numeric(conv["sentiment_drift"], errors="coerce")).dropna(subset=["_d"])
        worst = worst.sort_values("_d", kind="stable").head(n)
        turns = self.data.turns(worst["conversation_id"].tolist())
        neg = negative_hits(self.data.hits, self.config)
        parts = []
        for r in worst.itertuples(index=False):
            terms = neg.loc[neg["conversation_id"] == r.conversation_id, "term"].dropna().astype("str").tolist()
            if self.mask:
                terms = [mask_text(t) for t in terms]
            parts.append(
                f"<h3>{esc(r.conversation_id)} · customer {esc(mask_text(r.customer) if self.mask else r.customer)}</h3>"
                f'<p class="csa-meta">{esc(_local(r.start))} · sentiment {esc(fmt_value("sentiment_start", r.sentiment_start))}'
                f' → {esc(fmt_value("sentiment_end", r.sentiment_end))} (drift {esc(fmt_value("sentiment_drift", r.sentiment_drift))})'
                f' · QA {esc(fmt_value("qa_score", getattr(r, "qa_score", np.nan)))}</p>'
                + transcript_html(turns.loc[turns["conversation_id"] == r.conversation_id], terms, self.mask)
            )
        return section("Worst conversations by sentiment drift 情绪恶化会话", "".join(parts), "worst")

    def conversion(self) -> Html:
        if self.empty:
            return Html()
        if not self.meta.get("has_orders", True):
            return section("Conversion 询单转化", '<p class="csa-empty">No orders file given: no conversion figures.</p>')
        body = figure(funnel_figure(funnel_counts(self.data.conversations)), height=320)
        lost = self.data.lost_inquiries.copy()
        if len(lost):
            lost["when"] = [_local(t) for t in lost["start"]]
            if self.mask:
                lost = mask_frame(lost, ("text", "customer"))
        body += f"<h3>Lost inquiries 流失询单 ({len(lost)})</h3>" + table(
            lost, [c for c in ("when", "customer", "conversation_id", "text") if c in lost.columns] if len(lost) else None)
        return section("Conversion 询单转化", body, "conversion")

    def qa_breakdown(self) -> Html:
        if self.empty:
            return Html()
        weights = (self.config.get("score") or {}).get("weights") or {}
        rows = [{"category": c, "weight": f"{float(weights.get(c, 0)):.2f}",
                 "agent": fmt_value(f"score_{c}", self.row.get(f"score_{c}")),
                 "team median": fmt_value(f"score_{c}", self.team_median.get(f"score_{c}"))}
                for c in SCORE_CATEGORIES if f"score_{c}" in self.row.index]
        body = figure(score_breakdown_figure(self.row, self.team_median), height=320)
        body += table(pd.DataFrame(rows, columns=["category", "weight", "agent", "team median"]))
        body += (f'<p>QA score {esc(fmt_value("qa_score", self.row.get("qa_score")))} (critical-free '
                 f'{esc(fmt_value("qa_score", self.row.get("qa_score_critical_free")))}) · rank '
                 f'{esc(fmt_value("rank", self.row.get("rank")))} of {len(self.data.agents)}</p>')
        return section("QA score breakdown and rank 质检评分", body, "qa")

    def reviews(self) -> Html:
        """The reviewed QA score and open disputes (csaudit.review.views)."""
        if self.empty:
            return Html()
        from csaudit.review.views import agent_section

        return agent_section(self.data.audit_dir, self.agent, self.data.conversations)

    def footer(self) -> Html:
        return Html(f'<p class="csa-meta">Definitions of every figure: README "Scorecard columns" and the '
                    f'workbook sheet "definitions". {esc(provenance(self.meta))}. '
                    f'Personal data {"masked" if self.mask else "NOT masked"}.</p>')


# --------------------------------------------------------------------------------------------
# the team overview


LEADERBOARD = ("rank", "agent", "qa_score", "csat", "rating", "n_conversations", "avg_response", "reply_rate", "conversion",
               "negative_hits", "qc_hits", "critical_hits")


class TeamReport:
    """The sections of ``notebooks/team_overview.ipynb``."""

    def __init__(self, audit_dir: str | Path, previous_audit_dir: str = "", links: bool | list[str] = True):
        """``links``: link every agent to ``agents/<slug>.html`` (True), none (False), or only the
        agents named in the list (those the batch made a report for)."""
        self.data = rdata.load_slice(audit_dir, None)
        self.meta = self.data.meta
        self.config = self.data.config
        self.links = links
        self.previous = None
        if previous_audit_dir and Path(previous_audit_dir, "agents.parquet").exists():
            self.previous = rdata.read_table(previous_audit_dir, "agents")

    def header(self) -> Html:
        return Html(f"<h1>Team overview 团队质检总览</h1><p class=\"csa-meta\">Period "
                    f"{esc(_period_text(self.meta))} · {esc(provenance(self.meta))}</p>")

    def leaderboard_columns(self) -> list[tuple[str, str]]:
        """``(header, scorecard column)`` of the leaderboard, for the columns the scorecard has."""
        a = self.data.agents
        cols: list[tuple[str, str]] = []
        for key in LEADERBOARD:
            if key in ("rank", "agent"):
                cols.append((key, key))
                continue
            found = resolve_kpis(a.columns, tuple(k for k in HEADLINE_KPIS if k.key == key))
            if found:
                cols.append((found[0][0].label, found[0][1]))
        return cols

    def leaderboard(self) -> Html:
        """Agents by rank, each linking to its report (``agents/<slug>.html``)."""
        a = self.data.agents
        shown = pd.DataFrame(index=a.index)
        for head, col in self.leaderboard_columns():
            if col == "agent":
                linked = set(self.links) if isinstance(self.links, (list, tuple, set)) else None
                shown[head] = [f'<a href="agents/{esc(agent_slug(x))}.html">{esc(x)}</a>'
                               if (self.links is True or (linked is not None and x in linked)) else esc(x)
                               for x in a["agent"]]
            else:
                shown[head] = [fmt_value(col, v) for v in a[col]]
        return section("Leaderboard 排行榜", table(shown, raw=["agent"]), "leaderboard")

    def scatter(self) -> Html:
        import plotly.graph_objects as go

        a = self.data.agents
        x = resolve_kpis(a.columns, tuple(k for k in HEADLINE_KPIS if k.key == "avg_response"))
        y = resolve_kpis(a.columns, tuple(k for k in HEADLINE_KPIS if k.key == "conversion"))
        if not x or not y:
            return section("Latency vs conversion", '<p class="csa-empty">Needs response times and orders.</p>')
        xc, yc = x[0][1], y[0][1]
        size = pd.to_numeric(a.get("n_conversations", pd.Series(10, index=a.index)), errors="coerce").fillna(1)
        fig = go.Figure(go.Scatter(
            x=a[xc], y=a[yc] * 100, mode="markers+text", text=[label(s) for s in a["agent"]],
            textposition="top center", marker={"size": 10 + 30 * size / max(float(size.max()), 1.0), "color": "#0969da"},
        ))
        fig.update_layout(title="Average response vs inquiry conversion (size = conversations)",
                          xaxis_title="average response (s)", yaxis_title="conversion (%)")
        return section("Latency vs conversion 响应与转化", figure(fig, 440), "scatter")

    def heatmap(self) -> Html:
        import plotly.graph_objects as go

        neg = negative_hits(self.data.hits, self.config)
        neg = neg.loc[neg["agent"].notna()] if len(neg) else neg
        if neg.empty:
            return section("Hits by agent and category", '<p class="csa-empty">No hits.</p>')
        piv = neg.pivot_table(index="agent", columns="category", values="rule", aggfunc="size", fill_value=0)
        fig = go.Figure(go.Heatmap(z=piv.to_numpy(), x=[label(c) for c in piv.columns], y=[label(r) for r in piv.index],
                                   colorscale="Reds", text=piv.to_numpy(), texttemplate="%{text}"))
        fig.update_layout(title="Negative-phrase and QC hits: agent × category", height=120 + 40 * len(piv))
        return section("Hits by agent × category 命中热力图", figure(fig), "heatmap")

    def trend(self) -> Html:
        import plotly.graph_objects as go

        if self.previous is None:
            return section("Trend vs previous period", '<p class="csa-meta">No previous audit given (--previous).</p>',
                           "trend")
        a, p = self.data.agents, self.previous
        m = a[["agent", "qa_score"]].merge(p[["agent", "qa_score"]], on="agent", how="left", suffixes=("", "_prev"))
        m["delta"] = m["qa_score"] - m["qa_score_prev"]
        fig = go.Figure([go.Bar(name="previous", x=[label(s) for s in m["agent"]], y=m["qa_score_prev"], marker_color="#8c959f"),
                         go.Bar(name="this period", x=[label(s) for s in m["agent"]], y=m["qa_score"], marker_color="#0969da")])
        fig.update_layout(barmode="group", title="QA score: this period vs previous", yaxis_range=[0, 100])
        shown = pd.DataFrame({"agent": m["agent"], "previous": [fmt_value("qa_score", v) for v in m["qa_score_prev"]],
                              "now": [fmt_value("qa_score", v) for v in m["qa_score"]],
                              "change": ["—" if is_missing(v) else f"{v:+.1f}" for v in m["delta"]]})
        return section("Trend vs previous period 环比", figure(fig) + table(shown), "trend")

    def reviews(self) -> Html:
        """Each rule's reviewed precision, review count and reviewers' agreement (csaudit.review.views)."""
        from csaudit.review.views import team_section

        return team_section(self.data.audit_dir)

    def sales(self) -> Html:
        s = self.data.sales
        if s.empty or not self.meta.get("has_orders", True):
            return Html()
        row = s.iloc[0]
        shown = pd.DataFrame({"figure": list(s.columns), "value": [fmt_value(c, row[c]) for c in s.columns]})
        return section("Shop sales 销售额 (shop = CS + silent)", table(shown), "sales")
