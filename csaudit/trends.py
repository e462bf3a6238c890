"""Week-by-week KPI lines from several saved audits (issue 14, item 7).

``csaudit report --previous A B ...`` (or a folder holding saved audits) and, in Python::

    >>> from csaudit.trends import audit_dirs, weekly_kpis        # doctest: +SKIP
    >>> weekly_kpis(audit_dirs(["out/audits"]) + ["out/audit"])   # doctest: +SKIP

Definitions (local time ``latency.timezone`` of each audit; ``agent`` = ``(team)`` for the shop):

``week``
    ISO week ``YYYY-Www`` of the conversation's ``start``. A conversation present in several audits
    (overlapping periods) counts once, as in the LAST audit given that has it.
KPIs per agent (primary agent) and week
    ``conversations``; ``qa_score`` — mean conversation QA score; ``first_response_s`` — median first
    response; ``reply_rate`` — answered ÷ rounds (首问首答, round agent); ``inquiries``;
    ``order_conversion`` — ordered ÷ inquiries (NA without orders or inquiries); ``cs_sales`` — Σ
    ``order_amount`` of the conversations (attributed sales); ``sentiment_end`` — mean end sentiment;
    ``critical_rate`` — share of conversations with a critical hit.
``<kpi>_change``
    The KPI minus the same agent's KPI in the previous week present in the table (NA for the first).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

TEAM = "(team)"
KPIS = ("conversations", "qa_score", "first_response_s", "reply_rate", "inquiries", "order_conversion", "cs_sales",
        "sentiment_end", "critical_rate")
_CONV_COLUMNS = ("conversation_id", "agent", "start", "qa_score", "first_response_s", "is_inquiry", "ordered",
                 "order_amount", "sentiment_end", "critical")


def audit_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Saved audit folders from ``paths``: each is a saved audit (has ``meta.json``) or a folder whose
    subfolders (one level) are; ordered by their period start, then creation time. Raises
    ``FileNotFoundError`` naming a path that holds no saved audit."""
    found: list[Path] = []
    for p in map(Path, paths):
        if (p / "meta.json").exists():
            found.append(p)
            continue
        subs = sorted(d for d in p.iterdir() if (d / "meta.json").exists()) if p.is_dir() else []
        if not subs:
            raise FileNotFoundError(f"{p}: not a saved audit folder (no meta.json) nor a folder of them")
        found.extend(subs)

    def key(d: Path) -> tuple[str, str]:
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        return str(meta.get("period_start") or ""), str(meta.get("created") or "")

    return sorted(dict.fromkeys(found), key=key)


def _tables(source: Any) -> tuple[pd.DataFrame, pd.DataFrame, str, bool]:
    """(conversations, rounds, timezone, has_orders) of an Audit or a saved audit folder (needed columns only)."""
    if hasattr(source, "conversations"):
        conv, rounds, meta = source.conversations, source.rounds, {**source.meta, "config": source.config.to_dict()}
    else:
        d = Path(source)
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        import pyarrow.parquet as pq

        have = set(pq.read_schema(d / "conversations.parquet").names)
        conv = pd.read_parquet(d / "conversations.parquet", columns=[c for c in _CONV_COLUMNS if c in have])
        rounds = pd.read_parquet(d / "rounds.parquet", columns=["conversation_id", "agent", "start", "answered"])
    tz = ((meta.get("config") or {}).get("latency") or {}).get("timezone", "Asia/Shanghai")
    return conv, rounds, tz, bool(meta.get("has_orders", True))


def _week(ts: pd.Series, tz: str) -> pd.Series:
    local = ts.dt.tz_convert(tz)
    iso = local.dt.isocalendar()
    return (iso["year"].astype("str") + "-W" + iso["week"].astype("Int64").astype("str").str.zfill(2)).where(local.notna())


def weekly_kpis(sources: Iterable[Any]) -> pd.DataFrame:
    """One row per (agent, week): ``agent, week`` + :data:`KPIS` + ``<kpi>_change`` (module docstring).
    ``sources`` — Audits or saved audit folders, oldest first."""
    convs, rnds = [], []
    for i, src in enumerate(sources):
        conv, rounds, tz, has_orders = _tables(src)
        c = pd.DataFrame({"conversation_id": conv["conversation_id"].astype("str"), "agent": conv["agent"].astype("str"),
                          "week": _week(conv["start"], tz), "_src": i})
        for col in ("qa_score", "first_response_s", "order_amount", "sentiment_end"):
            c[col] = conv[col].astype("float64") if col in conv else np.nan
        c["is_inquiry"] = conv["is_inquiry"].astype("boolean").astype("float64") if "is_inquiry" in conv else np.nan
        c["ordered"] = conv["ordered"].astype("boolean").astype("float64") if has_orders and "ordered" in conv else np.nan
        c["critical"] = conv["critical"].astype("boolean").astype("float64") if "critical" in conv else np.nan
        if not has_orders:
            c["order_amount"] = np.nan
        convs.append(c)
        r = pd.DataFrame({"conversation_id": rounds["conversation_id"].astype("str"), "agent": rounds["agent"].astype("str"),
                          "week": _week(rounds["start"], tz), "answered": rounds["answered"].astype("float64"), "_src": i})
        rnds.append(r)
    if not convs:
        return pd.DataFrame(columns=["agent", "week", *KPIS])
    c = pd.concat(convs, ignore_index=True)
    c = c.drop_duplicates("conversation_id", keep="last")
    r = pd.concat(rnds, ignore_index=True)
    last_src = c.set_index("conversation_id")["_src"]
    r = r[r["conversation_id"].map(last_src) == r["_src"]]  # rounds of the copy of the conversation that is kept
    c = c[c["week"].notna()]
    r = r[r["week"].notna()]
    parts = []
    for team in (False, True):
        cc = c.assign(agent=TEAM) if team else c[c["agent"].notna()]
        rr = r.assign(agent=TEAM) if team else r[r["agent"].notna()]
        g = cc.groupby(["agent", "week"])
        inq = g["is_inquiry"].sum(min_count=1)
        ordered = cc[cc["is_inquiry"] == 1].groupby(["agent", "week"])["ordered"].sum(min_count=1)
        t = pd.DataFrame({
            "conversations": g.size(),
            "qa_score": g["qa_score"].mean(),
            "first_response_s": g["first_response_s"].median(),
            "reply_rate": rr.groupby(["agent", "week"])["answered"].mean(),
            "inquiries": inq,
            "order_conversion": ordered.reindex(inq.index) / inq.where(inq > 0),
            "cs_sales": g["order_amount"].sum(min_count=1),
            "sentiment_end": g["sentiment_end"].mean(),
            "critical_rate": g["critical"].mean(),
        })
        parts.append(t)
    out = pd.concat(parts).sort_index().reset_index()
    out["conversations"] = out["conversations"].fillna(0).astype("int64")
    for k in KPIS:
        out[f"{k}_change"] = out.groupby("agent")[k].diff().astype("float64")
    out["agent"] = out["agent"].astype("str")
    out["week"] = out["week"].astype("str")
    log.info("trends: %d agent-weeks over %d week(s)", len(out), out["week"].nunique())
    return out
