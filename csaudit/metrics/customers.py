"""Customers, follow-up tiers and repeat purchase per agent (issue 14, item 2).

Definitions (``CustomersConfig``); a customer is a (``shop``, ``customer``) pair:

``customers`` (one row per customer of the chats or the orders)
    ``first_contact`` / ``last_contact`` — start of the first / end of the last conversation (NaT
    without one); ``conversations``; ``inquiries`` — conversations with ``is_inquiry``; ``orders`` —
    orders created (all of the audit's orders, attributed or silent); ``paid_orders``;
    ``paid_amount`` — Σ amount of the paid orders; ``refunds`` — Σ refund of the orders;
    ``last_agent`` — primary agent of the customer's latest conversation that has one; ``tier``.
Tiers (first that applies)
    ``vip`` — paid_amount > 0, ≥ ``vip_min_amount`` and among the top ``vip_top_share`` of the paying
    customers by paid amount (ceil(share × paying customers), at least 1; ties at the cut-off are
    all in); ``repeat`` (圈养) — orders ≥ ``repeat_min_orders``; ``potential`` (可挖掘) — orders ==
    ``potential_orders``; ``high_interest`` (高意向未成交) — orders == 0 and inquiries ≥
    ``high_interest_min_inquiries``; else ``other``.
``followups``
    The customers to contact again: every ``high_interest`` customer (reason ``high_interest``, their
    latest conversation) and every lost inquiry (reason ``lost_inquiry``, that conversation), with the
    conversation's ``agent``, its last message (``last_ts``, ``last_role``, ``last_text``); sorted by
    ``last_ts`` (newest first). A lost inquiry of a high-interest customer is listed once, as ``high_interest``
    when it is their latest conversation.
``customer_agents`` (repeat purchase per agent)
    ``buyers`` — customers with ≥ 1 order attributed to the agent; ``repeat_buyers`` — of those, the
    ones with ≥ ``repeat_min_orders`` orders in total; ``repeat_rate`` = repeat_buyers ÷ buyers (NA
    without buyers); ``high_interest`` / ``vip`` — customers of the tier whose ``last_agent`` is the agent.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from csaudit.config import CustomersConfig
from csaudit.metrics.shoputil import isin

CUSTOMER_COLUMNS = (
    "shop", "customer", "first_contact", "last_contact", "conversations", "inquiries", "orders",
    "paid_orders", "paid_amount", "refunds", "last_agent", "tier",
)
FOLLOWUP_COLUMNS = ("shop", "customer", "reason", "tier", "conversation_id", "agent", "last_ts", "last_role", "last_text")
AGENT_COLUMNS = ("agent", "buyers", "repeat_buyers", "repeat_rate", "high_interest", "vip")
TIERS = ("vip", "repeat", "potential", "high_interest", "other")


def _cfg(cfg: object | None) -> CustomersConfig:
    if cfg is None:
        return CustomersConfig()
    return getattr(cfg, "customers", cfg)  # type: ignore[return-value]


def customers(conversations: pd.DataFrame, orders: pd.DataFrame, cfg: object | None = None) -> pd.DataFrame:
    """The customer table (:data:`CUSTOMER_COLUMNS`, module docstring), sorted by paid amount then customer."""
    c = _cfg(cfg)
    key = ["shop", "customer"]
    conv = conversations.sort_values("start", kind="stable", na_position="first")
    gc = conv.groupby(key, sort=False)
    base = pd.DataFrame(
        {
            "first_contact": gc["start"].min(),
            "last_contact": gc["end"].max(),
            "conversations": gc.size(),
            "inquiries": gc["is_inquiry"].sum() if "is_inquiry" in conv else 0,
        }
    )
    with_agent = conv[conv["agent"].notna()]
    base["last_agent"] = with_agent.groupby(key, sort=False)["agent"].last()
    o = orders.assign(_paid=orders["paid"].notna(), _amt=orders["amount"].astype("float64"))
    o["_paid_amt"] = o["_amt"].where(o["_paid"], 0.0)
    go = o.groupby(key, sort=False)
    ords = pd.DataFrame(
        {
            "orders": go.size(),
            "paid_orders": go["_paid"].sum(),
            "paid_amount": go["_paid_amt"].sum(),
            "refunds": go["refund"].sum(),
        }
    )
    out = base.join(ords, how="outer")
    for col, t in (("conversations", "int64"), ("inquiries", "int64"), ("orders", "int64"), ("paid_orders", "int64")):
        out[col] = out[col].fillna(0).astype(t)
    for col in ("paid_amount", "refunds"):
        out[col] = out[col].fillna(0.0).astype("float64")
    out = out.reset_index()
    out["last_agent"] = out["last_agent"].astype("str")
    out["tier"] = _tiers(out, c)
    out = out.sort_values(["paid_amount", "shop", "customer"], ascending=[False, True, True], kind="stable")
    return out.reset_index(drop=True)[list(CUSTOMER_COLUMNS)]


def _tiers(t: pd.DataFrame, c: CustomersConfig) -> pd.Series:
    paying = t["paid_amount"] > 0
    n_paying = int(paying.sum())
    vip = pd.Series(False, index=t.index)
    if n_paying:
        k = max(1, math.ceil(c.vip_top_share * n_paying))
        cut = t.loc[paying, "paid_amount"].sort_values(ascending=False).iloc[k - 1]
        vip = paying & (t["paid_amount"] >= cut) & (t["paid_amount"] >= c.vip_min_amount)
    tier = np.select(
        [vip, t["orders"] >= c.repeat_min_orders, t["orders"] == c.potential_orders,
         (t["orders"] == 0) & (t["inquiries"] >= c.high_interest_min_inquiries)],
        ["vip", "repeat", "potential", "high_interest"],
        default="other",
    )
    return pd.Series(tier, index=t.index, dtype="str")


def _last_messages(messages: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """Last message (by read order) of each conversation in ``ids``: conversation_id, last_ts, last_role, last_text."""
    m = messages[isin(messages["conversation_id"], ids)]
    m = m[m["role"].isin(["customer", "agent"])]
    last = m.groupby("conversation_id", sort=False).tail(1)
    return pd.DataFrame(
        {
            "conversation_id": last["conversation_id"].astype("str").to_numpy(),
            "last_ts": last["ts"].to_numpy(),
            "last_role": last["role"].astype("str").to_numpy(),
            "last_text": last["text"].astype("str").to_numpy(),
        }
    ).astype({"last_role": "str", "last_text": "str", "conversation_id": "str"})


def followups(
    customer_table: pd.DataFrame,
    conversations: pd.DataFrame,
    messages: pd.DataFrame,
    lost_inquiries: pd.DataFrame,
) -> pd.DataFrame:
    """The follow-up list (:data:`FOLLOWUP_COLUMNS`, module docstring)."""
    key = ["shop", "customer"]
    hi = customer_table.loc[customer_table["tier"] == "high_interest", key]
    conv = conversations.sort_values("start", kind="stable", na_position="first")
    latest = conv.groupby(key, sort=False).tail(1)[[*key, "conversation_id", "agent"]]
    a = hi.merge(latest, on=key, how="inner").assign(reason="high_interest")
    lost_ids = lost_inquiries["conversation_id"] if len(lost_inquiries) else pd.Series([], dtype="str")
    b = conversations.loc[isin(conversations["conversation_id"], lost_ids), [*key, "conversation_id", "agent"]]
    b = b[~isin(b["conversation_id"], a["conversation_id"])].assign(reason="lost_inquiry")
    rows = pd.concat([a, b], ignore_index=True)
    rows = rows.merge(customer_table[[*key, "tier"]], on=key, how="left")
    rows = rows.merge(_last_messages(messages, rows["conversation_id"]), on="conversation_id", how="left")
    rows = rows.sort_values("last_ts", ascending=False, kind="stable", na_position="last").reset_index(drop=True)
    for col in ("shop", "customer", "reason", "tier", "conversation_id", "agent", "last_role", "last_text"):
        rows[col] = rows[col].astype("str")
    return rows[list(FOLLOWUP_COLUMNS)]


def customer_agents(customer_table: pd.DataFrame, orders: pd.DataFrame, cfg: object | None = None) -> pd.DataFrame:
    """Repeat purchase and tier counts per agent (:data:`AGENT_COLUMNS`, module docstring)."""
    c = _cfg(cfg)
    key = ["shop", "customer"]
    att = orders[orders["attributed"].astype(bool) & orders["agent"].notna()] if len(orders) else orders
    buyers = att[["agent", *key]].drop_duplicates()
    n_orders = customer_table.set_index(key)["orders"]
    buyers = buyers.assign(_repeat=n_orders.reindex(pd.MultiIndex.from_frame(buyers[key])).to_numpy() >= c.repeat_min_orders)
    tiers = customer_table[customer_table["last_agent"].notna()]
    agents = sorted(set(buyers["agent"].astype("str")) | set(tiers["last_agent"].astype("str")))
    idx = pd.Index(agents, dtype="str", name="agent")
    out = pd.DataFrame(index=idx)
    out["buyers"] = buyers.groupby("agent").size().reindex(idx, fill_value=0).astype("int64")
    out["repeat_buyers"] = buyers.groupby("agent")["_repeat"].sum().reindex(idx, fill_value=0).astype("int64")
    out["repeat_rate"] = (out["repeat_buyers"] / out["buyers"].where(out["buyers"] > 0)).astype("float64")
    for tier in ("high_interest", "vip"):
        out[tier] = tiers[tiers["tier"] == tier].groupby("last_agent").size().reindex(idx, fill_value=0).astype("int64")
    return out.reset_index()[list(AGENT_COLUMNS)]
