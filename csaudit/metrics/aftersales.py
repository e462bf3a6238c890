"""After-sales handling per conversation and per agent (issue 14, item 5).

Definitions (``AftersalesConfig``):

``kind``
    ``presales`` — an inquiry (``is_inquiry``); ``after_sales`` — the customer spoke and it is not an
    inquiry (:mod:`csaudit.metrics.conversion`); ``none`` — the customer did not speak.
``handling_s``
    Seconds from the conversation's first customer message to its last agent message; NA when the
    agent never wrote after the customer's first message.
``recontact``
    The same customer (same shop) started their next conversation at most ``recontact_h`` hours
    after this one's ``end`` (``recontact_conversation_id`` is that conversation).
``refund_linked`` / ``refund_orders``
    Presales: Σ refund / count of refunded orders attributed to the conversation. After-sales: Σ
    refund / count of the customer's refunded orders created within ``refund_lookback_d`` days
    before the conversation's start (inclusive). Money in the currency of ``orders.amount``.
``sentiment_end``
    The conversation's customer end sentiment (``conversations.sentiment_end``; NA when absent).
Per agent (primary agent): ``conversations``, ``presales``, ``after_sales``, ``after_sales_share``
(after_sales ÷ conversations with the customer speaking), and over the after-sales conversations:
``median_handling_s``, ``recontact_rate``, ``refund_linked``, ``refund_orders``, ``sentiment_end`` (mean).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csaudit.config import AftersalesConfig

COLUMNS = (
    "conversation_id", "shop", "customer", "agent", "kind", "start", "end", "handling_s", "recontact",
    "recontact_conversation_id", "refund_linked", "refund_orders", "sentiment_end",
)
AGENT_COLUMNS = (
    "agent", "conversations", "presales", "after_sales", "after_sales_share", "median_handling_s",
    "recontact_rate", "refund_linked", "refund_orders", "sentiment_end",
)


def _cfg(cfg: object | None) -> AftersalesConfig:
    if cfg is None:
        return AftersalesConfig()
    return getattr(cfg, "aftersales", cfg)  # type: ignore[return-value]


def _on(per_conv: pd.Series, ids: pd.Series, dtype: object) -> pd.Series:
    """``per_conv`` (times by conversation id) placed on ``ids``; NaT where a conversation has none
    (also when no conversation has any: an empty group result loses the datetime dtype)."""
    if len(per_conv) == 0:
        return pd.Series(pd.NaT, index=ids.index, dtype=dtype)
    return pd.Series(per_conv.reindex(ids.to_numpy()).array, index=ids.index)


def aftersales(
    conversations: pd.DataFrame, messages: pd.DataFrame, orders: pd.DataFrame, cfg: object | None = None
) -> pd.DataFrame:
    """One row per conversation: :data:`COLUMNS` (module docstring)."""
    c = _cfg(cfg)
    conv = conversations.reset_index(drop=True)
    out = conv[["conversation_id", "shop", "customer", "agent", "start", "end"]].copy()
    inquiry = conv["is_inquiry"].astype(bool) if "is_inquiry" in conv else pd.Series(False, index=conv.index)
    after = conv["after_sales"].astype(bool) if "after_sales" in conv else pd.Series(False, index=conv.index)
    out["kind"] = pd.Series(np.where(inquiry, "presales", np.where(after, "after_sales", "none")), dtype="str")
    ts = messages["ts"]
    first_cust = ts[messages["role"] == "customer"].groupby(messages["conversation_id"]).min()
    last_agent = ts[messages["role"] == "agent"].groupby(messages["conversation_id"]).max()
    fc, la = _on(first_cust, out["conversation_id"], ts.dtype), _on(last_agent, out["conversation_id"], ts.dtype)
    secs = (la - fc).dt.total_seconds()
    out["handling_s"] = secs.where(secs >= 0).astype("float64")
    # next conversation of the same customer
    srt = out.sort_values(["shop", "customer", "start"], kind="stable", na_position="last")
    same = (srt["shop"] == srt["shop"].shift(-1)) & (srt["customer"] == srt["customer"].shift(-1))
    nxt_start = srt["start"].shift(-1)
    gap = (nxt_start - srt["end"]).dt.total_seconds()
    hit = (same & (gap <= c.recontact_h * 3600)).fillna(False).astype(bool)
    out["recontact"] = hit.reindex(out.index).astype(bool)
    out["recontact_conversation_id"] = srt["conversation_id"].shift(-1).where(hit).reindex(out.index).astype("str")
    # refunds linked to the conversation
    refunded = orders[orders["refund"].astype("float64") > 0] if len(orders) else orders
    pre = refunded[refunded["attributed"].astype(bool)] if len(refunded) else refunded
    pre_sum = pre.groupby("conversation_id")["refund"].agg(["sum", "size"]) if len(pre) else None
    amt = pd.Series(0.0, index=out.index)
    cnt = pd.Series(0, index=out.index, dtype="int64")
    if pre_sum is not None:
        isp = out["kind"] == "presales"
        amt[isp] = out.loc[isp, "conversation_id"].map(pre_sum["sum"]).fillna(0.0)
        cnt[isp] = out.loc[isp, "conversation_id"].map(pre_sum["size"]).fillna(0).astype("int64")
    aft = out.loc[out["kind"] == "after_sales", ["conversation_id", "shop", "customer", "start"]]
    if len(aft) and len(refunded):
        pairs = aft.merge(refunded[["shop", "customer", "created", "refund"]], on=["shop", "customer"])
        ok = (pairs["created"] <= pairs["start"]) & (pairs["created"] >= pairs["start"] - pd.Timedelta(days=c.refund_lookback_d))
        g = pairs[ok.fillna(False).astype(bool)].groupby("conversation_id")["refund"].agg(["sum", "size"])
        isa = out["kind"] == "after_sales"
        amt[isa] = out.loc[isa, "conversation_id"].map(g["sum"]).fillna(0.0)
        cnt[isa] = out.loc[isa, "conversation_id"].map(g["size"]).fillna(0).astype("int64")
    out["refund_linked"] = amt.astype("float64")
    out["refund_orders"] = cnt.astype("int64")
    out["sentiment_end"] = conv["sentiment_end"].astype("float64") if "sentiment_end" in conv else np.nan
    return out[list(COLUMNS)]


def aftersales_agents(table: pd.DataFrame) -> pd.DataFrame:
    """Per primary agent: :data:`AGENT_COLUMNS` (module docstring) from :func:`aftersales`."""
    t = table[table["agent"].notna()]
    t = t.assign(_pre=t["kind"] == "presales", _after=t["kind"] == "after_sales")
    g = t.groupby("agent")
    out = pd.DataFrame({"conversations": g.size(), "presales": g["_pre"].sum(), "after_sales": g["_after"].sum()})
    out = out.astype("int64")
    spoke = out["presales"] + out["after_sales"]
    out["after_sales_share"] = (out["after_sales"] / spoke.where(spoke > 0)).astype("float64")
    a = t[t["kind"] == "after_sales"].groupby("agent")
    out["median_handling_s"] = a["handling_s"].median().reindex(out.index).astype("float64")
    out["recontact_rate"] = a["recontact"].mean().reindex(out.index).astype("float64")
    out["refund_linked"] = a["refund_linked"].sum().reindex(out.index, fill_value=0.0).astype("float64")
    out["refund_orders"] = a["refund_orders"].sum().reindex(out.index, fill_value=0).astype("int64")
    out["sentiment_end"] = a["sentiment_end"].mean().reindex(out.index).astype("float64")
    out.index = out.index.astype("str")
    return out.reset_index()[list(AGENT_COLUMNS)]
