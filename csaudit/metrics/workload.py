"""Workload by hour × weekday, by day and as a timeline; the busy-notice rule (issue 14, item 4).

Definitions (``WorkloadConfig``; local time in ``latency.timezone``; ``agent`` = ``(team)`` for the
whole shop):

Concurrent conversations (接待量)
    At a conversation's ``start``: the conversations of the same primary agent (team: of everybody)
    that started at or before that instant and end after it, itself included.
Slots
    ``hour_weekday`` — ``weekday`` (0 = Monday) × ``hour`` (0–23) over the whole audit;
    ``day`` — local ``date``; a timeline — ``period`` = the local time floored to ``freq``
    (``h``, ``D``, ``W``…; pandas offsets).
Per agent and slot
    ``conversations`` — conversations starting in the slot (primary agent);
    ``peak_concurrent`` — the largest concurrency at the start of one of them (the count only grows
    at a start, so this is the slot's peak except for slots where nothing started);
    ``rounds`` / ``median_response_s`` / ``reply_rate`` — rounds (首问首答) starting in the slot by the
    round's agent: count, median ``response_s`` of the answered ones, answered ÷ rounds;
    ``findings`` — agent-side hits with a severity in ``finding_severities`` sent in the slot;
    ``qa_score`` — mean ``qa_score`` of the conversations starting in the slot.
    Slots with none of these are left out.
Busy notice (rule ``busy_notice``)
    A conversation is *busy* when its primary agent's ``peak_concurrent`` in the local clock hour of
    its start reaches ``busy_concurrency``. It passes when the first agent message of the conversation
    has a ``busy_notice`` phrase (``sales.toml``); ``busy_notices`` lists every busy conversation with
    that first reply as evidence. Per agent: ``busy_conversations``, ``busy_notified``, ``busy_notice_rate``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from csaudit.config import WorkloadConfig
from csaudit.metrics.shoputil import isin

log = logging.getLogger(__name__)

TEAM = "(team)"
FIGURES = ("conversations", "peak_concurrent", "rounds", "median_response_s", "reply_rate", "findings", "qa_score")
BUSY_COLUMNS = ("conversation_id", "agent", "start", "hour", "peak_concurrent", "message_id", "first_reply_text", "notified")


def _cfg(cfg: object | None) -> WorkloadConfig:
    if cfg is None:
        return WorkloadConfig()
    return getattr(cfg, "workload", cfg)  # type: ignore[return-value]


def _open_at_start(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """For int64 ``start``/``end`` of one group: how many intervals [start_j, end_j) contain start_i,
    counting interval i itself even when it is empty."""
    s, e = np.sort(start), np.sort(end)
    began = np.searchsorted(s, start, side="right")
    ended = np.searchsorted(e, start, side="right")
    return (began - ended + (end <= start)).astype(np.int64)


def concurrency(conversations: pd.DataFrame) -> pd.DataFrame:
    """``conversation_id, agent, start, concurrent, team_concurrent`` (timed conversations only)."""
    c = conversations.loc[conversations["start"].notna(), ["conversation_id", "agent", "start", "end"]].reset_index(drop=True)
    start = c["start"].dt.tz_convert("UTC").array.asi8 if len(c) else np.zeros(0, np.int64)
    end = c["end"].fillna(c["start"]).dt.tz_convert("UTC").array.asi8 if len(c) else np.zeros(0, np.int64)
    start, end = np.asarray(start, np.int64), np.maximum(np.asarray(end, np.int64), np.asarray(start, np.int64))
    own = np.zeros(len(c), np.int64)
    codes, _ = pd.factorize(c["agent"])
    for g in np.unique(codes[codes >= 0]):  # one pass per agent, vectorised inside
        rows = np.flatnonzero(codes == g)
        own[rows] = _open_at_start(start[rows], end[rows])
    out = c[["conversation_id", "agent", "start"]].copy()
    out["concurrent"] = np.where(codes >= 0, own, 0)
    out["team_concurrent"] = _open_at_start(start, end)
    return out


def _weekhour(ts: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"weekday": ts.dt.day_of_week.astype("int64"), "hour": ts.dt.hour.astype("int64")}, index=ts.index)


def _day(ts: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"date": ts.dt.date}, index=ts.index)


def _period(freq: str) -> Callable[[pd.Series], pd.DataFrame]:
    def f(ts: pd.Series) -> pd.DataFrame:
        return pd.DataFrame({"period": ts.dt.floor(freq) if freq.lower() in ("h", "min", "s", "d") else
                             ts.dt.tz_localize(None).dt.to_period(freq).dt.start_time.dt.tz_localize(ts.dt.tz)},
                            index=ts.index)
    return f


def _slot_table(
    conversations: pd.DataFrame, rounds: pd.DataFrame, hits: pd.DataFrame, slot: Callable[[pd.Series], pd.DataFrame],
    tz: str, cfg: WorkloadConfig,
) -> pd.DataFrame:
    conc = concurrency(conversations)
    qa = conversations.set_index("conversation_id")["qa_score"] if "qa_score" in conversations else None
    conc["qa_score"] = conc["conversation_id"].map(qa).astype("float64") if qa is not None else np.nan

    def local(ts: pd.Series) -> pd.Series:
        return ts.dt.tz_convert(tz)

    parts = []
    for team in (False, True):
        c = conc.assign(agent=TEAM, concurrent=conc["team_concurrent"]) if team else conc[conc["agent"].notna()]
        ck = slot(local(c["start"]))
        keys = list(ck.columns)
        cg = pd.concat([c[["agent", "conversation_id", "concurrent", "qa_score"]], ck], axis=1).groupby(["agent", *keys])
        a = pd.DataFrame({"conversations": cg.size(), "peak_concurrent": cg["concurrent"].max(),
                          "qa_score": cg["qa_score"].mean()})
        r = rounds[rounds["start"].notna()]
        r = r.assign(agent=TEAM) if team else r[r["agent"].notna()]
        rk = slot(local(r["start"]))
        rr = pd.concat([r[["agent", "answered", "response_s"]], rk], axis=1)
        rr["answered"] = rr["answered"].astype(bool)
        rg = rr.groupby(["agent", *keys])
        b = pd.DataFrame({"rounds": rg.size(), "reply_rate": rg["answered"].mean(),
                          "median_response_s": rr[rr["answered"]].groupby(["agent", *keys])["response_s"].median()})
        h = hits[(hits["side"] == "agent") & hits["severity"].isin(cfg.finding_severities) & hits["ts"].notna()]
        h = h.assign(agent=TEAM) if team else h[h["agent"].notna()]
        hk = slot(local(h["ts"]))
        f = pd.concat([h[["agent"]], hk], axis=1).groupby(["agent", *keys]).size().rename("findings")
        parts.append(a.join(b, how="outer").join(f, how="outer"))
    out = pd.concat(parts).reset_index()
    for col in ("conversations", "peak_concurrent", "rounds", "findings"):
        out[col] = out[col].fillna(0).astype("int64")
    for col in ("median_response_s", "reply_rate", "qa_score"):
        out[col] = out[col].astype("float64")
    out["agent"] = out["agent"].astype("str")
    return out[["agent", *keys, *FIGURES]].sort_values(["agent", *keys], kind="stable").reset_index(drop=True)


def workload(
    conversations: pd.DataFrame, rounds: pd.DataFrame, hits: pd.DataFrame, cfg: object | None = None,
    tz: str = "Asia/Shanghai", by: str = "hour_weekday",
) -> pd.DataFrame:
    """Per agent (and ``(team)``) and slot ``by`` = ``hour_weekday`` (``weekday, hour``) or ``day``
    (``date``): :data:`FIGURES` (module docstring)."""
    if by not in ("hour_weekday", "day"):
        raise ValueError(f"workload: by must be 'hour_weekday' or 'day', not {by!r}")
    return _slot_table(conversations, rounds, hits, _weekhour if by == "hour_weekday" else _day, tz, _cfg(cfg))


def timeline(
    conversations: pd.DataFrame, rounds: pd.DataFrame, hits: pd.DataFrame, freq: str = "h", cfg: object | None = None,
    tz: str = "Asia/Shanghai",
) -> pd.DataFrame:
    """Per agent (and ``(team)``) and ``period`` (local time floored to ``freq``): :data:`FIGURES`."""
    return _slot_table(conversations, rounds, hits, _period(freq), tz, _cfg(cfg))


def busy_notices(
    conversations: pd.DataFrame, messages: pd.DataFrame, sales_hits: pd.DataFrame, cfg: object | None = None,
    tz: str = "Asia/Shanghai",
) -> pd.DataFrame:
    """Busy conversations and whether the first agent reply warned of slower replies (:data:`BUSY_COLUMNS`)."""
    c = _cfg(cfg)
    conc = concurrency(conversations)
    conc = conc[conc["agent"].notna()].copy()
    conc["hour"] = conc["start"].dt.tz_convert(tz).dt.floor("h")
    conc["peak_concurrent"] = conc.groupby(["agent", "hour"])["concurrent"].transform("max").astype("int64")
    busy = conc[conc["peak_concurrent"] >= c.busy_concurrency].reset_index(drop=True)
    agent_msgs = messages[(messages["role"] == "agent") & isin(messages["conversation_id"], busy["conversation_id"])]
    first = agent_msgs.drop_duplicates("conversation_id").set_index("conversation_id")
    busy["message_id"] = busy["conversation_id"].map(first["message_id"]).astype("str")
    busy["first_reply_text"] = busy["conversation_id"].map(first["text"]).astype("str")
    noticed = set(sales_hits.loc[sales_hits["category"] == "busy_notice", "message_id"].dropna())
    busy["notified"] = isin(busy["message_id"], noticed)
    log.info("busy notice: %d busy conversations, %d notified", len(busy), int(busy["notified"].sum()))
    return busy[list(BUSY_COLUMNS)]


def busy_agents(busy: pd.DataFrame) -> pd.DataFrame:
    """Per agent: ``agent, busy_conversations, busy_notified, busy_notice_rate``."""
    g = busy.groupby("agent")
    out = pd.DataFrame({"busy_conversations": g.size(), "busy_notified": g["notified"].sum()}).astype("int64")
    out["busy_notice_rate"] = (out["busy_notified"] / out["busy_conversations"]).astype("float64")
    out.index = out.index.astype("str")
    return out.reset_index()
