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
    (first customer message → first valid reply, :func:`first_responses`) of the conversations in
    which this agent sent that first reply and whose first customer message was inside service
    hours; not capped;
    ``avg_response_s`` (平响) — mean ``capped_s`` of the agent's timed rounds;
    ``median_response_s``, ``p90_response_s`` — median and 90th percentile (linear interpolation) of
    the same values;
    ``within_<N>_rate`` — share of the timed rounds answered within N seconds (response_s ≤ N,
    inclusive), one column per ``LatencyConfig.rate_thresholds_s``; named by :func:`rate_column`:
    ``within_30s_rate``, ``within_3min_rate``, ``within_5min_rate`` for the defaults;
    ``slow_rounds`` (慢响应) — rounds flagged ``slow`` (in hours, response > ``slow_s``; unanswered
    counts as slow under ``cap``); ``slow_customers`` — distinct customers with ≥ 1 slow round (a customer is a (shop, nick) pair throughout);
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

from csaudit.arrays import NAT, factorize_runs, first_per_group
from csaudit.config import LatencyConfig
from csaudit.model.rounds import (
    NS,
    _grouped_order,
    _roles,
    _take_str,
    _ts_ns,
    _ts_series,
    human_agents,
    in_service_hours,
    message_rounds,
)

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


def first_responses(messages: pd.DataFrame, cfg: object | None = None) -> pd.DataFrame:
    """Per conversation (order of appearance): ``conversation_id``, ``first_response_s``, ``responder``,
    ``in_hours``.

    ``first_response_s`` — seconds from the conversation's first customer message to the first valid
    reply (role ``agent``) after it; NA when nobody replied after it, the customer never spoke, or a
    time is missing; not capped. It equals round 1's ``response_s`` unless round 1 was closed by a
    transfer, in which case the new account's first reply counts. ``responder`` — the agent who sent
    that reply (NA if none); ``in_hours`` — the first customer message is inside service hours.
    """
    lc = _latency_cfg(cfg)
    if len(messages) == 0:
        return pd.DataFrame({"conversation_id": pd.Series([], dtype="str"), "first_response_s": pd.Series([], dtype="float64"),
                             "responder": pd.Series([], dtype="str"), "in_hours": pd.Series([], dtype="bool")})
    codes, order, ids = _grouped_order(messages["conversation_id"])
    m = messages if order is None else messages.iloc[order]
    role = _roles(m["role"])
    n, n_conv = len(m), len(ids)
    is_reply = role == "agent"
    first_cust = first_per_group(codes, np.flatnonzero(role == "customer"), n_conv)
    # position of the next valid reply at or after each row
    nxt = np.minimum.accumulate(np.where(is_reply, np.arange(n), n)[::-1])[::-1]
    fr = np.where(first_cust >= 0, nxt[np.maximum(first_cust, 0)], n)
    ok = fr < n
    ok[ok] = codes[fr[ok]] == codes[first_cust[ok]]
    fr = np.where(ok, fr, -1)
    ns, tz = _ts_ns(m["ts"], lc.timezone)
    t0 = np.where(first_cust >= 0, ns[np.maximum(first_cust, 0)], NAT)
    t1 = np.where(ok, ns[np.maximum(fr, 0)], NAT)
    known = ok & (t0 != NAT) & (t1 != NAT)
    resp = np.full(n_conv, np.nan)
    resp[known] = np.maximum(t1[known] - t0[known], 0) / NS
    return pd.DataFrame(
        {
            "conversation_id": pd.Series(np.asarray(ids, dtype=object), dtype="str"),
            "first_response_s": resp,
            "responder": _take_str(m["agent"], fr),
            "in_hours": in_service_hours(_ts_series(t0, tz), lc) & (first_cust >= 0),
        }
    )


def conversation_latency(
    messages: pd.DataFrame, rounds: pd.DataFrame, cfg: object | None = None, first: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per conversation: ``conversation_id``, ``first_response_s``, ``n_rounds``.

    ``first_response_s`` — seconds from the conversation's first customer message to the first valid
    reply after it (see :func:`first_responses`); NA when nobody replied, the customer never spoke,
    or a time is missing. Not capped, all hours. ``n_rounds`` — number of 首问首答 rounds (0 when the
    customer never spoke). One row per conversation of ``messages``, in order of appearance.
    ``first``: :func:`first_responses` of the same messages and settings, when already computed.
    """
    fr = first_responses(messages, cfg) if first is None else first
    out = fr[["conversation_id", "first_response_s"]].copy()
    codes, ids = factorize_runs(rounds["conversation_id"])
    pos = pd.Index(ids).get_indexer(out["conversation_id"])
    counts = np.r_[np.bincount(codes[codes >= 0], minlength=len(ids)), 0]  # last slot: no round
    out["n_rounds"] = counts[np.where(pos >= 0, pos, len(ids))].astype("int64")
    return out


def _round_shops(rounds: pd.DataFrame, messages: pd.DataFrame | None) -> np.ndarray:
    """Shop code of each round (from its conversation's messages; all 0 when the shop is unknown).

    A customer is a (shop, customer) pair: the same nick in two shops is two buyers."""
    if messages is None or "shop" not in messages.columns or not len(rounds):
        return np.zeros(len(rounds), dtype=np.int64)
    codes, ids = factorize_runs(messages["conversation_id"])
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.zeros(0, dtype=np.int64)
    shop_of_conv = pd.Series(messages["shop"].to_numpy()[starts], index=pd.Index(ids)[codes[starts]])
    shop_of_conv = shop_of_conv[~shop_of_conv.index.duplicated()]
    shop_codes, _ = pd.factorize(shop_of_conv, use_na_sentinel=False)
    pos = shop_of_conv.index.get_indexer(rounds["conversation_id"])
    return np.where(pos >= 0, shop_codes[np.maximum(pos, 0)], -1).astype(np.int64)


def _last_round_mask(rounds: pd.DataFrame, shops: np.ndarray | None = None) -> np.ndarray:
    """True for each (shop, agent, customer)'s last round: latest ``start``; rounds without a time
    count as earliest and keep their table order. A missing agent is a key of its own. ``shops``:
    the shop code of each round (:func:`_round_shops`); None = one shop."""
    n = len(rounds)
    if n == 0:
        return np.zeros(0, dtype=bool)
    a_codes, _ = pd.factorize(rounds["agent"], use_na_sentinel=False)
    c_codes, c_names = pd.factorize(rounds["customer"], use_na_sentinel=False)
    if shops is not None:  # (shop, customer) → one code
        c_codes, c_names = pd.factorize(pd.MultiIndex.from_arrays([shops, c_codes]), use_na_sentinel=False)
    key = a_codes.astype(np.int64) * max(len(c_names), 1) + c_codes
    start = rounds["start"]
    start_ns = np.asarray(start.dt.as_unit("ns").array.asi8 if isinstance(start.dtype, pd.DatetimeTZDtype)
                          else pd.to_datetime(start).array.asi8, dtype=np.int64)
    order = np.lexsort((np.arange(n), start_ns))  # by start (NaT = int64 min first), then position
    last_in_order = ~pd.Series(key[order]).duplicated(keep="last").to_numpy()
    mask = np.zeros(n, dtype=bool)
    mask[order[last_in_order]] = True
    return mask


def _group_stat(values: np.ndarray, codes: np.ndarray, n: int, how: str) -> np.ndarray:
    """Per group code 0..n-1: median or 90th percentile (linear) of ``values``; NaN for empty groups."""
    out = np.full(n, np.nan)
    if len(values):
        g = pd.Series(values).groupby(codes)
        res = g.median() if how == "median" else g.quantile(0.9)
        out[res.index.to_numpy()] = res.to_numpy(dtype=float)
    return out


def agent_latency(
    messages: pd.DataFrame, rounds: pd.DataFrame, cfg: object | None = None, first: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Response-time figures per agent; columns and definitions in the module docstring.

    ``cfg`` is a ``LatencyConfig`` (or a whole ``Config``). Rounds without an agent (nobody on the
    conversation) are left out here; they still appear in :func:`unreplied`. ``first``:
    :func:`first_responses` of the same messages and settings, when already computed.
    """
    lc = _latency_cfg(cfg)
    is_msg = (messages["role"] == "agent").to_numpy(dtype=bool) & messages["agent"].notna().to_numpy()
    m_codes, m_names = pd.factorize(messages["agent"].astype("str")[is_msg])
    has_agent = rounds["agent"].notna().to_numpy()
    r = rounds[has_agent]
    r_codes, r_names = pd.factorize(r["agent"].astype("str"))
    agents = pd.Index(sorted(set(m_names) | set(r_names)), dtype="str", name="agent")
    na = len(agents)
    rc = agents.get_indexer(r_names)[r_codes] if len(r) else np.zeros(0, dtype=np.int64)
    mc = agents.get_indexer(m_names)[m_codes] if len(m_codes) else np.zeros(0, dtype=np.int64)

    def count(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        w = None if weights is None else weights[mask]
        return np.bincount(rc[mask], weights=w, minlength=na)

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)

    every = np.ones(len(r), dtype=bool)
    answered = r["answered"].to_numpy(dtype=bool)
    in_hours = r["in_hours"].to_numpy(dtype=bool)
    resp = r["response_s"].to_numpy(dtype="float64", na_value=np.nan)
    capped = r["capped_s"].to_numpy(dtype="float64", na_value=np.nan)
    out = pd.DataFrame(index=agents)
    out["n_rounds"] = count(every).astype("int64")
    out["n_answered"] = count(answered).astype("int64")

    fr = first_responses(messages, lc) if first is None else first
    fr = fr[fr["in_hours"].to_numpy(dtype=bool) & fr["first_response_s"].notna().to_numpy() & fr["responder"].notna().to_numpy()]
    fc = agents.get_indexer(fr["responder"].astype("str"))
    fv = fr["first_response_s"].to_numpy(dtype="float64")
    keep = fc >= 0
    fc, fv = fc[keep], fv[keep]
    out["first_response_mean_s"] = ratio(np.bincount(fc, weights=fv, minlength=na), np.bincount(fc, minlength=na))
    out["first_response_median_s"] = _group_stat(fv, fc, na, "median")

    timed = in_hours & ~np.isnan(capped)
    n_timed = count(timed)
    out["avg_response_s"] = ratio(count(timed, capped), n_timed)
    out["median_response_s"] = _group_stat(capped[timed], rc[timed], na, "median")
    out["p90_response_s"] = _group_stat(capped[timed], rc[timed], na, "p90")
    for t in lc.rate_thresholds_s:
        with np.errstate(invalid="ignore"):
            ok = timed & answered & (resp <= t)
        out[rate_column(t)] = ratio(count(ok), n_timed)

    slow = r["slow"].to_numpy(dtype=bool)
    out["slow_rounds"] = count(slow).astype("int64")
    shops = _round_shops(r, messages)
    cust_codes, _ = pd.factorize(r["customer"], use_na_sentinel=False)
    pairs = pd.DataFrame({"a": rc[slow], "s": shops[slow], "c": cust_codes[slow]}).drop_duplicates()
    out["slow_customers"] = np.bincount(pairs["a"].to_numpy(), minlength=na).astype("int64")

    last = _last_round_mask(r, shops)
    asked = count(last)
    replied = count(last & answered)
    out["reply_rate"] = ratio(replied, asked)
    out["unreplied_customers"] = (asked - replied).astype("int64")

    if "n_messages" in r.columns and r["n_messages"].notna().all():
        n_cust = count(every, r["n_messages"].to_numpy(dtype="float64"))
    else:
        mr = message_rounds(messages, cfg=lc)
        per_round = mr.groupby(["conversation_id", "round"]).size().rename("n")
        merged = r[["conversation_id", "round"]].merge(per_round.reset_index(), on=["conversation_id", "round"], how="left")
        n_cust = count(every, merged["n"].fillna(0).to_numpy(dtype="float64"))
    out["n_customer_msgs"] = n_cust.astype("int64")
    out["n_agent_msgs"] = np.bincount(mc, minlength=na).astype("int64")
    ar = ratio(out["n_agent_msgs"].to_numpy(dtype=float), out["n_customer_msgs"].to_numpy(dtype=float))
    out["answer_ratio"] = ar
    with np.errstate(invalid="ignore"):
        out["answer_ratio_low"] = ~np.isnan(ar) & (ar < lc.answer_ratio_min)
    return out.reset_index()[agent_columns(lc)]


def unreplied(
    rounds: pd.DataFrame, messages: pd.DataFrame | None = None, cfg: LatencyConfig | None = None
) -> pd.DataFrame:
    """Customers whose last round with an agent got no valid reply (the list behind ``reply_rate``).

    One row per (agent, customer) whose last round is unanswered: ``customer``, ``conversation_id``,
    ``agent`` (the round's account; NA when nobody was on the conversation), ``start`` (time of the
    round's first customer message), ``text`` (the customer's last message in that round; NA when
    ``messages`` is not given). Sorted by ``start``. ``cfg``: the settings ``rounds`` was computed
    with (its ``acknowledgements`` decide which customer messages belong to a round).
    """
    open_ = rounds[_last_round_mask(rounds, _round_shops(rounds, messages)) & ~rounds["answered"].to_numpy(dtype=bool)]
    out = open_[["customer", "conversation_id", "agent", "start", "round"]].reset_index(drop=True)
    if messages is not None and len(out):
        cols = [c for c in ("conversation_id", "role", "agent", "shop", "ts", "text") if c in messages.columns]
        codes, ids = factorize_runs(messages["conversation_id"])
        wanted = np.zeros(len(ids), dtype=bool)
        pos = pd.Index(ids).get_indexer(out["conversation_id"].unique())
        wanted[pos[pos >= 0]] = True
        sub = messages[cols][wanted[codes]]
        mr = message_rounds(sub, human_agents(messages), cfg)
        last_msg = mr.drop_duplicates(["conversation_id", "round"], keep="last")[["conversation_id", "round", "text"]]
        out = out.merge(last_msg, on=["conversation_id", "round"], how="left")
    else:
        out["text"] = pd.Series(pd.NA, index=out.index, dtype="str")
    out = out.sort_values(["start"], na_position="last", kind="stable").reset_index(drop=True)
    return out[["customer", "conversation_id", "agent", "start", "text"]].astype(
        {"customer": "str", "conversation_id": "str", "agent": "str", "text": "str"}
    )
