"""Response-time figures from the rounds (DESIGN §5): per conversation, per agent, unreplied customers.

All durations are seconds, rates are fractions 0–1. Figures are computed from the ROUNDS table
(:func:`csaudit.model.rounds.rounds`) and the MESSAGES table; nothing here re-reads a timestamp
rule, so every number traces back to rounds (and each round to its ``start_message_id`` /
``reply_message_id``).

Which rounds enter the response-time figures ("timed rounds")
    Rounds that started inside service hours (``in_hours``) and have a ``capped_s`` value: answered
    rounds with both times known, plus — under ``unanswered = "cap"`` — unanswered rounds, which
    count as ``cap_s``. Under ``unanswered = "exclude"`` unanswered rounds are left out of these
    figures and show up in ``reply_rate`` / ``unreplied_customers`` instead.

Per-agent columns of :func:`agent_latency` (one row per agent, sorted by agent)
    ``n_rounds`` — rounds attributed to the agent (all hours; the replier, or the current account
    for an unanswered round); ``n_answered`` — of those, rounds that got a valid reply;
    ``first_response_mean_s`` / ``first_response_median_s`` — mean / median first response time
    (first customer message → first valid reply) of the conversations whose first round this agent
    answered and which started inside service hours; not capped;
    ``avg_response_s`` (平响) — mean ``capped_s`` of the agent's timed rounds;
    ``median_response_s``, ``p90_response_s`` — median and 90th percentile (linear interpolation) of
    the same values;
    ``within_<N>_rate`` — share of the timed rounds answered within N seconds (response_s ≤ N,
    inclusive), one column per ``LatencyConfig.rate_thresholds_s``; named by :func:`rate_column`:
    ``within_30s_rate``, ``within_3min_rate``, ``within_5min_rate`` for the defaults;
    ``slow_rounds`` (慢响应) — rounds flagged ``slow`` (in hours, response > ``slow_s``; unanswered
    counts as slow under ``cap``); ``slow_customers`` — distinct customers with ≥ 1 slow round;
    ``reply_rate`` (回复率) — customers whose last round with this agent got a valid reply ÷ customers
    who had a round with this agent (all hours); ``unreplied_customers`` — the others (listed by
    :func:`unreplied`);
    ``n_customer_msgs`` — customer messages in the agent's rounds (each customer message belongs to
    exactly one round, and each round to one agent, so a transfer splits a conversation's messages
    between the two accounts instead of counting them twice); ``n_agent_msgs`` — valid messages
    (role ``agent``) the agent sent; auto-replies, bot and system lines are not counted;
    ``answer_ratio`` (答问比) — ``n_agent_msgs ÷ n_customer_msgs`` (NA without customer messages);
    ``answer_ratio_low`` — ``answer_ratio < LatencyConfig.answer_ratio_min`` (healthy ≈ 1.2–1.5).
    Rates and means are NA (not 0) when their denominator is 0.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from csaudit.config import LatencyConfig
from csaudit.model.rounds import message_rounds

log = logging.getLogger(__name__)

AGENT_COLUMNS_FIXED = (
    "agent",
    "n_rounds",
    "n_answered",
    "first_response_mean_s",
    "first_response_median_s",
    "avg_response_s",
    "median_response_s",
    "p90_response_s",
)
AGENT_COLUMNS_TAIL = (
    "slow_rounds",
    "slow_customers",
    "reply_rate",
    "unreplied_customers",
    "n_customer_msgs",
    "n_agent_msgs",
    "answer_ratio",
    "answer_ratio_low",
)


def _latency_cfg(cfg: object | None) -> LatencyConfig:
    """Accept a ``LatencyConfig``, a whole ``Config`` or None (defaults)."""
    if cfg is None:
        return LatencyConfig()
    return getattr(cfg, "latency", cfg)  # type: ignore[return-value]


def rate_column(threshold_s: float) -> str:
    """Column name of the share answered within ``threshold_s`` seconds.

    Whole minutes are named in minutes, anything else in seconds:

    >>> [rate_column(t) for t in (30, 180, 300, 90, 60)]
    ['within_30s_rate', 'within_3min_rate', 'within_5min_rate', 'within_90s_rate', 'within_1min_rate']
    """
    t = float(threshold_s)
    if t >= 60 and t % 60 == 0:
        return f"within_{int(t // 60)}min_rate"
    return f"within_{int(t) if t.is_integer() else t}s_rate"


def agent_columns(cfg: object | None = None) -> list[str]:
    """The columns of :func:`agent_latency` for this configuration, in order."""
    lc = _latency_cfg(cfg)
    return [*AGENT_COLUMNS_FIXED, *(rate_column(t) for t in lc.rate_thresholds_s), *AGENT_COLUMNS_TAIL]


def conversation_latency(
    messages: pd.DataFrame, rounds: pd.DataFrame, cfg: object | None = None
) -> pd.DataFrame:
    """Per conversation: ``conversation_id``, ``first_response_s``, ``n_rounds``.

    ``first_response_s`` — seconds from the conversation's first customer message to the first valid
    reply after it (= ``response_s`` of round 1); NA when nobody replied, the customer never spoke,
    or a time is missing. Not capped, all hours. ``n_rounds`` — number of 首问首答 rounds (0 when the
    customer never spoke). One row per conversation of ``messages``, in order of appearance.
    """
    conv = pd.Series(pd.unique(messages["conversation_id"].astype("str")), dtype="str", name="conversation_id")
    first = rounds.loc[rounds["round"] == 1, ["conversation_id", "response_s"]].drop_duplicates("conversation_id")
    counts = rounds.groupby("conversation_id", sort=False).size()
    out = pd.DataFrame({"conversation_id": conv})
    out["first_response_s"] = conv.map(first.set_index("conversation_id")["response_s"]).astype("float64")
    out["n_rounds"] = conv.map(counts).fillna(0).astype("int64")
    return out


def _last_rounds(rounds: pd.DataFrame) -> pd.DataFrame:
    """Each (agent, customer)'s last round (by start; rounds without a time keep their table order)."""
    r = rounds.assign(_pos=np.arange(len(rounds)))
    r = r.sort_values(["start", "_pos"], na_position="first", kind="stable")
    return r.drop_duplicates(["agent", "customer"], keep="last").drop(columns="_pos")


def agent_latency(messages: pd.DataFrame, rounds: pd.DataFrame, cfg: object | None = None) -> pd.DataFrame:
    """Response-time figures per agent; columns and definitions in the module docstring.

    ``cfg`` is a ``LatencyConfig`` (or a whole ``Config``). Rounds without an agent (nobody on the
    conversation) are left out here; they still appear in :func:`unreplied`.
    """
    lc = _latency_cfg(cfg)
    r = rounds[rounds["agent"].notna()]
    agent_msgs = messages.loc[messages["role"].astype("str") == "agent", "agent"].dropna().astype("str")
    agents = pd.Index(sorted(set(r["agent"].astype("str")) | set(agent_msgs.unique())), dtype="str", name="agent")
    g = r.groupby("agent", sort=True)

    out = pd.DataFrame(index=agents)
    out["n_rounds"] = g.size().reindex(agents, fill_value=0).astype("int64")
    out["n_answered"] = g["answered"].sum().reindex(agents, fill_value=0).astype("int64")

    first = r[(r["round"] == 1) & r["in_hours"] & r["response_s"].notna()]
    fg = first.groupby("agent")["response_s"]
    out["first_response_mean_s"] = fg.mean().reindex(agents).astype("float64")
    out["first_response_median_s"] = fg.median().reindex(agents).astype("float64")

    timed = r[r["in_hours"] & r["capped_s"].notna()]
    tg = timed.groupby("agent")["capped_s"]
    out["avg_response_s"] = tg.mean().reindex(agents).astype("float64")
    out["median_response_s"] = tg.median().reindex(agents).astype("float64")
    out["p90_response_s"] = tg.quantile(0.9).reindex(agents).astype("float64")
    n_timed = timed.groupby("agent").size().reindex(agents, fill_value=0)
    resp = timed["response_s"].to_numpy(dtype="float64", na_value=np.nan)
    ans = timed["answered"].to_numpy(dtype=bool)
    for t in lc.rate_thresholds_s:
        with np.errstate(invalid="ignore"):
            ok = pd.Series(ans & (resp <= t), index=timed.index)
        hits = ok.groupby(timed["agent"]).sum().reindex(agents, fill_value=0)
        out[rate_column(t)] = (hits / n_timed.where(n_timed > 0)).astype("float64")

    slow = r[r["slow"]]
    out["slow_rounds"] = slow.groupby("agent").size().reindex(agents, fill_value=0).astype("int64")
    out["slow_customers"] = slow.groupby("agent")["customer"].nunique().reindex(agents, fill_value=0).astype("int64")

    last = _last_rounds(r)
    lg = last.groupby("agent")["answered"]
    asked = lg.size().reindex(agents, fill_value=0)
    replied = lg.sum().reindex(agents, fill_value=0)
    out["reply_rate"] = (replied / asked.where(asked > 0)).astype("float64")
    out["unreplied_customers"] = (asked - replied).astype("int64")

    if "n_messages" in r.columns and r["n_messages"].notna().all():
        n_cust = r.groupby("agent")["n_messages"].sum()
    else:
        mr = message_rounds(messages)
        per_round = mr.groupby(["conversation_id", "round"]).size().rename("n_messages")
        n_cust = (
            r[["conversation_id", "round", "agent"]]
            .merge(per_round.reset_index(), on=["conversation_id", "round"], how="left")
            .groupby("agent")["n_messages"]
            .sum()
        )
    out["n_customer_msgs"] = n_cust.reindex(agents, fill_value=0).fillna(0).astype("int64")
    out["n_agent_msgs"] = agent_msgs.value_counts().reindex(agents, fill_value=0).astype("int64")
    ratio = out["n_agent_msgs"] / out["n_customer_msgs"].where(out["n_customer_msgs"] > 0)
    out["answer_ratio"] = ratio.astype("float64")
    out["answer_ratio_low"] = (ratio < lc.answer_ratio_min).fillna(False).astype(bool)
    return out.reset_index()[agent_columns(lc)]


def unreplied(rounds: pd.DataFrame, messages: pd.DataFrame | None = None) -> pd.DataFrame:
    """Customers whose last round with an agent got no valid reply (the list behind ``reply_rate``).

    One row per (agent, customer) whose last round is unanswered: ``customer``, ``conversation_id``,
    ``agent`` (the round's account; NA when nobody was on the conversation), ``start`` (time of the
    round's first customer message), ``text`` (the customer's last message in that round; NA when
    ``messages`` is not given). Sorted by ``start``.
    """
    last = _last_rounds(rounds)
    open_ = last[~last["answered"].astype(bool)]
    out = open_[["customer", "conversation_id", "agent", "start", "round"]].reset_index(drop=True)
    if messages is not None and len(out):
        mr = message_rounds(messages)
        last_msg = mr.drop_duplicates(["conversation_id", "round"], keep="last")[["conversation_id", "round", "text"]]
        out = out.merge(last_msg, on=["conversation_id", "round"], how="left")
    else:
        out["text"] = pd.Series(pd.NA, index=out.index, dtype="str")
    out = out.sort_values(["start"], na_position="last", kind="stable").reset_index(drop=True)
    return out[["customer", "conversation_id", "agent", "start", "text"]].astype(
        {"customer": "str", "conversation_id": "str", "agent": "str", "text": "str"}
    )
