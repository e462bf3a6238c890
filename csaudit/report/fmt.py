"""One display rule per kind of figure, used by every page, section and coaching sentence.

Every figure a report prints goes through :func:`fmt_value`, keyed by the scorecard column it
comes from, so the same number reads identically wherever it appears (KPI card, leaderboard,
coaching point, workbook note). Units follow from the column (README "Scorecard columns"):

* shares 0–1 (``*_rate``, ``*_share``, ``*_conversion``, the 您/我 shares) → percent, 1 decimal
* seconds (``*_s``) → 1 decimal + 秒 / s
* QA scores (``qa_score*``, ``score_*``) and ``*_per100`` → 1 decimal
* sentiment 0–1 (``sentiment*``) → 2 decimals
* money (sales, amounts, order value) → ¥ with 2 decimals
* counts → thousands-separated integers; other ratios → 2 decimals; missing → ``—``

Times are shown in the shop's time zone (``latency.timezone``) as ``YYYY-MM-DD HH:MM`` — never
raw ISO or UTC: :func:`fmt_time`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from csaudit.report.labels import labels

RATE_COLUMNS = frozenset({"honorific_ratio", "wo_ratio", "order_conversion", "paid_conversion"})
"""0–1 shares whose name does not end in ``_rate`` (shown as percent like every rate)."""

MONEY_KEYS = ("sales", "amount", "order_value", "aov")
COUNT_SUFFIXES = ("_hits", "_conversations", "_customers", "_rounds", "_messages", "_msgs", "_count", "_inquiries")


def is_missing(v: Any) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def kind(column: str) -> str:
    """The display kind of a column: ``rate, seconds, score, sentiment, money, count, ratio, number``."""
    col = str(column).lower()
    if col in RATE_COLUMNS or col.endswith(("_rate", "_share", "_conversion")):
        return "rate"
    if col.endswith("_s"):
        return "seconds"
    if col.startswith("sentiment"):
        return "sentiment"
    if any(k in col for k in MONEY_KEYS):
        return "money"
    if col.startswith(("qa_score", "score_")) or col.endswith("_per100") or col.startswith("csat"):
        return "score"
    if col.endswith("_ratio"):
        return "ratio"
    if col in ("rank", "inquiries", "points") or col.startswith(("n_", "neg_", "qc_")) or col.endswith(COUNT_SUFFIXES):
        return "count"
    return "number"


def fmt_value(column: str, value: Any, lang: str = "zh") -> str:
    """Display form of ``value`` of ``column`` (see the module docstring).

    >>> fmt_value("reply_rate", 0.8333), fmt_value("order_conversion", 0.56), fmt_value("n_customers", 1234)
    ('83.3%', '56.0%', '1,234')
    >>> fmt_value("avg_response_s", 42.04), fmt_value("avg_response_s", 42.04, "en")
    ('42.0 秒', '42.0 s')
    """
    if is_missing(value):
        return "—"
    lab = labels(lang)
    if isinstance(value, (bool, np.bool_)):
        return lab.unit("yes") if value else lab.unit("no")
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    k = kind(column)
    if k == "rate":
        return f"{100 * v:.1f}%"
    if k == "seconds":
        return f"{v:.1f} {lab.unit('seconds')}"
    if k == "sentiment":
        return f"{v:.2f}"
    if k == "money":
        return f"¥{v:,.2f}"
    if k == "score":
        return f"{v:.1f}"
    if k == "ratio":
        return f"{v:.2f}"
    if k == "count":
        return f"{int(round(v)):,}"
    if v.is_integer():
        return f"{int(v):,}"
    return f"{v:.2f}"


def fmt_delta(column: str, delta: Any, lang: str = "zh") -> str:
    """A signed change of ``column`` in the same unit as :func:`fmt_value` (``+2.5``, ``-3.0%``)."""
    if is_missing(delta):
        return "—"
    s = fmt_value(column, abs(float(delta)), lang)
    return ("+" if float(delta) > 0 else "−" if float(delta) < 0 else "±") + s


def fmt_time(ts: Any, tz: str = "Asia/Shanghai", fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A timestamp as shop-local wall-clock time (aware values converted to ``tz``; naive ones are
    taken as already local; ISO strings parsed). Missing → empty string."""
    if is_missing(ts) or ts == "":
        return ""
    t = pd.Timestamp(ts)
    if t.tzinfo is not None:
        t = t.tz_convert(tz)
    return t.strftime(fmt)


def fmt_period(meta: dict[str, Any], start: str = "", end: str = "", lang: str = "zh") -> str:
    """The audited period ``YYYY-MM-DD – YYYY-MM-DD`` (never ``None``)."""
    a = start or meta.get("period_start") or ""
    b = end or meta.get("period_end") or ""
    if a or b:
        return f"{a or '…'} – {b or '…'}"
    return labels(lang).ui("all_dates")
